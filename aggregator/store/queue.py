"""The aggregator's work queues: ``dirty_days`` rows marked by the ingest writer, and the
period figures a batch queues for later (``dirty_water_months``, ``dirty_periods``).

Protocol (the ``seq`` column of envmon/migrations/0001_core.sql):

1. ``claim`` — a short transaction of its own: ``SELECT … FOR UPDATE SKIP LOCKED`` the
   dirty rows nobody holds a live lease on, record a lease (``dirty_claims``: the ``seq``
   read and the time), commit. No lock is held while computing, so the ingest writer, which
   re-marks a day with ``ON CONFLICT DO UPDATE SET seq = nextval(…)``, never waits for a
   recomputation.
2. the recomputation runs in its own transaction and ends with ``finish``: it deletes the
   marks *whose seq is still the one read* and the leases. A reading committed meanwhile
   changed ``seq``, so its mark survives and the day is recomputed again.
3. a worker that dies leaves its leases behind. A lease records the server process of the
   connection that took it (``backend_pid``, ``backend_start``); once that process is gone
   from ``pg_stat_activity`` (the worker was killed, its connection dropped) the lease is dead
   and the next claim by any worker takes the days at once. A lease also expires after
   ``lease_seconds`` (a holder hung while connected). A transient database error releases the
   leases at once. (Needs session-level connections: a transaction-pooling proxy between the
   aggregator and PostgreSQL would make the holder's process meaningless.)

Two workers racing on a claim can, rarely, both take a day: they compute the same values
(regions are serialised by advisory locks), so it costs time, never correctness.

Period figures (air region months and years, water section months) are marked by the batch
that changed one of their days and taken (``SKIP LOCKED``) by the batch that finds none of
their days still queued: a figure over partial data would be published and then revised.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection

from aggregator.compute.periods import period_keys
from aggregator.compute.region_day import Region
from aggregator.compute.station_day import StationInfo

CHANNEL = "envmon_dirty"

#: A day is free unless a live lease holds it, or holds the day before or after it for another
#: worker: computing day D rewrites the hours of D+1 (their moving averages look back into D)
#: from the readings read at the start, so two workers on neighbouring days of a station could
#: overwrite fresher values with older ones.
_CLAIM = (
    "WITH me AS (SELECT COALESCE(%(holder)s, pg_backend_pid()) AS pid,"
    "  (SELECT a.backend_start FROM pg_stat_activity a"
    "   WHERE a.pid = COALESCE(%(holder)s, pg_backend_pid())) AS started),"
    " c AS ("
    " SELECT d.station_id, d.day, d.seq, d.marked_at FROM dirty_days d"
    " WHERE {where} AND NOT EXISTS (SELECT 1 FROM dirty_claims k"
    "  WHERE k.station_id = d.station_id AND k.day BETWEEN d.day - 1 AND d.day + 1"
    "  AND (k.day = d.day OR k.backend_pid IS DISTINCT FROM COALESCE(%(holder)s,"
    "   pg_backend_pid()))"
    "  AND k.claimed_at > now() - make_interval(secs => %(lease)s)"
    "  AND (k.backend_pid IS NULL OR EXISTS (SELECT 1 FROM pg_stat_activity a"
    "   WHERE a.pid = k.backend_pid"
    "   AND (a.backend_start IS NULL OR a.backend_start = k.backend_start))))"
    " ORDER BY d.day DESC, d.station_id {limit} FOR UPDATE OF d SKIP LOCKED),"
    " lease AS (INSERT INTO dirty_claims (station_id, day, seq, backend_pid, backend_start)"
    "  SELECT station_id, day, seq, me.pid, me.started FROM c, me ORDER BY station_id, day"
    "  ON CONFLICT (station_id, day) DO UPDATE"
    "  SET seq = EXCLUDED.seq, claimed_at = now(), backend_pid = EXCLUDED.backend_pid,"
    "  backend_start = EXCLUDED.backend_start)"
    " SELECT station_id, day, seq, marked_at FROM c"
)


@dataclass(frozen=True, slots=True)
class DirtyDay:
    station_id: str
    day: date
    seq: int
    marked_at: datetime


def _arrays(days: Sequence[DirtyDay]) -> tuple[list[str], list[date], list[int]]:
    return [d.station_id for d in days], [d.day for d in days], [d.seq for d in days]


async def claim(
    conn: AsyncConnection[Any], limit: int, *, whole_days: bool = True,
    lease_seconds: float = 300.0, holder: int | None = None,
) -> list[DirtyDay]:
    """Lease about ``limit`` dirty station-days (commits its own short transaction).

    Newest days first, all stations of a day together: live data (today, yesterday) is
    never stuck behind a backlog of imported history, and a batch covers whole region-days
    (a full batch is completed with the rest of its last day), so a region-day is computed
    once from all its stations instead of once per station.

    ``holder``: the server process the lease is recorded for (default: this connection's);
    a worker reading its next batch ahead on a second connection claims for its main one.
    Claims are serialised (a short advisory lock), so that two workers claiming at once
    cannot take neighbouring days of a station.
    """
    params = {"limit": limit, "lease": lease_seconds, "holder": holder}
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('envmon.claim'))")
        cur = await conn.execute(
            _CLAIM.format(where="TRUE", limit="LIMIT %(limit)s"), params)
        claimed = [DirtyDay(*row) for row in await cur.fetchall()]
        if whole_days and len(claimed) == limit:
            cur = await conn.execute(
                _CLAIM.format(where="d.day = %(day)s", limit=""),
                {**params, "day": min(d.day for d in claimed)},
            )
            claimed += [DirtyDay(*row) for row in await cur.fetchall()]
    return claimed


async def finish(conn: AsyncConnection[Any], days: Sequence[DirtyDay]) -> None:
    """Remove the marks still carrying the seq that was read, and the leases (caller's
    transaction; call it last, right before the commit)."""
    arrays = _arrays(days)
    async with conn.cursor() as cur:
        await cur.execute(
            "DELETE FROM dirty_days d USING unnest(%b::text[], %b::date[], %b::bigint[])"
            " AS c(sid, day, seq) WHERE d.station_id = c.sid AND d.day = c.day"
            " AND d.seq = c.seq",
            arrays,
        )
        await cur.execute(
            "DELETE FROM dirty_claims k USING unnest(%b::text[], %b::date[], %b::bigint[])"
            " AS c(sid, day, seq) WHERE k.station_id = c.sid AND k.day = c.day"
            " AND k.seq = c.seq",
            arrays,
        )


async def release(conn: AsyncConnection[Any], days: Sequence[DirtyDay]) -> None:
    """Give leased days back at once (after a failed attempt), in a transaction of its own."""
    async with conn.transaction():
        await conn.execute(
            "DELETE FROM dirty_claims k USING unnest(%b::text[], %b::date[], %b::bigint[])"
            " AS c(sid, day, seq) WHERE k.station_id = c.sid AND k.day = c.day"
            " AND k.seq = c.seq",
            _arrays(days),
        )


async def fail(conn: AsyncConnection[Any], failed: Sequence[tuple[DirtyDay, str]]) -> None:
    """Keep station-days that cannot be recomputed in ``failed_days`` with their error
    (caller's transaction; ``finish`` then removes their marks)."""
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO failed_days (station_id, day, marked_at, error) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (station_id, day) DO UPDATE SET marked_at = EXCLUDED.marked_at,"
            " error = EXCLUDED.error, failed_at = now()",
            [(d.station_id, d.day, d.marked_at, error) for d, error in failed],
        )


async def retry_failed(conn: AsyncConnection[Any]) -> int:
    """Move every failed station-day back into the queue (caller commits); returns how many."""
    cur = await conn.execute(
        "WITH moved AS (DELETE FROM failed_days RETURNING station_id, day)"
        " INSERT INTO dirty_days (station_id, day) SELECT station_id, day FROM moved"
        " ON CONFLICT (station_id, day) DO UPDATE SET seq = nextval('dirty_days_seq'),"
        " marked_at = now()"
    )
    return cur.rowcount


async def backlog(conn: AsyncConnection[Any]) -> tuple[int, float]:
    """Number of dirty days waiting and the age in seconds of the oldest mark."""
    cur = await conn.execute(
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(marked_at)), 0)"
        " FROM dirty_days"
    )
    row = await cur.fetchone()
    return (int(row[0]), float(row[1])) if row else (0, 0.0)


async def mark_water_months(
    conn: AsyncConnection[Any], infos: Mapping[str, StationInfo],
    dirty: Mapping[str, Sequence[date]],
) -> None:
    """Queue the monthly class of the water sections whose days changed
    (``dirty_water_months``)."""
    rows = sorted({(sid, date(d.year, d.month, 1)) for sid, days in dirty.items()
                   if (info := infos.get(sid)) is not None and info.kind == "water"
                   for d in days})
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO dirty_water_months (station_id, month) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING", rows)


async def mark_periods(conn: AsyncConnection[Any], region_days: Mapping[Region, set[date]]) -> None:
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


#: queued water months none of whose days of the section is still queued
_TAKE_WATER_MONTHS = (
    "DELETE FROM dirty_water_months w USING (SELECT p.station_id, p.month"
    "  FROM dirty_water_months p WHERE NOT EXISTS (SELECT 1 FROM dirty_days q"
    "   WHERE q.station_id = p.station_id AND q.day >= p.month"
    "   AND q.day < p.month + interval '1 month')"
    "  ORDER BY 1, 2 FOR UPDATE OF p SKIP LOCKED) c"
    " WHERE (w.station_id, w.month) = (c.station_id, c.month)"
    " RETURNING w.station_id, w.month"
)


async def take_water_months(conn: AsyncConnection[Any]) -> dict[str, list[date]]:
    """Take (delete, ``SKIP LOCKED``) the queued water months none of whose days is still
    queued (caller's transaction; after the batch's own marks are removed)."""
    cur = await conn.execute(_TAKE_WATER_MONTHS)
    months: dict[str, list[date]] = defaultdict(list)
    for sid, month in await cur.fetchall():
        months[sid].append(month)
    return dict(months)


#: queued period figures none of whose region's station-days of the period is still queued
#: (being computed by another worker, left by a dead one, deferred)
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


async def take_periods(conn: AsyncConnection[Any]) -> dict[Region, set[tuple[str, date]]]:
    """Take (delete, ``SKIP LOCKED``) the queued period figures none of whose days is still
    queued (caller's transaction; after the batch's own marks are removed)."""
    cur = await conn.execute(_TAKE_PERIODS)
    wanted: dict[Region, set[tuple[str, date]]] = defaultdict(set)
    for city, county, period, start in await cur.fetchall():
        wanted[Region(city, county)].add((period, start))
    return dict(wanted)
