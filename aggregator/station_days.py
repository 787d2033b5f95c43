"""Recompute the indicators of dirty (station, Beijing day) pairs from their readings.

For each dirty day D the readings of D-1 … D+1 are loaded: D-1 feeds the moving averages of
D's real-time AQI (2012 rules), and D+1's hourly AQI is recomputed too because its moving
averages look back into D. Hourly values are stored for D (the rollup regions read); the
daily values of D only ever use D's hours (HJ 663: MDA8 windows end 08:00 … 24:00 of D).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from aggregator import (
    air_grid,
    hour_readings,
    noise,
    sample_hours,
    standards,
    tables,
    timebase,
    water,
)
from aggregator.air_grid import Grid
from aggregator.hour_blocks import STATION_HOURS, HourBlocks, sync_blocks
from aggregator.hour_readings import HourReadings
from aggregator.hourly import HourlyValue, hour_of
from aggregator.pg_arrays import to_pg_us
from aggregator.revisions import Row, SyncStats, sync_rows
from aggregator.sample_hours import SampleSeries
from aggregator.timebase import DAY
from envmon.parameters import StationKind


@dataclass(frozen=True, slots=True)
class StationInfo:
    station_id: str
    kind: StationKind
    city: str
    county: str
    water_target_class: int | None
    water_body: str | None
    noise_zone: standards.Zone | None


async def load_station_info(
    conn: AsyncConnection[Any], ids: Iterable[str]
) -> dict[str, StationInfo]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT station_id, kind, city, county, water_target_class, water_body, noise_zone"
            " FROM stations WHERE station_id = ANY(%s)",
            (sorted(set(ids)),),
        )
        return {r["station_id"]: StationInfo(**r) for r in await cur.fetchall()}


def windows(days: Iterable[date]) -> list[tuple[datetime, datetime]]:
    """Merged [D-1, D+2) Beijing-day windows (as aware datetimes) around the given days."""
    out: list[tuple[datetime, datetime]] = []
    for day in sorted(set(days)):
        lo, hi = timebase.day_start(day - DAY), timebase.day_start(day + 2 * DAY)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


@dataclass(slots=True)
class StationRows:
    """Everything computed for a batch of station-days, table by table."""

    hourly_rollup: list[Row]
    excluded: list[tuple[str, date, str, str, int]]
    air_hours: list[HourBlocks]
    air_daily: list[Row]
    water_hourly: list[Row]
    water_daily: list[Row]
    noise_daily: list[Row]


def compute(
    info: StationInfo, days: Sequence[date], wins: Sequence[tuple[datetime, datetime]],
    readings: HourReadings | None, out: StationRows,
) -> list[Grid]:
    """Compute the rows of one station's dirty days into ``out`` (pure); returns an air
    station's hour grids over its windows (dirty days and their neighbours), from which
    ``air_reports`` computes its reports and the regions their series; ``[]`` for other
    stations."""
    dirty = set(days)
    samples = readings.samples if readings else []
    derived = sample_hours.hourly_values(info.kind, samples)
    if derived and readings is not None:  # an hourly reading wins over derived values
        taken = {p: readings.hours_of(p) for p in readings.series}
        derived = [h for h in derived
                   if to_pg_us(h.ts) not in taken.get(h.parameter, ())]
    sid = info.station_id
    in_dirty = [h for h in derived if standards.beijing_day(h.ts) in dirty]
    out.hourly_rollup += [
        {"station_id": sid, "ts": h.ts, "parameter": h.parameter, "value": h.value,
         "valid": h.valid, "source": h.source, "n_samples": h.n_samples,
         "n_excluded": h.n_excluded}
        for h in in_dirty
    ]
    out.excluded += _excluded_counts(sid, dirty, samples, derived, readings)
    if info.kind == "air":
        return _air(wins, readings, derived)
    hours = sorted(
        [*in_dirty, *(h for h in (readings.hourly_values() if readings else [])
                      if standards.beijing_day(h.ts) in dirty)],
        key=lambda h: (h.ts, h.parameter),
    )
    if info.kind == "water":
        _water(info, hours, out)
    else:
        _noise(info, dirty, hours, out)
    return []


def _excluded_counts(
    sid: str, dirty: set[date], samples: Sequence[SampleSeries],
    derived: Sequence[HourlyValue], readings: HourReadings | None,
) -> list[tuple[str, date, str, str, int]]:
    """Flag-excluded readings per day, parameter and flag, among the readings each hour
    used: flagged hourly readings, and flagged samples of the hours derived from them."""
    counts: dict[tuple[date, str, str], int] = defaultdict(int)
    for parameter, ts, flag in readings.flagged if readings else ():
        day = standards.beijing_day(ts)
        if day in dirty:
            counts[(day, parameter, flag)] += 1
    excluded = [(s, ts, flag) for s in samples for ts, flag in s.flagged]
    used = {(h.parameter, h.ts): h.source for h in derived} if excluded else {}
    for s, ts, flag in excluded:
        day = standards.beijing_day(ts)
        if day in dirty and used.get((s.parameter, hour_of(ts))) == s.interval:
            counts[(day, s.parameter, flag)] += 1
    return [(sid, d, p, f, n) for (d, p, f), n in sorted(counts.items())]


@cache
def _names(indicators: tuple[str, ...], mask: int) -> tuple[str, ...]:
    return tuple(n for k, n in enumerate(indicators) if mask >> k & 1)


def daily_rows(reports: air_grid.Reports, items: Iterable[tuple[Row, int]]) -> list[Row]:
    """Days ``i`` of daily reports as air_*_daily rows, each after its key columns."""
    aqi, mask = reports.aqi.tolist(), reports.primary.tolist()
    iaqi, values = reports.iaqi.tolist(), reports.values.tolist()
    complete, rules = reports.complete.tolist(), reports.rules
    names, columns = reports.indicators, reports.columns
    out = []
    for key, i in items:
        a = aqi[i]
        category = standards.category(a) if a >= 0 else None
        row: Row = {
            **key,
            "rules": rules[i],
            "aqi": a if category else None,
            "level": category.level if category else None,
            "category": category.name if category else None,
            "primary_pollutants": list(_names(names, mask[i])),
            "iaqi": {n: v for n, v in zip(names, iaqi[i], strict=True) if v >= 0},
            "complete": complete[i],
        }
        row.update((c, None if v != v else v) for c, v in zip(columns, values[i], strict=True))
        out.append(row)
    return out


def _air(
    wins: Sequence[tuple[datetime, datetime]], readings: HourReadings | None,
    derived: Sequence[HourlyValue],
) -> list[Grid]:
    """Each window [first dirty - 1 day, last dirty + 2 days) as one grid: the first day is
    history for the moving averages, hourly reports for the others (the day after a dirty
    day looks back into it), daily reports for the dirty days (``air_reports``)."""
    return [hour_readings.grid(lo, (hi - lo) // DAY, readings, derived) for lo, hi in wins]


def air_reports(
    stations: Mapping[str, tuple[set[date], Sequence[Grid]]], out: StationRows
) -> None:
    """Hourly and daily reports of air stations' grids into ``out``: the grids of the same
    window (in a batch of history, every station's) in one vectorised call."""
    by_window: dict[tuple[datetime, int], list[tuple[str, Grid]]] = defaultdict(list)
    for sid, (_, grids) in stations.items():
        for g in grids:
            by_window[(g.start, g.n_hours)].append((sid, g))
    for (start, n_hours), members in by_window.items():
        n_days = n_hours // 24
        _, values = air_grid.stack([g for _, g in members])
        hourly = air_grid.hourly_many(start, values, 24, (n_days - 1) * 24)
        daily = air_grid.daily_many(start, values, 1, n_days - 2)
        first = standards.beijing_day(start)
        for (sid, _), hours, days in zip(members, hourly, daily, strict=True):
            out.air_hours.append(HourBlocks.from_reports((sid,), first + DAY, hours))
            dirty = stations[sid][0]
            out.air_daily += daily_rows(days, (
                ({"station_id": sid, "day": day}, i) for i in range(n_days - 2)
                if (day := first + (i + 1) * DAY) in dirty))


def _water(info: StationInfo, hours: Sequence[HourlyValue], out: StationRows) -> None:
    sid = info.station_id
    for ts, means in sorted(water.hourly_means(hours).items()):
        out.water_hourly.append({"station_id": sid, "ts": ts, **water.grade(info, means)})
    for day, day_means in sorted(water.daily_means(hours).items()):
        out.water_daily.append({"station_id": sid, "day": day, **water.grade(info, day_means)})


def _noise(
    info: StationInfo, dirty: set[date], hours: Sequence[HourlyValue], out: StationRows
) -> None:
    by_day: dict[date, list[HourlyValue]] = defaultdict(list)
    for h in hours:  # a day needs its own hours, and the next morning when its night does
        by_day[standards.beijing_day(h.ts)].append(h)
    for day in sorted(dirty):
        day_hours = by_day.get(day, []) + by_day.get(day + DAY, [])
        out.noise_daily.append(
            {"station_id": info.station_id, "day": day,
             **noise.station_day(info, day_hours, day)}
        )


def scope_where(column: str) -> sql.Composable:
    """Rows of some stations between two instants/days (refined by an in-scope predicate)."""
    return sql.SQL("station_id = ANY(%s) AND {c} >= %s AND {c} < %s").format(
        c=sql.Identifier(column)
    )


async def store(
    conn: AsyncConnection[Any],
    dirty: Mapping[str, Sequence[date]],
    rows: StationRows,
    now: datetime,
) -> SyncStats:
    """Write the computed rows; rows of the dirty days that have no data any more go away."""
    stats = SyncStats()
    pairs = {(sid, d) for sid, ds in dirty.items() for d in ds}
    next_pairs = pairs | {(sid, d + DAY) for sid, d in pairs}
    all_days = [d for _, d in next_pairs]
    sids = sorted(dirty)
    lo_day, hi_day = min(all_days), max(all_days) + DAY
    lo_ts, hi_ts = timebase.day_start(lo_day), timebase.day_start(hi_day)

    def by_ts(scope: set[tuple[str, date]]) -> Any:
        return lambda r: (r["station_id"], standards.beijing_day(r["ts"])) in scope

    def by_day(r: Row) -> bool:
        return (r["station_id"], r["day"]) in pairs

    reason = _station_reason(conn)
    jobs: list[tuple[Any, str, list[Row], Any, tuple[Any, ...]]] = [
        (tables.HOURLY_ROLLUP, "ts", rows.hourly_rollup, by_ts(pairs), (lo_ts, hi_ts)),
        (tables.AIR_STATION_DAILY, "day", rows.air_daily, by_day, (lo_day, hi_day)),
        (tables.WATER_STATION_HOURLY, "ts", rows.water_hourly, by_ts(pairs), (lo_ts, hi_ts)),
        (tables.WATER_STATION_DAILY, "day", rows.water_daily, by_day, (lo_day, hi_day)),
        (tables.NOISE_STATION_DAILY, "day", rows.noise_daily, by_day, (lo_day, hi_day)),
    ]
    for table, column, table_rows, in_scope, (lo, hi) in jobs:
        stats.add(
            await sync_rows(
                conn, table, scope_where(column), (sids, lo, hi), table_rows, in_scope,
                reason, now,
            )
        )
    hour_days: dict[tuple[str, ...], set[date]] = defaultdict(set)
    for sid, d in next_pairs:
        hour_days[(sid,)].add(d)
    air_keys = {b.key for b in rows.air_hours}
    stats.add(await sync_blocks(
        conn, STATION_HOURS, rows.air_hours,
        {k: ds for k, ds in hour_days.items() if k in air_keys}, reason, now))
    await _store_excluded(conn, pairs, rows.excluded)
    return stats


async def _store_excluded(
    conn: AsyncConnection[Any],
    pairs: set[tuple[str, date]],
    excluded: Sequence[tuple[str, date, str, str, int]],
) -> None:
    sids, days = zip(*sorted(pairs), strict=True) if pairs else ((), ())
    async with conn.cursor() as cur:
        await cur.execute(
            "DELETE FROM excluded_readings e USING unnest(%b::text[], %b::date[]) AS p(sid, day)"
            " WHERE e.station_id = p.sid AND e.day = p.day",
            (list(sids), list(days)),
        )
        if excluded:
            await cur.executemany(
                "INSERT INTO excluded_readings (station_id, day, parameter, flag, n)"
                " VALUES (%s, %s, %s, %s, %s)",
                excluded,
            )


def _readings_span(row: Row) -> tuple[datetime, datetime]:
    """The readings a station row is computed from: its month, its day, or its hour and the
    day before (moving averages)."""
    if "month" in row:
        month = row["month"]
        return timebase.day_start(month), timebase.day_start(timebase.next_month(month))
    if "day" in row:
        return timebase.day_start(row["day"]), timebase.day_end(row["day"])
    return timebase.day_start(standards.beijing_day(row["ts"]) - DAY), row["ts"] + timebase.HOUR


def _station_reason(conn: AsyncConnection[Any]) -> Any:
    """Why a station indicator changed: readings received or revised after it was computed."""

    async def reason(row: Row, previous: datetime) -> str:
        lo, hi = _readings_span(row)
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM readings WHERE station_id = %(s)s AND ts >= %(lo)s"
            "        AND ts < %(hi)s AND received_at > %(prev)s),"
            "       (SELECT count(*) FROM reading_revisions WHERE station_id = %(s)s"
            "        AND ts >= %(lo)s AND ts < %(hi)s AND revised_at > %(prev)s)",
            {"s": row["station_id"], "lo": lo, "hi": hi, "prev": previous},
        )
        got = await cur.fetchone()
        late, revised = (got[0], got[1]) if got else (0, 0)
        return (
            f"{late} reading(s) received or changed after the previous computation, "
            f"{revised} of them revisions of stored values (flags/values)"
        )

    return reason


async def mark_water_months(
    conn: AsyncConnection[Any], infos: Mapping[str, StationInfo],
    dirty: Mapping[str, Sequence[date]],
) -> None:
    """Queue the monthly class of the water sections whose days changed
    (``dirty_water_months``; computed by :func:`recompute_water_months`)."""
    rows = sorted({(sid, date(d.year, d.month, 1)) for sid, days in dirty.items()
                   if (info := infos.get(sid)) is not None and info.kind == "water"
                   for d in days})
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO dirty_water_months (station_id, month) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING", rows)


#: Like the air period figures (``regions.recompute_periods``): a month still having a day of
#: the section in the queue waits for the batch that computes that day.
_TAKE_WATER_MONTHS = (
    "DELETE FROM dirty_water_months w USING (SELECT p.station_id, p.month"
    "  FROM dirty_water_months p WHERE NOT EXISTS (SELECT 1 FROM dirty_days q"
    "   WHERE q.station_id = p.station_id AND q.day >= p.month"
    "   AND q.day < p.month + interval '1 month')"
    "  ORDER BY 1, 2 FOR UPDATE OF p SKIP LOCKED) c"
    " WHERE (w.station_id, w.month) = (c.station_id, c.month)"
    " RETURNING w.station_id, w.month"
)


async def recompute_water_months(conn: AsyncConnection[Any], now: datetime) -> SyncStats:
    """Take the queued water months none of whose days is still queued (SKIP LOCKED) and
    grade them from the stored daily means (call it after the batch's marks are removed)."""
    cur = await conn.execute(_TAKE_WATER_MONTHS)
    months: dict[str, list[date]] = defaultdict(list)
    for sid, month in await cur.fetchall():
        months[sid].append(month)
    infos = await load_station_info(conn, months)
    stats = SyncStats()
    for sid, wanted in sorted(months.items()):
        info = infos.get(sid)
        if info is None or info.kind != "water":
            continue
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT date_trunc('month', day)::date, means FROM water_station_daily"
                " WHERE station_id = %s AND date_trunc('month', day)::date = ANY(%s)",
                (sid, wanted),
            )
            by_month: dict[date, list[dict[str, float | None]]] = defaultdict(list)
            for month, means in await cur.fetchall():
                by_month[month].append(means)
        rows = [
            {"station_id": sid, "month": m, **water.grade(info, water.period_means(ds)),
             "n_days": len(ds)}
            for m, ds in sorted(by_month.items())
        ]
        stats.add(await sync_rows(
            conn, tables.WATER_STATION_MONTHLY,
            sql.SQL("station_id = %s AND month = ANY(%s)"), (sid, wanted), rows,
            lambda r: True, _station_reason(conn), now,
        ))
    return stats
