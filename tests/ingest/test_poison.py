"""Issue 13.2/13.3: a poison message or a repeating database error costs its own messages, not
the stream. Real PostgreSQL; the repeating error comes from a trigger installed by the test."""

from __future__ import annotations

import asyncio
import functools
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from ingest import pipeline as pipeline_module
from ingest.errors import Rejection
from ingest.metrics import IngestMetrics
from ingest.pipeline import DeadLetter, Origin, Pipeline, store_dead_letters
from ingest.reading import Reading
from ingest.transports import MQTT
from tests.call_count import count_calls
from tests.conftest import Broker
from tests.ingest.support import (
    IngestProcess,
    Publisher,
    Waiter,
    air_messages,
    refuse_station,
    register_air,
    unique,
)

pytestmark = pytest.mark.integration
ids = unique("poison")


def readings(station: str, i: int) -> list[Reading]:
    ts = datetime(2025, 7, 1, tzinfo=UTC) + timedelta(minutes=i)
    return [Reading(station, "pm25", "min", ts, float(i % 500))]


async def test_one_refused_message_is_isolated_by_bisection_not_one_by_one(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One message the database refuses (check_violation 23514, not transient) in a batch
    of 2048: it is found in about 2·log2(2048) writes (savepoints), not 2048 one-message
    transactions, and the other 2047 are committed with it in one transaction."""
    good, bad = next(ids), next(ids)
    register_air(database_url, [good, bad])
    n, poison_at = 2048, 1234
    metrics = IngestMetrics(CollectorRegistry())
    pipeline = Pipeline(database_url, metrics, batch_max_messages=n)
    acked: list[int] = []
    all_acked = asyncio.Event()

    def ack(i: int) -> None:
        acked.append(i)
        if len(acked) == n:
            all_acked.set()

    writes = count_calls(monkeypatch, pipeline_module, "write_readings")
    for i in range(n):
        station = bad if i == poison_at else good
        payload = f"message {i}".encode()
        pipeline.accept_nowait(readings(station, i), functools.partial(ack, i),
                               Origin(MQTT, f"envmon/v1/{station}/data", payload))
    with refuse_station(database_url, bad, "23514") as detail:
        stop = asyncio.Event()
        task = asyncio.create_task(pipeline.run(stop))
        await asyncio.wait_for(all_acked.wait(), 60)
        stop.set()
        await task
    assert sorted(acked) == list(range(n))
    messages, commits = _batches(metrics)
    assert (messages, commits) == (n, 1)
    assert writes.n <= 2 * math.ceil(math.log2(n)) + 2, f"{writes.n} writes to isolate one"
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT reason, detail, payload, topic, station_id FROM dead_letter"
            " WHERE station_id = %s", (bad,))
        rows = await cur.fetchall()
        cur = await conn.execute("SELECT count(*) FROM readings WHERE station_id = %s", (good,))
        stored = await cur.fetchone()
    assert stored == (n - 1,)
    [(reason, why, payload, topic, station)] = rows
    assert (reason, bytes(payload), topic, station) == (
        "db_rejected", f"message {poison_at}".encode(), f"envmon/v1/{bad}/data", bad)
    assert why == f"SQLSTATE 23514: {detail}"


def _batches(metrics: IngestMetrics) -> tuple[float, float]:
    """Messages over all committed batches, and the number of commits."""
    samples = {s.name.rsplit("_", 1)[1]: s.value
               for family in metrics.batch_messages.collect() for s in family.samples}
    return samples["sum"], samples["count"]


def test_nul_key_poison_in_20000_is_dead_lettered_with_its_exact_payload(
    database_url: str, mqtt_broker: Broker
) -> None:
    """The issue's poison: a JSON key with \\u0000 once put a NUL into the rejection detail,
    PostgreSQL refused the dead-letter row, and the poison was kept with an empty payload."""
    sid = next(ids)
    register_air(database_url, [sid])
    ingest = IngestProcess(database_url, mqtt_broker.url, next(ids)).start()
    n = 20_000
    msgs = air_messages(sid, n)
    poison = (b'{"ts":"2024-01-01T00:00:00Z","values":{"pm25":1},"x\\u0000":1,'
              b'"y\\u0000\\n\\u001b[2J":2}')
    topic = f"envmon/v1/{sid}/data"
    msgs.insert(n // 2, (topic, poison))
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    try:
        pub.publish(msgs)
        pub.close()
        w = Waiter(database_url)
        assert w.until("SELECT count(*) FROM readings WHERE station_id = %s", 6 * n, sid,
                       timeout=120) == 6 * n
        assert w.until("SELECT count(*) FROM dead_letter WHERE station_id = %s", 1, sid) == 1
        row = _one(database_url, "SELECT reason, detail, payload, topic FROM dead_letter"
                   " WHERE station_id = %s", sid)
        assert row[0] == "schema" and bytes(row[2]) == poison and row[3] == topic
        assert "x\\x00" in row[1] and "\x00" not in row[1] and "\x1b" not in row[1]
        assert ingest.metric("envmon_ingest_rejected_total", 'reason="schema"') >= 1
        assert ingest.metric("envmon_ingest_db_errors_total") == 0
    finally:
        assert ingest.stop() == 0
    assert ingest.log_path is not None
    assert "\x00" not in ingest.log_path.read_text(errors="replace")


def _one(url: str, query: str, *args: Any) -> tuple[Any, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, args).fetchone()
    assert row is not None
    return tuple(row)


def test_repeating_transient_error_for_one_station_is_dead_lettered_and_the_rest_flows(
    database_url: str, mqtt_broker: Broker
) -> None:
    """SQLSTATE 53400 is class 53 ("insufficient resources": transient), but when it keeps
    coming for the same rows it is about them: after bounded retries they are isolated and
    dead-lettered with the database's reason, and every other station keeps flowing."""
    good, bad = next(ids), next(ids)
    register_air(database_url, [good, bad])
    n, n_bad = 3000, 20
    good_msgs = air_messages(good, n)
    bad_msgs = air_messages(bad, n_bad)
    stream = list(good_msgs)
    for k, msg in enumerate(bad_msgs):
        stream.insert((k + 1) * (n // (n_bad + 1)), msg)
    with refuse_station(database_url, bad, "53400") as message:
        ingest = IngestProcess(database_url, mqtt_broker.url, next(ids)).start()
        _refused_while_the_rest_flows(database_url, mqtt_broker, ingest, stream, message,
                                      good, bad, n, bad_msgs)
    assert ingest.log_path is not None
    log = ingest.log_path.read_text()
    assert f"SQLSTATE 53400: {message}" in log and "isolating by bisection" in log


def _refused_while_the_rest_flows(database_url: str, mqtt_broker: Broker,
                                  ingest: IngestProcess, stream: list[tuple[str, bytes]],
                                  message: str, good: str, bad: str, n: int,
                                  bad_msgs: list[tuple[str, bytes]]) -> None:
    n_bad = len(bad_msgs)
    try:
        pub = Publisher(mqtt_broker.host, mqtt_broker.port)
        pub.publish(stream)
        pub.close()
        w = Waiter(database_url)
        assert w.until("SELECT count(*) FROM readings WHERE station_id = %s", 6 * n, good,
                       timeout=120) == 6 * n
        assert w.until("SELECT count(*) FROM dead_letter WHERE station_id = %s", n_bad,
                       bad) == n_bad
        with psycopg.connect(database_url) as conn:
            rows = conn.execute("SELECT reason, detail, payload, topic FROM dead_letter"
                                " WHERE station_id = %s", (bad,)).fetchall()
        assert {(r[0], r[1], r[3]) for r in rows} == {
            ("db_rejected", f"SQLSTATE 53400: {message}", f"envmon/v1/{bad}/data")}
        assert sorted(bytes(r[2]) for r in rows) == sorted(p for _, p in bad_msgs)
        assert ingest.metric("envmon_ingest_db_refused_total", 'sqlstate="53400"') == n_bad
        assert w.scalar("SELECT count(*) FROM readings WHERE station_id = %s", bad) == 0
    finally:
        assert ingest.stop() == 0


async def test_a_redelivered_dead_letter_is_stored_once_with_its_repeats(
    db_conn: psycopg.AsyncConnection[Any],
) -> None:
    """A crash between a dead letter's commit and its acknowledgement makes the broker
    deliver it again: the same bytes, topic and reason count as a repeat (migration 0024);
    a different payload, or the same one after a replay, is a new row."""
    sid = next(ids)
    topic = f"envmon/v1/{sid}/data"
    rej = Rejection("schema", "x\x00: Extra inputs are not permitted", sid)
    same = DeadLetter.of(MQTT, topic, b'{"x\\u0000":1}', rej)
    other = DeadLetter.of(MQTT, topic, b'{"x\\u0000":2}', rej)
    async with db_conn.transaction():
        await store_dead_letters(db_conn, [same, other, same])
    async with db_conn.transaction():
        await store_dead_letters(db_conn, [same])
    query = ("SELECT payload, repeats, last_received_at IS NOT NULL FROM dead_letter"
             " WHERE station_id = %s ORDER BY dead_letter_id")
    cur = await db_conn.execute(query, (sid,))
    assert [(bytes(p), n, seen) for p, n, seen in await cur.fetchall()] == [
        (same.payload, 3, True), (other.payload, 1, False)]
    await db_conn.execute("UPDATE dead_letter SET replayed_at = now() WHERE station_id = %s",
                          (sid,))
    async with db_conn.transaction():
        await store_dead_letters(db_conn, [same])
    cur = await db_conn.execute(query, (sid,))
    assert [n for _, n, _ in await cur.fetchall()] == [3, 1, 1]
    await db_conn.commit()
