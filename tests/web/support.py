"""Demo-like data for the web tests: the Pingliang station set, simulated like ``--demo``.

Two Beijing days before today plus today so far, hourly and daily documents, and real-time
documents of the last minutes, written with the ingest writer and turned into indicators by
the aggregator (``drain``), so every table the API and dashboards read has real rows.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from psycopg import AsyncConnection

from envmon.beijing_time import BEIJING
from envmon.stations import parse_station_file
from ingest.reading import Reading
from simulators.demo import pingliang_file
from simulators.station import Cadence
from simulators.stream import Scenario, documents
from tests.aggregator.agg_support import add_stations, write_and_drain

SEED = 2026
REALTIME_MINUTES = 10
F = TypeVar("F", bound=Callable[..., Any])


def on_every_layout(test: F) -> F:
    """Run the test's database fixtures on both readings layouts (plain and TimescaleDB) where
    the suite offers them (tests/layouts.py and its ``layouts`` marker), else on the default."""
    if importlib.util.find_spec("tests.layouts") is None:
        return test
    marked: F = pytest.mark.layouts(test)
    return marked


def demo_readings(now: datetime) -> list[Reading]:
    """Every reading the demo stations would have sent from two days ago midnight to ``now``."""
    stations = parse_station_file(pingliang_file())
    midnight = now.astimezone(BEIJING).replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight - timedelta(days=2)
    hours = int((now - start).total_seconds() // 3600) + 1
    scenario = Scenario(stations, start, hours, SEED, Cadence(realtime_seconds=60),
                        realtime_from=now - timedelta(minutes=REALTIME_MINUTES))
    return [Reading(d.station_id, p, d.interval, d.ts, v, d.flags.get(p, "N"), "sim")
            for due, d in documents(scenario) if due <= now for p, v in d.values.items()]


async def seed_demo(conn: AsyncConnection[Any], now: datetime) -> int:
    """Register the demo stations and store and aggregate their readings; returns readings."""
    await add_stations(conn, parse_station_file(pingliang_file()))
    readings = demo_readings(now)
    await write_and_drain(conn, readings)
    return len(readings)
