"""What real networks do to the spine: the database goes away, the consumer goes away."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from envmon import db
from envmon.settings import StorageSettings
from tests.conftest import Broker, free_port, start_mosquitto, stop_mosquitto
from tests.ingest import support as kit
from tests.pgcluster import Cluster, create_cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ids = kit.unique("res")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = create_cluster(free_port())
    try:
        yield c
    finally:
        c.destroy()


def peak_rss_kib(pid: int) -> int:
    """VmHWM: the most resident memory the process ever had (no sampling gaps)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def migrate_plain(url: str) -> None:
    async def migrate() -> None:
        async with await db.connect(url) as conn:
            await db.migrate(conn, StorageSettings(backend="plain"))

    asyncio.run(migrate())


def test_database_outage_backlog_stays_under_the_held_bound_after_recovery(
    cluster: Cluster, mqtt_broker: Broker
) -> None:
    """Issue 13.1: Mosquitto 2.0.11 honours Receive Maximum only until the first PUBACK, then
    pushes the whole backlog. After a database outage that left ~12 000 messages queued on
    the broker, what ingest holds must stay under its own bound - measured through recovery,
    when the flood comes, and not only during the outage."""
    migrate_plain(cluster.url)
    sid, client = kit.station_and_client(cluster.url, ids)
    bound = 1000
    ingest = kit.IngestProcess(cluster.url, mqtt_broker.url, client, extra_env={
        "ENVMON_INGEST__MAX_INFLIGHT_MESSAGES": str(bound),
        "ENVMON_INGEST__MAX_HELD_MESSAGES": str(bound)}).start()
    n = 16_000
    msgs = kit.air_messages(sid, n)
    pub = kit.Publisher(mqtt_broker.host, mqtt_broker.port)

    def paced() -> None:  # ~1000 messages/s for ~16 s, on through the outage
        for i in range(0, n, 100):
            pub.publish(msgs[i:i + 100])
            time.sleep(0.1)

    sender = threading.Thread(target=paced)
    sender.start()
    w = kit.Waiter(cluster.url)
    assert w.until("SELECT count(*) > 0 FROM readings WHERE station_id = %s", True, sid)
    assert ingest.proc is not None
    rss_before = rss_kib(ingest.proc.pid)
    cluster.stop()
    outage_end = time.monotonic() + 12
    while time.monotonic() < outage_end:
        assert ingest.proc.poll() is None, "ingest died while the database was down"
        time.sleep(0.5)
    assert ingest.http("/readyz")[0] == 503
    cluster.start()
    held_after_recovery = 0.0
    deadline = time.monotonic() + 120
    stored = 0
    while stored < 6 * n and time.monotonic() < deadline:
        held_after_recovery = max(held_after_recovery,
                                  ingest.metric("envmon_ingest_unacked_messages"))
        stored = w.scalar("SELECT count(*) FROM readings WHERE station_id = %s", sid)
        time.sleep(0.2)
    sender.join(120)
    pub.close()
    try:
        assert w.until("SELECT count(*) FROM readings WHERE station_id = %s", 6 * n, sid,
                       timeout=60) == 6 * n
        assert ingest.metric("envmon_ingest_db_errors_total") >= 1
        peak_held = ingest.metric("envmon_ingest_held_messages_peak")
        print(f"held after recovery (sampled) {held_after_recovery:.0f}, peak held "
              f"{peak_held:.0f}, bound {bound}; RSS before {rss_before} KiB, peak "
              f"{peak_rss_kib(ingest.proc.pid)} KiB")
        assert held_after_recovery <= bound
        assert 0 < peak_held <= bound
        # The bound was reached (so it is what held the flood back), and reading resumed.
        assert ingest.metric("envmon_ingest_intake_paused_total") >= 1
        growth = peak_rss_kib(ingest.proc.pid) - rss_before
        assert growth < 16 * 1024, f"peak RSS grew {growth} KiB over the outage and recovery"
    finally:
        assert ingest.stop() == 0


def test_persistent_session_keeps_more_than_1000_messages_with_project_config(
    database_url: str, mqtt_broker: Broker
) -> None:
    sid, client = kit.station_and_client(database_url, ids)
    first = kit.IngestProcess(database_url, mqtt_broker.url, client).start()
    assert first.stop() == 0  # session and subscription stay on the broker
    n = 5000
    kit.publish_all(mqtt_broker, kit.air_messages(sid, n))
    second = kit.IngestProcess(database_url, mqtt_broker.url, client).start()
    try:
        w = kit.Waiter(database_url)
        assert w.until("SELECT count(*) FROM readings WHERE station_id = %s",
                       6 * n, sid, timeout=90) == 6 * n
    finally:
        assert second.stop() == 0


def test_debian_default_broker_config_would_drop_beyond_1000() -> None:
    """The control for the test above: the same pattern on Mosquitto's defaults loses data,
    which is why deploy/mosquitto/envmon.conf raises max_queued_messages."""
    broker = start_mosquitto(project_config=False)
    try:
        got: list[int] = []

        def session(seconds: float) -> None:
            sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="control-sub",
                              clean_session=False)
            sub.on_message = lambda c, u, m: got.append(1)
            sub.connect(broker.host, broker.port)
            sub.subscribe("control/#", qos=1)
            sub.loop_start()
            time.sleep(seconds)
            sub.disconnect()
            sub.loop_stop()

        session(0.5)
        kit.publish_all(broker, ((f"control/{i}", b"x") for i in range(5000)))
        session(3)
        assert 0 < len(got) <= 1100  # 1000 queued + those in flight; the rest were dropped
    finally:
        stop_mosquitto(broker)
