"""Writing what a batch computed: station rows, region rows and period figures, each table
through :func:`aggregator.store.indicator_rows.sync_rows` (hourly AQI reports through
aggregator/store/hour_arrays.py), with the reason a published value was revised.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection, sql

from aggregator import standards
from aggregator.compute.beijing_time import DAY, HOUR, day_end, day_start, next_month
from aggregator.compute.region_day import Region, RegionRows
from aggregator.compute.station_day import Row, StationRows
from aggregator.store import indicator_rows
from aggregator.store.hour_arrays import REGION_HOURS, STATION_HOURS, sync_blocks
from aggregator.store.indicator_rows import SyncStats, sync_rows


def scope_where(column: str) -> sql.Composable:
    """Rows of some stations between two instants/days (refined by an in-scope predicate)."""
    return sql.SQL("station_id = ANY(%s) AND {c} >= %s AND {c} < %s").format(
        c=sql.Identifier(column)
    )


async def station_rows(
    conn: AsyncConnection[Any],
    dirty: Mapping[str, Sequence[date]],
    rows: StationRows,
    now: datetime,
) -> SyncStats:
    """Write a batch's station rows; rows of the dirty days that have no data any more go
    away."""
    stats = SyncStats()
    pairs = {(sid, d) for sid, ds in dirty.items() for d in ds}
    next_pairs = pairs | {(sid, d + DAY) for sid, d in pairs}
    all_days = [d for _, d in next_pairs]
    sids = sorted(dirty)
    lo_day, hi_day = min(all_days), max(all_days) + DAY
    lo_ts, hi_ts = day_start(lo_day), day_start(hi_day)

    def by_ts(scope: set[tuple[str, date]]) -> Any:
        return lambda r: (r["station_id"], standards.beijing_day(r["ts"])) in scope

    def by_day(r: Row) -> bool:
        return (r["station_id"], r["day"]) in pairs

    reason = _station_reason(conn)
    jobs: list[tuple[Any, str, list[Row], Any, tuple[Any, ...]]] = [
        (indicator_rows.HOURLY_ROLLUP, "ts", rows.hourly_rollup, by_ts(pairs), (lo_ts, hi_ts)),
        (indicator_rows.AIR_STATION_DAILY, "day", rows.air_daily, by_day, (lo_day, hi_day)),
        (indicator_rows.WATER_STATION_HOURLY, "ts", rows.water_hourly, by_ts(pairs),
         (lo_ts, hi_ts)),
        (indicator_rows.WATER_STATION_DAILY, "day", rows.water_daily, by_day, (lo_day, hi_day)),
        (indicator_rows.NOISE_STATION_DAILY, "day", rows.noise_daily, by_day, (lo_day, hi_day)),
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
        return day_start(month), day_start(next_month(month))
    if "day" in row:
        return day_start(row["day"]), day_end(row["day"])
    return day_start(standards.beijing_day(row["ts"]) - DAY), row["ts"] + HOUR


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


async def region_rows(
    conn: AsyncConnection[Any], days: Mapping[Region, set[date]], rows: RegionRows,
    now: datetime,
) -> SyncStats:
    """Write a batch's region rows (daily rows and hourly reports of the region-days)."""
    wanted = {(r.city, r.county, d) for r, ds in days.items() for d in ds}
    every = [d for ds in days.values() for d in ds]

    def day_in(r: Row) -> bool:
        return (r["city"], r["county"], r["day"]) in wanted

    stats = await sync_rows(
        conn, indicator_rows.AIR_REGION_DAILY,
        sql.SQL("(city, county) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
                " AND day >= %s AND day <= %s"),
        ([r.city for r in days], [r.county for r in days], min(every), max(every)),
        rows.daily, day_in, _region_reason, now,
    )
    stats.add(await sync_blocks(conn, REGION_HOURS, rows.hours, rows.hour_days,
                                _region_reason, now))
    return stats


async def _region_reason(row: Row, previous: datetime) -> str:
    label = Region(row["city"], row["county"]).label
    return f"station values of {label} changed after {previous.isoformat()}"


async def region_periods(
    conn: AsyncConnection[Any], region: Region, keys: set[tuple[str, date]], rows: list[Row],
    now: datetime,
) -> SyncStats:
    """Write the period figures ``keys`` (period, start) of a region."""

    def in_keys(r: Row) -> bool:
        return (r["period"], r["period_start"]) in keys

    return await sync_rows(
        conn, indicator_rows.AIR_REGION_PERIOD, sql.SQL("city = %s AND county = %s"),
        (region.city, region.county), rows, in_keys, _region_reason, now,
    )


async def water_months(
    conn: AsyncConnection[Any], station_id: str, months: Sequence[date], rows: list[Row],
    now: datetime,
) -> SyncStats:
    """Write the monthly classes ``months`` of a water section."""
    return await sync_rows(
        conn, indicator_rows.WATER_STATION_MONTHLY,
        sql.SQL("station_id = %s AND month = ANY(%s)"), (station_id, list(months)), rows,
        lambda r: True, _station_reason(conn), now,
    )
