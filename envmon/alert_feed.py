"""The alert feed tables, producers' side: one small row per committed batch.

Ingest (``ingest/writer.py``) and the aggregator (``aggregator/recompute.py``) each call one
function here inside the transaction that commits their batch, so the feed row exists exactly
when the batch does. Like the readings table, the feed is an integration point in the
database: producers write it from here without importing the alerts engine, which reads and
deletes the rows (``alerts/feed.py``). A feed row lists keys, not values.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from psycopg import AsyncConnection, AsyncCursor

#: NOTIFY'd after an indicator feed row (ingest's batches wake the engine by ``envmon_dirty``)
CHANNEL = "envmon_alerts_feed"

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
_LOG_INDICATORS = (
    "INSERT INTO alert_indicator_feed (station_ids, days, periods) SELECT %s, %s, %s"
    " WHERE EXISTS (SELECT 1 FROM alert_engines WHERE seen_at > now() - interval '1 day')"
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
        _LOG_INDICATORS, ([s for s, _ in station_days], [d for _, d in station_days], periods))
    if cur.rowcount:
        await conn.execute(f"NOTIFY {CHANNEL}")
