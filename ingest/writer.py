"""Store readings exactly once: binary COPY into a temporary stage, then set-based upserts.

Per batch, in the caller's transaction:
1. identical readings within the batch collapse to one (counted as duplicates); a different
   value for the same key within the batch is a revision (last one wins, both kept);
2. missing monthly partitions are created (plain PostgreSQL layout);
3. ``INSERT … ON CONFLICT DO NOTHING`` stores new keys and marks their days dirty;
4. only when some keys already existed: rows whose value or flag differ are updated, the
   old values go to ``reading_revisions``, and their days are marked dirty; the rest are
   duplicates (a resend) and change nothing.

Step 4 runs once per UTC day of the batch, each statement bounded by that day's time range,
stations and parameters as plan-time constants. On TimescaleDB this is what lets chunk
exclusion and the compressed batches' segment filters work: a revision of 2013 in a compressed
hypertable decompresses only the batches of its own station, parameters and chunk (a month's
corrected resend of one station: 30 batches) instead of every compressed tuple (docs/schema.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from psycopg import AsyncConnection

from envmon import alert_feed, storage  # alert_feed: committed-batch log for the alerts engine
from ingest.reading import Reading

_STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS envmon_stage ("
    " station_id text, parameter text, interval text, ts timestamptz,"
    " value double precision, flag text, source text)"
)
_STAGE_TYPES = ["text", "text", "text", "timestamptz", "float8", "text", "text"]

# Each new or revised reading marks its Beijing natural day for the aggregator.

_INSERT_NEW = (
    "WITH ins AS ("
    " INSERT INTO readings (station_id, parameter, interval, ts, value, flag, source)"
    " SELECT station_id, parameter, interval, ts, value, flag, source FROM envmon_stage"
    " ORDER BY station_id, parameter, interval, ts"
    " ON CONFLICT (station_id, parameter, interval, ts) DO NOTHING"
    " RETURNING station_id, interval, ts),"
    " dirty AS (INSERT INTO dirty_days (station_id, day)"
    "  SELECT DISTINCT station_id, (ts AT TIME ZONE 'Asia/Shanghai')::date FROM ins"
    "  ORDER BY 1, 2 ON CONFLICT (station_id, day) DO UPDATE"
    "  SET seq = nextval('dirty_days_seq'), marked_at = now()),"
    # minute/real-time readings per station-day: the aggregator's batch budget (migration 0032)
    " samples AS (INSERT INTO station_day_samples (station_id, day, n)"
    "  SELECT station_id, (ts AT TIME ZONE 'Asia/Shanghai')::date, count(*) FROM ins"
    "  WHERE interval IN ('min', 'rt') GROUP BY 1, 2"
    "  ORDER BY 1, 2 ON CONFLICT (station_id, day) DO UPDATE"
    "  SET n = station_day_samples.n + EXCLUDED.n)"
    " SELECT count(*) FROM ins"
)

# Takes the row locks of the rows about to change. On TimescaleDB this UPDATE also moves their
# compressed batches (only those matching the bounds) into the chunk's row store: the
# ``FOR UPDATE`` of ``_REVISE`` cannot lock tuples still inside a compressed batch
# ("locking compressed tuples is not supported").
_LOCK_CHANGED = (
    "UPDATE readings r SET value = r.value FROM envmon_stage s"
    " WHERE (r.station_id, r.parameter, r.interval, r.ts)"
    "  = (s.station_id, s.parameter, s.interval, s.ts)"
    "  AND (r.value, r.flag) IS DISTINCT FROM (s.value, s.flag)"
    "  AND s.ts BETWEEN %(lo)s AND %(hi)s AND r.ts BETWEEN %(lo)s AND %(hi)s"
    "  AND r.station_id = ANY(%(stations)s) AND r.parameter = ANY(%(parameters)s)"
)

_REVISE = (
    "WITH changed AS ("
    " SELECT s.station_id, s.parameter, s.interval, s.ts, s.value, s.flag, s.source,"
    "  r.value AS old_value, r.flag AS old_flag, r.source AS old_source,"
    "  r.received_at AS old_received_at"
    " FROM envmon_stage s JOIN readings r"
    "  USING (station_id, parameter, interval, ts)"
    " WHERE (r.value, r.flag) IS DISTINCT FROM (s.value, s.flag)"
    "  AND s.ts BETWEEN %(lo)s AND %(hi)s AND r.ts BETWEEN %(lo)s AND %(hi)s"
    "  AND r.station_id = ANY(%(stations)s) AND r.parameter = ANY(%(parameters)s)"
    " ORDER BY s.station_id, s.parameter, s.interval, s.ts"
    " FOR UPDATE OF r),"
    " audit AS ("
    " INSERT INTO reading_revisions (station_id, parameter, interval, ts, old_value, old_flag,"
    "  old_source, old_received_at, new_value, new_flag, new_source)"
    " SELECT station_id, parameter, interval, ts, old_value, old_flag, old_source,"
    "  old_received_at, value, flag, source FROM changed),"
    " upd AS ("
    " UPDATE readings r SET value = c.value, flag = c.flag, source = c.source,"
    "  received_at = now()"
    " FROM changed c WHERE (r.station_id, r.parameter, r.interval, r.ts)"
    "  = (c.station_id, c.parameter, c.interval, c.ts)"
    "  AND r.ts BETWEEN %(lo)s AND %(hi)s"
    "  AND r.station_id = ANY(%(stations)s) AND r.parameter = ANY(%(parameters)s)"
    " RETURNING r.station_id, r.ts),"
    " dirty AS (INSERT INTO dirty_days (station_id, day)"
    "  SELECT DISTINCT station_id, (ts AT TIME ZONE 'Asia/Shanghai')::date FROM upd"
    "  ORDER BY 1, 2 ON CONFLICT (station_id, day) DO UPDATE"
    "  SET seq = nextval('dirty_days_seq'), marked_at = now())"
    " SELECT count(*) FROM upd"
)

# TimescaleDB caps the tuples one transaction may decompress (default 100 000) against
# statements that decompress a whole hypertable. The revision statements are bounded by
# construction, and a legitimate resend of a month of minute data of one station needs ~300 000:
# within the writer's transaction the cap would turn that into an error retried forever.
_UNCAP_DECOMPRESSION = (
    "SELECT set_config('timescaledb.max_tuples_decompressed_per_dml_transaction', '0', true)"
)
# The row store of a compressed chunk is empty when a statement is planned and is filled by
# the decompression when it runs: planned for 0 rows, the join becomes a nested loop over a
# sequential scan of the chunk (a month of minute data: 1 000 readings/s, quadratic). Hash
# joins are linear: 27 000 readings/s (bench/late_resend_compressed.py; Timescale layout only).
_HASH_JOINS = (
    "SELECT current_setting('enable_nestloop'), set_config('enable_nestloop', 'off', true)"
)
_RESTORE_NESTLOOP = "SELECT set_config('enable_nestloop', %s, true)"

_INTRA_BATCH_REVISION = (
    "INSERT INTO reading_revisions (station_id, parameter, interval, ts, old_value, old_flag,"
    " old_source, old_received_at, new_value, new_flag, new_source)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, now(), %s, %s, %s)"
)


@dataclass
class WriteStats:
    """What a batch did: new keys, identical resends, changed values."""

    inserted: int = 0
    duplicates: int = 0
    revised: int = 0

    def __iadd__(self, other: WriteStats) -> WriteStats:
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.revised += other.revised
        return self


@dataclass
class _RevisionWindow:
    """One UTC day of a batch: the bounds its revision statement is planned with."""

    lo: datetime
    hi: datetime
    stations: set[str] = field(default_factory=set)
    parameters: set[str] = field(default_factory=set)

    def params(self) -> dict[str, Any]:
        return {"lo": self.lo, "hi": self.hi, "stations": sorted(self.stations),
                "parameters": sorted(self.parameters)}


def _revision_windows(readings: Iterable[Reading]) -> list[_RevisionWindow]:
    """The batch split by UTC day, in time order (a stable lock order between writers)."""
    windows: dict[date, _RevisionWindow] = {}
    for r in readings:
        ts = _utc(r)
        w = windows.setdefault(ts.date(), _RevisionWindow(ts, ts))
        w.lo, w.hi = min(w.lo, ts), max(w.hi, ts)
        w.stations.add(r.station_id)
        w.parameters.add(r.parameter)
    return [windows[day] for day in sorted(windows)]


@dataclass
class _Collapsed:
    unique: list[Reading] = field(default_factory=list)
    duplicates: int = 0
    superseded: list[tuple[Reading, Reading]] = field(default_factory=list)


def _collapse(readings: Iterable[Reading]) -> _Collapsed:
    """One reading per key (last wins); identical repeats are duplicates."""
    latest: dict[tuple[str, str, str, datetime], Reading] = {}
    out = _Collapsed()
    for r in readings:
        key = r.key
        prev = latest.get(key)
        if prev is not None:
            if prev.value == r.value and prev.flag == r.flag:
                out.duplicates += 1
                continue
            out.superseded.append((prev, r))
        latest[key] = r
    out.unique = list(latest.values())
    return out


class PartitionCache:
    """Months known to have a partition, so partition checks cost nothing per batch."""

    def __init__(self) -> None:
        self._known: set[date] = set()
        self.partitioned: bool | None = None

    async def ensure(self, conn: AsyncConnection[Any], readings: Sequence[Reading]) -> None:
        if self.partitioned is None:
            self.partitioned = await storage.is_partitioned(conn)
        if not self.partitioned:
            return
        months = {date(t.year, t.month, 1) for t in (_utc(x) for x in readings)}
        missing = months - self._known
        if missing:
            await storage.ensure_partitions(conn, missing)
            self._known |= missing

    def forget(self) -> None:
        """After a rolled-back transaction, partitions created in it are gone again."""
        self._known.clear()


def _utc(r: Reading) -> datetime:
    return r.ts.astimezone(UTC)


_default_cache = PartitionCache()


async def write_readings(
    conn: AsyncConnection[Any],
    readings: Sequence[Reading],
    partitions: PartitionCache | None = None,
) -> WriteStats:
    """Store ``readings`` idempotently in the caller's transaction (the caller commits).

    A rollback of the caller's transaction must be followed by ``partitions.forget()``.
    """
    if not readings:
        return WriteStats()
    cache = partitions or _default_cache
    batch = _collapse(readings)
    stats = WriteStats(duplicates=batch.duplicates)
    await cache.ensure(conn, batch.unique)
    await conn.execute(_STAGE_DDL)
    async with conn.cursor() as cur:
        async with cur.copy(
            "COPY envmon_stage (station_id, parameter, interval, ts, value, flag, source)"
            " FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(_STAGE_TYPES)
            for r in batch.unique:
                await copy.write_row(
                    (r.station_id, r.parameter, r.interval, r.ts, r.value, r.flag, r.source)
                )
        await cur.execute(_INSERT_NEW)
        row = await cur.fetchone()
        stats.inserted = int(row[0]) if row else 0
        existing = len(batch.unique) - stats.inserted
        if existing:
            nestloop = None
            if cache.partitioned is False:
                await cur.execute(_UNCAP_DECOMPRESSION)
                await cur.execute(_HASH_JOINS)
                row = await cur.fetchone()
                nestloop = str(row[0]) if row else "on"
            for window in _revision_windows(batch.unique):
                # prepare=False: always planned with the values, so chunk exclusion and
                # segment filters see constants (a generic plan would scan every chunk).
                if cache.partitioned is False:
                    await cur.execute(_LOCK_CHANGED, window.params(), prepare=False)
                await cur.execute(_REVISE, window.params(), prepare=False)
                row = await cur.fetchone()
                stats.revised += int(row[0]) if row else 0
            if nestloop is not None:
                await cur.execute(_RESTORE_NESTLOOP, (nestloop,))
            stats.duplicates += existing - stats.revised
        if batch.superseded:
            await cur.executemany(
                _INTRA_BATCH_REVISION,
                [
                    (o.station_id, o.parameter, o.interval, o.ts, o.value, o.flag, o.source,
                     n.value, n.flag, n.source)
                    for o, n in batch.superseded
                ],
            )
            stats.revised += len(batch.superseded)
        if stats.inserted or stats.revised:  # alerts: the batch's keys, for rule evaluation
            await alert_feed.log_reading_batch(cur)  # alerts
        await cur.execute("TRUNCATE envmon_stage")
        if stats.inserted or stats.revised:
            await cur.execute("NOTIFY envmon_dirty")
    return stats
