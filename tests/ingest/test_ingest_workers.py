"""Horizontal ingest: several `envmon ingest` processes on one MQTT shared subscription
(``ENVMON_INGEST__SHARED_GROUP``), each acknowledging only what it has committed.

Adding a worker mid-stream or killing one with SIGKILL (then restarting it under the same
client id, as a supervisor does) must store every reading exactly once, and the broker must
split the load between the workers.

With Mosquitto a member that stops for good keeps receiving its share into its persistent
session (delivered when the same client id returns): scale down by restarting under the same
ids or draining first (docs/brokers.md).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.conftest import Broker
from tests.ingest import support as kit

pytestmark = pytest.mark.integration
ids = kit.unique("workers")
STATIONS = 4
ROWS = "SELECT count(*) FROM readings WHERE station_id = ANY(%s)"
KEYS = ("SELECT count(DISTINCT (station_id, parameter, ts)) FROM readings"
        " WHERE station_id = ANY(%s)")
RECEIVED = "envmon_ingest_messages_received_total"


def worker(database_url: str, broker: Broker, client_id: str, group: str) -> kit.IngestProcess:
    env = {"ENVMON_INGEST__SHARED_GROUP": group}
    return kit.IngestProcess(database_url, broker.url, client_id, extra_env=env).start()


def interleaved(stations: list[str], per_station: int) -> list[tuple[str, bytes]]:
    streams = [kit.air_messages(sid, per_station) for sid in stations]
    return [m for group in zip(*streams, strict=True) for m in group]


@pytest.fixture
def stations(database_url: str) -> list[str]:
    sids = [next(ids) for _ in range(STATIONS)]
    kit.register_air(database_url, sids)
    return sids


def stop_all(workers: Iterator[kit.IngestProcess]) -> None:
    for w in workers:
        if w.proc and w.proc.poll() is None:
            assert w.stop() == 0


def test_kill_9_of_one_of_two_workers_stores_each_reading_once(
    database_url: str, mqtt_broker: Broker, stations: list[str]
) -> None:
    # A group of its own: a stopped member's persistent session keeps its share of the group's
    # messages on Mosquitto until it comes back (docs/brokers.md), so groups are per test.
    a_id, b_id, group = next(ids), next(ids), next(ids)
    a, b = (worker(database_url, mqtt_broker, a_id, group),
            worker(database_url, mqtt_broker, b_id, group))
    workers = [a, b]
    try:
        n = 5000  # per station: 20 000 messages, 120 000 readings
        pub = kit.Publisher(mqtt_broker.host, mqtt_broker.port)
        sender = threading.Thread(target=pub.publish, args=(interleaved(stations, n),))
        sender.start()
        w = kit.Waiter(database_url)
        kit.eventually(lambda: (w.scalar(ROWS, stations) or 0) >= 6 * n * STATIONS // 4,
                       "a quarter stored")
        b_received = b.metric(RECEIVED)
        assert b_received > 0 and a.metric(RECEIVED) > 0  # the broker splits the load
        b.kill()  # SIGKILL: its uncommitted and unacknowledged messages stay on the broker
        sender.join(180)
        pub.close()
        restarted = worker(database_url, mqtt_broker, b_id, group)  # same id: same session
        workers.append(restarted)
        total = 6 * n * STATIONS
        assert w.until(ROWS, total, stations, timeout=180) == total
        assert w.scalar(KEYS, stations) == total
        assert a.metric(RECEIVED) < n * STATIONS  # a did not take everything
    finally:
        stop_all(iter(workers))


def test_adding_a_worker_mid_stream_takes_a_share_and_loses_nothing(
    database_url: str, mqtt_broker: Broker, stations: list[str]
) -> None:
    group = next(ids)
    a = worker(database_url, mqtt_broker, next(ids), group)
    workers = [a]
    try:
        n = 3000
        messages = interleaved(stations, n)
        half = len(messages) // 2
        pub = kit.Publisher(mqtt_broker.host, mqtt_broker.port)
        sender = threading.Thread(target=pub.publish, args=(messages[:half],))
        sender.start()
        w = kit.Waiter(database_url)
        kit.eventually(lambda: (w.scalar(ROWS, stations) or 0) > 0, "the stream flowing")
        b = worker(database_url, mqtt_broker, next(ids), group)  # joins while the stream flows
        workers.append(b)
        sender.join(180)
        pub.publish(messages[half:])  # published after b subscribed: b gets a share
        pub.close()
        total = 6 * n * STATIONS
        assert w.until(ROWS, total, stations, timeout=180) == total
        assert w.scalar(KEYS, stations) == total
        assert b.metric(RECEIVED) > 0 and a.metric(RECEIVED) + b.metric(RECEIVED) >= n * STATIONS
    finally:
        stop_all(iter(workers))
