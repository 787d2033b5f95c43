"""The embedded broker: loopback only, persistent sessions kept (ingest relies on them to get
what was published while it reconnected), a busy explicit port is a clear error."""

from __future__ import annotations

import asyncio
import socket
import threading

import paho.mqtt.client as mqtt
import psutil
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from envmon.embedded import broker
from tests.conftest import free_port


def _client(client_id: str, clean: bool, received: list[bytes] | None = None,
            arrived: threading.Event | None = None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
                         protocol=mqtt.MQTTv311)

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        assert received is not None
        received.append(bytes(msg.payload))
        if arrived is not None:
            arrived.set()

    client.on_message = on_message
    return client


def _session_roundtrip(port: int) -> list[bytes]:
    """Subscribe with a persistent session, go away, publish QoS 1, come back (blocking)."""
    received: list[bytes] = []
    consumer = _client("consumer", clean=False, received=received)
    subscribed = threading.Event()
    consumer.on_subscribe = lambda *_: subscribed.set()
    consumer.connect("127.0.0.1", port)
    consumer.loop_start()
    consumer.subscribe("envmon/#", qos=1)
    assert subscribed.wait(5)
    consumer.disconnect()
    consumer.loop_stop()

    publisher = _client("publisher", clean=True)
    publisher.connect("127.0.0.1", port)
    publisher.loop_start()
    publisher.publish("envmon/v1/s1/data", b"while away", qos=1).wait_for_publish(5)
    publisher.disconnect()
    publisher.loop_stop()

    arrived = threading.Event()
    back = _client("consumer", clean=False, received=received, arrived=arrived)
    back.connect("127.0.0.1", port)
    back.loop_start()
    arrived.wait(5)
    back.disconnect()
    back.loop_stop()
    return received


async def test_persistent_session_gets_messages_published_while_away() -> None:
    running = await broker.start(free_port())
    try:
        received = await asyncio.to_thread(_session_roundtrip, running.port)
    finally:
        await running.stop()
    assert received == [b"while away"]


async def test_listens_on_loopback_only() -> None:
    running = await broker.start(None)
    try:
        listening = [c.laddr for c in psutil.Process().net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == running.port]
    finally:
        await running.stop()
    assert [addr.ip for addr in listening] == ["127.0.0.1"]
    assert running.url == f"mqtt://127.0.0.1:{running.port}"


async def test_a_busy_explicit_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(broker.EmbeddedBrokerError, match=f"127.0.0.1:{port}"):
            await broker.start(port)
