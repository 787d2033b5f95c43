"""Issue 13 item 7: a split HJ 212 packet over MQTT whose other parts never come is
dead-lettered by a timer in `envmon ingest` (real Mosquitto and PostgreSQL), not only when the
next HJ 212 message happens to arrive."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from envmon.stations import StationRegistry
from ingest.errors import Rejection
from ingest.hj212 import Reassembler, encode_data_packet, parse_packet
from ingest.hj212.intake import expire_forever
from tests.conftest import Broker
from tests.ingest.support import IngestProcess, Publisher, Waiter, register_air, unique

ids = unique("hj212-expiry")


async def test_expire_forever_hands_over_parts_without_another_packet() -> None:
    part = encode_data_packet("MNX", "123456", "2061", "22", datetime(2026, 3, 1, 8),
                              {"pm25": 1.0}, pnum=2, pno=1)
    reassembler = Reassembler(timeout_seconds=0.2)
    assert reassembler.add(parse_packet(part)) is None
    got: asyncio.Queue[tuple[str, bytes, Rejection]] = asyncio.Queue()

    async def reject(topic: str, raw: bytes, rejection: Rejection) -> None:
        await got.put((topic, raw, rejection))

    task = asyncio.create_task(expire_forever(reassembler, StationRegistry([]), reject))
    try:
        async with asyncio.timeout(30):
            topic, raw, rejection = await got.get()
    finally:
        task.cancel()
    assert (topic, raw, rejection.reason) == ("mn:MNX", part, "hj212_incomplete")
    assert len(reassembler) == 0


@pytest.mark.integration
def test_envmon_ingest_dead_letters_a_lone_part(database_url: str, mqtt_broker: Broker) -> None:
    sid = next(ids)
    register_air(database_url, [sid])  # MN = station id (StationRegistry.by_mn)
    ingest = IngestProcess(database_url, mqtt_broker.url, sid,
                           extra_env={"ENVMON_HJ212__REASSEMBLY_TIMEOUT_SECONDS": "1"}).start()
    try:
        part = encode_data_packet(sid, "123456", "2061", "22", datetime(2026, 3, 1, 8),
                                  {"pm25": 1.0}, pnum=2, pno=1)
        publisher = Publisher(mqtt_broker.host, mqtt_broker.port)
        publisher.publish([(f"envmon/v1/{sid}/hj212", part)])
        publisher.close()
        waiter = Waiter(database_url)
        assert waiter.until("SELECT count(*) FROM dead_letter WHERE station_id = %s AND reason"
                            " = 'hj212_incomplete' AND payload = %s", 1, sid, part) == 1
    finally:
        ingest.stop()
