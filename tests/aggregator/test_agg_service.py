"""The worker against the real database: woken by NOTIFY, shares the queue (SKIP LOCKED)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from prometheus_client import REGISTRY
from psycopg import AsyncConnection

from aggregator import queue, service
from envmon import db
from envmon.settings import Settings
from envmon.stations import Station
from ingest.reading import Reading
from tests.aggregator.agg_support import add_stations, day_hours, fetch, write

pytestmark = pytest.mark.integration
DAY = date(2025, 8, 1)


def pm25_day(sid: str, value: float, day: date = DAY) -> list[Reading]:
    return [Reading(sid, "pm25", "hour", ts, value, "N", "import") for ts in day_hours(day)]


async def wait_for(conn: AsyncConnection[Any], query: str, expected: Any,
                   limit: float = 60.0) -> Any:
    """Poll until ``query`` returns ``expected`` (generous limit: shared CI machine)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        rows = await fetch(conn, query)
        if rows == expected or loop.time() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def test_worker_follows_late_data(database_url: str, db_conn: AsyncConnection[Any]
                                        ) -> None:
    await add_stations(db_conn, [Station("agg-s1", "air", "S1", "agg-city-s", "")])
    stop = asyncio.Event()
    tuning = service.AggregatorSettings(poll_seconds=30)  # wake-up must come from NOTIFY
    worker = asyncio.create_task(service.run(Settings(database_url=database_url), stop, tuning))
    try:
        query = ("SELECT pm25 FROM air_station_daily WHERE station_id = 'agg-s1'")
        await write(db_conn, pm25_day("agg-s1", 40.0))
        assert await wait_for(db_conn, query, [(40.0,)]) == [(40.0,)]
        await write(db_conn, pm25_day("agg-s1", 44.0)[:1])  # one revised hour
        expected = [(pytest.approx(40.0 + 4.0 / 24),)]
        assert await wait_for(db_conn, query, expected) == expected
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)
    revisions = await fetch(db_conn, "SELECT count(*) FROM indicator_revisions"
                            " WHERE indicator = 'air_station_daily'"
                            " AND key->>'station_id' = 'agg-s1'")
    assert revisions == [(1,)]


async def test_claims_are_disjoint_and_survive_a_crash(
    database_url: str, db_conn: AsyncConnection[Any]
) -> None:
    await add_stations(db_conn, [Station("agg-q1", "air", "Q1"), Station("agg-q2", "air", "Q2")])
    await write(db_conn, pm25_day("agg-q1", 10.0) + pm25_day("agg-q2", 20.0, date(2025, 8, 2)))
    query = "SELECT count(*) FROM dirty_days WHERE station_id IN ('agg-q1', 'agg-q2')"
    with pytest.raises(RuntimeError):
        async with db_conn.transaction():
            assert len(await queue.claim(db_conn, 10_000)) >= 2
            raise RuntimeError("worker died mid-batch")
    assert await fetch(db_conn, query) == [(2,)]  # the rollback returned the marks
    async with await db.connect(database_url) as other, db_conn.transaction():
        first = await queue.claim(db_conn, 1)
        async with other.transaction():
            second = await queue.claim(other, 10_000)
    mine = {(d.station_id, d.day) for d in first}
    theirs = {(d.station_id, d.day) for d in second}
    assert len(mine) == 1 and not mine & theirs
    assert {s for s, _ in mine | theirs} >= {"agg-q1", "agg-q2"}
    assert await fetch(db_conn, query) == [(0,)]


async def test_drain_reports_metrics(db_conn: AsyncConnection[Any]) -> None:
    await add_stations(db_conn, [Station("agg-m1", "air", "M1")])
    before = REGISTRY.get_sample_value("envmon_aggregator_station_days_total") or 0.0
    lags = REGISTRY.get_sample_value("envmon_aggregator_lag_seconds_count") or 0.0
    await write(db_conn, pm25_day("agg-m1", 12.0))
    done = await service.drain(db_conn)
    assert done >= 1
    assert REGISTRY.get_sample_value("envmon_aggregator_station_days_total") == before + done
    assert REGISTRY.get_sample_value("envmon_aggregator_lag_seconds_count") == lags + done
    assert REGISTRY.get_sample_value("envmon_aggregator_backlog_station_days") == 0.0


async def test_a_full_batch_takes_whole_days_newest_first(db_conn: AsyncConnection[Any]) -> None:
    ids = ["agg-b1", "agg-b2", "agg-b3"]
    await add_stations(db_conn, [Station(s, "air", s) for s in ids])
    older = [Reading(s, "pm25", "hour", ts, 5.0, "N", "import")
             for s in ids for ts in day_hours(date(2020, 1, 1))[:1]]
    newer = [Reading(s, "pm25", "hour", ts, 5.0, "N", "import")
             for s in ids for ts in day_hours(date(2020, 1, 2))[:1]]
    await write(db_conn, older + newer)
    await service.drain(db_conn)  # leave only these marks in the queue
    await write(db_conn, [replace(r, value=6.0) for r in older + newer])
    async with db_conn.transaction():
        batch = await queue.claim(db_conn, 2)
        assert sorted((d.station_id, d.day) for d in batch) == [
            (s, date(2020, 1, 2)) for s in ids]
        rest = await queue.claim(db_conn, 100)
        assert {d.day for d in rest} == {date(2020, 1, 1)}
