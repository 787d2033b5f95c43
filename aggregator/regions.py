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
from datetime import date, datetime
from typing import Any

import numpy as np
from psycopg import AsyncConnection, sql

from aggregator import (
    air,
    air_grid,
    hour_readings,
    periods,
    standards,
    station_days,
    tables,
    timebase,
)
from aggregator.air_grid import Grid
from aggregator.hour_blocks import REGION_HOURS, HourBlocks, sync_blocks
from aggregator.hourly import HourlyValue
from aggregator.revisions import Row, SyncStats, sync_rows
from aggregator.standards import POLLUTANTS
from aggregator.timebase import DAY


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
    """Transaction-level advisory locks on ``keys``, taken in sorted order (one statement)."""
    await conn.execute(
        "SELECT count(pg_advisory_xact_lock(hashtext(k)))"
        " FROM (SELECT k FROM unnest(%s::text[]) AS k ORDER BY k) AS s",
        (sorted(set(keys)),),
    )


async def _region_stations(
    conn: AsyncConnection[Any], regions: Iterable[Region]
) -> dict[Region, list[str]]:
    """The air stations of each region (one query)."""
    wanted = set(regions)
    cur = await conn.execute(
        "SELECT station_id, city, county FROM stations WHERE kind = 'air' AND city = ANY(%s)"
        " ORDER BY station_id",
        (sorted({r.city for r in wanted}),),
    )
    out: dict[Region, list[str]] = {r: [] for r in wanted}
    for sid, city, county in await cur.fetchall():
        for region in regions_of(city, county):
            if region in wanted:
                out[region].append(sid)
    return out


async def _grids(
    conn: AsyncConnection[Any], stations: Sequence[str], lo: datetime, hi: datetime,
    known: Mapping[str, Sequence[Grid]],
) -> list[Grid]:
    """Each station's hour grid over [lo, hi): from this batch's own computation when it
    covers the range (the rollup of a neighbouring day may not be written yet), else from
    the hourly readings and the hourly rollup."""
    n_days = (hi - lo) // DAY
    out, missing = [], []
    for sid in stations:
        for g in known.get(sid, ()):
            offset = (lo - g.start) // timebase.HOUR
            if offset >= 0 and offset + n_days * 24 <= g.values.shape[1]:
                out.append(Grid(lo, g.values[:, offset : offset + n_days * 24]))
                break
        else:
            missing.append(sid)
    if missing:
        readings, _ = await hour_readings.load(
            conn, {sid: [(lo, hi)] for sid in missing}, hourly_only=True)
        derived: dict[str, list[HourlyValue]] = defaultdict(list)
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT station_id, parameter, ts, value, source FROM hourly_rollup"
                " WHERE station_id = ANY(%s) AND ts >= %s AND ts < %s AND valid"
                " AND value IS NOT NULL AND parameter = ANY(%s)",
                (missing, lo, hi, list(POLLUTANTS)),
            )
            for sid, parameter, ts, value, source in await cur.fetchall():
                derived[sid].append(HourlyValue(parameter, ts, value, True, source, 0, 0))
        out += [hour_readings.grid(lo, n_days, readings.get(sid), derived[sid])
                for sid in missing]
    return out


@dataclass(frozen=True, slots=True)
class _DailyMeans:
    """Stations' daily SO2/NO2/CO/PM values from ``first`` on (NaN = none), and which
    stations have a daily row at all."""

    first: date
    values: dict[str, np.ndarray[Any, Any]]  # station -> float64[days, 5]
    has_row: dict[str, np.ndarray[Any, Any]]  # station -> bool[days]

    def of(self, stations: Sequence[str], first: date, count: int) -> tuple[Any, Any]:
        """values [stations, count, 5] and rows per day [count] for the given days."""
        off = (first - self.first).days
        values = np.full((len(stations), count, len(air.DAILY_MEANS)), np.nan)
        rows = np.zeros(count, dtype=np.int64)
        for i, sid in enumerate(stations):
            if sid in self.values:
                values[i] = self.values[sid][off : off + count]
                rows += self.has_row[sid][off : off + count]
        return values, rows


async def _daily_means(
    conn: AsyncConnection[Any], stations: Sequence[str], first: date, last: date
) -> _DailyMeans:
    n = (last - first).days + 1
    values: dict[str, np.ndarray[Any, Any]] = {}
    has_row: dict[str, np.ndarray[Any, Any]] = {}
    async with conn.cursor() as cur:
        await cur.execute(
            "SELECT station_id, day, so2, no2, co, pm10, pm25 FROM air_station_daily"
            " WHERE station_id = ANY(%s) AND day >= %s AND day <= %s",
            (list(stations), first, last),
        )
        for sid, day, *day_values in await cur.fetchall():
            if sid not in values:
                values[sid] = np.full((n, len(air.DAILY_MEANS)), np.nan)
                has_row[sid] = np.zeros(n, dtype=bool)
            i = (day - first).days
            values[sid][i] = [np.nan if v is None else v for v in day_values]
            has_row[sid][i] = True
    return _DailyMeans(first, values, has_row)


async def recompute_air(
    conn: AsyncConnection[Any], region_days: dict[Region, set[date]], now: datetime,
    known: Mapping[str, Sequence[Grid]],
) -> SyncStats:
    """Recompute the hourly and daily air indicators of the given region-days (a few
    queries for all regions: a batch of history touches every region on every day)."""
    stats = SyncStats()
    # the hours of the day after each day are rewritten too (hour_days below): lock them
    await _lock(conn, (f"air:{r.label}:{d}" for r, ds in region_days.items()
                       for d in ds | {d + DAY for d in ds}))
    members = await _region_stations(conn, region_days)
    all_days = [d for ds in region_days.values() for d in ds]
    daily_means = await _daily_means(
        conn, sorted({s for ss in members.values() for s in ss}), min(all_days),
        max(all_days))
    daily: list[Row] = []
    grids: dict[tuple[datetime, int], list[tuple[tuple[str, str], Grid, Any]]] = (
        defaultdict(list))
    hour_days: dict[tuple[str, ...], set[date]] = {}
    for region, days in sorted(region_days.items()):
        stations = members[region]
        first = min(days)
        lo, hi = timebase.day_start(first - DAY), timebase.day_start(max(days) + 2 * DAY)
        n_days = (hi - lo) // DAY
        grid, n_stations = air_grid.region_grid(await _grids(conn, stations, lo, hi, known))
        key = {"city": region.city, "county": region.county}
        values, rows = daily_means.of(stations, first, n_days - 2)
        reports = air_grid.region_daily(values, grid, 1, n_days - 2)
        daily += station_days.daily_rows(reports, (
            ({**key, "day": day, "n_stations": int(rows[(day - first).days])},
             (day - first).days) for day in sorted(days)))
        grids[(grid.start, grid.n_hours)].append(((region.city, region.county), grid,
                                                   n_stations))
        hour_days[(region.city, region.county)] = days | {d + DAY for d in days}
    blocks = []
    for (start, n_hours), same in grids.items():  # regions of the same days: one call
        _, values = air_grid.stack([g for _, g, _ in same])
        hourly = air_grid.hourly_many(start, values, 24, n_hours - 24)
        first_day = standards.beijing_day(start) + DAY
        blocks += [
            HourBlocks.from_reports(key, first_day, r, n[24:])
            for (key, _, n), r in zip(same, hourly, strict=True)
        ]
    wanted = {(r.city, r.county, d) for r, ds in region_days.items() for d in ds}

    def day_in(r: Row) -> bool:
        return (r["city"], r["county"], r["day"]) in wanted

    stats.add(await sync_rows(
        conn, tables.AIR_REGION_DAILY,
        sql.SQL("(city, county) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
                " AND day >= %s AND day <= %s"),
        ([r.city for r in region_days], [r.county for r in region_days], min(all_days),
         max(all_days)),
        daily, day_in, _region_reason, now,
    ))
    stats.add(await sync_blocks(conn, REGION_HOURS, blocks, hour_days, _region_reason, now))
    return stats


async def _region_reason(row: Row, previous: datetime) -> str:
    label = Region(row["city"], row["county"]).label
    return f"station values of {label} changed after {previous.isoformat()}"


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


#: A queued period figure whose region still has a station-day of the period in the queue
#: (being computed by another worker, left by a dead one, deferred) waits: a figure over
#: partial data would be published and then revised.
_TAKE_PERIODS = (
    "DELETE FROM dirty_periods d USING (SELECT p.city, p.county, p.period, p.period_start"
    "  FROM dirty_periods p WHERE NOT EXISTS (SELECT 1 FROM dirty_days q"
    "   JOIN stations s ON s.station_id = q.station_id"
    "   WHERE s.kind = 'air' AND s.city = p.city AND (p.county = '' OR s.county = p.county)"
    "   AND q.day >= p.period_start AND q.day < p.period_start + CASE p.period"
    "    WHEN 'month' THEN interval '1 month' ELSE interval '1 year' END)"
    "  ORDER BY 1, 2, 3, 4 FOR UPDATE OF p SKIP LOCKED) c"
    " WHERE (d.city, d.county, d.period, d.period_start)"
    "  = (c.city, c.county, c.period, c.period_start)"
    " RETURNING d.city, d.county, d.period, d.period_start"
)


async def recompute_periods(conn: AsyncConnection[Any], now: datetime) -> SyncStats:
    """Take the queued period figures (SKIP LOCKED) none of whose days is still queued, and
    recompute them from the daily rows (call it after the batch's own marks are removed)."""
    cur = await conn.execute(_TAKE_PERIODS)
    wanted: dict[Region, set[tuple[str, date]]] = defaultdict(set)
    for city, county, period, start in await cur.fetchall():
        wanted[Region(city, county)].add((period, start))
    stats = SyncStats()
    for region, starts in sorted(wanted.items()):
        await _lock(conn, (f"air-period:{region.label}:{p}:{s}" for p, s in starts))
        rows: list[Row] = []
        for period, start in sorted(starts):
            end = timebase.next_month(start) if period == "month" else date(start.year + 1, 1, 1)
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
            in_keys, _region_reason, now,
        ))
    return stats
