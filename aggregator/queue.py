"""The aggregator's work queue: ``dirty_days`` rows marked by the ingest writer.

A batch is claimed by deleting its rows inside the transaction that recomputes them
(``DELETE … USING (SELECT … FOR UPDATE SKIP LOCKED)``): concurrent aggregators skip each
other's rows; a crash rolls the delete back, so no mark is ever lost; and a reading committed
while its day is being recomputed re-marks the day once this transaction ends (the writer's
``INSERT … ON CONFLICT`` waits for the deleted row's fate), so it is recomputed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection

CHANNEL = "envmon_dirty"


@dataclass(frozen=True, slots=True)
class DirtyDay:
    station_id: str
    day: date
    marked_at: datetime


async def claim(conn: AsyncConnection[Any], limit: int) -> list[DirtyDay]:
    """Take about ``limit`` unclaimed dirty days (in the caller's transaction).

    Newest days first, all stations of a day together: live data (today, yesterday) is
    never stuck behind a backlog of imported history, and a batch covers whole region-days
    (a full batch is completed with the rest of its last day), so a region-day is computed
    once from all its stations instead of once per station.
    """
    cur = await conn.execute(_CLAIM.format(where="TRUE", limit="LIMIT %s"), (limit,))
    claimed = [DirtyDay(*row) for row in await cur.fetchall()]
    if len(claimed) == limit:
        last = min(d.day for d in claimed)
        cur = await conn.execute(_CLAIM.format(where="day = %s", limit=""), (last,))
        claimed += [DirtyDay(*row) for row in await cur.fetchall()]
    return claimed


_CLAIM = (
    "DELETE FROM dirty_days d USING ("
    "  SELECT station_id, day FROM dirty_days WHERE {where}"
    "  ORDER BY day DESC, station_id {limit} FOR UPDATE SKIP LOCKED) c"
    " WHERE d.station_id = c.station_id AND d.day = c.day"
    " RETURNING d.station_id, d.day, d.marked_at"
)


async def backlog(conn: AsyncConnection[Any]) -> tuple[int, float]:
    """Number of dirty days waiting and the age in seconds of the oldest mark."""
    cur = await conn.execute(
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(marked_at)), 0)"
        " FROM dirty_days"
    )
    row = await cur.fetchone()
    return (int(row[0]), float(row[1])) if row else (0, 0.0)
