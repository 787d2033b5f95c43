"""The demo for ``envmon run --demo``: the Pingliang station set, live over MQTT.

It first uploads yesterday and today so far (hourly and daily documents with past timestamps,
as loggers do after an outage) so that a daily indicator exists within a minute, then goes live:
real-time documents every 30 s and each hourly document when its hour ends.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

from envmon import db
from envmon.beijing_time import BEIJING
from envmon.settings import MqttTarget, Settings
from envmon.stations import Station, parse_station_file, upsert_stations
from simulators.faults import FaultRates
from simulators.play import MqttSink, play
from simulators.publish import Publisher
from simulators.station import Cadence
from simulators.stream import Run, Scenario

log = logging.getLogger(__name__)
DEMO_SEED = 2026
DEMO_CADENCE = Cadence(realtime_seconds=30)
DEMO_DAYS = 3650  # "forever": the scenario is generated lazily, hour by hour


def pingliang_file() -> Path:
    return Path(str(resources.files("simulators").joinpath("pingliang.toml")))


def demo_scenario(stations: list[Station], now: datetime) -> Scenario:
    """From yesterday's Beijing midnight on; real-time documents only from ``now`` on."""
    midnight = now.astimezone(BEIJING).replace(hour=0, minute=0, second=0, microsecond=0)
    return Scenario(stations, midnight - timedelta(days=1), 24 * DEMO_DAYS, DEMO_SEED,
                    DEMO_CADENCE, FaultRates(calibration=0.002, duplicate=0.002,
                                             malformed_json=0.0005),
                    realtime_from=now)


async def _register(database_url: str, stations: list[Station]) -> None:
    """Make the demo stations known to ingest (idempotent upsert, then the refresh notice)."""
    async with await db.connect(database_url) as conn:
        await upsert_stations(conn, stations)
        await conn.execute("NOTIFY envmon_stations")
        await conn.commit()


async def run(settings: Settings, stop: asyncio.Event, stations_file: Path | None = None) -> None:
    """Play the demo until ``stop`` is set."""
    stations = parse_station_file(stations_file or pingliang_file())
    target = settings.mqtt_target() or MqttTarget(host="127.0.0.1", port=1883, tls=False)
    if settings.database_url is not None:
        await _register(settings.database_url, stations)
    scenario = demo_scenario(stations, datetime.now(BEIJING))
    ca = str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None
    log.info("demo: %d stations to %s:%d, backfilling from %s", len(stations), target.host,
             target.port, scenario.start.isoformat())
    async with Publisher(target, client_id="envmon-demo", ca_file=ca) as publisher:
        sink = MqttSink(publisher, settings.topic_prefix)
        stats = await play(Run(scenario), sink, live=True, stop=stop)
    log.info("demo stopped after %d messages", stats.messages)
