"""Reading back what a feed row names: readings by primary key and time range, indicator rows
by (station, day) key, region rows by (city, county). Never a scan of a whole table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection

from alerts.conditions import StationInfo
from alerts.feed import ReadingKey


async def stations(conn: AsyncConnection[Any]) -> dict[str, StationInfo]:
    cur = await conn.execute(
        "SELECT station_id, kind, name, city, county, water_target_class, water_body,"
        " noise_zone FROM stations")
    return {row[0]: StationInfo(*row) for row in await cur.fetchall()}


async def readings(conn: AsyncConnection[Any], keys: Sequence[ReadingKey]
                   ) -> list[tuple[str, str, str, datetime, float, str]]:
    """(station, parameter, interval, ts, value, flag) of the keys' committed time ranges."""
    if not keys:
        return []
    cur = await conn.execute(
        "SELECT r.station_id, r.parameter, r.interval, r.ts, r.value, r.flag"
        " FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[])"
        "  AS k(station_id, parameter, interval, lo, hi)"
        " JOIN readings r ON r.station_id = k.station_id AND r.parameter = k.parameter"
        "  AND r.interval = k.interval AND r.ts BETWEEN k.lo AND k.hi"
        " ORDER BY r.ts",
        ([k.station_id for k in keys], [k.parameter for k in keys],
         [k.interval for k in keys], [k.first for k in keys], [k.last for k in keys]),
    )
    return list(await cur.fetchall())


async def flag_changes(conn: AsyncConnection[Any], keys: Sequence[ReadingKey],
                       flags: Sequence[str], parameters: Sequence[str]
                       ) -> list[tuple[str, datetime, list[str] | None, bool]]:
    """Per station and data time: (station, ts, parameters carrying one of ``flags``, all
    readings normal), grouped in SQL and reduced to what can change an episode: the flagged
    times, and a normal time when it is the first after a non-normal one or the station's
    latest (a run of normal times after the first changes nothing)."""
    if not keys:
        return []
    cur = await conn.execute(
        "SELECT station_id, ts, hits, clean FROM ("
        " SELECT r.station_id, r.ts,"
        "  array_agg(r.parameter ORDER BY r.parameter) FILTER (WHERE r.flag = ANY(%s)) AS hits,"
        "  bool_and(r.flag = 'N') AS clean,"
        "  lag(bool_and(r.flag = 'N')) OVER w AS prev_clean,"
        "  lead(r.ts) OVER w AS next_ts"
        " FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[])"
        "  AS k(station_id, parameter, interval, lo, hi)"
        " JOIN readings r ON r.station_id = k.station_id AND r.parameter = k.parameter"
        "  AND r.interval = k.interval AND r.ts BETWEEN k.lo AND k.hi"
        " WHERE cardinality(%s::text[]) = 0 OR r.parameter = ANY(%s)"
        " GROUP BY r.station_id, r.ts"
        " WINDOW w AS (PARTITION BY r.station_id ORDER BY r.ts)) x"
        " WHERE hits IS NOT NULL"
        "  OR (clean AND (prev_clean IS NOT TRUE OR next_ts IS NULL))"
        " ORDER BY ts",
        (list(flags), [k.station_id for k in keys], [k.parameter for k in keys],
         [k.interval for k in keys], [k.first for k in keys], [k.last for k in keys],
         list(parameters), list(parameters)),
    )
    return list(await cur.fetchall())


def _days(station_days: Iterable[tuple[str, date]]) -> tuple[list[str], list[date]]:
    pairs = sorted(station_days)
    return [s for s, _ in pairs], [d for _, d in pairs]


_DAY_HOURS = (
    " FROM unnest(%s::text[], %s::date[]) AS k(station_id, day)"
    " JOIN {table} h ON h.station_id = k.station_id"
    "  AND h.ts >= (k.day::timestamp AT TIME ZONE 'Asia/Shanghai')"
    "  AND h.ts < ((k.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')"
)


async def air_station_hourly(conn: AsyncConnection[Any], station_days: Iterable[tuple[str, date]]
                             ) -> list[tuple[str, datetime, int | None]]:
    cur = await conn.execute(
        "SELECT h.station_id, h.ts, h.aqi" + _DAY_HOURS.format(table="air_station_hourly")
        + " ORDER BY h.ts", _days(station_days))
    return list(await cur.fetchall())


async def air_region_hourly(conn: AsyncConnection[Any], regions: Iterable[tuple[str, str]],
                            days: Iterable[date]) -> list[tuple[str, str, datetime, int | None]]:
    rs = sorted(set(regions))
    ds = sorted(set(days))
    if not rs or not ds:
        return []
    cur = await conn.execute(
        "SELECT h.city, h.county, h.ts, h.aqi FROM unnest(%s::text[], %s::text[]) k(city, county)"
        " JOIN air_region_hourly h ON h.city = k.city AND h.county = k.county"
        "  AND h.ts >= (%s::date::timestamp AT TIME ZONE 'Asia/Shanghai')"
        "  AND h.ts < ((%s::date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')"
        " ORDER BY h.ts",
        ([c for c, _ in rs], [k for _, k in rs], ds[0], ds[-1]))
    return list(await cur.fetchall())


async def air_station_daily(conn: AsyncConnection[Any], station_days: Iterable[tuple[str, date]]
                            ) -> list[tuple[str, date, int | None]]:
    cur = await conn.execute(
        "SELECT d.station_id, d.day, d.aqi FROM unnest(%s::text[], %s::date[]) k(station_id, day)"
        " JOIN air_station_daily d USING (station_id, day) ORDER BY d.day",
        _days(station_days))
    return list(await cur.fetchall())


async def air_region_daily(conn: AsyncConnection[Any], regions: Iterable[tuple[str, str]],
                           days: Iterable[date]) -> list[tuple[str, str, date, int | None]]:
    rs = sorted(set(regions))
    if not rs:
        return []
    cur = await conn.execute(
        "SELECT d.city, d.county, d.day, d.aqi FROM unnest(%s::text[], %s::text[]) k(city, county)"
        " JOIN air_region_daily d ON d.city = k.city AND d.county = k.county"
        " WHERE d.day = ANY(%s::date[]) ORDER BY d.day",
        ([c for c, _ in rs], [k for _, k in rs], sorted(set(days))))
    return list(await cur.fetchall())


async def water_daily(conn: AsyncConnection[Any], station_days: Iterable[tuple[str, date]]
                      ) -> list[tuple[str, date, int | None, bool | None, str | None, Any]]:
    cur = await conn.execute(
        "SELECT d.station_id, d.day, d.water_class, d.compliant, d.class_label, d.exceeding"
        " FROM unnest(%s::text[], %s::date[]) k(station_id, day)"
        " JOIN water_station_daily d USING (station_id, day) ORDER BY d.day",
        _days(station_days))
    return list(await cur.fetchall())


async def noise_hourly(conn: AsyncConnection[Any], station_days: Iterable[tuple[str, date]]
                       ) -> list[tuple[str, datetime, float | None, float | None]]:
    cur = await conn.execute(
        "SELECT h.station_id, h.ts, h.leq, h.lmax" + _DAY_HOURS.format(table="noise_station_hourly")
        + " ORDER BY h.ts", _days(station_days))
    return list(await cur.fetchall())


async def region_years(conn: AsyncConnection[Any], year_start: date
                       ) -> list[tuple[str, str, int, int]]:
    """(city, county, good_days, valid_days) of every region's year-to-date row."""
    cur = await conn.execute(
        "SELECT city, county, good_days, valid_days FROM air_region_period"
        " WHERE period = 'year' AND period_start = %s", (year_start,))
    return list(await cur.fetchall())


async def cadences(conn: AsyncConnection[Any]
                   ) -> list[tuple[str, datetime, datetime, list[float]]]:
    cur = await conn.execute(
        "SELECT station_id, last_ts, last_seen_at, gaps FROM alert_station_cadence")
    return list(await cur.fetchall())


async def learn_cadence(conn: AsyncConnection[Any], keys: Sequence[ReadingKey],
                        committed: datetime, keep: int = 16) -> None:
    """Advance each station's last data time and keep its recent gaps: a batch bringing n
    new timestamps after the previous last one adds the mean gap (new last - old last) / n."""
    latest: dict[str, tuple[datetime, int]] = {}
    for k in keys:
        last, n = latest.get(k.station_id, (k.last, 0))
        latest[k.station_id] = (max(last, k.last), max(n, k.n))
    if not latest:
        return
    sids = sorted(latest)
    await conn.execute(
        "INSERT INTO alert_station_cadence AS c (station_id, last_ts, last_seen_at)"
        " SELECT * FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[])"
        " ON CONFLICT (station_id) DO UPDATE SET"
        "  gaps = CASE WHEN excluded.last_ts > c.last_ts THEN (c.gaps || ARRAY["
        "   extract(epoch FROM excluded.last_ts - c.last_ts)::float8"
        "   / greatest(1, (SELECT n FROM unnest(%s::text[], %s::int[]) x(s, n)"
        "                  WHERE x.s = c.station_id))])[greatest(1, cardinality(c.gaps) + 2 - %s):]"
        "   ELSE c.gaps END,"
        "  last_ts = greatest(c.last_ts, excluded.last_ts), last_seen_at = excluded.last_seen_at",
        (sids, [latest[s][0] for s in sids], [committed] * len(sids),
         sids, [latest[s][1] for s in sids], keep),
    )
