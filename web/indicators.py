"""Read the aggregator's indicator tables (docs/schema-aggregator.md) a page at a time.

Nothing is recomputed here: the rows are what the aggregator stored, plus the HJ 633 colour of
each AQI and the GB 3096 limits of each noise zone from the standards library.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from aggregator import standards
from web.colours import aqi_colour

Row = dict[str, Any]
Scope = Literal["station", "region"]

_AIR_COMMON = "rules, aqi, level, category, primary_pollutants, iaqi"
_DAILY_VALUES = "complete, so2, no2, co, pm10, pm25, o3_8h, o3_1h"
# (scope, report) -> (relation, key columns, key filter, time column, extra columns)
_AIR: dict[tuple[Scope, str], tuple[str, str, str, str, str]] = {
    ("station", "hourly"): ("air_station_hourly", "station_id", "station_id = %(id)s", "ts",
                            "concentrations"),
    ("region", "hourly"): ("air_region_hourly", "city, county",
                           "city = %(city)s AND county = %(county)s", "ts",
                           "concentrations, n_stations"),
    ("station", "daily"): ("air_station_daily", "station_id", "station_id = %(id)s", "day",
                           _DAILY_VALUES),
    ("region", "daily"): ("air_region_daily", "city, county",
                          "city = %(city)s AND county = %(county)s", "day",
                          f"{_DAILY_VALUES}, n_stations"),
}


async def _rows(conn: AsyncConnection[Any], sql: str, params: dict[str, Any]) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql.encode(), params)
        return await cur.fetchall()


async def air(
    conn: AsyncConnection[Any], scope: Scope, report: Literal["hourly", "daily"],
    key: dict[str, str], start: datetime | date, end: datetime | date, limit: int, offset: int,
) -> list[Row]:
    """Hourly (``ts`` = UTC hour start) or daily (Beijing ``day``) AQI rows in [start, end)."""
    relation, keys, where, time_col, extra = _AIR[(scope, report)]
    sql = (f"SELECT {keys}, {time_col}, {_AIR_COMMON}, {extra} FROM {relation}"  # noqa: S608
           f" WHERE {where} AND {time_col} >= %(start)s AND {time_col} < %(end)s"
           f" ORDER BY {time_col} LIMIT %(limit)s OFFSET %(offset)s")
    rows = await _rows(conn, sql, {**key, "start": start, "end": end, "limit": limit,
                                   "offset": offset})
    for r in rows:
        r["colour"] = aqi_colour(r["aqi"])
    return rows


async def regions(conn: AsyncConnection[Any]) -> list[Row]:
    """Cities and counties of the registered stations (county '' = the whole city)."""
    return await _rows(conn, """
        SELECT city, county, count(*) AS stations,
               count(*) FILTER (WHERE kind = 'air') AS air_stations
        FROM (SELECT city, county, kind FROM stations WHERE city IS NOT NULL
              UNION ALL SELECT city, '', kind FROM stations WHERE city IS NOT NULL) s
        GROUP BY city, county ORDER BY city, county""", {})


_WATER = {"day": ("water_station_daily", "day", "NULL::integer"),
          "month": ("water_station_monthly", "month", "w.n_days")}


async def water(
    conn: AsyncConnection[Any], period: Literal["day", "month"], start: date, end: date, *,
    station: str | None, city: str | None, county: str | None, limit: int, offset: int,
) -> list[Row]:
    """GB 3838 class of each section per day or month, with its target class."""
    table, col, n_days = _WATER[period]
    sql = (f"SELECT w.station_id, s.name, s.city, s.county, s.water_body,"  # noqa: S608
           f" s.water_target_class AS target_class, w.{col} AS period_start, w.water_class,"
           f" w.class_label, w.compliant, w.exceeding, w.means, {n_days} AS n_days"
           f" FROM {table} w JOIN stations s USING (station_id)"
           f" WHERE w.{col} >= %(start)s AND w.{col} < %(end)s"
           " AND (%(station)s::text IS NULL OR w.station_id = %(station)s)"
           " AND (%(city)s::text IS NULL OR s.city = %(city)s)"
           " AND (%(county)s::text IS NULL OR s.county = %(county)s)"
           f" ORDER BY w.station_id, w.{col} LIMIT %(limit)s OFFSET %(offset)s")
    return await _rows(conn, sql, {"start": start, "end": end, "station": station,
                                   "city": city, "county": county, "limit": limit,
                                   "offset": offset})


def _limits(zone: str) -> dict[str, float] | None:
    try:
        z = standards.zone_limits(zone)  # type: ignore[arg-type]
    except standards.StandardsError:
        return None
    return {"day": z.day, "night": z.night, "night_lmax": z.night_lmax}


async def noise(
    conn: AsyncConnection[Any], start: date, end: date, *, station: str | None,
    city: str | None, county: str | None, limit: int, offset: int,
) -> list[Row]:
    """GB 3096 day (Ld) and night (Ln) levels of each point per day, with the zone's limits."""
    rows = await _rows(conn, """
        SELECT n.station_id, s.name, s.city, s.county, n.zone, n.day, n.ld, n.ln, n.ldn,
               n.n_day, n.n_night, n.night_lmax, n.day_ok, n.night_ok, n.night_lmax_ok
        FROM noise_station_daily n JOIN stations s USING (station_id)
        WHERE n.day >= %(start)s AND n.day < %(end)s
          AND (%(station)s::text IS NULL OR n.station_id = %(station)s)
          AND (%(city)s::text IS NULL OR s.city = %(city)s)
          AND (%(county)s::text IS NULL OR s.county = %(county)s)
        ORDER BY n.station_id, n.day LIMIT %(limit)s OFFSET %(offset)s""",
        {"start": start, "end": end, "station": station, "city": city, "county": county,
         "limit": limit, "offset": offset})
    for r in rows:
        r["limits"] = _limits(r["zone"])
    return rows


async def readings(
    conn: AsyncConnection[Any], station: str, parameter: str, interval: str, start: datetime,
    end: datetime, limit: int, offset: int,
) -> list[Row]:
    """Stored readings of one series (primary-key range scan), oldest first."""
    return await _rows(conn, """
        SELECT ts, value, flag, source FROM readings
        WHERE station_id = %(station)s AND parameter = %(parameter)s
          AND interval = %(interval)s AND ts >= %(start)s AND ts < %(end)s
        ORDER BY ts LIMIT %(limit)s OFFSET %(offset)s""",
        {"station": station, "parameter": parameter, "interval": interval, "start": start,
         "end": end, "limit": limit, "offset": offset})
