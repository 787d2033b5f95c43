"""The ``--demo`` summary: its rate arithmetic, and its queries against the real schema."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from psycopg import AsyncConnection
from rich.console import Console

from app.live_summary import RateMeter, render, run, take
from envmon import db
from envmon.beijing_time import BEIJING
from envmon.settings import Settings, StorageSettings
from tests.conftest import create_database, drop_database


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([(0.0, 100)], None),  # one sample: no rate yet
        ([(0.0, 100), (10.0, 600)], 50.0),
        ([(0.0, 0), (10.0, 100), (20.0, 300)], 15.0),
        # older samples leave the 30 s window: the rate follows the recent slope
        ([(0.0, 0), (10.0, 10_000), (40.0, 10_000), (50.0, 10_100)], 2.5),
        ([(0.0, 500), (5.0, 400)], 0.0),  # a counter reset is not a negative rate
    ],
)
def test_rate_meter(samples: list[tuple[float, int]], expected: float | None) -> None:
    meter = RateMeter(window_s=30.0)
    rate = None
    for at, total in samples:
        rate = meter.add(at, total)
    assert rate == expected


@pytest.fixture
async def summary_db() -> AsyncIterator[str]:
    url = create_database("envmon_summary")
    async with await db.connect(url) as conn:
        await db.migrate(conn, StorageSettings(backend="plain"))
        await conn.commit()
    yield url
    drop_database(url)


async def _seed(conn: AsyncConnection[Any], today: date) -> None:
    await conn.execute(
        "INSERT INTO stations (station_id, kind, name, water_target_class, noise_zone) VALUES"
        " ('a1', 'air', 'Air one', NULL, NULL), ('a2', 'air', 'Air two', NULL, NULL),"
        " ('w1', 'water', 'Water one', 3, NULL), ('n1', 'noise', 'Noise one', NULL, '4a')")
    now = datetime.now(UTC).replace(microsecond=0)
    await conn.execute(
        "INSERT INTO readings (station_id, parameter, interval, ts, value, flag, source)"
        " VALUES ('a1', 'pm25', 'rt', %s, 35.0, 'N', 'json')", (now,))
    await conn.execute(
        "INSERT INTO air_station_daily (station_id, day, rules, aqi, category,"
        " primary_pollutants, complete, iaqi) VALUES"
        " ('a1', %s, 'hj633-2012', 57, '良', '{pm25}', false, '{}'),"
        " ('a1', %s, 'hj633-2012', 101, '轻度污染', '{pm10}', true, '{}')",
        (today, today - timedelta(days=1)))
    await conn.execute(
        "INSERT INTO water_station_daily (station_id, day, water_class, class_label, compliant,"
        " exceeding, means) VALUES ('w1', %s, 4, 'IV', false, '{}', '{}')", (today,))
    await conn.execute(
        "INSERT INTO noise_station_daily (station_id, day, zone, ld, ln, n_day, n_night,"
        " day_ok, night_ok) VALUES ('n1', %s, '4a', 68.2, 56.1, 16, 8, true, false)",
        (today - timedelta(days=1),))
    await conn.commit()


async def test_snapshot_reads_indicators_and_falls_back_to_raw(summary_db: str) -> None:
    today = datetime.now(BEIJING).date()
    async with await db.connect(summary_db) as conn:
        await _seed(conn, today)
    async with await db.connect(summary_db, autocommit=True) as conn:
        snap = await take(conn, RateMeter())
        assert snap.online == {"air": (1, 2), "noise": (0, 1), "water": (0, 1)}
        assert snap.indicators
        air = {r["station_id"]: r for r in snap.air}
        assert (air["a1"]["day_aqi"], air["a1"]["yesterday_aqi"]) == (57, 101)
        assert air["a2"]["day_aqi"] is None
        assert [(r["station_id"], r["class_label"], r["compliant"]) for r in snap.water] == [
            ("w1", "IV", False)]
        assert [(r["station_id"], r["ld"], r["night_ok"]) for r in snap.noise] == [
            ("n1", 68.2, False)]
        text = _text(render(snap))
        assert "57 (so far)" in text and "101" in text and "IV" in text and "68.2" in text

        await conn.execute("DROP TABLE noise_station_daily CASCADE")
        raw = await take(conn, RateMeter())
        assert not raw.indicators
        assert [(r["station_id"], r["parameter"], r["value"]) for r in raw.raw] == [
            ("a1", "pm25", 35.0)]
        assert "indicator tables not created yet" in _text(render(raw))


async def test_summary_prints_snapshots_until_stop(summary_db: str) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, force_terminal=False)
    stop = asyncio.Event()
    task = asyncio.create_task(run(Settings(database_url=summary_db), stop, console=console))
    for _ in range(400):  # the first snapshot is printed at once; 20 s is a generous bound
        if "readings stored" in buffer.getvalue():
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert "stations online" in buffer.getvalue()


def _text(renderable: Any) -> str:
    console = Console(file=io.StringIO(), width=160)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()
