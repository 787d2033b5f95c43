"""Region (county, city) air indicators and period figures, recomputed after station days.

A region-day is recomputed by whichever aggregator changed one of its stations' days. Two
aggregators that touch stations of the same region serialise on a transaction-level advisory
lock per region-day (taken in sorted order, so they cannot deadlock); under READ COMMITTED
the second one then reads the first one's committed station values, so the last writer
always writes a region value computed from all current station values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from aggregator import air, periods, standards, tables
from aggregator.revisions import Row, SyncStats, sync_rows

DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True, order=True)
class Region:
    city: str
    county: str  # '' = the whole city

    @property
    def label(self) -> str:
        return f"{self.city}/{self.county}" if self.county else self.city


def regions_of(city: str, county: str) -> list[Region]:
    """The regions a station belongs to: its city, and its county when it has one."""
    if not city:
        return []
    return [Region(city, "")] + ([Region(city, county)] if county else [])


async def _lock(conn: AsyncConnection[Any], keys: Iterable[str]) -> None:
    for key in sorted(set(keys)):
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))


async def _region_stations(conn: AsyncConnection[Any], region: Region) -> list[str]:
    cur = await conn.execute(
        "SELECT station_id FROM stations WHERE kind = 'air' AND city = %s"
        " AND (%s = '' OR county = %s) ORDER BY station_id",
        (region.city, region.county, region.county),
    )
    return [r[0] for r in await cur.fetchall()]


@dataclass(frozen=True, slots=True)
class KnownHours:
    """Hourly series a batch has just computed for a station, and the windows they cover."""

    windows: Sequence[tuple[datetime, datetime]]
    series: Mapping[str, air.Series]

    def covers(self, lo: datetime, hi: datetime) -> bool:
        return any(a <= lo and hi <= b for a, b in self.windows)


async def _hourly_series(
    conn: AsyncConnection[Any], stations: Sequence[str], lo: datetime, hi: datetime,
    known: Mapping[str, KnownHours],
) -> dict[str, dict[str, air.Series]]:
    """Each station's hourly series in [lo, hi): from this batch's own computation when it
    covers the range (the rollup of a neighbouring day may not be written yet), else from
    the hourly_values rollup."""
    out: dict[str, dict[str, air.Series]] = defaultdict(lambda: defaultdict(dict))
    from_db = []
    for sid in stations:
        k = known.get(sid)
        if k is not None and k.covers(lo, hi):
            out[sid] = {
                p: {ts: v for ts, v in series.items() if lo <= ts < hi}
                for p, series in k.series.items()
            }
        else:
            from_db.append(sid)
    async with conn.cursor() as cur:
        await cur.execute(
            "SELECT station_id, parameter, ts, value FROM hourly_values"
            " WHERE station_id = ANY(%s) AND ts >= %s AND ts < %s AND valid"
            " AND value IS NOT NULL AND parameter = ANY(%s)",
            (from_db, lo, hi, list(air.HOURLY_POLLUTANTS)),
        )
        for sid, parameter, ts, value in await cur.fetchall():
            out[sid][parameter][air.beijing(ts)] = value
    return out


async def _station_days(
    conn: AsyncConnection[Any], stations: Sequence[str], days: Sequence[date]
) -> dict[date, list[Row]]:
    out: dict[date, list[Row]] = defaultdict(list)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT day, so2, no2, co, pm10, pm25 FROM air_station_daily"
            " WHERE station_id = ANY(%s) AND day = ANY(%s)",
            (list(stations), list(days)),
        )
        for r in await cur.fetchall():
            out[r["day"]].append(r)
    return out


async def recompute_air(
    conn: AsyncConnection[Any], region_days: dict[Region, set[date]], now: datetime,
    known: Mapping[str, KnownHours],
) -> SyncStats:
    """Recompute the hourly and daily air indicators of the given region-days."""
    stats = SyncStats()
    await _lock(conn, (f"air:{r.label}:{d}" for r, ds in region_days.items() for d in ds))
    for region, days in sorted(region_days.items()):
        stations = await _region_stations(conn, region)
        lo, hi = tables.day_start(min(days) - DAY), tables.day_start(max(days) + 2 * DAY)
        per_station = await _hourly_series(conn, stations, lo, hi, known)
        series = air.region_series(per_station.values())
        station_days = await _station_days(conn, stations, sorted(days))
        key = {"city": region.city, "county": region.county}
        daily: list[Row] = []
        for day in sorted(days):
            rows = station_days.get(day, [])
            result = air.region_day(rows, series, day)
            daily.append(
                {**key, "day": day, **air.report_columns(result.report),
                 "complete": result.report.complete, **result.values, "n_stations": len(rows)}
            )
        hour_days = days | {d + DAY for d in days}
        starts = {ts for s in series.values() for ts in s
                  if standards.beijing_day(ts) in hour_days}
        hourly = [
            {**key, "ts": h.ts, **air.report_columns(h.report),
             "concentrations": dict(h.values), "n_stations": _n_stations(per_station, h.ts)}
            for h in air.hours(series, starts)
        ]
        reason = _region_reason(region)

        def day_in(r: Row, ds: set[date] = days) -> bool:
            return r["day"] in ds

        def hour_in(r: Row, ds: set[date] = hour_days) -> bool:
            return standards.beijing_day(r["ts"]) in ds

        where = sql.SQL("city = %s AND county = %s AND {c} >= %s AND {c} < %s")
        stats.add(await sync_rows(
            conn, tables.AIR_REGION_DAILY, where.format(c=sql.Identifier("day")),
            (region.city, region.county, min(days), max(days) + DAY), daily,
            day_in, reason, now,
        ))
        stats.add(await sync_rows(
            conn, tables.AIR_REGION_HOURLY, where.format(c=sql.Identifier("ts")),
            (region.city, region.county, lo, hi), hourly,
            hour_in, reason, now,
        ))
    return stats


def _n_stations(per_station: dict[str, dict[str, air.Series]], ts: datetime) -> int:
    return sum(1 for s in per_station.values() if any(ts in p for p in s.values()))


def _region_reason(region: Region) -> Any:
    async def reason(row: Row, previous: datetime) -> str:
        return f"station values of {region.label} changed after {previous.isoformat()}"

    return reason


def period_keys(days: Iterable[date]) -> set[tuple[str, date]]:
    """The (period, start) of the months and years the days fall in."""
    out = set()
    for d in days:
        out |= {("month", date(d.year, d.month, 1)), ("year", date(d.year, 1, 1))}
    return out


async def mark_periods(conn: AsyncConnection[Any], region_days: dict[Region, set[date]]) -> None:
    """Queue the month/year figures of the changed region-days (``dirty_periods``)."""
    rows = sorted(
        (r.city, r.county, p, s) for r, days in region_days.items() for p, s in period_keys(days)
    )
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO dirty_periods (city, county, period, period_start)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            rows,
        )


async def recompute_periods(conn: AsyncConnection[Any], now: datetime) -> SyncStats:
    """Take the queued period figures (SKIP LOCKED) and recompute them from the daily rows."""
    cur = await conn.execute(
        "DELETE FROM dirty_periods d USING (SELECT city, county, period, period_start"
        "  FROM dirty_periods ORDER BY 1, 2, 3, 4 FOR UPDATE SKIP LOCKED) c"
        " WHERE (d.city, d.county, d.period, d.period_start)"
        "  = (c.city, c.county, c.period, c.period_start)"
        " RETURNING d.city, d.county, d.period, d.period_start"
    )
    wanted: dict[Region, set[tuple[str, date]]] = defaultdict(set)
    for city, county, period, start in await cur.fetchall():
        wanted[Region(city, county)].add((period, start))
    stats = SyncStats()
    for region, starts in sorted(wanted.items()):
        await _lock(conn, (f"air-period:{region.label}:{p}:{s}" for p, s in starts))
        rows: list[Row] = []
        for period, start in sorted(starts):
            end = tables.next_month(start) if period == "month" else date(start.year + 1, 1, 1)
            daily = await periods.load_region_days(conn, region.city, region.county, start, end)
            counts = periods.day_counts(daily)
            rows.append({
                "city": region.city, "county": region.county, "period": period,
                "period_start": start, "valid_days": counts.valid_days,
                "good_days": counts.good_days, "polluted_days": counts.polluted_days,
                "heavy_days": counts.heavy_days, "good_ratio": counts.good_ratio,
            })

        def in_keys(r: Row, ks: set[tuple[str, date]] = starts) -> bool:
            return (r["period"], r["period_start"]) in ks

        stats.add(await sync_rows(
            conn, tables.AIR_REGION_PERIOD,
            sql.SQL("city = %s AND county = %s"), (region.city, region.county), rows,
            in_keys, _region_reason(region), now,
        ))
    return stats
