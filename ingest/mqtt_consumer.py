"""MQTT intake with acknowledge-after-commit.

Why paho-mqtt 2 and not aiomqtt: aiomqtt acknowledges QoS 1 messages on arrival, so a crash
between arrival and the database commit loses them; paho 2 with ``manual_ack=True`` lets us
send PUBACK only after the batch holding the message is committed. paho's network loop runs
in its own thread; messages cross to the event loop through a deque with one wake-up per
burst, and acknowledgements go back through ``Client.ack`` (thread-safe).

Flow control: the broker never has more than ``max_inflight_messages`` unacknowledged
messages in flight to us (MQTT 5 Receive Maximum; ``max_inflight_messages`` in the broker
config for MQTT 3.1.1), so memory stays bounded while the database is slow or down and the
broker keeps the rest in our persistent session.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from envmon.settings import Settings
from ingest.errors import Rejection
from ingest.metrics import IngestMetrics
from ingest.pipeline import Pipeline
from ingest.router import Router

log = logging.getLogger(__name__)


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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: collections.deque[tuple[int, mqtt.MQTTMessage]] = collections.deque()
        self._wake_pending = False
        self._lock = threading.Lock()
        self._epoch = 0
        self._closing = False
        self.connected = asyncio.Event()
        self.subscribed = False
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        s = self._settings
        v5 = s.mqtt_protocol == "5"
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=s.ingest.client_id,
            clean_session=None if v5 else False,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            manual_ack=True,
        )
        if self._target.username is not None:
            client.username_pw_set(self._target.username, self._target.password)
        if self._target.tls:
            client.tls_set(
                ca_certs=str(s.mqtt_ca_file) if s.mqtt_ca_file else None,
                certfile=str(s.mqtt_cert_file) if s.mqtt_cert_file else None,
                keyfile=str(s.mqtt_key_file) if s.mqtt_key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(1, 10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    # -- paho thread ---------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.error("broker refused connection: %s", reason)
            return
        with self._lock:
            self._epoch += 1
        log.info("connected to mqtt%s://%s:%d (session present: %s)",
                 "s" if self._target.tls else "", self._target.host, self._target.port,
                 flags.session_present)
        topics = self._router.subscriptions(self._settings.ingest.shared_group)
        client.subscribe([(t, 1) for t in topics])
        self._metrics.mqtt_connected.set(1)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any,
                      properties: Any) -> None:
        failed = [r for r in reasons if r.is_failure]
        if failed:
            log.error("subscription refused: %s", failed)
            return
        self.subscribed = True
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.connected.set)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self._metrics.mqtt_connected.set(0)
        self.subscribed = False
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.connected.clear)
        log.warning("disconnected from broker: %s", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self._closing:
            return  # not acknowledged: the broker delivers it again to the next session
        self._inbox.append((self._epoch, msg))
        with self._lock:
            if self._wake_pending or self._loop is None:
                return
            self._wake_pending = True
        self._loop.call_soon_threadsafe(self._drain)

    # -- event loop -----------------------------------------------------------------------
    def _drain(self) -> None:
        with self._lock:
            self._wake_pending = False
        inbox, router, pipeline = self._inbox, self._router, self._pipeline
        received = self._metrics.messages_received.labels("mqtt")
        while inbox:
            epoch, msg = inbox.popleft()
            received.inc()
            ack = self._acker(epoch, msg.mid, msg.qos)
            payload = bytes(msg.payload)
            try:
                readings = router.decode(msg.topic, payload)
            except Rejection as rej:
                if rej.reason == "oversize":
                    payload = payload[: router.max_payload_bytes]
                    rej.detail += " (first bytes kept)"
                pipeline.reject_nowait("mqtt", msg.topic, payload, rej, ack)
                continue
            # Parts of a payload the decoder could not store (e.g. HJ 212 unknown codes) are
            # kept too, committed no later than the readings the acknowledgement covers.
            for raw, note in getattr(readings, "dead_letters", ()):
                pipeline.reject_nowait("mqtt", msg.topic, raw, note)
            pipeline.accept_nowait(readings, ack)

    def _acker(self, epoch: int, mid: int, qos: int) -> Any:
        client = self._client

        def ack() -> None:
            # A message from an earlier connection is redelivered by the broker anyway; its
            # packet id may now belong to another, uncommitted message, so never ack it.
            if qos and epoch == self._epoch:
                client.ack(mid, qos)

        return ack

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, consume until ``stop``, then disconnect keeping the persistent session."""
        self._loop = asyncio.get_running_loop()
        s = self._settings
        props = None
        if s.mqtt_protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = s.ingest.session_expiry_seconds
            props.ReceiveMaximum = s.ingest.max_inflight_messages
        if props is not None:
            self._client.connect_async(self._target.host, self._target.port, keepalive=30,
                                       clean_start=False, properties=props)
        else:
            self._client.connect_async(self._target.host, self._target.port, keepalive=30)
        self._client.loop_start()
        try:
            await stop.wait()
        finally:
            # Stop taking messages; the pipeline drains what it has, then we disconnect.
            self._closing = True
            await self._wait_drained()
            self._client.disconnect()
            await asyncio.to_thread(self._client.loop_stop)
            self._metrics.mqtt_connected.set(0)

    async def _wait_drained(self) -> None:
        """Give the pipeline up to 15 s to commit (and so acknowledge) what it holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15.0
        while self._pipeline.pending and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)  # let the last acknowledgements reach the socket
