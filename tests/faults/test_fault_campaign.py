"""The fault campaign of issue 13, as a suite: ingest under load while the things around it
fail - kill -9, PostgreSQL restarts (fast, immediate), a Mosquitto restart, SIGSTOP/SIGCONT,
SIGTERM - with exact accounting at the end of each:

    every message published and acknowledged by the broker
        = stored exactly once (its readings, no phantom revision) + dead-lettered (the poison)

Run alone with ``pytest -m faults``. Volumes are CI-sized (a few thousand messages per fault;
the outside campaign sent 2.8 M); each fault lasts long enough for backlogs to form.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from envmon import db
from envmon.settings import StorageSettings
from tests.conftest import Broker, free_port, start_mosquitto, stop_mosquitto
from tests.ingest.support import (
    AIR_PARAMS,
    IngestProcess,
    Waiter,
    refuse_station,
    register_air,
    unique,
)
from tests.pgcluster import Cluster, create_cluster

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.slow]
ids = unique("fault")

RATE = 500  # messages/s offered during each scenario
SECONDS = 12
POISON_EVERY = 500  # one message in 500 can never be stored (NUL in a JSON key)
REFUSED_EVERY = 250  # one in 250 for a station whose rows the database refuses (53400)
HELD = 2000  # ingest's bound on held messages: a 6 s pause leaves a bigger backlog


@dataclass
class Rig:
    """A throwaway PostgreSQL cluster and a Mosquitto that can be restarted on its port."""

    cluster: Cluster
    broker: Broker

    def restart_broker(self) -> None:
        stop_mosquitto(self.broker)  # SIGTERM: Mosquitto saves its persistence file
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        proc = subprocess.Popen([exe, "-c", str(self.broker.config)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.broker = Broker(self.broker.host, self.broker.port, proc, self.broker.config)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.broker.host, self.broker.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("mosquitto did not come back")


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    cluster = create_cluster(free_port())
    broker = start_mosquitto()
    try:
        async def migrate() -> None:
            async with await db.connect(cluster.url) as conn:
                await db.migrate(conn, StorageSettings(backend="plain"))

        asyncio.run(migrate())
        r = Rig(cluster, broker)
        yield r
        stop_mosquitto(r.broker)
    finally:
        if broker.process.poll() is None:
            stop_mosquitto(broker)
        cluster.destroy()


def refused_station(station: str) -> str:
    """The scenario's second station, whose readings the database refuses (SQLSTATE 53400)."""
    return f"{station}-r"


def message(station: str, i: int) -> tuple[str, bytes]:
    """Message ``i`` of a scenario: 6 readings at minute ``i``; every POISON_EVERY-th a
    poison whose JSON key holds a NUL; every REFUSED_EVERY-th (offset by half) one for the
    station the database refuses."""
    ts = (datetime(2025, 3, 1, tzinfo=UTC) + timedelta(minutes=i)).isoformat()
    if i % REFUSED_EVERY == REFUSED_EVERY // 2:
        station = refused_station(station)
    topic = f"envmon/v1/{station}/data"
    if i % POISON_EVERY == POISON_EVERY - 1:
        return topic, json.dumps({"ts": ts, "values": {"pm25": 1}, f"x\u0000{i}": 1}).encode()
    values = {p: float(1 + (i + k) % 400) for k, p in enumerate(AIR_PARAMS)}
    values["co"] = 0.5
    return topic, json.dumps({"ts": ts, "interval": "min", "values": values}).encode()


@dataclass
class Load:
    """Publishes ``n`` messages at RATE/s with QoS 1 from a thread, counting the broker's
    PUBACKs. paho keeps unacknowledged messages and sends them again after a reconnect."""

    broker: Broker
    station: str
    n: int = RATE * SECONDS
    acked: set[int] = field(default_factory=set)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2,
                             client_id=f"fault-pub-{os.getpid()}-{self.station}")
        client.max_inflight_messages_set(200)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(1, 2)
        mids: dict[int, int] = {}  # fewer than 65 535 messages: packet ids are not reused
        acked_mids: set[int] = set()

        def on_publish(c: mqtt.Client, u: object, mid: int, rc: object, p: object) -> None:
            acked_mids.add(mid)  # paho's thread; set.add is atomic

        client.on_publish = on_publish
        client.connect(self.broker.host, self.broker.port)
        client.loop_start()

        def run() -> None:
            per_tick = RATE // 10
            for start in range(0, self.n, per_tick):
                for i in range(start, min(start + per_tick, self.n)):
                    topic, payload = message(self.station, i)
                    info = client.publish(topic, payload, qos=1)
                    mids[info.mid] = i
                    if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                        raise RuntimeError(f"publish failed: {info.rc}")  # NO_CONN: queued
                time.sleep(0.1)
            deadline = time.monotonic() + 120
            while len(acked_mids) < self.n and time.monotonic() < deadline:
                time.sleep(0.1)
            client.disconnect()
            client.loop_stop()
            self.acked = {mids[mid] for mid in acked_mids}

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def join(self) -> None:
        assert self._thread is not None
        self._thread.join(180)


def _restart(ingest: IngestProcess) -> IngestProcess:
    """The same consumer (client id, so the same broker session) started again."""
    return IngestProcess(ingest.database_url, ingest.mqtt_url, ingest.client_id,
                         extra_env=ingest.extra_env).start()


def kill_9(rig: Rig, ingest: IngestProcess) -> IngestProcess:
    ingest.kill(signal.SIGKILL)
    time.sleep(2)
    return _restart(ingest)


def sigterm(rig: Rig, ingest: IngestProcess) -> IngestProcess:
    assert ingest.stop() == 0
    time.sleep(2)
    return _restart(ingest)


def sigstop(rig: Rig, ingest: IngestProcess) -> IngestProcess:
    ingest.kill_no_wait(signal.SIGSTOP)
    time.sleep(6)
    ingest.kill_no_wait(signal.SIGCONT)
    return ingest


def postgres_down(mode: str) -> Callable[[Rig, IngestProcess], IngestProcess]:
    def fault(rig: Rig, ingest: IngestProcess) -> IngestProcess:
        rig.cluster.stop(mode)
        time.sleep(6)
        rig.cluster.start()
        return ingest

    fault.__name__ = f"postgres_{mode}_restart"
    return fault


def sigterm_while_postgres_down(rig: Rig, ingest: IngestProcess) -> IngestProcess:
    """The held bound reached (reading paused), then SIGTERM: ingest gives up draining after
    10 s, exits 0 and leaves the rest unacknowledged on the broker."""
    rig.cluster.stop("fast")
    time.sleep(5)
    assert ingest.stop() == 0
    rig.cluster.start()
    return _restart(ingest)


def mosquitto_restart(rig: Rig, ingest: IngestProcess) -> IngestProcess:
    rig.restart_broker()
    return ingest


FAULTS = [kill_9, postgres_down("fast"), postgres_down("immediate"), mosquitto_restart,
          sigstop, sigterm, sigterm_while_postgres_down]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.__name__ for f in FAULTS])
def test_fault_under_load_loses_nothing_stores_nothing_twice(
    rig: Rig, fault: Callable[[Rig, IngestProcess], IngestProcess]
) -> None:
    sid = next(ids)
    register_air(rig.cluster.url, [sid, refused_station(sid)])
    with refuse_station(rig.cluster.url, refused_station(sid), "53400") as why:
        _scenario(rig, fault, sid, why)


def _scenario(rig: Rig, fault: Callable[[Rig, IngestProcess], IngestProcess], sid: str,
              why: str) -> None:
    ingest = IngestProcess(rig.cluster.url, rig.broker.url, next(ids), extra_env={
        "ENVMON_INGEST__MAX_HELD_MESSAGES": str(HELD)}).start()
    w = Waiter(rig.cluster.url)
    load = Load(rig.broker, sid)
    try:
        load.start()
        assert w.until("SELECT count(*) > 600 FROM readings WHERE station_id = %s", True, sid)
        ingest = fault(rig, ingest)
        load.join()
        poison = {i for i in range(load.n) if i % POISON_EVERY == POISON_EVERY - 1}
        refused = {i for i in range(load.n) if i % REFUSED_EVERY == REFUSED_EVERY // 2}
        good = len(load.acked - poison - refused)
        w.until("SELECT count(*) FROM readings WHERE station_id = %s", 6 * good, sid,
                timeout=120)
        w.until("SELECT count(*) FROM dead_letter WHERE station_id IN (%s, %s)",
                len((poison | refused) & load.acked), sid, refused_station(sid))
        assert ingest.proc is not None and ingest.proc.poll() is None, "ingest died"
        assert 0 < ingest.metric("envmon_ingest_held_messages_peak") <= HELD
    finally:
        if ingest.proc is not None and ingest.proc.poll() is None:
            assert ingest.stop() == 0
    assert len(load.acked) == load.n, "the broker did not acknowledge every message"
    _account(rig.cluster.url, sid, load.n, poison, refused, why)


def _account(url: str, sid: str, n: int, poison: set[int], refused: set[int],
             why: str) -> None:
    """Exact accounting: the stored minutes are exactly the good messages, six readings each,
    with their published values; no revision (nothing stored twice with another value); the
    dead letters are exactly the poison and the refused messages, with their bytes."""
    w = Waiter(url)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT ts, count(*), sum(value) FROM readings WHERE station_id = %s GROUP BY ts",
            (sid,)).fetchall()
        dead = conn.execute("SELECT payload, reason, topic FROM dead_letter"
                            " WHERE station_id = %s", (sid,)).fetchall()
        refusals = conn.execute("SELECT payload, reason, detail FROM dead_letter"
                                " WHERE station_id = %s", (refused_station(sid),)).fetchall()
    t0 = datetime(2025, 3, 1, tzinfo=UTC)
    stored = {int((ts - t0).total_seconds() // 60): (count, total) for ts, count, total in rows}
    expected = {}
    for i in set(range(n)) - poison - refused:
        values = json.loads(message(sid, i)[1])["values"]
        expected[i] = (6, pytest.approx(sum(values.values())))
    assert stored.keys() == expected.keys(), (
        f"missing {sorted(expected.keys() - stored.keys())[:10]}, "
        f"unexpected {sorted(stored.keys() - expected.keys())[:10]}")
    assert all(stored[i] == expected[i] for i in expected)
    assert w.scalar("SELECT count(*) FROM reading_revisions WHERE station_id = %s", sid) == 0
    assert {bytes(p) for p, _, _ in dead} == {message(sid, i)[1] for i in poison}
    assert {(reason, topic) for _, reason, topic in dead} == {
        ("schema", f"envmon/v1/{sid}/data")}
    # Redeliveries of a dead letter (a crash or broker restart between its commit and its
    # PUBACK, a publisher's resend) count as repeats of one row (migration 0024).
    assert len(dead) == len(poison)
    assert {bytes(p) for p, _, _ in refusals} == {message(sid, i)[1] for i in refused}
    assert {(reason, detail) for _, reason, detail in refusals} == {
        ("db_rejected", f"SQLSTATE 53400: {why}")}
    assert len(refusals) == len(refused)
    assert w.scalar("SELECT count(*) FROM readings WHERE station_id = %s",
                    refused_station(sid)) == 0

