"""Indicator kinds end to end: readings through the real writer, indicators by the real
aggregator (its feed row), then the engine: hourly and daily AQI of stations and regions,
night noise, the plan target. Values are chosen far from the limits (HJ 633 表1: AQI 200 =
heavy pollution; GB 3096 表1 zone 1 night 45 dB(A), 5.4 Lmax <= 60)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from aggregator.compute.beijing_time import BEIJING
from aggregator.service import drain
from tests.alerts import engine_kit as kit
from tests.alerts.peers import migrated_database

pytestmark = pytest.mark.integration

RULES = """
[[rules]]
name = "aqi-hour"
kind = "aqi_hourly"
above = 150
for = "2h"
max_age = "3d"
receivers = ["ops"]

[[rules]]
name = "aqi-day-station"
kind = "aqi_daily"
max_age = "3d"
receivers = ["ops"]

[[rules]]
name = "aqi-day-region"
kind = "aqi_daily"
subject = "region"
max_age = "3d"
scope = { cities = ["Testcity"], counties = [""] }
receivers = ["duty"]

[[rules]]
name = "night-leq"
kind = "noise_night_leq"
max_age = "3d"
receivers = ["ops"]

[[rules]]
name = "night-lmax"
kind = "noise_night_lmax"
max_age = "3d"
receivers = ["ops"]

[[rules]]
name = "plan"
kind = "plan_target"
affordable_below = 366  # always: at most 365 days remain
scope = { cities = ["Testcity"] }
receivers = ["director"]
"""


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with migrated_database() as u:
        await kit.add_stations(u)
        yield u


async def test_indicator_rules_fire_from_the_aggregator_feed(url: str) -> None:
    today = kit.NOW.astimezone(BEIJING).replace(hour=0)
    day = max(today - timedelta(days=2), today.replace(month=1, day=1))  # this year's data
    hours = [day + h * kit.HOUR for h in range(24)]
    air = {"pm25": 300.0, "pm10": 350.0, "so2": 10.0, "no2": 30.0, "co": 1.0, "o3": 40.0}
    readings = [kit.Reading("t-air-1", p, "hour", t, v) for t in hours for p, v in air.items()]
    # zone 1 at night (22:00-06:00 Beijing): Leq 50 > 45, Lmax 70 > 60; daytime quiet
    readings += [r for t in hours for r in (
        kit.Reading("t-noise-1", "leq", "hour", t, 50.0 if t.hour >= 22 or t.hour < 6 else 40.0),
        kit.Reading("t-noise-1", "lmax", "hour", t, 70.0 if t.hour >= 22 or t.hour < 6 else 50.0))]
    await kit.write(url, *readings)
    eng = kit.engine(RULES)
    await kit.cycle(url, eng, kit.NOW)
    assert await kit.outbox(url) == Counter()  # readings alone: no indicator yet
    async with await kit.db.connect(url) as conn:
        assert await drain(conn) >= 2
        await drain(conn)  # the batch that empties the queue computes the period figures
    await kit.cycle(url, eng, kit.NOW)
    fired = {(e[1], e[2]) for e in await kit.episodes(url) if e[3] == "firing"}
    assert fired == {
        ("aqi-hour", "t-air-1"), ("aqi-day-station", "t-air-1"),
        ("aqi-day-region", "Testcity"), ("night-leq", "t-noise-1"),
        ("night-lmax", "t-noise-1"), ("plan", "Testcity"), ("plan", "Testcity/North"),
    }
    box = await kit.outbox(url)
    assert box[("firing", "duty")] == 1 and box[("firing", "director")] == 2
    assert box[("firing", "ops")] == 4
    # a second aggregation of the same data changes nothing
    async with await kit.db.connect(url) as conn:
        await conn.execute("INSERT INTO dirty_days (station_id, day) VALUES ('t-air-1', %s)",
                           (day.date(),))
        await conn.commit()
        await drain(conn)
    await kit.cycle(url, eng, kit.NOW)
    assert await kit.outbox(url) == box
