"""Stored indicator values the aggregator computes from: the regions' other stations' hours
and daily means (read after the region-day locks, aggregator/store/locks.py), and the daily
rows period figures and reports are computed from."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from aggregator.compute.air_reference import DAILY_COLUMNS, DAILY_MEANS
from aggregator.compute.hourly_values import HourlyValue
from aggregator.compute.region_day import DailyMeans, Region, StoredHours
from aggregator.compute.station_day import Row
from aggregator.standards import POLLUTANTS
from aggregator.store import batch_readings

_DAILY = ", ".join(DAILY_COLUMNS)


async def stored_hours(
    conn: AsyncConnection[Any], wanted: Mapping[Region, tuple[datetime, datetime, list[str]]]
) -> dict[Region, StoredHours]:
    """The stored hourly readings and valid derived air hours (hourly rollup) of some
    stations of each region over [lo, hi)."""
    out = {}
    for region, (lo, hi, stations) in wanted.items():
        readings, _ = await batch_readings.load(
            conn, {sid: [(lo, hi)] for sid in stations}, hourly_only=True)
        derived: dict[str, list[HourlyValue]] = defaultdict(list)
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT station_id, parameter, ts, value, source FROM hourly_rollup"
                " WHERE station_id = ANY(%s) AND ts >= %s AND ts < %s AND valid"
                " AND value IS NOT NULL AND parameter = ANY(%s)",
                (stations, lo, hi, list(POLLUTANTS)),
            )
            for sid, parameter, ts, value, source in await cur.fetchall():
                derived[sid].append(HourlyValue(parameter, ts, value, True, source, 0, 0))
        out[region] = StoredHours(dict(readings), dict(derived))
    return out


async def daily_means(
    conn: AsyncConnection[Any], stations: Sequence[str], first: date, last: date
) -> DailyMeans:
    """The stored daily SO2/NO2/CO/PM values of the stations, first <= day <= last."""
    out = DailyMeans(first, (last - first).days + 1, {}, {})
    async with conn.cursor() as cur:
        await cur.execute(
            f"SELECT station_id, day, {', '.join(DAILY_MEANS)}"  # noqa: S608 - fixed columns
            " FROM air_station_daily WHERE station_id = ANY(%s) AND day >= %s AND day <= %s",
            (list(stations), first, last),
        )
        for sid, day, *values in await cur.fetchall():
            out.set(sid, day, dict(zip(DAILY_MEANS, values, strict=True)))
    return out


async def region_days(
    conn: AsyncConnection[Any], city: str, county: str, start: date, end: date
) -> list[Row]:
    """Stored daily values of a region for start <= day < end."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT day, {_DAILY} FROM air_region_daily"  # noqa: S608 - fixed columns
            " WHERE city = %s AND county = %s AND day >= %s AND day < %s ORDER BY day",
            (city, county, start, end),
        )
        return await cur.fetchall()


async def station_days(
    conn: AsyncConnection[Any], station_id: str, start: date, end: date
) -> list[Row]:
    """Stored daily values of an air station for start <= day < end."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT day, {_DAILY} FROM air_station_daily"  # noqa: S608 - fixed columns
            " WHERE station_id = %s AND day >= %s AND day < %s ORDER BY day",
            (station_id, start, end),
        )
        return await cur.fetchall()


async def water_daily_means(
    conn: AsyncConnection[Any], station_id: str, months: Sequence[date]
) -> dict[date, list[dict[str, float | None]]]:
    """The stored daily means of a water section, by month (the months' first days)."""
    by_month: dict[date, list[dict[str, float | None]]] = defaultdict(list)
    async with conn.cursor() as cur:
        await cur.execute(
            "SELECT date_trunc('month', day)::date, means FROM water_station_daily"
            " WHERE station_id = %s AND date_trunc('month', day)::date = ANY(%s)",
            (station_id, list(months)),
        )
        for month, means in await cur.fetchall():
            by_month[month].append(means)
    return dict(by_month)


async def water_days(
    conn: AsyncConnection[Any], station_id: str, start: date, end: date
) -> list[dict[str, float | None]]:
    """The stored daily means of a water section for start <= day < end."""
    cur = await conn.execute(
        "SELECT means FROM water_station_daily WHERE station_id = %s"
        " AND day >= %s AND day < %s", (station_id, start, end),
    )
    return [r[0] for r in await cur.fetchall()]


async def noise_days(
    conn: AsyncConnection[Any], station_ids: Sequence[str], start: date, end: date
) -> list[tuple[Any, ...]]:
    """(zone, day_ok, night_ok, night_lmax_ok) of the noise points' days, start <= day < end."""
    cur = await conn.execute(
        "SELECT zone, day_ok, night_ok, night_lmax_ok FROM noise_station_daily"
        " WHERE station_id = ANY(%s) AND day >= %s AND day < %s",
        (list(station_ids), start, end),
    )
    return await cur.fetchall()
