"""Helpers shared by the aggregator integration tests (station ids all start with ``agg-``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from aggregator import standards
from aggregator.service import drain
from envmon.stations import Station, upsert_stations
from ingest.reading import Reading
from ingest.writer import PartitionCache, write_readings

HOUR = timedelta(hours=1)


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
