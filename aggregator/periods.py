"""Period figures (day counts, good-day ratio, annual statistics) from stored daily values.

The daily AQI report of each day is rebuilt from its stored concentrations with the same
standards function that produced it, so the period table, the report command and the daily
rows can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from aggregator import air, standards

Row = dict[str, Any]
#: the daily column holding each pollutant's daily value for the annual statistics
ANNUAL_COLUMNS: Mapping[standards.Pollutant, str] = {
    "so2": "so2", "no2": "no2", "co": "co", "pm10": "pm10", "pm25": "pm25", "o3": "o3_8h",
}
_COLUMNS = ", ".join(air.DAILY_COLUMNS)


async def load_region_days(
    conn: AsyncConnection[Any], city: str, county: str, start: date, end: date
) -> list[Row]:
    """Stored daily values of a region for start <= day < end."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT day, {_COLUMNS} FROM air_region_daily"  # noqa: S608 - fixed columns
            " WHERE city = %s AND county = %s AND day >= %s AND day < %s ORDER BY day",
            (city, county, start, end),
        )
        return await cur.fetchall()


async def load_station_days(
    conn: AsyncConnection[Any], station_id: str, start: date, end: date
) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT day, {_COLUMNS} FROM air_station_daily"  # noqa: S608 - fixed columns
            " WHERE station_id = %s AND day >= %s AND day < %s ORDER BY day",
            (station_id, start, end),
        )
        return await cur.fetchall()


@lru_cache(maxsize=200_000)
def _daily_report(day: date, values: tuple[float | None, ...]) -> standards.AqiReport:
    """Cached: a late reading changes one day, yet its year is recounted from all its days."""
    return standards.daily_aqi(dict(zip(air.DAILY_COLUMNS, values, strict=True)), day=day)


def reports(rows: Sequence[Row]) -> list[standards.AqiReport]:
    return [_daily_report(r["day"], tuple(r[c] for c in air.DAILY_COLUMNS)) for r in rows]


def day_counts(rows: Sequence[Row]) -> standards.DayCounts:
    return standards.day_counts(reports(rows))


def annual(rows: Sequence[Row], year: int) -> list[standards.AnnualStatistic]:
    """HJ 663 annual statistics of each pollutant from the year's daily values."""
    out: list[standards.AnnualStatistic] = []
    for pollutant, column in ANNUAL_COLUMNS.items():
        daily = {r["day"]: r[column] for r in rows if r[column] is not None}
        out.extend(standards.annual_statistics(pollutant, daily, year))
    return out
