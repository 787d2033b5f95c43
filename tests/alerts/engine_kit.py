"""Helpers of the engine tests: stations, readings written by the real ingest writer (so the
feed row comes from the real hook), one engine cycle at a chosen time, outbox counts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from alerts.engine import CycleResult, Engine
from alerts.feed import heartbeat
from alerts.metrics import EngineMetrics
from alerts.rules import RuleSet, parse_rules
from envmon import db
from envmon.stations import Station, upsert_stations
from ingest.reading import Reading
from ingest.writer import PartitionCache, write_readings

__all__ = ["Reading", "db"]

REPO = Path(__file__).resolve().parents[2]
#: data time of the tests: a recent whole hour, so rules' max_age sees fresh data
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
HOUR = timedelta(hours=1)

RECEIVERS = """
[receivers.ops]
type = "webhook"
url = "http://127.0.0.1:9/ops"
secret_env = "ENVMON_TEST_UNUSED"

[receivers.duty]
type = "webhook"
url = "http://127.0.0.1:9/duty"
secret_env = "ENVMON_TEST_UNUSED"

[receivers.director]
type = "webhook"
url = "http://127.0.0.1:9/director"
secret_env = "ENVMON_TEST_UNUSED"
"""

STATIONS = [
    Station("t-air-1", "air", "Air one", "Testcity", "North"),
    Station("t-air-2", "air", "Air two", "Testcity", "South"),
    Station("t-water-1", "water", "River section", "Testcity", "North",
            water_target_class=3, water_body="river"),
    Station("t-noise-1", "noise", "Noise point", "Testcity", "North", noise_zone="1"),
]


def ruleset(rules_toml: str) -> RuleSet:
    return parse_rules(RECEIVERS + rules_toml, "<test>")


def engine(rules_toml: str) -> Engine:
    return Engine(ruleset(rules_toml), EngineMetrics(CollectorRegistry()))


async def add_stations(url: str) -> None:
    """The test stations, and an engine's heartbeat (producers write the feed only then)."""
    async with await db.connect(url) as conn:
        await upsert_stations(conn, STATIONS)
        await heartbeat(conn, "tests")
        await conn.commit()


async def write(url: str, *readings: Reading) -> None:
    """Commit readings through the ingest writer (its alerts hook logs the batch)."""
    async with await db.connect(url) as conn:
        await write_readings(conn, readings, PartitionCache())
        await conn.commit()


def hourly(station: str, parameter: str, start: datetime, values: list[float],
           flag: str = "N") -> list[Reading]:
    return [Reading(station, parameter, "hour", start + i * HOUR, v, flag)  # type: ignore[arg-type]
            for i, v in enumerate(values)]


async def cycle(url: str, eng: Engine, now: datetime) -> CycleResult:
    async with await db.connect(url) as conn:
        return await eng.cycle(conn, now)


async def outbox(url: str) -> Counter[tuple[str, str]]:
    """(event, receiver) -> rows in the outbox."""
    async with await db.connect(url) as conn:
        cur = await conn.execute("SELECT event, receiver FROM alert_outbox")
        return Counter((e, r) for e, r in await cur.fetchall())


async def episodes(url: str) -> list[tuple[Any, ...]]:
    async with await db.connect(url) as conn:
        cur = await conn.execute(
            "SELECT episode_id, rule, subject_id, state FROM alert_episodes ORDER BY episode_id")
        return list(await cur.fetchall())


async def sql(url: str, query: str, *params: Any) -> None:
    async with await db.connect(url) as conn:
        await conn.execute(query, params)
        await conn.commit()
