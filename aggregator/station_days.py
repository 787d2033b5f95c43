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
from datetime import date, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from aggregator import air, noise, standards, tables, water
from aggregator.flags import is_valid_flag
from aggregator.hourly import HourlyValue, Sample, hour_of, hourly_values
from aggregator.revisions import Row, SyncStats, sync_rows
from envmon.parameters import StationKind

DAY = timedelta(days=1)


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
        lo, hi = tables.day_start(day - DAY), tables.day_start(day + 2 * DAY)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


async def load_samples(
    conn: AsyncConnection[Any], wanted: Mapping[str, Sequence[tuple[datetime, datetime]]]
) -> dict[str, list[Sample]]:
    """Readings of each station inside its time windows (one query)."""
    sids, los, his = [], [], []
    for sid, wins in wanted.items():
        for lo, hi in wins:
            sids.append(sid)
            los.append(lo)
            his.append(hi)
    out: dict[str, list[Sample]] = defaultdict(list)
    async with conn.cursor() as cur:
        await cur.execute(
            "SELECT r.station_id, r.parameter, r.interval, r.ts, r.value, r.flag"
            " FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS w(sid, lo, hi)"
            " JOIN readings r ON r.station_id = w.sid AND r.ts >= w.lo AND r.ts < w.hi",
            (sids, los, his),
        )
        for sid, parameter, interval, ts, value, flag in await cur.fetchall():
            out[sid].append(Sample(parameter, interval, ts, value, flag))
    return out


@dataclass(slots=True)
class StationRows:
    """Everything computed for a batch of station-days, table by table."""

    hourly_values: list[Row]
    excluded: list[tuple[str, date, str, str, int]]
    air_hourly: list[Row]
    air_daily: list[Row]
    water_hourly: list[Row]
    water_daily: list[Row]
    noise_daily: list[Row]


def compute(
    info: StationInfo, days: Sequence[date], samples: Sequence[Sample], out: StationRows
) -> dict[str, air.Series]:
    """Compute the rows of one station's dirty days into ``out`` (pure); returns an air
    station's hourly series over all the samples (dirty days and their neighbours, for its
    regions), ``{}`` for other stations."""
    dirty = set(days)
    result = hourly_values(info.kind, samples)
    sid = info.station_id
    in_dirty = [h for h in result if standards.beijing_day(h.ts) in dirty]
    out.hourly_values += [
        {"station_id": sid, "ts": h.ts, "parameter": h.parameter, "value": h.value,
         "valid": h.valid, "source": h.source, "n_samples": h.n_samples,
         "n_excluded": h.n_excluded}
        for h in in_dirty
    ]
    out.excluded += _excluded_counts(sid, dirty, samples, result)
    if info.kind == "air":
        return _air(sid, dirty, result, out)
    if info.kind == "water":
        _water(info, in_dirty, out)
    else:
        _noise(info, dirty, in_dirty, out)
    return {}


def _excluded_counts(
    sid: str, dirty: set[date], samples: Sequence[Sample], hours: Sequence[HourlyValue]
) -> list[tuple[str, date, str, str, int]]:
    """Flag-excluded readings per day, parameter and flag, among the readings each hour used."""
    excluded = [s for s in samples if not is_valid_flag(s.flag)]
    if not excluded:
        return []
    used = {(h.parameter, h.ts): h.source for h in hours}
    counts: dict[tuple[date, str, str], int] = defaultdict(int)
    for s in excluded:
        day = standards.beijing_day(s.ts)
        if day not in dirty:
            continue
        if used.get((s.parameter, hour_of(s.ts))) == s.interval:
            counts[(day, s.parameter, s.flag)] += 1
    return [(sid, d, p, f, n) for (d, p, f), n in sorted(counts.items())]


def _air(
    sid: str, dirty: set[date], hours: Sequence[HourlyValue], out: StationRows
) -> dict[str, air.Series]:
    series = air.series_by_parameter(hours)
    for day in sorted(dirty):
        result = air.station_day(series, day)
        out.air_daily.append(
            {"station_id": sid, "day": day, **air.report_columns(result.report),
             "complete": result.report.complete, **result.values}
        )
    recompute_days = dirty | {d + DAY for d in dirty}
    starts = {h.ts for h in hours if standards.beijing_day(h.ts) in recompute_days}
    for hour in air.hours(series, starts):
        out.air_hourly.append(
            {"station_id": sid, "ts": hour.ts, **air.report_columns(hour.report),
             "concentrations": dict(hour.values)}
        )
    return series


def _water(info: StationInfo, hours: Sequence[HourlyValue], out: StationRows) -> None:
    sid = info.station_id
    for ts, means in sorted(water.hourly_means(hours).items()):
        out.water_hourly.append({"station_id": sid, "ts": ts, **water.grade(info, means)})
    for day, day_means in sorted(water.daily_means(hours).items()):
        out.water_daily.append({"station_id": sid, "day": day, **water.grade(info, day_means)})


def _noise(
    info: StationInfo, dirty: set[date], hours: Sequence[HourlyValue], out: StationRows
) -> None:
    for day in sorted(dirty):
        out.noise_daily.append(
            {"station_id": info.station_id, "day": day, **noise.station_day(info, hours, day)}
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
    lo_ts, hi_ts = tables.day_start(lo_day), tables.day_start(hi_day)

    def by_ts(scope: set[tuple[str, date]]) -> Any:
        return lambda r: (r["station_id"], standards.beijing_day(r["ts"])) in scope

    def by_day(r: Row) -> bool:
        return (r["station_id"], r["day"]) in pairs

    reason = _station_reason(conn)
    jobs: list[tuple[Any, str, list[Row], Any, tuple[Any, ...]]] = [
        (tables.HOURLY_VALUES, "ts", rows.hourly_values, by_ts(pairs), (lo_ts, hi_ts)),
        (tables.AIR_STATION_HOURLY, "ts", rows.air_hourly, by_ts(next_pairs), (lo_ts, hi_ts)),
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
            "DELETE FROM excluded_readings e USING unnest(%s::text[], %s::date[]) AS p(sid, day)"
            " WHERE e.station_id = p.sid AND e.day = p.day",
            (list(sids), list(days)),
        )
        if excluded:
            await cur.executemany(
                "INSERT INTO excluded_readings (station_id, day, parameter, flag, n)"
                " VALUES (%s, %s, %s, %s, %s)",
                excluded,
            )


def _station_reason(conn: AsyncConnection[Any]) -> Any:
    """Why a station indicator changed: readings received or revised after it was computed."""

    async def reason(row: Row, previous: datetime) -> str:
        if "day" in row:
            lo, hi = tables.day_start(row["day"]), tables.day_end(row["day"])
        else:
            lo = tables.day_start(standards.beijing_day(row["ts"]) - DAY)
            hi = row["ts"] + tables.HOUR
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


async def store_water_monthly(
    conn: AsyncConnection[Any],
    infos: Mapping[str, StationInfo],
    dirty: Mapping[str, Sequence[date]],
    now: datetime,
) -> SyncStats:
    """Recompute the monthly class of the water sections whose days changed."""
    stats = SyncStats()
    for sid, days in sorted(dirty.items()):
        info = infos.get(sid)
        if info is None or info.kind != "water":
            continue
        months = sorted({date(d.year, d.month, 1) for d in days})
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT date_trunc('month', day)::date, means FROM water_station_daily"
                " WHERE station_id = %s AND date_trunc('month', day)::date = ANY(%s)",
                (sid, months),
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
            sql.SQL("station_id = %s AND month = ANY(%s)"), (sid, months), rows,
            lambda r: True, _station_reason(conn), now,
        ))
    return stats
