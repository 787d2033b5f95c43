"""Helpers shared by the aggregator integration tests (station ids all start with ``agg-``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from aggregator import standards
from aggregator.service import drain
from envmon.stations import Station, upsert_stations
from ingest.reading import Reading
from ingest.writer import PartitionCache, write_readings

HOUR = timedelta(hours=1)


def daily_values(series: Mapping[str, Mapping[datetime, float | None]], day: date
                 ) -> dict[str, float | None]:
    """The daily-report inputs of ``day`` straight from the standards library: the tests'
    oracle for what the aggregator stores (HJ 663 daily means, MDA8, daily max 1-h)."""
    values: dict[str, float | None] = {}
    for p in ("so2", "no2", "co", "pm10", "pm25"):
        agg = standards.daily_mean(series[p], day)
        values[p] = agg.value if agg.valid else None
    mda8 = standards.o3_mda8(series["o3"], day)
    values["o3_8h"] = mda8.value if mda8.valid else None
    o3_1h = standards.o3_daily_max_1h(series["o3"], day)
    values["o3_1h"] = o3_1h.value if o3_1h.valid else None
    return values


def day_hours(day: date) -> list[datetime]:
    """Starts of the 24 hours of a Beijing natural day."""
    start = datetime(day.year, day.month, day.day, tzinfo=standards.BEIJING)
    return [start + i * HOUR for i in range(24)]


async def add_stations(conn: AsyncConnection[Any], stations: Iterable[Station]) -> None:
    async with conn.transaction():
        await upsert_stations(conn, stations)


async def write(conn: AsyncConnection[Any], readings: Sequence[Reading]) -> None:
    async with conn.transaction():
        await write_readings(conn, readings, PartitionCache())


async def write_and_drain(conn: AsyncConnection[Any], readings: Sequence[Reading]) -> int:
    await write(conn, readings)
    return await drain(conn)


async def fetch(conn: AsyncConnection[Any], query: str, *args: Any) -> list[tuple[Any, ...]]:
    cur = await conn.execute(query, args)
    rows = await cur.fetchall()
    await conn.commit()
    return rows
