"""Writing indicator rows so that a changed published value leaves a trace.

Every indicator table is written through :func:`sync_rows`: the rows just computed for a scope
(e.g. some stations' days) are compared with the stored ones; unchanged rows are not touched,
new and changed rows are upserted, rows that no longer have data are deleted. A change to a
row whose previous value was computed *after its period had ended* (a published hour, day,
month) is a revision and goes to ``indicator_revisions`` with what changed, when and why.
Values of a period still running (today's provisional AQI) change without a revision entry.

The indicator tables (envmon/migrations/0010_aggregator.sql) are described at the end as the
writer sees them: key, compared value columns, and when the period of a row ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from operator import itemgetter
from typing import Any

from psycopg import AsyncConnection, AsyncCursor, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from aggregator.compute.air_reference import DAILY_COLUMNS
from aggregator.compute.beijing_time import HOUR, day_end, day_start, next_month, period_end
from aggregator.compute.station_day import Row
from aggregator.store.wire_format import copy_upsert


@dataclass(frozen=True, slots=True)
class IndicatorTable:
    """An indicator table: key columns, compared value columns, period end."""

    name: str
    key: tuple[str, ...]
    values: tuple[str, ...]
    period_end: Callable[[Row], datetime]


@dataclass(slots=True)
class SyncStats:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    revised: int = 0

    def add(self, other: SyncStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def _plain(value: Any) -> Any:
    """A JSON-serialisable form of a column value (dates as ISO strings)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, float) and isinstance(new, float):
        return old == new or abs(old - new) <= 1e-9 * max(abs(old), abs(new))
    return bool(old == new)


def published(computed_at: datetime, period_end: datetime, now: datetime) -> bool:
    """Whether a stored value had been published: computed after its period ended, by an
    earlier transaction. A value this batch wrote itself (same ``now``: an earlier part of a
    batch isolating a failure, a neighbouring day of the same batch) was never visible, so
    changing it is part of a first computation, not a revision."""
    return computed_at >= period_end and computed_at != now


def changes(table: IndicatorTable, old: Mapping[str, Any], new: Mapping[str, Any]) -> Row:
    """``{column: [old, new]}`` for the value columns that differ."""
    return {
        c: [_plain(old.get(c)), _plain(new.get(c))]
        for c in table.values
        if not _same(old.get(c), new.get(c))
    }


def _key(table: IndicatorTable, row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c] for c in table.key)


async def sync_rows(
    conn: AsyncConnection[Any],
    table: IndicatorTable,
    where: sql.Composable,
    params: Sequence[Any],
    rows: Sequence[Row],
    in_scope: Callable[[Row], bool],
    reason: Callable[[Row, datetime], Awaitable[str]],
    now: datetime,
) -> SyncStats:
    """Make the stored rows selected by ``where`` (restricted by ``in_scope``) equal ``rows``."""
    stats = SyncStats()
    cols = (*table.key, *table.values)
    select = sql.SQL("SELECT {cols}, computed_at FROM {table} WHERE {where}").format(
        cols=sql.SQL(", ").join(map(sql.Identifier, cols)),
        table=sql.Identifier(table.name),
        where=where,
    )
    key = itemgetter(*table.key)  # keys stored and computed rows alike
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(select, params)
        stored = {key(r): r for r in await cur.fetchall() if in_scope(r)}
    writes: list[Row] = []
    revisions: list[tuple[Any, ...]] = []
    for row in rows:
        old = stored.pop(key(row), None)
        diff = changes(table, old, row) if old is not None else None
        if old is None:
            stats.inserted += 1
        elif not diff:
            stats.unchanged += 1
            continue
        else:
            stats.updated += 1
            if published(old["computed_at"], table.period_end(old), now):
                stats.revised += 1
                why = await reason(row, old["computed_at"])
                revisions.append(_revision(table, row, diff, why, old["computed_at"]))
        writes.append(row)
    for old in stored.values():  # rows whose data disappeared (e.g. readings now flagged)
        stats.deleted += 1
        if published(old["computed_at"], table.period_end(old), now):
            stats.revised += 1
            diff = {c: [_plain(old[c]), None] for c in table.values}
            why = await reason(old, old["computed_at"])
            revisions.append(_revision(table, old, diff, why, old["computed_at"]))
    async with conn.cursor() as cur:
        if stored:
            await cur.executemany(
                sql.SQL("DELETE FROM {} WHERE {}").format(
                    sql.Identifier(table.name),
                    sql.SQL(" AND ").join(
                        sql.SQL("{} = %s").format(sql.Identifier(c)) for c in table.key
                    ),
                ),
                [_key(table, r) for r in stored.values()],
            )
        if writes:
            await _upsert(cur, table, cols, writes, now)
    await log_revisions(conn, revisions, now)
    return stats


async def log_revisions(
    conn: AsyncConnection[Any], revisions: Sequence[tuple[Any, ...]], now: datetime
) -> None:
    """Append (indicator, key, changes, reason, previous computed_at) entries to the log."""
    if not revisions:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO indicator_revisions "
            "(indicator, key, changes, reason, previous_computed_at, revised_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [(*r, now) for r in revisions],
        )


_COLUMN_TYPES: dict[str, dict[str, int]] = {}


async def _upsert(
    cur: AsyncCursor[Any], table: IndicatorTable, cols: tuple[str, ...], rows: list[Row],
    now: datetime,
) -> None:
    """Upsert the rows through a binary COPY written by psycopg's own dumpers of the column
    types (read from the catalogue): for these scalar rows 2-2.4x faster than encoders
    written here (bench/copy_encoders.py); values the same (floats exact)."""
    oids = _COLUMN_TYPES.get(table.name)
    if oids is None:  # fixed by the migrations: read once per process
        await cur.execute(
            "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass",
            (table.name,),
        )
        oids = _COLUMN_TYPES[table.name] = {name: oid for name, oid in await cur.fetchall()}
    values = itemgetter(*cols)
    columns = (*cols, "computed_at")
    await copy_upsert(cur, table.name, table.key, columns,
                      [(*values(row), now) for row in rows], [oids[c] for c in columns])


def _revision(
    table: IndicatorTable, row: Mapping[str, Any], diff: Row, why: str, previous: datetime
) -> tuple[Any, ...]:
    key = {c: _plain(row[c]) for c in table.key}
    return (table.name, Jsonb(key), Jsonb(diff), why, previous)


def _hour_end(row: dict[str, Any]) -> datetime:
    ts: datetime = row["ts"]
    return ts + HOUR


def _day_end(row: dict[str, Any]) -> datetime:
    return day_end(row["day"])


def _month_end(row: dict[str, Any]) -> datetime:
    return day_start(next_month(row["month"]))


def _period_end(row: dict[str, Any]) -> datetime:
    return day_start(period_end(row["period"], row["period_start"]))


_AQI = ("rules", "aqi", "level", "category", "primary_pollutants", "iaqi")
_AIR_DAILY = (*_AQI, "complete", *DAILY_COLUMNS)
_WATER = ("water_class", "class_label", "compliant", "exceeding", "means")

HOURLY_ROLLUP = IndicatorTable(
    "hourly_rollup",
    ("station_id", "ts", "parameter"),
    ("value", "valid", "source", "n_samples", "n_excluded"),
    _hour_end,
)
AIR_STATION_DAILY = IndicatorTable(
    "air_station_daily", ("station_id", "day"), _AIR_DAILY, _day_end
)
AIR_REGION_DAILY = IndicatorTable(
    "air_region_daily",
    ("city", "county", "day"),
    (*_AIR_DAILY, "n_stations"),
    _day_end,
)
AIR_REGION_PERIOD = IndicatorTable(
    "air_region_period",
    ("city", "county", "period", "period_start"),
    ("valid_days", "good_days", "polluted_days", "heavy_days", "good_ratio"),
    _period_end,
)
WATER_STATION_HOURLY = IndicatorTable(
    "water_station_hourly", ("station_id", "ts"), _WATER, _hour_end
)
WATER_STATION_DAILY = IndicatorTable(
    "water_station_daily", ("station_id", "day"), _WATER, _day_end
)
WATER_STATION_MONTHLY = IndicatorTable(
    "water_station_monthly", ("station_id", "month"), (*_WATER, "n_days"), _month_end,
)
NOISE_STATION_DAILY = IndicatorTable(
    "noise_station_daily",
    ("station_id", "day"),
    ("zone", "ld", "ln", "ldn", "n_day", "n_night", "night_lmax", "day_ok", "night_ok",
     "night_lmax_ok"),
    _day_end,
)
