"""The long-running aggregator worker: drain the dirty-day queue, then wait for
``NOTIFY envmon_dirty`` (or a poll interval) and drain again, until told to stop.

Several workers (processes or tasks) can run side by side: the queue is SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from psycopg import AsyncConnection

from aggregator.metrics import AggregatorMetrics
from aggregator.recompute import BatchResult, Claimed, claim, run_batch
from aggregator.store import queue
from envmon import db
from envmon.settings import AggregatorSettings, Settings

log = logging.getLogger(__name__)


def _observe(metrics: AggregatorMetrics, result: BatchResult, seconds: float) -> None:
    metrics.duration.observe(seconds)
    metrics.station_days.inc(result.station_days)
    for lag in result.lags:
        metrics.lag.observe(lag)
    s = result.stats
    for change, n in (("inserted", s.inserted), ("updated", s.updated),
                      ("deleted", s.deleted), ("unchanged", s.unchanged)):
        metrics.rows.labels(change).inc(n)
    metrics.revisions.inc(s.revised)
    if result.failed:
        metrics.errors.labels("station_day").inc(result.failed)


async def drain(
    conn: AsyncConnection[Any], batch_size: int = 200, lease_seconds: float = 300.0,
    reader: AsyncConnection[Any] | None = None, metrics: AggregatorMetrics | None = None,
) -> int:
    """Recompute until no claimable dirty day is left; returns the station-days done.

    With ``reader`` (a second connection), while a full batch computes the next one is
    claimed and its readings read: PostgreSQL scans on one core while Python computes on
    the other (a backlog drains about twice as fast; small live batches are unaffected).
    ``metrics``: ``AggregatorMetrics.of()`` (the default registry) unless given.
    """
    metrics = metrics or AggregatorMetrics.of()
    done = 0
    ahead: asyncio.Future[Claimed] | None = None
    # the first batch's readings cannot be read ahead: keep it small when reading ahead
    limit = max(1, batch_size // 4) if reader is not None else batch_size
    try:
        while True:
            started = time.perf_counter()
            claimed = await ahead if ahead else await claim(conn, limit, lease_seconds)
            ahead = None
            if reader is not None and len(claimed.days) >= limit:
                ahead = asyncio.ensure_future(
                    claim(reader, batch_size, lease_seconds, read=True,
                          holder=conn.info.backend_pid))
            result = await run_batch(conn, limit, lease_seconds, claimed)
            limit = batch_size
            if result is None:
                break
            _observe(metrics, result, time.perf_counter() - started)
            done += result.station_days
    finally:
        if ahead is not None:  # a failed batch: give the days read ahead back at once
            with contextlib.suppress(Exception):
                await queue.release(conn, (await ahead).days)
    count, oldest = await queue.backlog(conn)
    await conn.commit()
    metrics.backlog.set(count)
    metrics.oldest.set(oldest)
    return done




async def run(
    settings: Settings, stop: asyncio.Event, tuning: AggregatorSettings | None = None
) -> None:
    """Run the worker until ``stop`` is set; transient database errors are retried.

    Tuning: ``tuning``, else the ``[aggregator]`` section of the settings.
    """
    tuning = tuning or settings.aggregator
    metrics = AggregatorMetrics.of()
    if settings.database_url is None:
        raise ValueError("the aggregator needs settings.database_url")
    url = settings.database_url
    while not stop.is_set():
        try:
            async with await db.connect(url, autocommit=True) as listener, \
                    await db.connect(url) as conn, await db.connect(url) as reader:
                await listener.execute(f"LISTEN {queue.CHANNEL}")
                log.info("aggregator started (batch %d)", tuning.batch_size)
                while not stop.is_set():
                    done = await drain(conn, tuning.batch_size, tuning.lease_seconds, reader,
                                       metrics)
                    if done:
                        log.debug("recomputed %d station-days", done)
                    await db.wait_notify(listener, stop, tuning.poll_seconds)
        except Exception as exc:
            if not db.is_transient(exc):
                metrics.errors.labels("permanent").inc()
                raise
            metrics.errors.labels("transient").inc()
            log.warning("aggregator: database error, retrying: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tuning.retry_seconds)
