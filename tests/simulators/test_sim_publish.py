"""The MQTT publisher (MQTT 3.1.1 subset), load mode and the demo against the real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from envmon.beijing_time import BEIJING
from envmon.settings import MqttTarget, Settings
from envmon.stations import StationRegistry
from ingest.mqtt_wire import publish_packet, varint
from ingest.router import Router
from simulators import demo
from simulators.load import load_stations, run_load
from simulators.publish import Publisher, PublishError
from tests.conftest import Broker, free_port


@pytest.mark.parametrize(("n", "encoded"), [  # OASIS MQTT 3.1.1 §2.2.3, Table 2.4
    (0, "00"), (127, "7f"), (128, "8001"), (16_383, "ff7f"), (16_384, "808001"),
    (2_097_151, "ffff7f"), (2_097_152, "80808001"), (268_435_455, "ffffff7f"),
])
def test_remaining_length_encoding(n: int, encoded: str) -> None:
    assert varint(n).hex() == encoded


def test_publish_packet_layout() -> None:
    """§3.3: type 3, QoS 1 (0x32), remaining length, topic, packet id, payload."""
    assert publish_packet(b"a/b", 10, b"xy") == b"\x32\x09\x00\x03a/b\x00\x0axy"


class Subscriber:
    """Collects every message on ``topic`` (QoS 1)."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self._client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self._client.on_subscribe = lambda *a: self._ready.set()
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        assert self._ready.wait(10), "subscription not confirmed"

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def wait_for(self, n: int, timeout: float = 30) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def target(mqtt_broker: Broker) -> MqttTarget:
    return MqttTarget(host=mqtt_broker.host, port=mqtt_broker.port, tls=False)


@pytest.fixture
def subscriber(mqtt_broker: Broker, request: pytest.FixtureRequest) -> Iterator[Subscriber]:
    sub = Subscriber(mqtt_broker, f"{request.node.name[:20]}/#")
    yield sub
    sub.close()


@pytest.mark.integration
async def test_every_message_arrives_in_order_through_a_small_window(
        target: MqttTarget, subscriber: Subscriber, request: pytest.FixtureRequest) -> None:
    prefix = request.node.name[:20]
    sent = [(f"{prefix}/v1/s{i % 7}/data", f'{{"n":{i}}}'.encode()) for i in range(3000)]
    async with Publisher(target, window=20) as pub:
        for topic, payload in sent:
            await pub.publish(topic, payload)
    assert pub.acked == pub.sent == len(sent)
    assert await asyncio.to_thread(subscriber.wait_for, len(sent)) == sent


@pytest.mark.integration
async def test_unreachable_broker_is_a_clear_error() -> None:
    with pytest.raises(PublishError, match="cannot connect"):
        await Publisher(MqttTarget(host="127.0.0.1", port=free_port(), tls=False)).connect()


@pytest.mark.integration
async def test_load_mode_messages_are_valid_documents_for_distinct_keys(
        target: MqttTarget, subscriber: Subscriber, request: pytest.FixtureRequest) -> None:
    prefix = request.node.name[:20]
    stations = load_stations(50)
    async with Publisher(target, window=1000) as pub:
        result = await run_load(pub, stations, prefix, duration=0.5, rate=2000)
    assert result.messages == pub.acked > 0
    got = await asyncio.to_thread(subscriber.wait_for, result.messages)
    assert len(got) == result.messages
    router = Router(prefix, StationRegistry(stations), 1_048_576)
    keys = [r.key for topic, payload in got for r in router.decode(topic, payload)]
    assert len(keys) == len(set(keys)) == 4 * result.messages


@pytest.mark.integration
async def test_demo_backfills_a_full_day_then_goes_live(
        mqtt_broker: Broker, database_url: str, subscriber: Subscriber,
        request: pytest.FixtureRequest) -> None:
    prefix = request.node.name[:20]
    settings = Settings(mqtt_url=mqtt_broker.url, database_url=database_url,
                        topic_prefix=prefix)
    stop = asyncio.Event()
    task = asyncio.create_task(demo.run(settings, stop))
    deadline = time.monotonic() + 60

    def docs() -> list[dict[str, object]]:
        """The well-formed single documents (the demo injects a few malformed ones)."""
        out = []
        for _, payload in list(subscriber.messages):
            with contextlib.suppress(ValueError):
                doc = json.loads(payload)
                if isinstance(doc, dict):
                    out.append(doc)
        return out

    while not ({"rt", "day"} <= {d["interval"] for d in docs()}):
        assert time.monotonic() < deadline and not task.done(), "demo did not deliver"
        await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(task, 30)
    now = datetime.now(UTC)
    day = [d for d in docs() if d["interval"] == "day"]
    assert {datetime.fromisoformat(str(d["ts"])) for d in day} == {
        (now.astimezone(BEIJING) - timedelta(days=1)).replace(
            hour=0, minute=0, second=0, microsecond=0)}
    assert all(datetime.fromisoformat(str(d["ts"])) <= now for d in docs())
    topics = {t.split("/")[2] for t, _ in subscriber.messages}
    assert len(topics) == 21, "every Pingliang station reports"
