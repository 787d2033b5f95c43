"""Hourly AQI reports stored one row per station (or region) and Beijing day, as arrays.

``air_station_hours`` / ``air_region_hours`` (envmon/migrations/0021): writing 876 000 rows a
year for 100 stations cost more than computing them; one row of 24-element arrays per day is
24 times fewer rows, and the views ``air_station_hourly`` / ``air_region_hourly`` still show one
report per hour. Like :func:`aggregator.revisions.sync_rows`, only changed days are written,
and a changed hour whose previous report was computed after the hour had ended is logged in
``indicator_revisions`` under the hourly view's name, keyed by hour.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

import numpy as np
from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb

from aggregator import standards, tables
from aggregator.air_grid import HOURLY_CONCENTRATIONS, HOURLY_INDICATORS, Reports
from aggregator.pg_arrays import Encoded, encode_each, use_numpy
from aggregator.revisions import SyncStats

Array = np.ndarray[Any, Any]
HOURS = 24
DAY = timedelta(days=1)
#: the concentrations a report of each rule set shows (air.hours passes these to the AQI)
_SHOWN = {
    "2012": ("so2", "no2", "co", "o3", "o3_8h", "pm10_24h", "pm25_24h", "so2_24h"),
    "2026": ("so2", "no2", "co", "o3", "pm10", "pm25"),
}


@dataclass(frozen=True, slots=True)
class BlockTable:
    name: str  # the compact table
    view: str  # the one-row-per-hour view, the name revisions are logged under
    key: tuple[str, ...]
    regional: bool


STATION_HOURS = BlockTable("air_station_hours", "air_station_hourly", ("station_id",), False)
REGION_HOURS = BlockTable("air_region_hours", "air_region_hourly", ("city", "county"), True)
_ARRAYS = ("present", "aqi", "level", "primary_mask", "iaqi", "concentrations")


@cache
def _levels() -> Array:
    """HJ 633 表2 level of every AQI 0..500 (the standards library decides)."""
    return np.array([standards.category(a).level for a in range(501)], dtype=np.int16)


@dataclass(frozen=True, slots=True)
class HourBlocks:
    """The hourly reports of consecutive Beijing days of one station or region."""

    key: tuple[str, ...]
    first_day: date
    rules: list[str]  # per day
    present: Array  # bool[days, 24]
    aqi: Array  # int16[days, 24], -1 = NA
    level: Array  # int16[days, 24], -1 = none
    primary_mask: Array  # int16[days, 24], bits in HOURLY_INDICATORS order
    iaqi: Array  # int16[days, 24, len(HOURLY_INDICATORS)], -1 = none
    concentrations: Array  # float64[days, 24, len(HOURLY_CONCENTRATIONS)], NaN = none
    n_stations: Array | None = None  # int16[days, 24] (regions)

    @classmethod
    def from_reports(
        cls, key: tuple[str, ...], first_day: date, reports: Reports,
        n_stations: Array | None = None,
    ) -> HourBlocks:
        """Blocks of whole days from reports of ``24 * days`` consecutive hours."""
        days = len(reports.aqi) // HOURS
        aqi = reports.aqi.astype(np.int16).reshape(days, HOURS)
        level = np.where(aqi >= 0, _levels()[np.clip(aqi, 0, 500)], -1).astype(np.int16)
        return cls(
            key, first_day, list(reports.rules[::HOURS]),
            reports.present.reshape(days, HOURS), aqi, level,
            reports.primary.astype(np.int16).reshape(days, HOURS),
            reports.iaqi.astype(np.int16).reshape(days, HOURS, -1),
            reports.values.astype(np.float64).reshape(days, HOURS, -1),
            None if n_stations is None else n_stations.astype(np.int16).reshape(days, HOURS),
        )

    def index(self, day: date) -> int | None:
        i = (day - self.first_day).days
        return i if 0 <= i < len(self.rules) else None


@dataclass(frozen=True, slots=True)
class _Day:
    """One stored or computed row: a day's arrays."""

    rules: str
    arrays: tuple[Array, ...]  # in _ARRAYS order (+ n_stations for regions)
    computed_at: datetime | None = None

    def same(self, other: _Day) -> bool:
        return self.rules == other.rules and all(
            np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
            for a, b in zip(self.arrays, other.arrays, strict=True)
        )


def _day_of(blocks: HourBlocks, i: int) -> _Day | None:
    if not blocks.present[i].any():
        return None
    arrays: tuple[Array, ...] = (
        blocks.present[i], blocks.aqi[i], blocks.level[i], blocks.primary_mask[i],
        blocks.iaqi[i], blocks.concentrations[i],
    )
    if blocks.n_stations is not None:
        arrays += (blocks.n_stations[i],)
    return _Day(blocks.rules[i], arrays)


def hour_report(rules: str, arrays: Sequence[Array], h: int) -> dict[str, Any]:
    """Hour ``h`` of a day as the hourly view shows it (for revision entries)."""
    _, aqi, level, mask, iaqi, conc = arrays[:6]
    a, lv = int(aqi[h]), int(level[h])
    out: dict[str, Any] = {
        "rules": rules,
        "aqi": a if a >= 0 else None,
        "level": lv if lv >= 0 else None,
        "category": standards.category(a).name if a >= 0 else None,
        "primary_pollutants": [n for k, n in enumerate(HOURLY_INDICATORS)
                               if int(mask[h]) & (1 << k)],
        "iaqi": {n: int(v) for n, v in zip(HOURLY_INDICATORS, iaqi[h], strict=True) if v >= 0},
        "concentrations": {
            n: None if np.isnan(v) else float(v)
            for n, v in zip(HOURLY_CONCENTRATIONS, conc[h], strict=True) if n in _SHOWN[rules]
        },
    }
    if len(arrays) > 6:
        out["n_stations"] = int(arrays[6][h])
    return out


Reason = Callable[[dict[str, Any], datetime], Awaitable[str]]


async def sync_blocks(
    conn: AsyncConnection[Any],
    table: BlockTable,
    blocks: Sequence[HourBlocks],
    days: Mapping[tuple[str, ...], Iterable[date]],
    reason: Reason,
    now: datetime,
) -> SyncStats:
    """Make the stored days ``days[key]`` of each key equal the computed blocks (a day
    without any report has no row)."""
    stats = SyncStats()
    wanted = {k: sorted(set(ds)) for k, ds in days.items() if ds}
    if not wanted:
        return stats
    stored = await _load(conn, table, wanted)
    by_key: dict[tuple[str, ...], list[HourBlocks]] = defaultdict(list)
    for b in blocks:
        by_key[b.key].append(b)
    writes: list[tuple[tuple[str, ...], date, _Day]] = []
    deletes: list[tuple[tuple[str, ...], date]] = []
    revisions: list[tuple[Any, ...]] = []
    for key, key_days in wanted.items():
        for day in key_days:
            new = next((_day_of(b, i) for b in by_key.get(key, ())
                        if (i := b.index(day)) is not None), None)
            old = stored.get((key, day))
            if old is None and new is None:
                continue
            if old is not None and new is not None and old.same(new):
                stats.unchanged += 1
                continue
            if new is None:
                stats.deleted += 1
                deletes.append((key, day))
            else:
                stats.inserted += old is None
                stats.updated += old is not None
                writes.append((key, day, new))
            if old is not None:
                found = await _revisions(table, key, day, old, new, reason)
                stats.revised += bool(found)
                revisions += found
    await _write(conn, table, writes, deletes, now)
    if revisions:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO indicator_revisions "
                "(indicator, key, changes, reason, previous_computed_at, revised_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [(*r, now) for r in revisions],
            )
    return stats


async def _revisions(
    table: BlockTable, key: tuple[str, ...], day: date, old: _Day, new: _Day | None,
    reason: Reason,
) -> list[tuple[Any, ...]]:
    """Revision entries of the hours of ``day`` that changed after they had ended."""
    assert old.computed_at is not None
    out = []
    start = tables.day_start(day)
    for h in range(HOURS):
        ts = start + h * tables.HOUR
        if old.computed_at < ts + tables.HOUR or not old.arrays[0][h]:
            continue  # still running when computed, or no report then
        before = hour_report(old.rules, old.arrays, h)
        after = hour_report(new.rules, new.arrays, h) if new and new.arrays[0][h] else None
        diff = {c: [v, None if after is None else after[c]] for c, v in before.items()
                if after is None or after[c] != v}
        if not diff:
            continue
        row = {**dict(zip(table.key, key, strict=True)), "ts": ts}
        why = await reason(row, old.computed_at)
        key_json = {**dict(zip(table.key, key, strict=True)), "ts": ts.isoformat()}
        out.append((table.view, Jsonb(key_json), Jsonb(diff), why, old.computed_at))
    return out


def _select(table: BlockTable) -> sql.Composed:
    cols = [*table.key, "day", "rules", *_ARRAYS, *(("n_stations",) if table.regional else ()),
            "computed_at"]
    keys = sql.SQL(", ").join(map(sql.Identifier, table.key))
    arrays = sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in table.key)
    return sql.SQL(
        "SELECT {cols} FROM {t} WHERE ({keys}) IN (SELECT * FROM unnest({arrays}))"
        " AND day >= %s AND day <= %s"
    ).format(cols=sql.SQL(", ").join(map(sql.Identifier, cols)), t=sql.Identifier(table.name),
             keys=keys, arrays=arrays)


async def _load(
    conn: AsyncConnection[Any], table: BlockTable, wanted: Mapping[tuple[str, ...], list[date]]
) -> dict[tuple[tuple[str, ...], date], _Day]:
    keys = sorted(wanted)
    lo = min(ds[0] for ds in wanted.values())
    hi = max(ds[-1] for ds in wanted.values())
    n = len(table.key)
    out = {}
    async with conn.cursor(binary=True) as cur:
        use_numpy(cur)
        await cur.execute(_select(table), [*([k[j] for k in keys] for j in range(n)), lo, hi])
        for row in await cur.fetchall():
            key, day = tuple(row[:n]), row[n]
            if day in wanted.get(key, ()):
                out[(key, day)] = _Day(row[n + 1], tuple(row[n + 2 : -1]), row[-1])
    return out


async def _write(
    conn: AsyncConnection[Any], table: BlockTable,
    writes: list[tuple[tuple[str, ...], date, _Day]],
    deletes: list[tuple[tuple[str, ...], date]], now: datetime,
) -> None:
    keys = sql.SQL(", ").join(map(sql.Identifier, (*table.key, "day")))
    async with conn.cursor() as cur:
        if deletes:
            await cur.executemany(
                sql.SQL("DELETE FROM {} WHERE ({}) = ({})").format(
                    sql.Identifier(table.name), keys,
                    sql.SQL(", ").join(sql.Placeholder() * (len(table.key) + 1))),
                [(*k, d) for k, d in deletes],
            )
        if not writes:
            return
        columns = (*table.key, "day", "rules", *_ARRAYS,
                   *(("n_stations",) if table.regional else ()), "computed_at")
        names = sql.SQL(", ").join(map(sql.Identifier, columns))
        stage = sql.Identifier(f"stage_{table.name}")
        await cur.execute(sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS)"
            " ON COMMIT DELETE ROWS").format(stage, sql.Identifier(table.name)))
        await cur.execute(sql.SQL("DELETE FROM {}").format(stage))
        encoded = [
            [Encoded(b) for b in encode_each(np.stack([d.arrays[j] for _, _, d in writes]))]
            for j in range(len(writes[0][2].arrays))
        ]
        use_numpy(cur)
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(stage, names)
        async with cur.copy(copy_sql) as copy:
            for n, (key, day, d) in enumerate(writes):
                await copy.write_row((*key, day, d.rules, *(e[n] for e in encoded), now))
        await cur.execute(sql.SQL(
            "INSERT INTO {t} ({names}) SELECT {names} FROM {stage}"
            " ON CONFLICT ({keys}) DO UPDATE SET {sets}").format(
                t=sql.Identifier(table.name), names=names, stage=stage, keys=keys,
                sets=sql.SQL(", ").join(
                    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                    for c in columns[len(table.key) + 1:])))
