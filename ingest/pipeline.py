"""The batching committer every transport feeds: readings and rejections in, commits out.

Transports (MQTT consumer, HJ 212 gateway, dead-letter replay) hand over decoded readings or
rejections together with an ``on_commit`` callback (acknowledge to the broker, answer CN 9014).
Items are committed in batches — readings through :func:`ingest.writer.write_readings`,
rejections into ``dead_letter`` — and only then are their callbacks run. When the database is
unavailable the batch is retried with backoff while the pending queue stays bounded, so
producers wait (TCP) or the broker holds the messages (MQTT's in-flight window).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import psycopg
from psycopg import AsyncConnection

from envmon import db
from ingest.errors import Rejection
from ingest.metrics import IngestMetrics
from ingest.reading import Reading
from ingest.writer import PartitionCache, WriteStats, write_readings

log = logging.getLogger(__name__)

OnCommit = Callable[[], None]


@dataclass(slots=True)
class DeadLetter:
    transport: str
    topic: str
    payload: bytes
    rejection: Rejection


@dataclass(slots=True)
class _Item:
    readings: Sequence[Reading]
    dead: DeadLetter | None
    on_commit: OnCommit | None


_INSERT_DEAD = (
    "INSERT INTO dead_letter (transport, topic, station_id, reason, detail, payload)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)


async def store_dead_letters(conn: AsyncConnection[Any], dead: Sequence[DeadLetter]) -> None:
    """Insert rejected inputs with their reasons (in the caller's transaction)."""
    async with conn.cursor() as cur:
        await cur.executemany(
            _INSERT_DEAD,
            [(d.transport, d.topic, d.rejection.station_id, d.rejection.reason,
              d.rejection.detail, d.payload) for d in dead],
        )


class Pipeline:
    """Bounded queue + batch committer. Run :meth:`run` as a task; feed it from transports."""

    def __init__(
        self,
        database_url: str,
        metrics: IngestMetrics,
        *,
        batch_max_messages: int = 2000,
        batch_max_seconds: float = 0.05,
        max_pending: int = 20_000,
        max_backoff: float = 5.0,
    ) -> None:
        self._url = database_url
        self._metrics = metrics
        self._batch_max = batch_max_messages
        self._linger = batch_max_seconds
        self._max_pending = max_pending
        self._max_backoff = max_backoff
        self._pending: collections.deque[_Item] = collections.deque()
        self._has_items = asyncio.Event()
        self._has_room = asyncio.Event()
        self._has_room.set()
        self._partitions = PartitionCache()
        self._conn: AsyncConnection[Any] | None = None
        self.db_ready = False
        self.totals = WriteStats()
        self._committing = False

    # -- intake -----------------------------------------------------------------------------
    def _put(self, item: _Item) -> None:
        self._pending.append(item)
        self._metrics.unacked.inc()
        self._has_items.set()
        if len(self._pending) >= self._max_pending:
            self._has_room.clear()

    def accept_nowait(self, readings: Sequence[Reading], on_commit: OnCommit | None = None
                      ) -> None:
        """Queue without waiting: for transports whose in-flight count is bounded upstream."""
        self._put(_Item(readings, None, on_commit))

    def reject_nowait(self, transport: str, topic: str, payload: bytes, rejection: Rejection,
                      on_commit: OnCommit | None = None) -> None:
        self._metrics.rejected.labels(rejection.reason).inc()
        log.info("rejected %s message on %r: %s: %s", transport, topic, rejection.reason,
                 rejection.detail)
        self._put(_Item((), DeadLetter(transport, topic, payload, rejection), on_commit))

    async def accept(self, readings: Sequence[Reading], on_commit: OnCommit | None = None
                     ) -> None:
        """Queue readings; waits while the queue is full (backpressure)."""
        await self._has_room.wait()
        self.accept_nowait(readings, on_commit)

    async def reject(self, transport: str, topic: str, payload: bytes, rejection: Rejection,
                     on_commit: OnCommit | None = None) -> None:
        """Queue a rejected input for the dead-letter table; waits while the queue is full."""
        await self._has_room.wait()
        self.reject_nowait(transport, topic, payload, rejection, on_commit)

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def idle(self) -> bool:
        """Nothing queued and no batch being committed (all callbacks have run)."""
        return not self._pending and not self._committing

    # -- committing ---------------------------------------------------------------------------
    async def _next_batch(self, stop: asyncio.Event) -> list[_Item]:
        if not self._pending:
            self._has_items.clear()
            stop_wait = asyncio.ensure_future(stop.wait())
            item_wait = asyncio.ensure_future(self._has_items.wait())
            await asyncio.wait({stop_wait, item_wait}, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
            item_wait.cancel()
        # Linger only when traffic is light: under load, messages pile up while the previous
        # batch commits, and waiting longer would only cap throughput.
        if 0 < len(self._pending) < self._batch_max // 10 and not stop.is_set():
            await asyncio.sleep(self._linger)
        n = min(len(self._pending), self._batch_max)
        return [self._pending.popleft() for _ in range(n)]

    async def _connection(self) -> AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await db.connect(self._url, connect_timeout=5)
        return self._conn

    async def _commit(self, batch: list[_Item]) -> WriteStats:
        conn = await self._connection()
        readings = [r for item in batch for r in item.readings]
        dead = [item.dead for item in batch if item.dead is not None]
        async with conn.transaction():
            stats = await write_readings(conn, readings, self._partitions)
            if dead:
                await store_dead_letters(conn, dead)
        return stats

    async def _drop_connection(self) -> None:
        self._partitions.forget()
        if self._conn is not None:
            await self._conn.close()
        self._conn = None

    async def _commit_with_retry(self, batch: list[_Item], stop: asyncio.Event,
                                 drain_deadline: list[float | None]) -> bool:
        """Commit ``batch``; on database trouble retry with backoff. False if given up."""
        backoff = 0.1
        while True:
            t0 = time.perf_counter()
            try:
                stats = await self._commit(batch)
            except Exception as exc:
                self.db_ready = False
                self._metrics.db_up.set(0)
                transient = db.is_transient(exc)
                self._metrics.db_errors.labels("transient" if transient else "permanent").inc()
                await self._drop_connection()
                if not transient and isinstance(exc, psycopg.Error):
                    log.error("batch of %d failed permanently (%s); isolating", len(batch), exc)
                    await self._isolate(batch)
                    return True
                log.warning("database unavailable (%s); retrying in %.1fs", exc, backoff)
                if stop.is_set():
                    deadline = drain_deadline[0]
                    if deadline is None:
                        deadline = drain_deadline[0] = time.monotonic() + 10
                    if time.monotonic() > deadline:
                        return False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            self._finish(batch, stats, time.perf_counter() - t0)
            return True

    async def _isolate(self, batch: list[_Item]) -> None:
        """A batch the database refuses for a non-transient reason: commit item by item and
        dead-letter the ones that still fail (reason ``db_rejected``), so nothing is lost."""
        for item in batch:
            try:
                stats = await self._commit([item])
            except psycopg.Error as exc:
                if db.is_transient(exc):
                    raise
                await self._drop_connection()
                payload = repr([r.__repr__() for r in item.readings]).encode()
                rej = Rejection("db_rejected", f"{type(exc).__name__}: {exc}",
                                item.readings[0].station_id if item.readings else None)
                self._metrics.rejected.labels("db_rejected").inc()
                await self._commit([_Item((), DeadLetter("db", "", payload, rej),
                                          item.on_commit)])
                self._finish([_Item((), None, item.on_commit)], WriteStats(), 0.0)
                continue
            self._finish([item], stats, 0.0)

    def _finish(self, batch: list[_Item], stats: WriteStats, seconds: float) -> None:
        self.db_ready = True
        m = self._metrics
        m.db_up.set(1)
        m.batch_messages.observe(len(batch))
        if seconds:
            m.commit_seconds.observe(seconds)
        m.readings_written.inc(stats.inserted)
        m.duplicates.inc(stats.duplicates)
        m.revisions.inc(stats.revised)
        m.unacked.dec(len(batch))
        self.totals += stats
        newest: dict[str, float] = {}
        for item in batch:
            for r in item.readings:
                t = r.ts.astimezone(UTC).timestamp()
                if t > newest.get(r.station_id, 0.0):
                    newest[r.station_id] = t
        for sid, t in newest.items():
            m.last_reading.labels(sid).set(t)
        for item in batch:
            if item.on_commit is not None:
                try:
                    item.on_commit()
                except Exception:
                    log.exception("on_commit callback failed")
        if len(self._pending) < self._max_pending:
            self._has_room.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Commit batches until ``stop`` is set and the queue is drained (or the database
        stays unavailable for 10 s after stop: then the rest is left unacknowledged, and the
        broker or logger will deliver it again)."""
        drain_deadline: list[float | None] = [None]
        try:
            try:
                await self._connection()
                self.db_ready = True
                self._metrics.db_up.set(1)
            except Exception as exc:  # the first batch retries with backoff
                log.warning("database not reachable yet: %s", exc)
            while not (stop.is_set() and not self._pending):
                batch = await self._next_batch(stop)
                if not batch:
                    continue
                self._committing = True
                try:
                    done = await self._commit_with_retry(batch, stop, drain_deadline)
                finally:
                    self._committing = False
                if not done:
                    log.warning("stopping with %d uncommitted messages (not acknowledged)",
                                len(self._pending) + len(batch))
                    return
        finally:
            await self._drop_connection()
