"""TCP gateway for HJ 212 data loggers (数采仪 → 上位机 over TCP/IP; HJ 212-2017 §5, §6.5).

Many loggers keep a connection open and upload packets; each connection is framed on
``##…\\r\\n`` (:mod:`ingest.hj212.framing`), identified per packet by MN and PW, and fed to the
same pipeline as MQTT. When a packet's Flag asks for an answer the gateway writes CN 9014 with
the packet's QN, and only after the batch holding its readings is committed: a logger that
gets no answer resends, and resends are idempotent.

Limits per connection: packet size (framer), idle timeout, a token-bucket packet rate (the
gateway stops reading, so TCP flow control slows the logger; nothing is dropped), and a
maximum number of connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from envmon.settings import Settings
from ingest.errors import Rejection
from ingest.hj212.decode import (
    NO_UNITS,
    StationLookup,
    UnitOverrides,
    check_station,
    decode_data,
    station_for_mn,
)
from ingest.hj212.encode import encode_ack_9014
from ingest.hj212.framing import Frame, Framer
from ingest.hj212.options import GatewaySettings
from ingest.hj212.packet import Packet, parse_packet
from ingest.hj212.reassembly import Reassembler, incomplete, merge
from ingest.metrics import IngestMetrics
from ingest.reading import Reading

__all__ = ["TRANSPORT", "Gateway", "GatewayMetrics", "GatewaySettings", "PipelineLike", "run"]

log = logging.getLogger(__name__)

TRANSPORT = "hj212-tcp"


class PipelineLike(Protocol):
    """The part of :class:`ingest.pipeline.Pipeline` the gateway uses."""

    async def accept(self, readings: Sequence[Reading],
                     on_commit: Callable[[], None] | None = None) -> None: ...

    async def reject(self, transport: str, topic: str, payload: bytes, rejection: Rejection,
                     on_commit: Callable[[], None] | None = None) -> None: ...


class GatewayMetrics:
    """Gateway-only metrics; packets received (transport ``hj212-tcp``), readings and
    rejections by reason are counted in :class:`~ingest.metrics.IngestMetrics`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = registry if registry is not None else REGISTRY
        self.connections = Gauge("envmon_hj212_connections", "Open logger connections",
                                 registry=reg)
        self.connections_refused = Counter(
            "envmon_hj212_connections_refused_total", "Connections over max_connections",
            registry=reg)
        self.answers = Counter("envmon_hj212_answers_total",
                               "CN 9014 data answers written after commit", registry=reg)
        self.idle_closed = Counter("envmon_hj212_idle_closed_total",
                                   "Connections closed after the idle timeout", registry=reg)


class _TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self._rate, self._burst = rate, float(burst)
        self._tokens = float(burst)
        self._last = asyncio.get_running_loop().time()

    async def take(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1:
            await asyncio.sleep((1 - self._tokens) / self._rate)
            self._tokens = 1.0
            self._last = loop.time()
        self._tokens -= 1


class Gateway:
    """The asyncio TCP server; :meth:`start`, then :meth:`close` (or use :meth:`run`)."""

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
        self._received = ingest_metrics.messages_received.labels(TRANSPORT)
        self._reassembler = Reassembler(settings.reassembly_timeout_seconds)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._expiry: asyncio.Task[None] | None = None
        self.port = settings.port

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(self._handle, self.settings.host,
                                                  self.settings.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._expiry = asyncio.create_task(self._expire_loop(), name="hj212-reassembly-expiry")
        log.info("HJ 212 gateway listening on %s:%d", self.settings.host, self.port)
        return self.port

    async def close(self) -> None:
        """Stop listening and close every connection; unanswered packets are resent by loggers."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
        if self._server is not None:
            await self._server.wait_closed()

    async def run(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.close()

    # -- one connection ---------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        topic = f"tcp://{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "tcp://?"
        if len(self._writers) >= self.settings.max_connections:
            self._metrics.connections_refused.inc()
            writer.close()
            return
        self._writers.add(writer)
        self._metrics.connections.inc()
        framer = Framer(self.settings.max_packet_bytes)
        bucket = _TokenBucket(self.settings.max_packets_per_second, self.settings.burst_packets)
        try:
            while True:
                try:
                    async with asyncio.timeout(self.settings.idle_timeout_seconds):
                        chunk = await reader.read(65536)
                except TimeoutError:
                    self._metrics.idle_closed.inc()
                    break
                frames = framer.feed(chunk) if chunk else framer.close()
                for frame in frames:
                    await bucket.take()
                    await self._frame(frame, writer, topic)
                if not chunk:
                    break
        except (ConnectionError, OSError) as exc:
            log.info("connection %s ended: %s", topic, exc)
        finally:
            self._writers.discard(writer)
            self._metrics.connections.dec()
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _frame(self, frame: Frame, writer: asyncio.StreamWriter, topic: str) -> None:
        self._received.inc()
        if frame.error is not None:
            await self._pipeline.reject(TRANSPORT, topic, frame.data, frame.error)
            return
        payload = frame.data
        try:
            packet = parse_packet(payload)
            station = station_for_mn(packet, self.registry)
            check_station(packet, station, self.registry)
            parts = self._reassembler.add(packet)
            if parts is None:  # waiting for the other parts of a split packet
                return
            merged = merge(parts)
            payload = merged.raw
            decoded = decode_data(merged, station, self.units.get(station.station_id, NO_UNITS))
        except Rejection as rejection:
            await self._pipeline.reject(TRANSPORT, topic, payload, rejection)
            return
        unknown = decoded.unknown_rejection(station.station_id)
        if unknown is not None:  # stored readings plus a dead-letter record of what was not
            await self._pipeline.reject(TRANSPORT, topic, payload, unknown)
        wanted = [p for p in parts if p.ack_requested]
        on_commit = self._answer(writer, wanted) if wanted else None
        await self._pipeline.accept(decoded.readings, on_commit)

    def _answer(self, writer: asyncio.StreamWriter, parts: list[Packet]) -> Callable[[], None]:
        def answer() -> None:
            if writer.is_closing():
                return  # the logger did not get its answer and will resend
            for part in parts:
                writer.write(encode_ack_9014(part.qn, part.mn, part.pw))
                self._metrics.answers.inc()

        return answer

    async def _expire_loop(self) -> None:
        """Dead-letter the parts of split packets that never completed."""
        period = min(10.0, self.settings.reassembly_timeout_seconds / 2)
        while True:
            await asyncio.sleep(period)
            for part in self._reassembler.expired():
                station = self.registry.by_mn(part.mn)
                rejection = incomplete(part, self._reassembler.timeout_seconds,
                                       station.station_id if station else None)
                await self._pipeline.reject(TRANSPORT, f"mn:{part.mn}", part.raw, rejection)


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Component entry of ``envmon run`` (started when the ``hj212`` section is enabled)."""
    from ingest.hj212.service import gateway_settings, serve

    await serve(settings, gateway_settings(settings), stop, serve_health=False)
