"""The worker against the real database: woken by NOTIFY, shares the queue (SKIP LOCKED)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from psycopg import AsyncConnection

from aggregator import recompute, service
from aggregator.metrics import AggregatorMetrics
from aggregator.recompute import Claimed, run_batch
from aggregator.store import queue
from envmon import db
from envmon.settings import AggregatorSettings, Settings
from envmon.stations import Station
from ingest.reading import Reading
from tests.aggregator.agg_support import add_stations, day_hours, fetch, write

pytestmark = [pytest.mark.integration, pytest.mark.layouts]  # layouts: tests/layouts.py
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
    tuning = AggregatorSettings(poll_seconds=30)  # wake-up must come from NOTIFY
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


async def test_leases_are_disjoint_expire_and_keep_new_marks(
    database_url: str, db_conn: AsyncConnection[Any]
) -> None:
    await add_stations(db_conn, [Station("agg-q1", "air", "Q1"), Station("agg-q2", "air", "Q2")])
    day1, day2 = date(2025, 8, 11), date(2025, 8, 12)
    await write(db_conn, pm25_day("agg-q1", 10.0, day1) + pm25_day("agg-q2", 20.0, day2))
    mine = await queue.claim(db_conn, 1)
    assert [(d.station_id, d.day) for d in mine] == [("agg-q2", day2)]  # newest day first
    async with await db.connect(database_url) as other:
        theirs = await queue.claim(other, 10_000)
        keys = {(d.station_id, d.day) for d in theirs}
        assert ("agg-q1", day1) in keys and ("agg-q2", day2) not in keys  # leased by me
        await queue.release(other, theirs)
        # I "die" without finishing: once my lease is older than the lease time, others
        # take the day again
        again = await queue.claim(other, 10_000, lease_seconds=0.001)
        assert ("agg-q2", day2) in {(d.station_id, d.day) for d in again}
        await queue.release(other, again)
    # a reading committed while the day is being computed keeps its mark
    await write(db_conn, pm25_day("agg-q2", 21.0, day2)[:1])
    async with db_conn.transaction():
        await queue.finish(db_conn, mine)
    left = await fetch(db_conn, "SELECT station_id FROM dirty_days WHERE station_id"
                       " IN ('agg-q1', 'agg-q2') ORDER BY 1")
    assert left == [("agg-q1",), ("agg-q2",)]
    assert await service.drain(db_conn) >= 2
    assert await fetch(db_conn, "SELECT pm25 FROM air_station_daily WHERE station_id"
                       " = 'agg-q2'") == [(pytest.approx(20.0 + 1.0 / 24),)]


async def test_failing_station_day_is_kept_aside(db_conn: AsyncConnection[Any]) -> None:
    """A noise station without a functional zone cannot be graded: its day goes to
    failed_days with the error, the other station of the batch is computed."""
    await add_stations(db_conn, [Station("agg-x1", "noise", "X1"),
                                 Station("agg-x2", "air", "X2")])
    leq = [Reading("agg-x1", "leq", "hour", ts, 50.0, "N", "import") for ts in day_hours(DAY)]
    await write(db_conn, leq + pm25_day("agg-x2", 30.0))
    await service.drain(db_conn)
    failed = await fetch(db_conn, "SELECT station_id, error FROM failed_days")
    assert [sid for sid, _ in failed] == ["agg-x1"] and "functional zone" in failed[0][1]
    assert await fetch(db_conn, "SELECT count(*) FROM air_station_daily"
                       " WHERE station_id = 'agg-x2'") == [(1,)]
    await add_stations(db_conn, [Station("agg-x1", "noise", "X1", noise_zone="1")])
    async with db_conn.transaction():
        assert await queue.retry_failed(db_conn) == 1
    await service.drain(db_conn)
    assert await fetch(db_conn, "SELECT count(*) FROM noise_station_daily"
                       " WHERE station_id = 'agg-x1'") == [(1,)]
    assert await fetch(db_conn, "SELECT count(*) FROM failed_days") == [(0,)]


async def test_drain_reports_metrics(db_conn: AsyncConnection[Any]) -> None:
    await add_stations(db_conn, [Station("agg-m1", "air", "M1")])
    registry = CollectorRegistry()
    await write(db_conn, pm25_day("agg-m1", 12.0))
    done = await service.drain(db_conn, metrics=AggregatorMetrics(registry))
    assert done >= 1
    assert registry.get_sample_value("envmon_aggregator_station_days_total") == done
    assert registry.get_sample_value("envmon_aggregator_lag_seconds_count") == done
    assert registry.get_sample_value("envmon_aggregator_backlog_station_days") == 0.0


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
    batch = await queue.claim(db_conn, 2)
    assert sorted((d.station_id, d.day) for d in batch) == [(s, date(2020, 1, 2)) for s in ids]
    rest = await queue.claim(db_conn, 100)
    assert {d.day for d in rest} == {date(2020, 1, 1)}
    await queue.release(db_conn, batch + rest)


async def test_worker_reconnects_after_losing_its_connections(
    database_url: str, db_conn: AsyncConnection[Any]
) -> None:
    await add_stations(db_conn, [Station("agg-k1", "air", "K1")])
    stop = asyncio.Event()
    tuning = AggregatorSettings(poll_seconds=30, retry_seconds=0.2)
    worker = asyncio.create_task(service.run(Settings(database_url=database_url), stop, tuning))
    query = "SELECT pm25 FROM air_station_daily WHERE station_id = 'agg-k1'"
    try:
        await write(db_conn, pm25_day("agg-k1", 10.0))
        assert await wait_for(db_conn, query, [(10.0,)]) == [(10.0,)]
        listeners = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                     " AND application_name = 'envmon' AND query LIKE 'LISTEN%%'")
        [(old_pid,)] = await fetch(db_conn, listeners)
        assert await fetch(db_conn, "SELECT pg_terminate_backend(%s)", old_pid) == [(True,)]
        await write(db_conn, pm25_day("agg-k1", 20.0))
        assert await wait_for(db_conn, query, [(20.0,)]) == [(20.0,)]
        [(new_pid,)] = await fetch(db_conn, listeners)  # LISTEN runs before the drain
        assert new_pid != old_pid  # the worker listens again, on a new connection
        assert not worker.done()
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)


def air_days(sid: str, base: float, days: list[date]) -> list[Reading]:
    """All six pollutants, every hour, values varying by hour and day."""
    out = []
    for n, day in enumerate(days):
        for h, ts in enumerate(day_hours(day)):
            for k, p in enumerate(("so2", "no2", "co", "o3", "pm10", "pm25")):
                value = round(0.1 * (base + 3 * h + 5 * n + k), 1) if p == "co" else \
                    float(base + 7 * ((h + k + n) % 9) + 2 * k)
                out.append(Reading(sid, p, "hour", ts, value, "N", "import"))
    return out


INDICATORS = (
    "SELECT 'sd', station_id, day::text, aqi, so2, pm25, o3_8h, iaqi::text FROM air_station_daily"
    " WHERE station_id LIKE 'agg-ra%%' UNION ALL"
    " SELECT 'sh', station_id, ts::text, aqi, NULL, NULL, NULL, iaqi::text || concentrations::text"
    " FROM air_station_hourly WHERE station_id LIKE 'agg-ra%%' UNION ALL"
    " SELECT 'rd', county, day::text, aqi, so2, pm25, o3_8h, iaqi::text FROM air_region_daily"
    " WHERE city = 'agg-city-ra' UNION ALL"
    " SELECT 'rh', county, ts::text, aqi, NULL, NULL, NULL, iaqi::text || concentrations::text"
    " FROM air_region_hourly WHERE city = 'agg-city-ra' ORDER BY 1, 2, 3"
)


async def test_reading_ahead_gives_the_same_indicators(
    database_url: str, db_conn: AsyncConnection[Any]
) -> None:
    """drain() with a second connection reads the next batch while one computes: the
    indicators must be those of draining batch by batch on one connection."""
    ids = ["agg-ra1", "agg-ra2", "agg-ra3"]
    await add_stations(db_conn, [Station(s, "air", s, "agg-city-ra", c)
                                 for s, c in zip(ids, ("x", "x", "y"), strict=True)])
    days = [date(2024, 3, d) for d in range(1, 7)]
    await write(db_conn, [r for i, s in enumerate(ids) for r in air_days(s, 20 + 9 * i, days)])
    async with await db.connect(database_url) as reader:
        done = await service.drain(db_conn, 3, reader=reader)  # 1 day per batch: 6 batches
    assert done >= 18
    ahead = await fetch(db_conn, INDICATORS)
    assert await fetch(db_conn, "SELECT count(*) FROM dirty_claims") == [(0,)]
    assert await fetch(db_conn, "SELECT count(*) FROM indicator_revisions"
                       " WHERE key->>'city' = 'agg-city-ra'"
                       " OR key->>'station_id' LIKE 'agg-ra%%'") == [(0,)]
    for table, where in (("air_station_daily", "station_id LIKE 'agg-ra%'"),
                         ("air_station_hours", "station_id LIKE 'agg-ra%'"),
                         ("air_region_daily", "city = 'agg-city-ra'"),
                         ("air_region_hours", "city = 'agg-city-ra'")):
        await db_conn.execute(f"DELETE FROM {table} WHERE {where}")  # noqa: S608 (constants)
    await db_conn.execute(
        "INSERT INTO dirty_days (station_id, day) SELECT s, d FROM unnest(%s::text[]) s,"
        " unnest(%s::date[]) d", (ids, days))
    await db_conn.commit()
    await service.drain(db_conn, 3)
    assert len(ahead) == 3 * 6 + 3 * 6 * 24 + 3 * 6 + 3 * 6 * 24
    assert await fetch(db_conn, INDICATORS) == ahead


async def test_a_failed_batch_gives_the_days_read_ahead_back(
    database_url: str, db_conn: AsyncConnection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = ["agg-rf1", "agg-rf2"]
    await add_stations(db_conn, [Station(s, "air", s) for s in ids])
    days = [date(2024, 4, d) for d in range(1, 5)]
    await write(db_conn, [r for s in ids for r in air_days(s, 30, days)])
    real = run_batch
    calls = 0

    async def second_fails(conn: AsyncConnection[Any], limit: int, lease: float,
                           claimed: Claimed) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            await queue.release(conn, claimed.days)  # as run_batch does when it fails
            raise RuntimeError("recomputation failed")
        return await real(conn, limit, lease, claimed)

    monkeypatch.setattr(service, "run_batch", second_fails)
    async with await db.connect(database_url) as reader:
        with pytest.raises(RuntimeError):
            await service.drain(db_conn, 2, reader=reader)  # 1 day per batch
    await db_conn.rollback()
    # nothing stays leased (the batch read ahead was given back), nothing is lost
    assert await fetch(db_conn, "SELECT count(*) FROM dirty_claims") == [(0,)]
    [(left,)] = await fetch(db_conn, "SELECT count(*) FROM dirty_days"
                            " WHERE station_id LIKE 'agg-rf%%'")
    assert left == 2 * 3
    monkeypatch.setattr(service, "run_batch", real)
    await service.drain(db_conn)
    assert await fetch(db_conn, "SELECT count(*) FROM air_station_daily"
                       " WHERE station_id LIKE 'agg-rf%%'") == [(2 * 4,)]


async def test_minute_data_beyond_the_batch_budget_waits_for_the_next_batch(
    db_conn: AsyncConnection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch holds at most MAX_SAMPLES minute readings: the other claimed days go back to
    the queue and are computed by the next batches, with the same results."""
    ids = ["agg-mb1", "agg-mb2"]
    await add_stations(db_conn, [Station(s, "air", s) for s in ids])
    days = [date(2024, 5, d) for d in (1, 2, 3)]
    minutes = [Reading(s, "pm25", "min", ts + timedelta(minutes=m), 30.0 + (m * (i + 1)) % 7,
                       "N", "import")
               for i, s in enumerate(ids) for day in days for ts in day_hours(day)
               for m in range(60)]
    await write(db_conn, minutes)
    await service.drain(db_conn)  # the reference: everything in one batch
    daily = "SELECT station_id, day, pm25 FROM air_station_daily" \
            " WHERE station_id LIKE 'agg-mb%%' ORDER BY 1, 2"
    expected = await fetch(db_conn, daily)
    assert len(expected) == 6 and all(pm25 is not None for *_, pm25 in expected)
    await db_conn.execute("DELETE FROM air_station_daily WHERE station_id LIKE 'agg-mb%'")
    await db_conn.execute(
        "INSERT INTO dirty_days (station_id, day) SELECT s, d FROM unnest(%s::text[]) s,"
        " unnest(%s::date[]) d", (ids, days))
    await db_conn.commit()
    monkeypatch.setattr(recompute, "MAX_SAMPLES", 3000)  # about one day's window
    first = await run_batch(db_conn, 100)
    assert first is not None and first.station_days == 1
    assert await fetch(db_conn, "SELECT count(*) FROM dirty_claims") == [(0,)]
    assert await fetch(db_conn, "SELECT count(*) FROM dirty_days"
                       " WHERE station_id LIKE 'agg-mb%%'") == [(5,)]
    await service.drain(db_conn, 100)
    assert await fetch(db_conn, daily) == expected
