"""Issue 13.5 and 13.7: hostile MQTT input must not inflate ingest's memory, and a second
`envmon ingest` on a taken metrics port says so instead of crashing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import Broker
from tests.ingest.support import REPO, IngestProcess, Publisher, Waiter, register_air, unique
from tests.ingest.test_resilience import peak_rss_kib, rss_kib

pytestmark = pytest.mark.integration
ids = unique("hostile")


def hostile_burst(topic: str) -> dict[str, list[bytes]]:
    """What the outside campaign sent, scaled down: 10 MB payloads, nesting bombs (array and
    object), arrays of 10 001 valid-looking documents."""
    doc = json.dumps({"ts": "2025-06-01T00:00:00Z", "values": {"pm25": 1}})
    array = ("[" + ",".join([doc] * 10_001) + "]").encode()
    return {
        "oversize": [b"{" + bytes([65 + i % 26]) * (10 * 1024 * 1024) + b"}" for i in range(20)],
        "malformed_json": [b"[" * 200_000 + b"%d" % i for i in range(100)]
        + [b'{"a":' * 100_000 + b"%d" % i for i in range(100)],
        "schema": [array.replace(b"pm25", b"pm%02d" % (i % 100), 1) for i in range(60)],
    }


def test_hostile_burst_keeps_memory_bounded_and_every_message_dead_lettered(
    database_url: str, mqtt_broker: Broker
) -> None:
    sid = next(ids)
    register_air(database_url, [sid])
    topic = f"envmon/v1/{sid}/data"
    held_bytes = 16 * 1024 * 1024
    ingest = IngestProcess(database_url, mqtt_broker.url, next(ids), extra_env={
        "ENVMON_INGEST__MAX_HELD_BYTES": str(held_bytes)}).start()
    assert ingest.proc is not None
    rss_before = rss_kib(ingest.proc.pid)
    burst = hostile_burst(topic)
    sent = sum(len(v) for v in burst.values())
    total = sum(len(p) for v in burst.values() for p in v)
    try:
        pub = Publisher(mqtt_broker.host, mqtt_broker.port, window=50)
        pub.publish((topic, p) for v in burst.values() for p in v)
        pub.close()
        w = Waiter(database_url)
        assert w.until("SELECT count(*) FROM dead_letter WHERE station_id = %s", sent, sid,
                       timeout=180) == sent
        for reason, payloads in burst.items():
            assert w.scalar("SELECT count(*) FROM dead_letter WHERE station_id = %s"
                            " AND reason = %s", sid, reason) == len(payloads), reason
        # Oversized payloads keep their first bytes (bounded); the rest their exact bytes.
        assert w.scalar("SELECT max(length(payload)) FROM dead_letter WHERE station_id = %s"
                        " AND reason = 'oversize'", sid) == 65_536
        assert w.scalar("SELECT count(*) FROM dead_letter WHERE station_id = %s"
                        " AND payload = %s", sid, burst["schema"][7]) == 1
        peak = peak_rss_kib(ingest.proc.pid) - rss_before
        after = rss_kib(ingest.proc.pid) - rss_before
        print(f"hostile burst of {sent} messages, {total / 2**20:.0f} MiB: peak RSS +{peak} KiB,"
              f" after +{after} KiB; held bytes peak "
              f"{ingest.metric('envmon_ingest_held_bytes_peak') / 2**20:.1f} MiB")
        assert ingest.metric("envmon_ingest_held_bytes_peak") <= held_bytes + 2 * 2**20
        assert peak < 96 * 1024, f"peak RSS grew {peak} KiB for {total / 2**20:.0f} MiB"
        assert ingest.http("/healthz")[0] == 200
    finally:
        assert ingest.stop() == 0


def test_second_ingest_on_the_same_metrics_port_says_so(database_url: str,
                                                         mqtt_broker: Broker) -> None:
    first = IngestProcess(database_url, mqtt_broker.url, next(ids)).start()
    try:
        second = subprocess.run(
            [sys.executable, "-m", "app", "ingest"], cwd=REPO, capture_output=True,
            text=True, timeout=60, env={**first.env(), "ENVMON_INGEST__CLIENT_ID": next(ids)})
        assert second.returncode == 1
        assert f"127.0.0.1:{first.port}" in second.stderr
        assert "another envmon ingest running" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.http("/readyz")[0] == 200
    finally:
        assert first.stop() == 0
