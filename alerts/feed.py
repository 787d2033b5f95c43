"""What the alerts engine evaluates: the feed rows its producers wrote, one per committed batch.

Ingest and the aggregator write them with ``envmon/alert_feed.py`` in the transaction that
commits their batch. A feed row lists keys, not values: the engine reads the values back by
primary key and time range, and deletes the feed rows in the transaction that records what it
decided (exactly-once evaluation without a watermark; commit order does not matter).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection

from envmon import alert_feed

#: woken by ingest's ``envmon_dirty`` and by the aggregator's feed channel
DIRTY_CHANNEL = "envmon_dirty"
CHANNEL = alert_feed.CHANNEL


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
