"""End to end against the real Mosquitto (project config) and PostgreSQL: `envmon ingest` as
an operator runs it, messages published at QoS 1, rows counted in the database."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.conftest import Broker
from tests.ingest import support as kit
from tests.layouts import compress_database

pytestmark = [pytest.mark.integration, pytest.mark.layouts]  # layouts: tests/layouts.py
ids = kit.unique("e2e")


@pytest.fixture
def ingest(database_url: str, mqtt_broker: Broker) -> Iterator[kit.IngestProcess]:
    proc = kit.IngestProcess(database_url, mqtt_broker.url, next(ids)).start()
    yield proc
    if proc.proc and proc.proc.poll() is None:
        proc.stop()


@pytest.fixture
def sid(database_url: str, ingest: kit.IngestProcess) -> str:
    """A new air station that the running ``ingest`` has loaded."""
    station = next(ids)
    kit.register_air(database_url, [station])
    kit.wait_registered(ingest, database_url)
    return station


ROWS = "SELECT count(*) FROM readings WHERE station_id = %s"


def test_n_readings_give_n_rows(database_url: str, mqtt_broker: Broker,
                                ingest: kit.IngestProcess, sid: str) -> None:
    kit.publish_all(mqtt_broker, kit.air_messages(sid, 2000))
    w = kit.Waiter(database_url)
    assert w.until(ROWS, 12_000, sid) == 12_000
    assert ingest.metric("envmon_ingest_readings_written_total") >= 12_000
    assert ingest.metric("envmon_ingest_last_reading_timestamp_seconds", sid) > 0


def test_same_batch_twice_counts_duplicates(database_url: str, mqtt_broker: Broker,
                                            ingest: kit.IngestProcess, sid: str) -> None:
    msgs = kit.air_messages(sid, 500)
    pub = kit.Publisher(mqtt_broker.host, mqtt_broker.port)
    pub.publish(msgs)
    w = kit.Waiter(database_url)
    assert w.until(ROWS, 3000, sid) == 3000
    before = ingest.metric("envmon_ingest_duplicates_total")
    pub.publish(msgs)
    pub.close()
    kit.eventually(lambda: ingest.metric("envmon_ingest_duplicates_total") >= before + 3000,
                   "duplicates counted")
    assert ingest.metric("envmon_ingest_duplicates_total") == before + 3000
    assert w.scalar(ROWS, sid) == 3000
    assert w.scalar("SELECT count(*) FROM reading_revisions WHERE station_id = %s", sid) == 0


def test_kill_9_mid_stream_then_restart_stores_each_reading_once(
    database_url: str, mqtt_broker: Broker
) -> None:
    sid, client = kit.station_and_client(database_url, ids)
    first = kit.IngestProcess(database_url, mqtt_broker.url, client).start()
    n = 20_000
    msgs = kit.air_messages(sid, n)
    pub = kit.Publisher(mqtt_broker.host, mqtt_broker.port)
    sender = threading.Thread(target=pub.publish, args=(msgs,))
    sender.start()
    w = kit.Waiter(database_url)
    kit.eventually(lambda: (w.scalar(ROWS, sid) or 0) >= 6 * n // 4, "a quarter stored")
    first.kill()  # SIGKILL: no drain, no clean disconnect
    at_kill = w.scalar(ROWS, sid)
    assert 0 < at_kill < 6 * n
    sender.join(120)
    pub.close()
    second = kit.IngestProcess(database_url, mqtt_broker.url, client).start()
    try:
        assert w.until(ROWS, 6 * n, sid, timeout=120) == 6 * n
        # what was committed before the kill but not acknowledged comes again: duplicates
        time.sleep(1)
        assert w.scalar(ROWS, sid) == 6 * n
        assert w.scalar("SELECT count(DISTINCT (parameter, ts)) FROM readings"
                        " WHERE station_id = %s", sid) == 6 * n
    finally:
        assert second.stop() == 0


def test_hostile_payloads_are_dead_lettered_with_reasons(
    database_url: str, mqtt_broker: Broker, ingest: kit.IngestProcess, sid: str
) -> None:
    good = json.dumps({"ts": "2025-06-01T00:00:00Z", "values": {"pm25": 1}}).encode()
    cases = {
        "invalid_utf8": (f"envmon/v1/{sid}/data", b'{"ts": "\xff\xfe"}'),
        "oversize": (f"envmon/v1/{sid}/data", b"{" + b" " * (10 * 1024 * 1024) + b"}"),
        "non_finite_value": (f"envmon/v1/{sid}/data",
                             b'{"ts":"2025-06-01T00:00:00Z","values":{"pm25":NaN}}'),
        "malformed_json": (f"envmon/v1/{sid}/data", b"[" * 50_000),
        "invalid_station_id": ("envmon/v1/x';DROP TABLE readings;--/data", good),
        "unknown_station": (f"envmon/v1/{sid}-nobody/data", good),
        "schema": (f"envmon/v1/{sid}/data", b'{"ts": 1}'),
    }
    kit.publish_all(mqtt_broker, cases.values())
    w = kit.Waiter(database_url)
    for reason, (topic, _payload) in cases.items():
        got = w.until("SELECT count(*) FROM dead_letter WHERE topic = %s AND reason = %s",
                      1, topic, reason)
        assert got == 1, f"{reason}: not dead-lettered"
        assert ingest.metric("envmon_ingest_rejected_total", f'reason="{reason}"') >= 1
    kept = w.scalar("SELECT length(payload) FROM dead_letter WHERE reason = 'oversize'"
                    " AND topic = %s", f"envmon/v1/{sid}/data")
    assert 0 < kept <= 1_048_576
    assert w.scalar("SELECT to_regclass('readings') IS NOT NULL")
    assert ingest.proc is not None and ingest.proc.poll() is None
    assert ingest.http("/healthz")[0] == 200


def test_dead_letter_replay_after_registering(database_url: str, mqtt_broker: Broker,
                                              ingest: kit.IngestProcess) -> None:
    import subprocess
    import sys

    sid = next(ids)
    kit.publish_all(mqtt_broker, kit.air_messages(sid, 10))
    w = kit.Waiter(database_url)
    assert w.until("SELECT count(*) FROM dead_letter WHERE station_id = %s"
                   " AND reason = 'unknown_station'", 10, sid) == 10
    kit.register_air(database_url, [sid])
    env = {"ENVMON_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "app", "dead-letter", "replay",
                          "--station", sid], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert "replayed 10, still rejected 0" in out
    assert w.scalar(ROWS, sid) == 60
    assert w.scalar("SELECT count(*) FROM dead_letter WHERE station_id = %s"
                    " AND replayed_at IS NULL", sid) == 0


def test_hj212_packets_over_mqtt_through_envmon_ingest(
    database_url: str, mqtt_broker: Broker, ingest: kit.IngestProcess
) -> None:
    from datetime import datetime

    from ingest.hj212 import encode_data_packet
    from ingest.hj212.encode import encode_frame

    sid = next(ids)
    mn = f"MN{sid.replace('-', '')}"
    import psycopg

    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO stations (station_id, kind, name, mn) VALUES (%s, 'air', %s, %s)",
                     (sid, sid, mn))
        conn.execute("NOTIFY envmon_stations")
    kit.wait_registered(ingest, database_url)
    packets = [
        encode_data_packet(mn, "123456", "2061", "22", datetime(2026, 3, 1, h),
                           {"a34004": 35 + h, "a34002": 60 + h, "a21005": 0.6})
        for h in range(6)
    ]
    seven = encode_data_packet(mn, "123456", "2061", "22", datetime(2026, 3, 1, 7),
                               {"a34004": 40}).decode()
    segment = seven[6:-6].replace("&&", ";x99999-Avg=1.0,x99999-Flag=N&&", 2)
    segment = segment.replace("CP=;x99999-Avg=1.0,x99999-Flag=N&&", "CP=&&")
    unknown = encode_frame(segment)
    wrong_mn = encode_data_packet("SOMEONE-ELSE", "123456", "2061", "22",
                                  datetime(2026, 3, 1, 8), {"a34004": 40})
    topic = f"envmon/v1/{sid}/hj212"
    pub = kit.Publisher(mqtt_broker.host, mqtt_broker.port)
    pub.publish([(topic, p) for p in [*packets, unknown, wrong_mn]])
    pub.publish([(topic, p) for p in packets])  # a logger resending: duplicates
    pub.close()
    w = kit.Waiter(database_url)
    assert w.until(ROWS, 19, sid) == 19  # 6 packets x 3 + the known value of `unknown`
    assert w.until("SELECT count(*) FROM dead_letter WHERE station_id = %s"
                   " AND reason = 'hj212_unknown_code'", 1, sid) == 1
    assert w.until("SELECT count(*) FROM dead_letter WHERE topic = %s"
                   " AND reason <> 'hj212_unknown_code'", 1, topic) == 1
    assert w.scalar("SELECT value FROM readings WHERE station_id = %s AND parameter = 'pm25'"
                    " AND ts = '2026-02-28T16:00:00Z'", sid) == 35  # 00:00 Beijing, hour start
    kit.eventually(lambda: ingest.metric("envmon_ingest_duplicates_total") >= 18,
                   "the resent packets counted as duplicates")


def test_sigterm_mid_stream_commits_then_acks(database_url: str, mqtt_broker: Broker) -> None:
    """A clean stop acknowledges exactly what it committed: after a restart nothing is lost
    and nothing is delivered twice (a kill -9, by contrast, yields duplicates)."""
    sid, client = kit.station_and_client(database_url, ids)
    first = kit.IngestProcess(database_url, mqtt_broker.url, client).start()
    n = 20_000
    messages = kit.air_messages(sid, n)
    stopping = threading.Event()

    def paced() -> Iterator[tuple[str, bytes]]:
        # the last quarter waits for the SIGTERM, so it arrives while the process stops
        # however fast the first three quarters were stored
        for i, message in enumerate(messages):
            if i == 3 * n // 4:
                stopping.wait(120)
            yield message

    pub = kit.Publisher(mqtt_broker.host, mqtt_broker.port)
    sender = threading.Thread(target=pub.publish, args=(paced(),))
    sender.start()
    w = kit.Waiter(database_url)
    kit.eventually(lambda: (w.scalar(ROWS, sid) or 0) >= 6 * n // 4, "a quarter stored")
    stopping.set()
    assert first.stop() == 0  # SIGTERM while messages keep arriving
    assert 0 < w.scalar(ROWS, sid) < 6 * n
    sender.join(120)
    pub.close()
    second = kit.IngestProcess(database_url, mqtt_broker.url, client).start()
    try:
        assert w.until(ROWS, 6 * n, sid, timeout=120) == 6 * n
        assert second.metric("envmon_ingest_duplicates_total") == 0
    finally:
        assert second.stop() == 0


def test_corrected_resend_into_compressed_history_keeps_the_stream_flowing(
    database_url: str, db_layout: str, mqtt_broker: Broker, ingest: kit.IngestProcess
) -> None:
    """A logger resends a day of corrected minute history that is already compressed while
    another station streams live: the revisions are stored, the live stream is stored in
    full, and a third station's compressed history in the same chunk stays compressed."""
    resender, neighbour, live = next(ids), next(ids), next(ids)
    kit.register_air(database_url, [resender, neighbour, live])
    kit.wait_registered(ingest, database_url)
    start = datetime(2024, 5, 1, tzinfo=UTC)
    pub = kit.Publisher(mqtt_broker.host, mqtt_broker.port)
    pub.publish(kit.air_messages(resender, 1440, start) + kit.air_messages(neighbour, 1440, start))
    w = kit.Waiter(database_url)
    for sid in (resender, neighbour):
        assert w.until(ROWS, 6 * 1440, sid) == 6 * 1440
    compressed = compress_database(database_url)
    assert compressed >= 1 if db_layout == "timescale" else compressed == 0

    corrected = []
    for i, (topic, payload) in enumerate(kit.air_messages(resender, 1440, start)):
        if i % 10 == 0:
            doc = json.loads(payload)
            doc["values"]["pm25"] += 1
            payload = json.dumps(doc).encode()
        corrected.append((topic, payload))
    streaming = threading.Thread(target=pub.publish, args=(
        kit.air_messages(live, 600, datetime.now(UTC).replace(second=0, microsecond=0)
                         - timedelta(hours=12)),))
    streaming.start()
    pub.publish(corrected)
    streaming.join(60)
    pub.close()
    assert w.until(ROWS, 6 * 600, live) == 6 * 600
    revisions = "SELECT count(*) FROM reading_revisions WHERE station_id = %s"
    assert w.until(revisions, 144, resender) == 144
    assert w.scalar("SELECT count(*) FROM reading_revisions WHERE station_id = %s"
                    " AND new_value = old_value + 1 AND parameter = 'pm25'", resender) == 144
    assert w.scalar(ROWS, resender) == 6 * 1440
    if db_layout == "timescale":
        with psycopg.connect(database_url) as conn:
            conn.execute("SET timescaledb.enable_columnarscan = off")
            row = conn.execute(ROWS, (neighbour,)).fetchone()
        assert row == (0,)  # still compressed: the resend did not decompress its chunk
