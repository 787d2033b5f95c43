"""What the alerts engine evaluates: one small row per committed batch, written by the producer.

Ingest (``ingest/writer.py``) and the aggregator (``aggregator/recompute.py``) each call one
function here inside the transaction that commits their batch, so the feed row exists exactly
when the batch does. A feed row lists keys, not values: the engine reads the values back by
primary key and time range, and deletes the feed rows in the transaction that records what it
decided (exactly-once evaluation without a watermark; commit order does not matter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection, AsyncCursor

#: woken by ingest's ``envmon_dirty`` and by this channel (the aggregator's batches)
CHANNEL = "envmon_alerts_feed"
DIRTY_CHANNEL = "envmon_dirty"

# Both feeds are written only while an engine has been seen within a day (alert_engines;
# docs/alerts.md): a deployment without alerts grows no feed.
# The ingest writer's stage table holds the batch (one row per key after collapsing).
_LOG_READINGS = (
    "INSERT INTO alert_reading_feed (station_ids, parameters, intervals, ts_first, ts_last,"
    " n_rows, n_flagged, v_min, v_max)"
    " SELECT array_agg(station_id), array_agg(parameter), array_agg(interval),"
    "  array_agg(lo), array_agg(hi), array_agg(n), array_agg(nf), array_agg(vmin),"
    "  array_agg(vmax)"
    " FROM (SELECT station_id, parameter, interval, min(ts) AS lo, max(ts) AS hi,"
    "  count(*)::int AS n, (count(*) FILTER (WHERE flag <> 'N'))::int AS nf,"
    "  min(value) AS vmin, max(value) AS vmax FROM envmon_stage"
    " WHERE EXISTS (SELECT 1 FROM alert_engines WHERE seen_at > now() - interval '1 day')"
    " GROUP BY 1, 2, 3) k"
    " HAVING count(*) > 0"
)


async def log_reading_batch(cur: AsyncCursor[Any]) -> None:
    """Record the keys of the batch in ``envmon_stage`` (the ingest writer's transaction)."""
    await cur.execute(_LOG_READINGS)


async def log_indicator_batch(
    conn: AsyncConnection[Any], station_days: Sequence[tuple[str, date]], periods: bool = False
) -> None:
    """Record recomputed station-days (the aggregator's transaction)."""
    if not station_days and not periods:
        return
    cur = await conn.execute(
        "INSERT INTO alert_indicator_feed (station_ids, days, periods)"
        " SELECT %s, %s, %s"
        " WHERE EXISTS (SELECT 1 FROM alert_engines WHERE seen_at > now() - interval '1 day')",
        ([s for s, _ in station_days], [d for _, d in station_days], periods),
    )
    if cur.rowcount:
        await conn.execute(f"NOTIFY {CHANNEL}")


@dataclass(frozen=True, slots=True)
class ReadingKey:
    station_id: str
    parameter: str
    interval: str
    first: datetime
    last: datetime
    n: int
    n_flagged: int
    v_min: float
    v_max: float


@dataclass
class Claimed:
    """Feed rows taken by one evaluation (deleted when its transaction commits)."""

    readings: list[ReadingKey]
    station_days: set[tuple[str, date]]
    periods: bool
    commits: list[datetime]


_CLAIM_READINGS = (
    "DELETE FROM alert_reading_feed WHERE seq IN ("
    " SELECT seq FROM alert_reading_feed ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED)"
    " RETURNING committed_at, station_ids, parameters, intervals, ts_first, ts_last, n_rows,"
    " n_flagged, v_min, v_max"
)
_CLAIM_INDICATORS = (
    "DELETE FROM alert_indicator_feed WHERE seq IN ("
    " SELECT seq FROM alert_indicator_feed ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED)"
    " RETURNING committed_at, station_ids, days, periods"
)


async def heartbeat(conn: AsyncConnection[Any], engine: str) -> None:
    """Say that ``engine`` runs (so producers keep writing the feed); forget engines not
    seen for a week."""
    await conn.execute(
        "INSERT INTO alert_engines (engine) VALUES (%s)"
        " ON CONFLICT (engine) DO UPDATE SET seen_at = now()", (engine,))
    await conn.execute("DELETE FROM alert_engines WHERE seen_at < now() - interval '7 days'")


async def claim(conn: AsyncConnection[Any], limit: int) -> Claimed:
    """Take up to ``limit`` feed rows of each kind, in the caller's transaction."""
    out = Claimed([], set(), False, [])
    cur = await conn.execute(_CLAIM_READINGS, (limit,))
    for committed, *columns in await cur.fetchall():
        out.commits.append(committed)
        out.readings.extend(ReadingKey(*k) for k in zip(*columns, strict=True))
    cur = await conn.execute(_CLAIM_INDICATORS, (limit,))
    for committed, sids, days, periods in await cur.fetchall():
        out.commits.append(committed)
        out.station_days.update(zip(sids, days, strict=True))
        out.periods = out.periods or bool(periods)
    return out
