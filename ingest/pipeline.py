"""The batching committer every transport feeds: readings and rejections in, commits out.

Transports (MQTT consumer, HJ 212 gateway, dead-letter replay) hand over decoded readings or
rejections together with an ``on_commit`` callback (acknowledge to the broker, answer CN 9014).
Items are committed in batches — readings through :func:`ingest.writer.write_readings`,
rejections into ``dead_letter`` — and only then are their callbacks run. When the database is
unavailable the batch is retried with backoff while what is held stays bounded (messages and
bytes): producers wait (TCP) or stop reading (MQTT), and the broker holds the rest. Messages
the database refuses are found by bisection under savepoints and dead-lettered with its reason
(docs/ingest.md, "Errors").
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import psycopg
from psycopg import AsyncConnection

from envmon import db
from ingest.errors import Rejection, safe_text
from ingest.log_limit import LogLimiter
from ingest.metrics import IngestMetrics
from ingest.reading import Reading
from ingest.transports import DB
from ingest.writer import PartitionCache, WriteStats, write_readings

log = logging.getLogger(__name__)

OnCommit = Callable[[], None]


@dataclass(slots=True)
class Origin:
    """What a message was on the wire: a dead letter of it keeps exactly this."""

    transport: str
    topic: str
    payload: bytes


@dataclass(slots=True)
class DeadLetter:
    """A dead-letter row. Plain strings, not the Rejection: an exception keeps its traceback,
    and the traceback keeps every frame's locals, the whole received message included."""

    transport: str
    topic: str
    payload: bytes
    reason: str
    detail: str
    station_id: str | None

    @classmethod
    def of(cls, transport: str, topic: str, payload: bytes, rejection: Rejection
           ) -> DeadLetter:
        return cls(transport, topic, payload, rejection.reason, rejection.detail,
                   rejection.station_id)


@dataclass(slots=True)
class _Item:
    readings: Sequence[Reading]
    dead: DeadLetter | None
    on_commit: OnCommit | None
    origin: Origin | None = None
    cost: int = 0  # estimated bytes held for this item


# Estimated memory of one decoded reading (Reading object, float, list slot; measured with
# tracemalloc: ~120 bytes) - what a held message costs besides its payload bytes.
READING_COST = 160


@dataclass(slots=True)
class _Refusal:
    """A message the database refused, as the dead letter that keeps it."""

    item: _Item
    letter: DeadLetter
    exc: BaseException
    station: str | None
    sqlstate: str

    @classmethod
    def of(cls, item: _Item, exc: BaseException) -> _Refusal:
        """Keep the original bytes, topic and station, with the database's reason."""
        cause = database_reason(exc)
        station = item.readings[0].station_id if item.readings else None
        if item.origin is not None:
            o = item.origin
            letter = DeadLetter(o.transport, o.topic, o.payload, "db_rejected", cause, station)
        else:  # a transport that gave no origin: keep the decoded readings
            letter = DeadLetter(DB, "", repr(list(item.readings)).encode(), "db_rejected",
                                cause, station)
        return cls(item, letter, exc, station, getattr(exc, "sqlstate", None) or "none")


# How long a station whose message the database refused is committed apart from the rest.
SUSPECT_SECONDS = 300.0
_INSERT_DEAD = (
    "INSERT INTO dead_letter (transport, topic, station_id, reason, detail, payload,"
    " fingerprint) VALUES (%s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (fingerprint) WHERE replayed_at IS NULL"
    " DO UPDATE SET repeats = dead_letter.repeats + 1, last_received_at = now()"
)


def fingerprint(transport: str, topic: str, reason: str, payload: bytes) -> bytes:
    """What makes two dead letters the same one (migration 0024)."""
    h = hashlib.sha256()
    for part in (transport.encode(), topic.encode(), reason.encode()):
        h.update(part + b"\0")
    h.update(payload)
    return h.digest()


async def store_dead_letters(conn: AsyncConnection[Any], dead: Sequence[DeadLetter]) -> None:
    """Insert rejected inputs with their reasons (in the caller's transaction), once: the
    same one again (a redelivery) counts a repeat. Text columns are made safe again here:
    whatever a transport put in them, the row must be storable."""
    async with conn.cursor() as cur:
        await cur.executemany(
            _INSERT_DEAD,
            [(safe_text(d.transport, 32), safe_text(d.topic, 1000),
              None if d.station_id is None else safe_text(d.station_id, 64),
              safe_text(d.reason, 64), safe_text(d.detail), d.payload,
              fingerprint(d.transport, d.topic, d.reason, d.payload)) for d in dead],
        )


def database_reason(exc: BaseException) -> str:
    """The database's own words for a refusal: SQLSTATE and primary message (bounded)."""
    if isinstance(exc, psycopg.Error):
        message = exc.diag.message_primary or str(exc)
        return safe_text(f"SQLSTATE {exc.sqlstate or 'none'}: {message}", 500)
    return safe_text(f"{type(exc).__name__}: {exc}", 500)


class Pipeline:
    """Bounded queue + batch committer. Run :meth:`run` as a task; feed it from transports.

    Bounds: ``max_pending`` messages and ``max_pending_bytes`` estimated bytes are held at
    most (queued plus being committed). Above either, :attr:`full` is true: ``accept`` waits,
    and nowait transports stop reading (the MQTT consumer pauses its socket) until
    :attr:`on_room` is called.
    """

    def __init__(
        self,
        database_url: str,
        metrics: IngestMetrics,
        *,
        batch_max_messages: int = 2000,
        batch_max_seconds: float = 0.05,
        max_pending: int = 20_000,
        max_pending_bytes: int = 64 * 1024 * 1024,
        batch_max_bytes: int = 8 * 1024 * 1024,
        max_retries: int = 5,
        max_backoff: float = 5.0,
    ) -> None:
        self._url = database_url
        self._metrics = metrics
        self._batch_max = batch_max_messages
        self._batch_max_bytes = batch_max_bytes
        self._linger = batch_max_seconds
        self._max_pending = max_pending
        self._max_pending_bytes = max_pending_bytes
        self._max_retries = max_retries
        self._max_backoff = max_backoff
        self._pending: collections.deque[_Item] = collections.deque()
        self._held = 0
        self._held_bytes = 0
        self._peak_held = 0  # most messages / bytes held at once since start
        self._peak_held_bytes = 0
        self._has_items = asyncio.Event()
        self._has_room = asyncio.Event()
        self._has_room.set()
        self._partitions = PartitionCache()
        self._conn: AsyncConnection[Any] | None = None
        self.db_ready = False
        self.totals = WriteStats()
        self._committing = False
        self.on_room: Callable[[], None] | None = None
        # Stations whose messages the database refused lately -> until when they are
        # committed apart from the rest, so that their next refusal costs a bisection of
        # their few messages, not of everyone's batch.
        self._suspects: dict[str, float] = {}
        self._log = LogLimiter(log)

    # -- intake -----------------------------------------------------------------------------
    @property
    def full(self) -> bool:
        """At or above a bound: take no more until :attr:`on_room` is called."""
        return self._held >= self._max_pending or self._held_bytes >= self._max_pending_bytes

    def _put(self, item: _Item) -> None:
        self._pending.append(item)
        self._held += 1
        self._held_bytes += item.cost
        m = self._metrics
        m.unacked.set(self._held)
        m.held_bytes.set(self._held_bytes)
        if self._held > self._peak_held:
            self._peak_held = self._held
            m.held_messages_peak.set(self._held)
        if self._held_bytes > self._peak_held_bytes:
            self._peak_held_bytes = self._held_bytes
            m.held_bytes_peak.set(self._held_bytes)
        self._has_items.set()
        if self.full:
            self._has_room.clear()

    def accept_nowait(self, readings: Sequence[Reading], on_commit: OnCommit | None = None,
                      origin: Origin | None = None) -> None:
        """Queue without waiting: for transports that stop reading while :attr:`full`.
        ``origin`` is kept so that readings the database refuses are dead-lettered as the
        bytes that carried them."""
        cost = READING_COST * len(readings) + (len(origin.payload) if origin else 0)
        self._put(_Item(readings, None, on_commit, origin, cost))

    def reject_nowait(self, transport: str, topic: str, payload: bytes, rejection: Rejection,
                      on_commit: OnCommit | None = None) -> None:
        self._metrics.rejected.labels(rejection.reason).inc()
        self._log.log(logging.INFO, rejection.reason, "rejected %s message on %s: %s: %s",
                      transport, safe_text(repr(topic), 200), rejection.reason,
                      rejection.detail)
        dead = DeadLetter.of(transport, topic, payload, rejection)
        self._put(_Item((), dead, on_commit, cost=len(payload) + len(dead.detail)))

    async def accept(self, readings: Sequence[Reading], on_commit: OnCommit | None = None,
                     origin: Origin | None = None) -> None:
        """Queue readings; waits while the queue is full (backpressure)."""
        await self._has_room.wait()
        self.accept_nowait(readings, on_commit, origin)

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
        batch: list[_Item] = []
        size = 0
        pending = self._pending
        while pending and len(batch) < self._batch_max and (
                not batch or size + pending[0].cost <= self._batch_max_bytes):
            item = pending.popleft()
            size += item.cost
            batch.append(item)
        return batch

    def _is_suspect(self, item: _Item) -> bool:
        return bool(item.readings) and item.readings[0].station_id in self._suspects

    async def _connection(self) -> AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await db.connect(self._url, connect_timeout=5)
        return self._conn

    async def _commit(self, batch: list[_Item], isolate: bool
                      ) -> tuple[WriteStats, list[_Refusal]]:
        """One transaction for the batch. Messages of suspect stations are written under a
        savepoint, and with ``isolate`` (the batch failed as a whole) everything is: a
        savepoint that fails is bisected, and a single message that still fails is refused -
        dead-lettered in this same transaction. So a refused message costs a few savepoints,
        never a commit per message."""
        conn = await self._connection()
        now = time.monotonic()
        self._suspects = {sid: t for sid, t in self._suspects.items() if t > now}
        suspect = [item for item in batch if self._is_suspect(item)] if self._suspects else []
        trusted = [item for item in batch if item.readings and not (
            suspect and self._is_suspect(item))]
        refused: list[_Refusal] = []
        async with conn.transaction():
            if isolate:
                stats = await self._write_apart(conn, trusted, refused)
            else:
                stats = await write_readings(conn, [r for item in trusted for r in item.readings],
                                             self._partitions)
            if suspect:
                stats += await self._write_apart(conn, suspect, refused)
            if refused and all(db.is_transient(r.exc) for r in refused) and len(refused) == len(
                    trusted) + len(suspect) and len({r.station for r in refused}) > 1:
                # Everyone's messages fail with a "transient" error: that is the database's
                # trouble, not theirs. Roll back and retry later instead of dead-lettering.
                raise refused[0].exc
            dead = [item.dead for item in batch if item.dead is not None]
            dead += [r.letter for r in refused]
            if dead:
                await store_dead_letters(conn, dead)
        return stats, refused

    async def _write_apart(self, conn: AsyncConnection[Any], items: list[_Item],
                           refused: list[_Refusal]) -> WriteStats:
        """Write ``items`` under a savepoint; if that fails, bisect: about 2·k·log2(n)
        savepoints for k bad messages among n. A single message that still fails is added
        to ``refused``."""
        try:
            async with conn.transaction():
                return await write_readings(
                    conn, [r for item in items for r in item.readings], self._partitions)
        except Exception as exc:
            await self._savepoint_failed(exc)
            failed = exc
        if len(items) == 1:
            item = items[0]
            if db.is_transient(failed):  # one more try alone before blaming this message
                try:
                    async with conn.transaction():
                        return await write_readings(conn, item.readings, self._partitions)
                except Exception as exc:
                    await self._savepoint_failed(exc)
                    failed = exc
            refused.append(_Refusal.of(item, failed))
            return WriteStats()
        mid = len(items) // 2
        stats = await self._write_apart(conn, items[:mid], refused)
        stats += await self._write_apart(conn, items[mid:], refused)
        return stats

    async def _savepoint_failed(self, exc: BaseException) -> None:
        """A write under a savepoint failed and was rolled back to it. A lost connection ends
        the whole transaction (the caller retries later)."""
        self._partitions.forget()  # partitions created under the savepoint are gone
        conn = self._conn
        if conn is None or conn.closed or conn.broken or isinstance(exc, OSError):
            raise exc

    async def _drop_connection(self) -> None:
        self._partitions.forget()
        if self._conn is not None:
            await self._conn.close()
        self._conn = None

    async def _failed(self, exc: BaseException) -> str:
        """Classify a failed commit: ``down`` (no usable connection: retry until it is back),
        ``repeat`` (a transient SQLSTATE from a live server: retried a bounded number of
        times) or ``refused`` (the database refuses this data)."""
        self._partitions.forget()  # partitions created in the rolled-back transaction are gone
        conn = self._conn
        if conn is None or conn.closed or conn.broken or isinstance(exc, OSError):
            self.db_ready = False
            self._metrics.db_up.set(0)
            self._metrics.db_errors.labels("transient").inc()
            await self._drop_connection()
            return "down"
        if db.is_transient(exc):
            self._metrics.db_errors.labels("transient").inc()
            return "repeat"
        self._metrics.db_errors.labels("permanent").inc()
        if not isinstance(exc, psycopg.Error):
            log.error("unexpected error committing a batch", exc_info=exc)
        return "refused"

    async def _commit_with_retry(self, batch: list[_Item], stop: asyncio.Event,
                                 drain_deadline: list[float | None]) -> bool:
        """Commit ``batch``. While the database is down, retry with backoff; an error the
        database itself keeps returning (refused, or a "transient" SQLSTATE that repeats
        ``max_retries`` times) isolates the messages it is about by bisection and
        dead-letters them with its reason. False if given up (stopping)."""
        backoff = 0.1
        repeats = 0
        isolate = False
        while True:
            t0 = time.perf_counter()
            try:
                stats, refused = await self._commit(batch, isolate)
            except Exception as error:
                kind, exc = await self._failed(error), error
            else:
                self._refused(refused)
                self._finish(batch, stats, time.perf_counter() - t0,
                             not_stored={id(r.item) for r in refused})
                return True
            if kind == "refused" and not isolate:
                log.error("batch of %d refused (%s); isolating by bisection", len(batch),
                          database_reason(exc))
                isolate = True
                continue
            if kind != "down":
                repeats += 1
                if repeats >= self._max_retries and not isolate:
                    log.error("%s repeated %d times for a batch of %d: not transient for"
                              " these messages; isolating by bisection",
                              database_reason(exc), repeats, len(batch))
                    isolate = True
                    continue
            log.warning("database unavailable (%s); retrying in %.1fs",
                        database_reason(exc), backoff)
            if stop.is_set():
                deadline = drain_deadline[0]
                if deadline is None:
                    deadline = drain_deadline[0] = time.monotonic() + 10
                if time.monotonic() > deadline:
                    return False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    def _refused(self, refused: list[_Refusal]) -> None:
        """After the commit that stored them: count, log and remember the refused messages'
        stations (their next messages are written apart for a while)."""
        for r in refused:
            self._metrics.rejected.labels("db_rejected").inc()
            self._metrics.db_refused.labels(r.sqlstate).inc()
            self._log.log(logging.ERROR, r.sqlstate, "dead-lettered %s message on %s (station"
                          " %s): %s", r.letter.transport, safe_text(repr(r.letter.topic), 200),
                          r.station, r.letter.detail)
            if r.station is not None:
                self._suspects[r.station] = time.monotonic() + SUSPECT_SECONDS

    def _finish(self, batch: list[_Item], stats: WriteStats, seconds: float,
                not_stored: set[int] | frozenset[int] = frozenset()) -> None:
        """A batch is committed: metrics, release its room, run its callbacks."""
        self.db_ready = True
        m = self._metrics
        m.db_up.set(1)
        m.batch_messages.observe(len(batch))
        if seconds:
            m.commit_seconds.observe(seconds)
        m.readings_written.inc(stats.inserted)
        m.duplicates.inc(stats.duplicates)
        m.revisions.inc(stats.revised)
        self._held -= len(batch)
        self._held_bytes -= sum(item.cost for item in batch)
        m.unacked.set(self._held)
        m.held_bytes.set(self._held_bytes)
        self.totals += stats
        newest: dict[str, float] = {}
        for item in batch:
            if id(item) in not_stored:
                continue
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
        if not self.full and not self._has_room.is_set():
            self._has_room.set()
            if self.on_room is not None:
                self.on_room()

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
