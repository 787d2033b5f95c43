"""The region-day locks that serialise the aggregators writing the same regions.

A region-day is recomputed by whichever aggregator changed one of its stations' days. Two
aggregators that touch stations of the same region serialise on a transaction-level advisory
lock per region-day (taken in sorted order, in one statement, so they cannot deadlock); the
regions' other stations are read only once the locks are held, so under READ COMMITTED the
second one reads the first one's committed station values, and the last writer always writes
a region value computed from all current station values. A batch takes its locks after
computing its station rows and writes its station and region rows while it holds them
(aggregator/recompute.py). Period figures lock their (region, period)
keys the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import AsyncConnection


async def lock(conn: AsyncConnection[Any], keys: Iterable[str]) -> None:
    """Transaction-level advisory locks on ``keys``, taken in sorted order (one statement)."""
    await conn.execute(
        "SELECT count(pg_advisory_xact_lock(hashtext(k)))"
        " FROM (SELECT k FROM unnest(%s::text[]) AS k ORDER BY k) AS s",
        (sorted(set(keys)),),
    )
