"""A faulty simulated network against the real thing: `envmon ingest`, Mosquitto with the
project config and PostgreSQL. Every fault must come out as the ingest contract says: broken
messages dead-lettered by reason, resends counted as duplicates, corrections as revisions,
and every clean reading stored exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from envmon import db
from envmon.beijing_time import BEIJING
from envmon.settings import MqttTarget
from envmon.stations import StationRegistry, parse_station_file, upsert_stations
from ingest.errors import Rejection
from ingest.router import Router
from simulators.document import Message
from simulators.faults import FaultRates
from simulators.play import MqttSink, play
from simulators.publish import Publisher
from simulators.stream import Run, Scenario
from tests.conftest import Broker
from tests.ingest.support import IngestProcess, Waiter, unique

pytestmark = pytest.mark.integration
STATIONS = parse_station_file(Path(__file__).parents[2] / "simulators" / "pingliang.toml")
FAULTS = FaultRates(duplicate=0.05, revision=0.05, reorder=0.05, offline=0.01, resend=0.1,
                    calibration=0.03, malformed_json=0.02, truncated=0.02, out_of_range=0.02,
                    unknown_station=0.02)


@pytest.fixture
def ingest(database_url: str, mqtt_broker: Broker) -> Iterator[IngestProcess]:
    proc = IngestProcess(database_url, mqtt_broker.url, next(unique("sim-e2e"))).start()
    yield proc
    if proc.proc and proc.proc.poll() is None:
        proc.stop()


def expected_outcome(run: Run) -> tuple[list[Message], Counter[str]]:
    """What ingest must do with the run's messages, worked out with its own decoder."""
    router = Router("envmon", StationRegistry(STATIONS), 1_048_576)
    store: dict[tuple[object, ...], tuple[float, str]] = {}
    outcome: Counter[str] = Counter()
    messages = [m for _, m in run]
    for m in messages:
        try:
            readings = router.decode(m.topic("envmon"), m.payload)
        except Rejection as exc:
            outcome[f"rejected:{exc.reason}"] += 1
            continue
        for r in readings:
            old = store.get(r.key)
            outcome["written" if old is None else
                    "duplicate" if old == (r.value, r.flag) else "revision"] += 1
            store[r.key] = (r.value, r.flag)
    return messages, outcome


async def test_faults_reach_ingest_as_the_contract_says(
        database_url: str, mqtt_broker: Broker, ingest: IngestProcess) -> None:
    async with await db.connect(database_url) as conn:
        await upsert_stations(conn, STATIONS)
        await conn.execute("NOTIFY envmon_stations")
        await conn.commit()
    await asyncio.sleep(0.5)  # registry refresh via NOTIFY
    run = Run(Scenario(STATIONS, datetime(2025, 5, 1, tzinfo=BEIJING), 48, seed=11,
                       faults=FAULTS))
    messages, expected = expected_outcome(run)
    labels = Counter(f for m in messages for f in m.faults)
    assert all(labels[f] > 0 for f in ("duplicate", "revision", "offline", "resend",
                                       "malformed_json", "out_of_range", "unknown_station"))
    target = MqttTarget(host=mqtt_broker.host, port=mqtt_broker.port, tls=False)
    async with Publisher(target, window=500) as publisher:
        await play(Run(run.scenario), MqttSink(publisher, "envmon"))

    settled = {
        "envmon_ingest_readings_written_total": expected["written"],
        "envmon_ingest_duplicates_total": expected["duplicate"],
        "envmon_ingest_revisions_total": expected["revision"],
    }
    deadline = time.monotonic() + 60
    while any(ingest.metric(name) < n for name, n in settled.items()):
        assert time.monotonic() < deadline, {name: ingest.metric(name) for name in settled}
        await asyncio.sleep(0.2)
    for reason in ("malformed_json", "out_of_range", "unknown_station"):
        assert ingest.metric("envmon_ingest_rejected_total", f'reason="{reason}"') == expected[
            f"rejected:{reason}"], reason
    assert {name: ingest.metric(name) for name in settled} == settled
    assert ingest.metric("envmon_ingest_messages_received_total") == len(messages)
    w = Waiter(database_url)
    assert w.scalar("SELECT count(*) FROM readings WHERE station_id LIKE 'pl-%%' AND ts >= "
                    "'2025-04-30' AND ts < '2025-05-04'") == expected["written"]
    assert w.scalar("SELECT sum(repeats) FROM dead_letter WHERE reason = 'unknown_station' "
                    "AND station_id LIKE 'unregistered-pl-%%'") >= expected[
                        "rejected:unknown_station"]
    assert w.scalar("SELECT count(*) FROM readings WHERE station_id LIKE 'pl-%%' "
                    "AND flag = 'C'") > 0
