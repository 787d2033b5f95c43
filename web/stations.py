"""Stations with their latest values, state and (air) latest AQI, a page at a time.

Every lookup is an index probe on the readings primary key (station, parameter, interval, ts)
bounded by the look-back window, so a page costs (stations x parameters x intervals) probes
whatever the table's size, on both storage layouts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from envmon.parameters import catalogue
from web import state
from web.colours import aqi_colour

Row = dict[str, Any]
INTERVALS = ("rt", "min", "hour", "day")

_PAGE_SQL = """
SELECT station_id, kind, name, city, county, lat, lon, water_target_class, water_body,
       noise_zone
FROM stations
WHERE (%(kind)s::text IS NULL OR kind = %(kind)s)
  AND (%(city)s::text IS NULL OR city = %(city)s)
  AND (%(county)s::text IS NULL OR county = %(county)s)
ORDER BY station_id LIMIT %(limit)s OFFSET %(offset)s
"""

_LATEST_SQL = """
SELECT k.station_id, k.parameter, i.interval, r.ts, r.value, r.flag
FROM unnest(%(sid)s::text[], %(param)s::text[]) AS k(station_id, parameter)
CROSS JOIN unnest(%(intervals)s::text[]) AS i(interval)
CROSS JOIN LATERAL (
    SELECT ts, value, flag FROM readings r
    WHERE r.station_id = k.station_id AND r.parameter = k.parameter
      AND r.interval = i.interval AND r.ts >= %(since)s AND r.ts <= %(now)s
    ORDER BY r.ts DESC LIMIT 1) r
"""

_SERIES_SQL = """
SELECT k.station_id, r.ts
FROM unnest(%(sid)s::text[], %(param)s::text[], %(interval)s::text[])
     AS k(station_id, parameter, interval)
CROSS JOIN LATERAL (
    SELECT ts FROM readings r
    WHERE r.station_id = k.station_id AND r.parameter = k.parameter
      AND r.interval = k.interval AND r.ts >= %(since)s AND r.ts <= %(now)s
    ORDER BY r.ts DESC LIMIT %(samples)s) r
"""

_AQI_SQL = """
SELECT k.station_id, h.ts, h.aqi, h.level, h.category, h.primary_pollutants
FROM unnest(%(sid)s::text[]) AS k(station_id)
CROSS JOIN LATERAL (
    SELECT ts, aqi, level, category, primary_pollutants FROM air_station_hourly h
    WHERE h.station_id = k.station_id AND h.ts >= %(since)s
    ORDER BY h.ts DESC LIMIT 1) h
"""


async def _rows(conn: AsyncConnection[Any], sql: str, params: dict[str, Any]) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql.encode(), params)
        return await cur.fetchall()


def _latest_by_station(rows: Sequence[Row]) -> dict[str, dict[str, Row]]:
    """Per station and parameter, the reading whose interval ended last."""
    out: dict[str, dict[str, Row]] = {}
    for r in rows:
        end = r["ts"] + state.INTERVAL_LENGTH[r["interval"]]
        best = out.setdefault(r["station_id"], {}).get(r["parameter"])
        if best is None or end > best["ts"] + state.INTERVAL_LENGTH[best["interval"]]:
            out[r["station_id"]][r["parameter"]] = r
    return out


async def station_page(
    conn: AsyncConnection[Any], now: datetime, *, kind: str | None, city: str | None,
    county: str | None, limit: int, offset: int,
) -> list[Row]:
    """``limit`` stations from ``offset`` (by id) with latest values, state and AQI."""
    page = await _rows(conn, _PAGE_SQL, {"kind": kind, "city": city, "county": county,
                                         "limit": limit, "offset": offset})
    params = catalogue()
    pairs = [(s["station_id"], p) for s in page for p in params.get(s["kind"], {})]
    since = now - state.LOOKBACK
    latest = _latest_by_station(await _rows(conn, _LATEST_SQL, {
        "sid": [a for a, _ in pairs], "param": [b for _, b in pairs],
        "intervals": list(INTERVALS), "since": since, "now": now}))
    newest = {sid: max(values.values(),
                       key=lambda r: r["ts"] + state.INTERVAL_LENGTH[r["interval"]])
              for sid, values in latest.items()}
    series: dict[str, list[datetime]] = {}
    for r in await _rows(conn, _SERIES_SQL, {
            "sid": list(newest), "param": [r["parameter"] for r in newest.values()],
            "interval": [r["interval"] for r in newest.values()], "since": since, "now": now,
            "samples": state.CADENCE_SAMPLES}):
        series.setdefault(r["station_id"], []).append(r["ts"])
    air_ids = [s["station_id"] for s in page if s["kind"] == "air"]
    aqi = {r["station_id"]: r for r in await _rows(conn, _AQI_SQL,
                                                    {"sid": air_ids, "since": since})}
    out = []
    for s in page:
        sid = s["station_id"]
        top = newest.get(sid)
        verdict = state.judge(None if top is None else top["interval"],
                              None if top is None else top["ts"], series.get(sid, []), now)
        hour = aqi.get(sid)
        out.append({
            **s, "state": verdict.state,
            "cadence_seconds": None if verdict.cadence is None
            else verdict.cadence.total_seconds(),
            "last_seen": verdict.last_seen,
            "latest": {p: {"value": r["value"], "ts": r["ts"], "interval": r["interval"],
                           "flag": r["flag"], "unit": params[s["kind"]][p].unit}
                       for p, r in sorted(latest.get(sid, {}).items())},
            "aqi": None if hour is None else {
                "ts": hour["ts"], "aqi": hour["aqi"], "level": hour["level"],
                "category": hour["category"], "primary_pollutants": hour["primary_pollutants"],
                "colour": aqi_colour(hour["aqi"])},
        })
    return out
