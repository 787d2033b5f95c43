"""A killed aggregator (issue 11): the days it had leased are taken back at once by the next
worker, and period figures are never computed while a day of their period is queued."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date, timedelta
from typing import Any

import pytest
from psycopg import AsyncConnection

from aggregator.service import drain
from aggregator.store import queue
from envmon import db
from envmon.stations import Station
from tests.aggregator.agg_support import add_stations, fetch, write
from tests.aggregator.test_agg_recompute import air_day

pytestmark = pytest.mark.integration
DAY = date(2025, 10, 7)


async def kill(conn: AsyncConnection[Any], victim: AsyncConnection[Any]) -> None:
    """End ``victim``'s server process as a crash would, and wait until it is gone."""
    pid = victim.info.backend_pid
    await fetch(conn, "SELECT pg_terminate_backend(%s)", pid)
    while await fetch(conn, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", pid):  # noqa: ASYNC110
        await asyncio.sleep(0.02)


async def test_a_dead_workers_leases_are_taken_back_at_once(
    database_url: str, db_conn: AsyncConnection[Any],
) -> None:
    await add_stations(db_conn, [Station("agg-ls1", "air", "LS1", "agg-city-ls", "")])
    await write(db_conn, air_day("agg-ls1", DAY, 30))
    dead = await db.connect(database_url)
    leased = await queue.claim(dead, 100)  # default lease: 300 s
    assert ("agg-ls1", DAY) in {(d.station_id, d.day) for d in leased}
    await kill(db_conn, dead)
    with contextlib.suppress(Exception):
        await dead.close()
    assert await drain(db_conn) >= 1
    assert await fetch(db_conn, "SELECT count(*) FROM air_station_daily"
                       " WHERE station_id = 'agg-ls1'") == [(1,)]
    assert await fetch(db_conn, "SELECT count(*) FROM dirty_days"
                       " WHERE station_id = 'agg-ls1'") == [(0,)]


async def test_a_live_workers_lease_is_respected(
    database_url: str, db_conn: AsyncConnection[Any],
) -> None:
    await add_stations(db_conn, [Station("agg-ls2", "air", "LS2", "agg-city-ls2", "")])
    await write(db_conn, air_day("agg-ls2", DAY, 30))
    async with await db.connect(database_url) as alive:
        leased = await queue.claim(alive, 100)
        assert ("agg-ls2", DAY) in {(d.station_id, d.day) for d in leased}
        await drain(db_conn)
        assert await fetch(db_conn, "SELECT count(*) FROM dirty_days"
                           " WHERE station_id = 'agg-ls2'") == [(1,)]
        await queue.release(alive, leased)


async def test_period_figures_wait_for_the_days_still_queued(
    database_url: str, db_conn: AsyncConnection[Any],
) -> None:
    """Two stations of a city on one day; a worker holds one of them (alive, computing):
    the other worker computes its station and the city's day, but not the month and year
    figures, which would count a day from half the city and then be revised."""
    await add_stations(db_conn, [Station(s, "air", s, "agg-city-lp", "") for s in
                                 ("agg-lp1", "agg-lp2")])
    await write(db_conn, air_day("agg-lp1", DAY, 30) + air_day("agg-lp2", DAY, 90))
    async with await db.connect(database_url) as busy:
        mine = await queue.claim(busy, 1, whole_days=False)
        assert len(mine) == 1
        await drain(db_conn)
        assert await fetch(db_conn, "SELECT count(*) FROM air_region_daily"
                           " WHERE city = 'agg-city-lp'") == [(1,)]
        assert await fetch(db_conn, "SELECT count(*) FROM air_region_period"
                           " WHERE city = 'agg-city-lp'") == [(0,)]
        await queue.release(busy, mine)
    await drain(db_conn)
    periods = await fetch(db_conn, "SELECT period, valid_days FROM air_region_period"
                          " WHERE city = 'agg-city-lp' ORDER BY 1")
    assert periods == [("month", 1), ("year", 1)]
    assert await fetch(db_conn, "SELECT count(*) FROM indicator_revisions"
                       " WHERE indicator = 'air_region_period'"
                       " AND key->>'city' = 'agg-city-lp'") == [(0,)]


async def test_workers_never_hold_neighbouring_days_of_a_station(
    database_url: str, db_conn: AsyncConnection[Any],
) -> None:
    """Computing day D also rewrites the hours of D+1 (their moving averages look back into
    D) from the readings read at the start: a second worker computing D+1 meanwhile from
    fresher readings could be overwritten by the first. So a worker does not take a day next
    to one another worker holds; the same worker (its read-ahead connection) may."""
    await add_stations(db_conn, [Station("agg-ln1", "air", "LN1", "agg-city-ln", "")])
    days = [DAY + timedelta(days=i) for i in range(4)]  # D .. D+3
    await write(db_conn, [r for d in days for r in air_day("agg-ln1", d, 30)])
    async with await db.connect(database_url) as a, await db.connect(database_url) as b, \
            await db.connect(database_url) as a_ahead:
        mine = await queue.claim(a, 1, whole_days=False)
        assert [d.day for d in mine] == [days[3]]
        theirs = await queue.claim(b, 10)
        assert [d.day for d in theirs] == [days[1], days[0]]  # not days[2], next to mine
        await queue.release(b, theirs)
        ahead = await queue.claim(a_ahead, 10, holder=a.info.backend_pid)
        assert [d.day for d in ahead] == [days[2], days[1], days[0]]
        await queue.release(a_ahead, ahead)
        await queue.release(a, mine)
    assert await drain(db_conn) == 4
