"""MQTT intake with acknowledge-after-commit, in the event loop.

Why our own small client (ingest/mqtt_wire.py) and not a library: aiomqtt acknowledges QoS 1
messages on arrival, so a crash between arrival and the database commit would lose them. paho
2 with ``manual_ack=True`` can acknowledge late, and was our first consumer, but profiling it
(bench/ingest_throughput.py) showed more than half of the process in paho's network thread
(MQTT 5 property objects, a Condition per acknowledgement, GIL hand-offs), capping ingest at
about a third of a bare paho loop. A consumer needs five packet types (CONNECT, SUBSCRIBE,
PUBLISH, PUBACK, PING), so we speak them directly on an asyncio transport: PUBACK is written
only after the batch holding the message is committed, many PUBACKs go out in one write, and
no thread is involved. Tested against the real Mosquitto (tests/ingest/).

Flow control: we announce ``max_inflight_messages`` (MQTT 5 Receive Maximum;
``max_inflight_messages`` in the broker config for MQTT 3.1.1), but Mosquitto 2.0.11 honours it
only until the first PUBACK and then pushes its whole backlog. So the bound is ours: when the
pipeline holds ``max_held_messages`` or ``max_held_bytes``, the consumer stops reading its
socket (TCP flow control stops the broker, which keeps the rest in our persistent session)
and resumes when a commit makes room. A PUBLISH larger than the payload limit is never
buffered whole (:class:`~ingest.mqtt_wire.PacketReader` keeps its first bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from typing import Any

from envmon.settings import Settings
from envmon.stations import STATION_ID_RE
from ingest import mqtt_wire as wire
from ingest.errors import Rejection
from ingest.metrics import IngestMetrics
from ingest.pipeline import Origin, Pipeline
from ingest.router import Router
from ingest.transports import MQTT

log = logging.getLogger(__name__)
KEEPALIVE = 30


class _Session(asyncio.Protocol):
    """One connection: parses packets, hands PUBLISHes on, batches PUBACKs."""

    def __init__(self, consumer: MqttConsumer, epoch: int) -> None:
        self.consumer = consumer
        self.epoch = epoch
        self.reader = wire.PacketReader(keep=consumer.max_packet_kept)
        self.transport: asyncio.Transport | None = None
        self.connack: asyncio.Future[wire.ConnAck] = asyncio.get_running_loop().create_future()
        self.suback: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._acks = bytearray()
        self._flush_scheduled = False
        self.last_seen = asyncio.get_running_loop().time()
        self.paused = False

    def pause(self) -> None:
        """Stop reading: the kernel buffer fills and TCP stops the broker's sending."""
        if not self.paused and self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()
            self.paused = True

    def resume(self) -> None:
        if not self.paused:
            return
        self.paused = False
        self.last_seen = asyncio.get_running_loop().time()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
            asyncio.get_running_loop().call_soon(self._drain)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.last_seen = asyncio.get_running_loop().time()
        self.reader.push(data)
        self._drain()

    def _drain(self) -> None:
        """Handle buffered packets until none is complete or we are paused (the rest waits
        here, as raw bytes, for :meth:`resume`)."""
        try:
            version = self.consumer.version
            while not self.paused:
                packet = self.reader.pop()
                if packet is None:
                    return
                first, body, size = packet
                kind = first & 0xF0
                if kind == wire.PUBLISH:
                    msg = wire.parse_publish(first, body, version)
                    self.consumer.on_publish(self, msg, size - len(body) + len(msg.payload))
                elif kind == wire.CONNACK and not self.connack.done():
                    self.connack.set_result(wire.parse_connack(body))
                elif kind == wire.SUBACK and not self.suback.done():
                    self.suback.set_result(wire.parse_suback(body, version))
                elif kind == wire.DISCONNECT:
                    log.warning("broker sent DISCONNECT (reason %s)", body[:1].hex() or "0")
        except (wire.ProtocolError, IndexError) as exc:
            log.error("protocol error from broker: %s; reconnecting", exc)
            if self.transport is not None:
                self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        for fut in (self.connack, self.suback):
            if not fut.done():
                fut.set_exception(ConnectionError(f"connection lost: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def ack(self, packet_id: int) -> None:
        """Queue a PUBACK; all queued in one loop iteration leave in one write."""
        self._acks += wire.puback_packet(packet_id)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._acks and self.transport is not None and not self.transport.is_closing():
            self.transport.write(bytes(self._acks))
        self._acks.clear()

    def send(self, packet: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(packet)


class MqttConsumer:
    """Subscribes to the station topics and feeds the pipeline; run with :meth:`run`."""

    def __init__(self, settings: Settings, router: Router, pipeline: Pipeline,
                 metrics: IngestMetrics) -> None:
        target = settings.mqtt_target()
        if target is None:
            raise ValueError("no MQTT broker configured (ENVMON_MQTT_URL)")
        self._target = target
        self._settings = settings
        self._router = router
        self._pipeline = pipeline
        self._metrics = metrics
        self._received = metrics.messages_received.labels(MQTT)
        self.version = 5 if settings.mqtt_protocol == "5" else 4
        self._epoch = 0
        self._session: _Session | None = None
        self._closing = False
        self.connected = asyncio.Event()  # set while connected and subscribed
        # A PUBLISH body beyond this is cut (topic up to 64 KiB and properties fit before it).
        self.max_packet_kept = router.max_payload_bytes + 128 * 1024
        self._keep_oversize = settings.ingest.oversize_keep_bytes
        pipeline.on_room = self._resume

    # -- per message --------------------------------------------------------------------------
    def on_publish(self, session: _Session, msg: wire.Publish, size: int) -> None:
        """One PUBLISH; ``size`` is its payload's length on the wire (``msg.payload`` holds
        only the first bytes of an oversized one)."""
        if self._closing:
            return  # not acknowledged: the broker delivers it again to the next session
        self._received.inc()
        ack = self._acker(session, msg.packet_id) if msg.qos else None
        router, pipeline = self._router, self._pipeline
        payload = msg.payload
        try:
            if size > router.max_payload_bytes:
                raise Rejection("oversize", f"payload of {size} bytes exceeds "
                                f"{router.max_payload_bytes} (first {self._keep_oversize} bytes"
                                " kept)", _station_in(msg.topic))
            readings = router.decode(msg.topic, payload)
        except Rejection as rej:
            pipeline.reject_nowait(MQTT, msg.topic, payload[: self._keep_oversize]
                                   if rej.reason == "oversize" else payload, rej, ack)
        else:
            # Parts of a payload the decoder could not store (e.g. HJ 212 unknown codes) are
            # kept too, committed no later than the readings the acknowledgement covers.
            for raw, note in getattr(readings, "dead_letters", ()):
                pipeline.reject_nowait(MQTT, msg.topic, raw, note)
            pipeline.accept_nowait(readings, ack, Origin(MQTT, msg.topic, payload))
        if pipeline.full and not session.paused:
            session.pause()
            self._metrics.intake_paused.inc()

    def _resume(self) -> None:
        """The pipeline has room again: read on."""
        if self._session is not None:
            self._session.resume()

    @property
    def subscribed(self) -> bool:
        return self.connected.is_set()

    def _acker(self, session: _Session, packet_id: int) -> Callable[[], None]:
        def ack() -> None:
            # A message from an earlier connection is redelivered by the broker anyway; its
            # packet id may now belong to another, uncommitted message, so never ack it.
            if session is self._session:
                session.ack(packet_id)

        return ack

    # -- connection lifecycle -----------------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self._target.tls:
            return None
        s = self._settings
        ctx = ssl.create_default_context(cafile=str(s.mqtt_ca_file) if s.mqtt_ca_file else None)
        if s.mqtt_cert_file:
            ctx.load_cert_chain(str(s.mqtt_cert_file),
                                str(s.mqtt_key_file) if s.mqtt_key_file else None)
        return ctx

    async def _connect(self) -> _Session:
        loop = asyncio.get_running_loop()
        s, t = self._settings, self._target
        self._epoch += 1
        epoch = self._epoch
        _, session = await asyncio.wait_for(loop.create_connection(
            lambda: _Session(self, epoch), t.host, t.port, ssl=self._ssl_context()), 10)
        session.send(wire.connect_packet(
            s.ingest.client_id, version=self.version, clean=False, keepalive=KEEPALIVE,
            username=t.username, password=t.password,
            session_expiry=s.ingest.session_expiry_seconds if self.version == 5 else None,
            receive_maximum=s.ingest.max_inflight_messages if self.version == 5 else None))
        connack = await asyncio.wait_for(session.connack, 10)
        if connack.code != 0:
            if session.transport is not None:
                session.transport.close()
            raise ConnectionRefusedError(f"broker refused the connection (code {connack.code})")
        self._session = session
        topics = self._router.subscriptions(s.ingest.shared_group)
        session.send(wire.subscribe_packet(1, topics, version=self.version))
        granted = await asyncio.wait_for(session.suback, 10)
        if any(code >= 0x80 for code in granted):
            raise ConnectionRefusedError(f"subscription refused: {granted}")
        log.info("connected to mqtt%s://%s:%d as %s (session present: %s), subscribed %s",
                 "s" if t.tls else "", t.host, t.port, s.ingest.client_id,
                 connack.session_present, topics)
        return session

    async def _keepalive(self, session: _Session) -> None:
        loop = asyncio.get_running_loop()
        while not session.closed.done():
            await asyncio.sleep(KEEPALIVE / 2)
            # While paused we read nothing, PINGRESPs included: silence is ours, not the broker's.
            if not session.paused and loop.time() - session.last_seen > KEEPALIVE * 1.5:
                log.warning("broker silent for %.0f s; reconnecting", KEEPALIVE * 1.5)
                if session.transport is not None:
                    session.transport.abort()
                return
            session.send(wire.PINGREQ_PACKET)

    async def run(self, stop: asyncio.Event) -> None:
        """Connect (and reconnect with backoff) until ``stop``; then let the pipeline drain,
        send the last acknowledgements, and disconnect keeping the persistent session."""
        backoff = 0.2
        stop_wait = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                try:
                    session = await self._connect()
                except (OSError, TimeoutError, ConnectionError) as exc:
                    log.warning("cannot connect to broker: %s; retrying in %.1fs", exc, backoff)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(stop_wait), backoff)
                    backoff = min(backoff * 2, 10)
                    continue
                backoff = 0.2
                self.connected.set()
                self._metrics.mqtt_connected.set(1)
                pinger = asyncio.create_task(self._keepalive(session))
                waiters: list[asyncio.Future[Any]] = [stop_wait, session.closed]
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                pinger.cancel()
                self.connected.clear()
                self._metrics.mqtt_connected.set(0)
                if not stop.is_set():
                    log.warning("connection to broker lost; reconnecting")
            self._closing = True
            await self._wait_drained()
            session_ = self._session
            if session_ is not None and not session_.closed.done():
                await self._disconnect(session_)
        finally:
            stop_wait.cancel()

    @staticmethod
    async def _disconnect(session: _Session) -> None:
        """Last PUBACKs, DISCONNECT, then a half-close while still reading until the broker
        closes. Closing outright with unread messages in our receive buffer makes the kernel
        send a reset, and the broker may then drop PUBACKs it has not read yet (seen in
        tests: "disconnected: Broken pipe" and the last acknowledged batch delivered again)."""
        session.resume()  # read (and drop: we are closing) what a pause left unread
        session._flush()
        session.send(wire.DISCONNECT_PACKET)
        transport = session.transport
        if transport is None:
            return
        if transport.can_write_eof():
            transport.write_eof()
        try:
            await asyncio.wait_for(asyncio.shield(session.closed), 5)
        except TimeoutError:
            transport.abort()

    async def _wait_drained(self) -> None:
        """Give the pipeline up to 15 s to commit (and so acknowledge) what it holds,
        including the batch it may be committing right now."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15.0
        while not self._pipeline.idle and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await asyncio.sleep(0)  # run the scheduled PUBACK flush


def _station_in(topic: str) -> str | None:
    """The station id of a ``…/v1/<id>/<format>`` topic, when it looks like one."""
    levels = topic.split("/")
    if len(levels) >= 2 and STATION_ID_RE.match(levels[-2]):
        return levels[-2]
    return None
