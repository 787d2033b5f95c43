"""Evaluation follows the data: readings published over real Mosquitto reach the engine
through the ingest writer's feed row; indicator rules fire when the real aggregator commits."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from aggregator.compute.beijing_time import BEIJING
from aggregator.service import drain
from alerts.feed import heartbeat
from envmon.stations import upsert_stations
from tests.alerts import engine_kit as kit
from tests.alerts.peers import migrated_database
from tests.conftest import Broker
from tests.ingest.support import IngestProcess, Publisher

pytestmark = pytest.mark.integration


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with migrated_database() as u:
        await kit.add_stations(u)
        yield u


async def _feed_rows(url: str, table: str) -> int:
    async with await kit.db.connect(url) as conn:
        cur = await conn.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - test constant
        row = await cur.fetchone()
        return int(row[0]) if row else 0


async def test_readings_over_mqtt_are_evaluated_from_the_ingest_feed(
    url: str, mqtt_broker: Broker,
) -> None:
    eng = kit.engine("""
[[rules]]
name = "pm25-mqtt"
kind = "threshold"
parameter = "pm25"
above = 115
for = "1h"
receivers = ["ops"]
""")
    ingest = await asyncio.to_thread(IngestProcess(url, mqtt_broker.url, "alerts-e2e").start)
    try:
        docs = [("envmon/v1/t-air-1/data", json.dumps({
            "ts": (kit.NOW - (2 - i) * kit.HOUR).isoformat(), "interval": "hour",
            "values": {"pm25": v}}).encode()) for i, v in enumerate([180.0, 190.0])]
        pub = await asyncio.to_thread(Publisher, mqtt_broker.host, mqtt_broker.port)
        await asyncio.to_thread(pub.publish, docs)
        await asyncio.to_thread(pub.close)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while await kit.outbox(url) == Counter() and loop.time() < deadline:
            await kit.cycle(url, eng, kit.NOW)
            await asyncio.sleep(0.2)
        assert await kit.outbox(url) == Counter({("firing", "ops"): 1})
        assert await _feed_rows(url, "alert_reading_feed") == 0  # consumed by the cycles
    finally:
        await asyncio.to_thread(ingest.stop)


async def test_water_class_rule_fires_when_the_aggregator_commits_the_day(url: str) -> None:
    eng = kit.engine("""
[[rules]]
name = "water-class"
kind = "water_class"
receivers = ["ops"]
""")
    yesterday = (kit.NOW.astimezone(BEIJING) - timedelta(days=1)).replace(hour=0)
    # NH3-N 1.8 mg/L is class V (GB 3838 表1: IV <= 1.5, V <= 2.0); the target is class III
    readings = [r for h in range(24) for r in (
        kit.Reading("t-water-1", "nh3n", "hour", yesterday + h * kit.HOUR, 1.8),
        kit.Reading("t-water-1", "do", "hour", yesterday + h * kit.HOUR, 8.0))]
    await kit.write(url, *readings)
    await kit.cycle(url, eng, kit.NOW)  # the readings alone: no water_class observation yet
    assert await kit.outbox(url) == Counter()
    async with await kit.db.connect(url) as conn:
        assert await drain(conn) >= 1
    assert await _feed_rows(url, "alert_indicator_feed") == 1
    await kit.cycle(url, eng, kit.NOW)
    assert await kit.outbox(url) == Counter({("firing", "ops"): 1})
    async with await kit.db.connect(url) as conn:
        cur = await conn.execute("SELECT payload->>'summary', payload->>'clause'"
                                 " FROM alert_outbox")
        summary, clause = (await cur.fetchall())[0]
    assert "worse than target 3" in summary and "nh3n" in summary
    assert clause == "GB 3838-2002 clause 5"


async def test_no_feed_rows_while_no_engine_has_been_seen() -> None:
    async with migrated_database() as url:
        async with await kit.db.connect(url) as conn:
            await upsert_stations(conn, kit.STATIONS)
            await conn.commit()
        await kit.write(url, *kit.hourly("t-air-1", "pm25", kit.NOW, [10]))
        assert await _feed_rows(url, "alert_reading_feed") == 0
        async with await kit.db.connect(url) as conn:
            await heartbeat(conn, "engine-1")
            await conn.commit()
        await kit.write(url, *kit.hourly("t-air-1", "pm25", kit.NOW + kit.HOUR, [10]))
        assert await _feed_rows(url, "alert_reading_feed") == 1
