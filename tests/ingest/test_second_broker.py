"""The ingest exactness tests against a second, different MQTT broker: NATS's MQTT support
(MQTT 3.1.1, QoS 1 kept in JetStream), started by the test on its own loopback ports.

Differences from Mosquitto that matter to envmon are in docs/brokers.md.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Broker, free_port
from tests.ingest import support as kit

pytestmark = pytest.mark.integration
ids = kit.unique("nats")
ROWS = "SELECT count(*) FROM readings WHERE station_id = %s"
KEYS = "SELECT count(DISTINCT (parameter, ts)) FROM readings WHERE station_id = %s"
MQTT_311 = {"ENVMON_MQTT_PROTOCOL": "3.1.1"}  # NATS speaks MQTT 3.1.1 only


@pytest.fixture(scope="module")
def nats_broker() -> Iterator[Broker]:
    """nats-server with JetStream (required by its MQTT support) and an MQTT listener;
    ack_wait 5 s (default 30 s): how long an unacknowledged message waits to be redelivered."""
    exe = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not Path(exe).exists():
        pytest.exit("nats-server is not installed (apt-get install nats-server)", returncode=3)
    workdir = Path(tempfile.mkdtemp(prefix="envmon-nats-"))
    port = free_port()
    conf = workdir / "nats.conf"
    conf.write_text(
        f"server_name: envmon_test\nlisten: 127.0.0.1:{free_port()}\n"
        f'jetstream {{ store_dir: "{workdir}/js" }}\n'
        f"mqtt {{ listen: 127.0.0.1:{port}\n  max_ack_pending: 10000\n  ack_wait: \"5s\" }}\n")
    log = (workdir / "nats.log").open("wb")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=log)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.exit(f"nats-server did not start: {(workdir / 'nats.log').read_text()}",
                            returncode=3)
            time.sleep(0.05)
    yield Broker("127.0.0.1", port, proc, conf)
    proc.terminate()
    proc.wait(15)
    log.close()
    shutil.rmtree(workdir, ignore_errors=True)


def ingest(database_url: str, broker: Broker, client_id: str) -> kit.IngestProcess:
    return kit.IngestProcess(database_url, broker.url, client_id, extra_env=MQTT_311).start()


def test_n_readings_give_n_rows_via_nats(database_url: str, nats_broker: Broker) -> None:
    sid = next(ids)
    kit.register_air(database_url, [sid])
    proc = ingest(database_url, nats_broker, next(ids))
    try:
        kit.publish_all(nats_broker, kit.air_messages(sid, 3000))
        assert kit.Waiter(database_url).until(ROWS, 18_000, sid) == 18_000
        assert proc.metric("envmon_ingest_readings_written_total") == 18_000
    finally:
        assert proc.stop() == 0


def test_kill_9_mid_stream_then_restart_is_exact_via_nats(
    database_url: str, nats_broker: Broker
) -> None:
    sid, client = kit.station_and_client(database_url, ids)
    first = ingest(database_url, nats_broker, client)
    n = 10_000
    pub = kit.Publisher(nats_broker.host, nats_broker.port)
    sender = threading.Thread(target=pub.publish, args=(kit.air_messages(sid, n),))
    sender.start()
    w = kit.Waiter(database_url)
    kit.eventually(lambda: (w.scalar(ROWS, sid) or 0) >= 6 * n // 4, "a quarter stored")
    first.kill()
    assert 0 < w.scalar(ROWS, sid) < 6 * n
    sender.join(180)
    pub.close()
    second = ingest(database_url, nats_broker, client)  # same session: JetStream redelivers
    try:
        assert w.until(ROWS, 6 * n, sid, timeout=180) == 6 * n
        assert w.scalar(KEYS, sid) == 6 * n
    finally:
        assert second.stop() == 0
