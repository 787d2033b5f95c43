"""End-to-end ingest throughput: publish → committed rows, against two baselines in the same run.

    python bench/ingest_throughput.py [--messages 60000] [--naive-messages 3000]

(a) bare paho-mqtt 2 receive loop that only counts messages — the ceiling for a Python consumer;
(b) naive consumer: one INSERT transaction per message;
(c) ``envmon ingest`` (subprocess, as deployed).
Each run starts its own Mosquitto (deploy/mosquitto/envmon.conf) and database on this machine;
a separate publisher process sends QoS 1 messages of 6 readings each as fast as it can.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from multiprocessing.synchronize import Event
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envmon import db, storage
from envmon.settings import MqttTarget, StorageSettings
from simulators.publish import Publisher as SimPublisher
from tests.conftest import (
    Broker,
    create_database,
    drop_database,
    start_mosquitto,
    stop_mosquitto,
)
from tests.ingest.support import IngestProcess, register_air

STATIONS = [f"bench-{i:03d}" for i in range(100)]
PARAMS = ("pm25", "pm10", "so2", "no2", "o3", "co")


def messages(n: int, offset_days: int = 0) -> list[tuple[str, bytes]]:
    t0 = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=offset_days)
    out = []
    for i in range(n):
        sid = STATIONS[i % len(STATIONS)]
        ts = (t0 + timedelta(minutes=i // len(STATIONS))).isoformat()
        vals = {p: float(10 + (i * 7 + k) % 90) for k, p in enumerate(PARAMS)}
        vals["co"] = 0.8
        out.append((f"envmon/v1/{sid}/data",
                    json.dumps({"ts": ts, "interval": "min", "values": vals}).encode()))
    return out


@contextmanager
def broker_and_database(stations: Sequence[str], partitions: Sequence[date] = ()
                        ) -> Iterator[tuple[Broker, str]]:
    """Its own Mosquitto and a migrated (plain) database with ``stations`` registered as air
    stations and the readings ``partitions`` created; both gone afterwards."""
    broker = start_mosquitto()
    url = create_database("envmon_bench")
    try:
        async def migrate() -> None:
            async with await db.connect(url) as conn:
                await db.migrate(conn, StorageSettings(backend="plain"))
                if partitions:
                    await storage.ensure_partitions(conn, list(partitions))
                    await conn.commit()

        asyncio.run(migrate())
        register_air(url, stations)
        yield broker, url
    finally:
        stop_mosquitto(broker)
        drop_database(url)


def publish(host: str, port: int, msgs: list[tuple[str, bytes]], started: Event) -> None:
    """The load generator of simulators/ (asyncio QoS 1, bounded window): run it in its own
    process; ``started`` is set once connected."""

    async def go() -> None:
        async with SimPublisher(MqttTarget.parse(f"mqtt://{host}:{port}"), window=5000) as pub:
            started.set()
            for topic, payload in msgs:
                await pub.publish(topic, payload)
            await pub.flush()

    asyncio.run(go())


def _publish(host: str, port: int, n: int, offset_days: int, started: Event) -> None:
    publish(host, port, messages(n, offset_days), started)


def wait_for_rows(count: Callable[[], int], target: int, t0: float) -> float:
    """Poll ``count`` until it reaches ``target`` (10 min at most); seconds since ``t0``
    (``time.perf_counter``), i.e. publish start to the last row committed."""
    deadline = time.monotonic() + 600
    while count() < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {count()} of {target} rows after 600 s")
        time.sleep(0.02)
    return time.perf_counter() - t0


def publish_and_wait(host: str, port: int, n: int, offset_days: int,
                     count: Callable[[], int]) -> float:
    """Readings/s: ``n`` messages published from another process until ``count`` sees all
    their readings (publish start -> last row committed)."""
    proc, t0 = publish_in_process(host, port, n, offset_days)
    target = n * len(PARAMS)
    elapsed = wait_for_rows(count, target, t0)
    proc.join()
    return target / elapsed


def publish_in_process(host: str, port: int, n: int, offset_days: int) -> tuple[mp.Process,
                                                                                float]:
    started = mp.Event()
    p = mp.Process(target=_publish, args=(host, port, n, offset_days, started))
    p.start()
    started.wait()
    return p, time.perf_counter()


def bare_loop(host: str, port: int, n: int) -> float:
    """Messages/s of a paho loop that only counts (auto-ack)."""
    got = 0
    done = threading.Event()
    first: list[float] = []

    def on_message(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        nonlocal got
        if not first:
            first.append(time.perf_counter())
        got += 1
        if got == n:
            done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare",
                    protocol=mqtt.MQTTv5)
    c.on_message = on_message
    c.connect(host, port)
    c.subscribe("envmon/v1/+/data", qos=1)
    c.loop_start()
    time.sleep(0.5)
    proc, t0 = publish_in_process(host, port, n, 0)
    done.wait(600)
    elapsed = time.perf_counter() - t0
    proc.join()
    c.disconnect()
    c.loop_stop()
    return got / elapsed


def naive(host: str, port: int, url: str, n: int) -> float:
    """Readings/s of a consumer that INSERTs each message in its own transaction."""
    conn = psycopg.connect(url, autocommit=False)
    got = 0
    done = threading.Event()
    lock = threading.Lock()

    def on_message(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        nonlocal got
        doc = json.loads(m.payload)
        sid = m.topic.split("/")[2]
        with lock, conn.transaction():
            for p, v in doc["values"].items():
                conn.execute(
                    "INSERT INTO readings (station_id, parameter, interval, ts, value, source)"
                    " VALUES (%s, %s, %s, %s, %s, 'json') ON CONFLICT DO NOTHING",
                    (sid, p, doc["interval"], doc["ts"], v))
        got += 1
        if got == n:
            done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-naive")
    c.on_message = on_message
    c.connect(host, port)
    c.subscribe("envmon/v1/+/data", qos=1)
    c.loop_start()
    time.sleep(0.5)
    proc, t0 = publish_in_process(host, port, n, -366)
    done.wait(600)
    elapsed = time.perf_counter() - t0
    proc.join()
    c.disconnect()
    c.loop_stop()
    conn.close()
    return got * len(PARAMS) / elapsed


def envmon_ingest(broker_url: str, host: str, port: int, url: str, n: int) -> float:
    """Readings/s through ``envmon ingest`` (publish start → last row committed)."""
    ingest = IngestProcess(url, broker_url, "bench-envmon").start()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            def count() -> int:
                row = conn.execute("SELECT count(*) FROM readings WHERE ts < %s",
                                   (datetime(2024, 1, 1, tzinfo=UTC),)).fetchone()
                return int(row[0]) if row else 0

            return publish_and_wait(host, port, n, -731, count)  # 2023: its own partitions
    finally:
        ingest.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=60_000)
    ap.add_argument("--naive-messages", type=int, default=3_000)
    args = ap.parse_args()
    # the naive consumer cannot create partitions: give it those it will need
    with broker_and_database(STATIONS, [date(2025, 1, 1), date(2024, 1, 1)]) as (broker, url):
        bare = bare_loop(broker.host, broker.port, args.messages)
        print(f"bare paho loop     : {bare:10.0f} msg/s  ({bare * 6:10.0f} readings/s equiv.)")
        slow = naive(broker.host, broker.port, url, args.naive_messages)
        print(f"naive INSERT/msg   : {slow / 6:10.0f} msg/s  ({slow:10.0f} readings/s)")
        ours = envmon_ingest(broker.url, broker.host, broker.port, url, args.messages)
        print(f"envmon ingest      : {ours / 6:10.0f} msg/s  ({ours:10.0f} readings/s)")
        print(f"ratio envmon / bare loop (messages) : {ours / 6 / bare:5.2f}  (target >= 0.5)")
        print(f"ratio envmon / naive (readings)     : {ours / slow:5.1f}  (target >= 10)")


if __name__ == "__main__":
    main()
