"""HJ 212 over TCP: simulated loggers (one connection per station) against the real gateway,
pipeline and PostgreSQL. Accepted packets are answered with CN 9014, broken ones are not."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from envmon.beijing_time import BEIJING
from envmon.settings import GatewaySettings
from envmon.stations import StationRegistry, parse_station_file, upsert_stations
from ingest.errors import Rejection
from ingest.hj212 import Intake, Reassembler, take_packet
from ingest.hj212.gateway import Gateway, GatewayMetrics
from ingest.metrics import IngestMetrics
from ingest.pipeline import Pipeline
from simulators.faults import FaultRates
from simulators.play import play
from simulators.stream import Run, Scenario
from simulators.tcp import Hj212TcpSink, answer_key
from tests.conftest import free_port

pytestmark = pytest.mark.integration
STATIONS = parse_station_file(Path(__file__).parents[2] / "simulators" / "pingliang.toml")
FAULTS = FaultRates(duplicate=0.05, bad_crc=0.05, out_of_range=0.03, unknown_station=0.03,
                    calibration=0.05)


def decode(packet: bytes, registry: StationRegistry) -> Intake:
    """What the gateway makes of one packet (the same sequence; no split packets here)."""
    return take_packet(packet, registry, Reassembler())


async def until(condition: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(60):
        while not condition():  # noqa: ASYNC110 - counters owned by other tasks
            await asyncio.sleep(0.05)
    assert condition(), what


@pytest.fixture
async def gateway(database_url: str) -> AsyncIterator[tuple[Gateway, CollectorRegistry]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await upsert_stations(conn, STATIONS)
    reg = CollectorRegistry()
    metrics = IngestMetrics(reg)
    pipeline = Pipeline(database_url, metrics, batch_max_seconds=0.02)
    gw = Gateway(GatewaySettings(host="127.0.0.1", port=0), StationRegistry(STATIONS), pipeline,
                 GatewayMetrics(reg), metrics)
    await gw.start()
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    yield gw, reg
    await gw.close()
    stop.set()
    await task


async def test_simulated_loggers_over_tcp(gateway: tuple[Gateway, CollectorRegistry]) -> None:
    gw, reg = gateway
    run = Run(Scenario(STATIONS, datetime(2025, 7, 1, tzinfo=BEIJING), 12, seed=3,
                       faults=FAULTS, encoding="hj212"))
    registry = StationRegistry(STATIONS)
    store: dict[tuple[object, ...], float] = {}
    outcome: Counter[str] = Counter()
    answered, unanswered = set(), set()
    messages = [m for _, m in run]
    for m in messages:
        key = answer_key(m.payload)
        try:
            intake = decode(m.payload, registry)
        except Rejection as exc:
            outcome[exc.reason] += 1
            unanswered.add(key)
            continue
        answered.add(key)
        outcome.update(note.reason for _, note in intake.dead_letters)
        for r in intake.readings:
            outcome["written" if r.key not in store else "duplicate"] += 1
            store[r.key] = r.value
    assert outcome["hj212_crc"] and outcome["out_of_range"] and outcome["unknown_station"]
    assert None not in answered | unanswered  # every simulated packet asks for an answer

    def metric(name: str) -> float:
        return reg.get_sample_value(name) or 0.0

    sink = Hj212TcpSink("127.0.0.1", gw.port, answer_timeout=1.0, retries=1)
    try:
        stats = await play(Run(run.scenario), sink)
    finally:
        await sink.close()
    assert stats.messages == sink.sent == len(messages)
    assert sink.answers == len(answered)  # each packet once, however often it was answered
    assert sink.unanswered == len(unanswered - answered)  # rejected: resent, then given up
    assert sink.resent >= sink.unanswered
    assert metric("envmon_ingest_readings_written_total") == outcome["written"]
    assert metric("envmon_ingest_duplicates_total") >= outcome["duplicate"]


async def test_packets_the_gateway_did_not_answer_are_resent(database_url: str) -> None:
    """Issue 13 item 7: the gateway dies after a third of the packets and comes back later;
    the simulator, like a logger, resends what was not answered, and counts answers, not
    packets written to a socket."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await upsert_stations(conn, STATIONS)
    reg = CollectorRegistry()
    metrics = IngestMetrics(reg)
    pipeline = Pipeline(database_url, metrics, batch_max_seconds=0.02)
    stop = asyncio.Event()
    committer = asyncio.create_task(pipeline.run(stop))
    port = free_port()

    def new_gateway() -> Gateway:
        return Gateway(GatewaySettings(host="127.0.0.1", port=port), StationRegistry(STATIONS),
                       pipeline, GatewayMetrics(CollectorRegistry()), metrics)

    messages = [m for _, m in Run(Scenario(STATIONS, datetime(2025, 8, 1, tzinfo=BEIJING), 6,
                                           seed=4, encoding="hj212"))]
    third = len(messages) // 3
    sink = Hj212TcpSink("127.0.0.1", port, answer_timeout=0.5, retries=100)
    gateway = new_gateway()
    await gateway.start()
    try:
        for m in messages[:third]:
            await sink.send(m)
        await until(lambda: sink.answers == third, "the first third answered")
        await gateway.close()  # the gateway dies
        for m in messages[third:2 * third]:
            await sink.send(m)
        await asyncio.sleep(1.0)  # ... and stays down past the answer timeout
        gateway = new_gateway()
        await gateway.start()
        for m in messages[2 * third:]:
            await sink.send(m)
        await sink.flush()
    finally:
        await sink.close()
        await gateway.close()
        stop.set()
        await committer
    assert (sink.sent, sink.answers, sink.unanswered) == (len(messages), len(messages), 0)
    assert sink.resent >= third
    expected = {r.key for m in messages for r in decode(m.payload, StationRegistry(STATIONS))
                .readings}
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT station_id, parameter, interval, ts FROM readings WHERE station_id = ANY(%s)",
            ([s.station_id for s in STATIONS],))
        assert expected <= set(await cur.fetchall())
