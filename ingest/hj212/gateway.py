"""TCP gateway for HJ 212 data loggers (数采仪 → 上位机 over TCP/IP; HJ 212-2017 §5, §6.5).

Many loggers keep a connection open and upload packets; each connection is framed on
``##…\\r\\n`` (:mod:`ingest.hj212.framing`), each packet goes through the one decode sequence
(:func:`ingest.hj212.intake.take_packet`, station by MN) and into the same pipeline as MQTT.
When a packet's Flag asks for an answer the gateway writes CN 9014 with the packet's QN, and only
after the batch holding its readings is committed: a logger that gets no answer resends, and
resends are idempotent.

The gateway faces the internet, so every resource a sender can make it spend is budgeted
(:mod:`ingest.hj212.limits`; numbers and effects in docs/hj212.md): connections (below the
descriptor limit; when full, the oldest connection that never sent a good packet makes room),
time (first packet, one packet, idle), bytes and packets per connection and in total (read
slower: TCP backpressure), garbage per connection (closed), dead-letter rows and log lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from prometheus_client import CollectorRegistry

from envmon.metrics import Metrics
from envmon.settings import GatewaySettings
from ingest.errors import Rejection
from ingest.hj212.decode import StationLookup, UnitOverrides
from ingest.hj212.encode import encode_ack_9014
from ingest.hj212.framing import Frame, Framer
from ingest.hj212.intake import expire_forever, take_packet
from ingest.hj212.limits import (
    Budget,
    DeadLetterLimiter,
    LogLimiter,
    anonymous,
    connection_cap,
)
from ingest.hj212.packet import Packet
from ingest.hj212.reassembly import Reassembler
from ingest.metrics import IngestMetrics
from ingest.pipeline import Origin
from ingest.reading import Reading
from ingest.transports import HJ212_TCP

__all__ = ["Gateway", "GatewayMetrics", "PipelineLike"]

log = logging.getLogger(__name__)

READ_BYTES = 16_384  # per read; the stream buffer pauses the socket at twice this
# Per read before a connection's first good packet (a full packet is <= 1036 bytes): what a
# connection owes the shared budget while it waits is one read, so with small reads a logger
# waits behind a flood of N connections for about N x 2 KiB / total_bytes_per_second.
FIRST_READ_BYTES = 2048
BACKLOG = 64  # listen backlog: also how many sockets asyncio accepts in one go


class PipelineLike(Protocol):
    """The part of :class:`ingest.pipeline.Pipeline` the gateway uses."""

    async def accept(self, readings: Sequence[Reading],
                     on_commit: Callable[[], None] | None = None,
                     origin: Origin | None = None) -> None: ...

    async def reject(self, transport: str, topic: str, payload: bytes, rejection: Rejection,
                     on_commit: Callable[[], None] | None = None) -> None: ...


class GatewayMetrics(Metrics):
    """Gateway-only metrics; packets received (transport ``hj212-tcp``), readings and
    rejections by reason are counted in :class:`~ingest.metrics.IngestMetrics`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.connections = self.gauge("envmon_hj212_connections", "Open logger connections")
        self.connections_refused = self.counter(
            "envmon_hj212_connections_refused_total",
            "Connections refused: the cap was reached and every open connection had sent a good"
            " packet")
        self.answers = self.counter(
            "envmon_hj212_answers_total", "CN 9014 data answers written after commit")
        self.closed = self.counter(
            "envmon_hj212_connections_closed_total",
            "Connections the gateway closed, by cause (idle, first_packet, packet_timeout,"
            " garbage, evicted)", ["cause"])
        self.received_bytes = self.counter(
            "envmon_hj212_received_bytes_total", "Bytes read from logger connections")
        self.suppressed = self.counter(
            "envmon_hj212_dead_letters_suppressed_total",
            "Anonymous rejections over the dead-letter rate limit (summed into hj212_flood rows)",
            ["reason"])


@dataclass(eq=False, slots=True)
class _Connection:
    writer: asyncio.StreamWriter
    topic: str
    opened: float
    task: asyncio.Task[None] | None
    last_good: float | None = None  # when the last packet that passed the MN/PW check came
    partial_since: float | None = None  # when the packet now being received started
    garbage: int = 0  # bytes read since the last good packet

    def deadline(self, s: GatewaySettings) -> tuple[float, str]:
        """When this connection is closed if nothing good happens, and why."""
        if self.last_good is None:
            when, cause = self.opened + s.first_packet_timeout_seconds, "first_packet"
        else:
            when, cause = self.last_good + s.idle_timeout_seconds, "idle"
        if self.partial_since is not None:
            packet_end = self.partial_since + s.packet_timeout_seconds
            if packet_end < when:
                return packet_end, "packet_timeout"
        return when, cause


class Gateway:
    """The asyncio TCP server; :meth:`start`, then :meth:`close`."""

    def __init__(
        self,
        settings: GatewaySettings,
        registry: StationLookup,
        pipeline: PipelineLike,
        metrics: GatewayMetrics,
        ingest_metrics: IngestMetrics,
        units: UnitOverrides = MappingProxyType({}),
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.units = units  # replaced when the overrides table is reloaded
        self._pipeline = pipeline
        self._metrics = metrics
        self._received = ingest_metrics.messages_received.labels(HJ212_TCP)
        self._reassembler = Reassembler(settings.reassembly_timeout_seconds)
        self._server: asyncio.Server | None = None
        self._conns: dict[asyncio.StreamWriter, _Connection] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._packets = Budget(settings.total_packets_per_second, settings.total_packets_per_second)
        self._bytes = Budget(settings.total_bytes_per_second, settings.total_bytes_per_second)
        self._dead_letters = DeadLetterLimiter(settings.dead_letters_per_second,
                                               settings.dead_letter_burst,
                                               settings.max_packet_bytes)
        self._log = LogLimiter(log)
        self.max_connections = connection_cap(settings.max_connections, BACKLOG)
        self.port = settings.port

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        if self.max_connections < self.settings.max_connections:
            log.warning("HJ 212 gateway: at most %d connections (max_connections %d is above "
                        "the descriptor limit; raise LimitNOFILE)", self.max_connections,
                        self.settings.max_connections)
        self._server = await asyncio.start_server(self._handle, self.settings.host,
                                                  self.settings.port, limit=READ_BYTES,
                                                  backlog=BACKLOG)
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._tasks = [
            asyncio.create_task(expire_forever(self._reassembler, self.registry, self._reject),
                                name="hj212-reassembly-expiry"),
            asyncio.create_task(self._summaries(), name="hj212-flood-summary"),
        ]
        log.info("HJ 212 gateway listening on %s:%d", self.settings.host, self.port)
        return self.port

    async def close(self) -> None:
        """Stop listening and close every connection; unanswered packets are resent by loggers.
        Suppressed garbage counted so far is written as its summary row."""
        if self._server is not None:
            self._server.close()
        handlers = [c.task for c in self._conns.values() if c.task is not None]
        for conn in list(self._conns.values()):
            self._drop(conn)
            conn.writer.transport.abort()
        if handlers:  # let them end on their own: a cancelled one is logged as an error (3.11)
            await asyncio.wait(handlers, timeout=10)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._write_summary()
        if self._server is not None:
            await self._server.wait_closed()

    # -- one connection ---------------------------------------------------------------------
    def _admit(self, conn: _Connection) -> bool:
        """Room for ``conn``: under the cap, or by evicting the oldest connection that has not
        sent a good packet (idle attackers cannot lock loggers out); else refuse it."""
        if len(self._conns) >= self.max_connections:
            victim = next((c for c in self._conns.values() if c.last_good is None), None)
            if victim is None:
                self._metrics.connections_refused.inc()
                self._log.log("refused", logging.WARNING,
                              "HJ 212 gateway full (%d connections of loggers): refused %s",
                              len(self._conns), conn.topic)
                return False
            self._drop(victim)
            self._metrics.closed.labels("evicted").inc()
            victim.writer.transport.abort()
        self._conns[conn.writer] = conn
        self._metrics.connections.set(len(self._conns))
        return True

    def _drop(self, conn: _Connection) -> None:
        self._conns.pop(conn.writer, None)
        self._metrics.connections.set(len(self._conns))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        topic = f"tcp://{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "tcp://?"
        loop = asyncio.get_running_loop()
        conn = _Connection(writer, topic, loop.time(), asyncio.current_task())
        if not self._admit(conn):
            writer.transport.abort()
            return
        s = self.settings
        framer = Framer(s.max_packet_bytes)
        packets = Budget(s.max_packets_per_second, s.burst_packets, loop.time)
        byte_budget = Budget(s.max_bytes_per_second, s.burst_bytes, loop.time)
        try:
            while conn.writer in self._conns:
                when, cause = conn.deadline(s)
                try:
                    async with asyncio.timeout_at(when):
                        chunk = await reader.read(READ_BYTES if conn.last_good is not None
                                                  else FIRST_READ_BYTES)
                except TimeoutError:
                    self._metrics.closed.labels(cause).inc()
                    break
                self._metrics.received_bytes.inc(len(chunk))
                await byte_budget.take(len(chunk))
                await self._bytes.take(len(chunk))
                conn.garbage += len(chunk)
                frames = framer.feed(chunk) if chunk else framer.close()
                for frame in frames:
                    await packets.take()
                    await self._packets.take()
                    await self._frame(frame, conn)
                if not chunk:
                    break
                if not framer.partial:
                    conn.partial_since = None
                elif conn.partial_since is None or any(f.error is None for f in frames):
                    conn.partial_since = loop.time()  # a packet ended: the partial one is new
                if conn.garbage > s.max_garbage_bytes:
                    self._metrics.closed.labels("garbage").inc()
                    self._log.log("garbage", logging.INFO, "closed %s: %d bytes without a good "
                                  "packet", topic, conn.garbage)
                    break
        except (ConnectionError, OSError) as exc:
            self._log.log("ended", logging.INFO, "connection %s ended: %s", topic, exc)
        finally:
            for frame in framer.close():  # a packet cut off by the close or a timeout
                await self._frame(frame, conn)
            self._drop(conn)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _frame(self, frame: Frame, conn: _Connection) -> None:
        self._received.inc()
        if frame.error is not None:
            await self._reject(conn.topic, frame.data, frame.error)
            return
        try:
            intake = take_packet(frame.data, self.registry, self._reassembler, self.units)
        except Rejection as rejection:
            if not anonymous(rejection):  # a station's logger (e.g. a CN 2021 status packet)
                self._good_packet(conn)
            await self._reject(conn.topic, frame.data, rejection)
            return
        self._good_packet(conn)
        if not intake.parts:  # waiting for the other parts of a split packet
            return
        for raw, note in intake.dead_letters:  # items not stored, committed before the answer
            await self._pipeline.reject(HJ212_TCP, conn.topic, raw, note)
        wanted = [p for p in intake.parts if p.ack_requested]
        on_commit = self._answer(conn.writer, wanted) if wanted else None
        await self._pipeline.accept(intake.readings, on_commit,
                                    Origin(HJ212_TCP, conn.topic, intake.raw))

    @staticmethod
    def _good_packet(conn: _Connection) -> None:
        """A packet that passed the MN/PW check: the connection is a logger's."""
        conn.last_good = asyncio.get_running_loop().time()
        conn.garbage = 0

    async def _reject(self, topic: str, payload: bytes, rejection: Rejection) -> None:
        """Dead-letter a rejection, within the rate limit for anonymous garbage."""
        if self._dead_letters.admit(topic, payload, rejection):
            await self._pipeline.reject(HJ212_TCP, topic, payload, rejection)
        else:
            self._metrics.suppressed.labels(rejection.reason).inc()

    def _answer(self, writer: asyncio.StreamWriter, parts: list[Packet]) -> Callable[[], None]:
        def answer() -> None:
            if writer.is_closing():
                return  # the logger did not get its answer and will resend
            for part in parts:
                writer.write(encode_ack_9014(part.qn, part.mn, part.pw))
                self._metrics.answers.inc()

        return answer

    async def _summaries(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flood_summary_seconds)
            await self._write_summary()

    async def _write_summary(self) -> None:
        summary = self._dead_letters.summary()
        if summary is not None:
            payload, rejection = summary
            self._log.log("flood", logging.WARNING, "HJ 212 gateway: %s", rejection.detail)
            await self._pipeline.reject(HJ212_TCP, "tcp://*", payload, rejection)
