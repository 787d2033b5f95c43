"""Several aggregator processes on one queue: two drains racing with small batches (so their
claims split days between them) leave the same indicators as one drain alone, and an empty
queue. What the race costs is documented in docs/capacity.md ("Workers")."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import pytest
from psycopg import AsyncConnection

from aggregator import service
from envmon import db
from envmon.stations import Station
from ingest.reading import Reading
from tests.aggregator.agg_support import add_stations, day_hours, fetch, write

pytestmark = pytest.mark.integration
CITY = "agg-city-race"
STATIONS = [f"agg-race-{i}" for i in range(6)]
DAYS = [date(2025, 9, 1) + timedelta(days=i) for i in range(3)]
SNAPSHOT = ("SELECT day, aqi, pm25, n_stations, complete FROM air_region_daily"
            " WHERE city = %s ORDER BY day")
STATION_SNAPSHOT = ("SELECT station_id, day, pm25 FROM air_station_daily"
                    " WHERE station_id = ANY(%s) ORDER BY 1, 2")


def readings() -> list[Reading]:
    return [Reading(sid, "pm25", "hour", ts, 20.0 + 3 * i + d + ts.hour % 5, "N", "import")
            for i, sid in enumerate(STATIONS) for d, day in enumerate(DAYS)
            for ts in day_hours(day)]


async def test_two_racing_aggregators_give_the_single_worker_result(
    database_url: str, db_conn: AsyncConnection[Any]
) -> None:
    await add_stations(db_conn, [Station(s, "air", s, CITY, "") for s in STATIONS])
    await write(db_conn, readings())
    async with await db.connect(database_url) as other:
        done = await asyncio.gather(service.drain(db_conn, batch_size=4),
                                    service.drain(other, batch_size=4))
    assert sum(done) >= len(STATIONS) * len(DAYS) and min(done) > 0  # both took work
    raced = await fetch(db_conn, SNAPSHOT, CITY)
    raced_stations = await fetch(db_conn, STATION_SNAPSHOT, STATIONS)
    assert len(raced) == len(DAYS) and all(row[3] == len(STATIONS) for row in raced)
    assert await fetch(db_conn, "SELECT count(*) FROM dirty_days WHERE station_id = ANY(%s)",
                       STATIONS) == [(0,)]
    # the same days again, one worker alone
    async with db_conn.transaction():
        await db_conn.execute(
            "INSERT INTO dirty_days (station_id, day) SELECT s, d FROM unnest(%s::text[]) s,"
            " unnest(%s::date[]) d ON CONFLICT (station_id, day) DO UPDATE"
            " SET seq = nextval('dirty_days_seq')", (STATIONS, DAYS))
    assert await service.drain(db_conn, batch_size=10_000) >= len(STATIONS) * len(DAYS)
    assert await fetch(db_conn, SNAPSHOT, CITY) == raced
    assert await fetch(db_conn, STATION_SNAPSHOT, STATIONS) == raced_stations
