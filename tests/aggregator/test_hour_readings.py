"""Loading readings for a batch (aggregator/batch_readings.py): the per-station-day sample
counts the ingest writer keeps for the batch budget (migration 0032), and the minute data
read the same whether stations share their windows or not."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from psycopg import AsyncConnection

from aggregator import standards
from aggregator.compute import station_day
from aggregator.compute.station_readings import HourReadings
from aggregator.store import batch_readings
from envmon.stations import Station
from ingest.reading import DataFlag, Interval, Reading
from tests.aggregator.agg_support import add_stations, fetch, write

pytestmark = [pytest.mark.integration, pytest.mark.layouts]  # layouts: tests/layouts.py

DAY1 = date(2024, 6, 1)
MIN = timedelta(minutes=1)


def start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=standards.BEIJING)


def minutes(sid: str, day: date, n: int, interval: Interval = "min", value: float = 10.0,
            flag: DataFlag = "N") -> list[Reading]:
    """``n`` readings from 23:00 Beijing of ``day``: the last hour of the day, then the
    next day (Beijing days, not UTC days, are counted)."""
    t0 = start_of(day) + timedelta(hours=23)
    step = MIN if interval == "min" else timedelta(seconds=30)
    return [Reading(sid, "pm25", interval, t0 + i * step, value + i % 5, flag, "import")
            for i in range(n)]


async def test_the_writer_counts_new_minute_and_realtime_readings_per_beijing_day(
    db_conn: AsyncConnection[Any],
) -> None:
    """Counted once per stored reading: resends and revisions do not count again, hourly
    readings not at all."""
    sid = "agg-hr-count"
    await add_stations(db_conn, [Station(sid, "air", sid)])
    readings = minutes(sid, DAY1, 90) + minutes(sid, DAY1, 150, "rt")
    hourly = [Reading(sid, "pm10", "hour", start_of(DAY1) + timedelta(hours=h), 50.0, "N",
                      "import") for h in range(24)]
    await write(db_conn, readings + hourly)
    await write(db_conn, readings)  # a resend
    await write(db_conn, [replace(r, value=r.value + 1, flag="C") for r in readings[:10]])
    # 23:00-24:00 of DAY1: 60 minutes and 120 half-minutes; the rest on the next day
    want = {(sid, DAY1): 60 + 120, (sid, DAY1 + timedelta(days=1)): 30 + 30}
    assert dict(((s, d), n) for s, d, n in await fetch(
        db_conn, "SELECT station_id, day, n FROM station_day_samples"
        " WHERE station_id = %s", sid)) == want
    windows = {sid: station_day.windows([DAY1])}  # DAY1-1 ... DAY1+1
    loaded, counts = await batch_readings.load(db_conn, windows)
    await db_conn.commit()
    assert counts == want
    assert len(loaded[sid].series["pm10"][0]) == 24
    # a window of the next day only: DAY1's count is not in it
    later = {sid: [(start_of(DAY1 + timedelta(days=1)), start_of(DAY1 + timedelta(days=2)))]}
    assert await batch_readings.sample_counts(db_conn, later) == {
        (sid, DAY1 + timedelta(days=1)): 60}
    await db_conn.commit()


async def test_minute_data_is_read_the_same_with_shared_or_separate_windows(
    db_conn: AsyncConnection[Any],
) -> None:
    """Stations sharing their windows are read without the join with the windows: the
    same series as with the join, flagged samples included."""
    ids = ["agg-hr-a", "agg-hr-b"]
    await add_stations(db_conn, [Station(s, "air", s) for s in ids])
    await write(db_conn, [r for s in ids for r in
                          minutes(s, DAY1, 100) + minutes(s, DAY1 + timedelta(days=5), 30,
                                                          flag="C")])
    wins = station_day.windows([DAY1 + timedelta(days=1)])  # DAY1 ... DAY1+2
    shared: dict[str, HourReadings] = {}
    await batch_readings.load_samples(db_conn, {s: wins for s in ids}, shared)
    joined: dict[str, HourReadings] = {}
    far = station_day.windows([DAY1 + timedelta(days=5)])
    await batch_readings.load_samples(db_conn, {ids[0]: wins, ids[1]: far}, joined)
    await db_conn.commit()
    (a,), (b,) = shared[ids[0]].samples, shared[ids[1]].samples
    (c,), (d,) = joined[ids[0]].samples, joined[ids[1]].samples
    assert len(a.stamps) == 100 and a.ok.all()  # DAY1+5 is outside the shared windows
    for x, y in ((a, c), (a, b)):
        assert np.array_equal(x.stamps, y.stamps) and np.array_equal(x.values, y.values)
    assert len(d.stamps) == 30 and not d.ok.any()
    assert [f for _, f in d.flagged] == ["C"] * 30
