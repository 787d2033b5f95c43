"""The gateway as a component: station registry and unit overrides from the database, the
ingest pipeline, the TCP server, and (standalone) the metrics/health endpoint.

This module composes; :mod:`ingest.hj212.gateway` knows nothing of it (no import cycle).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from psycopg import AsyncConnection

from envmon import db
from envmon.health import HealthServer
from envmon.settings import GatewaySettings, Settings
from envmon.stations import StationRegistry, watch_registry
from ingest.hj212.gateway import Gateway, GatewayMetrics
from ingest.hj212.overrides import load_unit_overrides
from ingest.metrics import IngestMetrics
from ingest.pipeline import Pipeline

log = logging.getLogger(__name__)


def gateway_settings(settings: Settings) -> GatewaySettings:
    """The ``hj212`` section of the settings."""
    return settings.hj212


async def _reload(conn: AsyncConnection[Any], registry: StationRegistry, gateway: Gateway) -> None:
    await registry.refresh(conn)
    gateway.units = await load_unit_overrides(conn)


async def serve(settings: Settings, options: GatewaySettings, stop: asyncio.Event, *,
                serve_health: bool) -> None:
    """Run the gateway until ``stop``; the pipeline drains, unanswered packets are resent."""
    url = settings.database_url
    if url is None:
        raise ValueError("ENVMON_DATABASE_URL is not set")
    metrics = IngestMetrics.of()
    registry = StationRegistry()
    pipeline = Pipeline(url, metrics, batch_max_messages=settings.ingest.batch_max_messages,
                        batch_max_seconds=settings.ingest.batch_max_seconds,
                        max_pending=settings.ingest.max_inflight_messages)
    gateway = Gateway(options, registry, pipeline, GatewayMetrics.of(), metrics)
    async with await db.connect(url) as conn:
        await _reload(conn, registry, gateway)  # invalid overrides stop the start, loudly
    log.info("HJ 212 gateway: %d stations registered", len(registry))
    await gateway.start()
    health = None
    if serve_health:
        health = HealthServer(settings.metrics_host, settings.metrics_port,
                              ready=lambda: pipeline.db_ready)
        await health.start()
    pipeline_stop = asyncio.Event()
    committer = asyncio.create_task(pipeline.run(pipeline_stop), name="hj212-pipeline")
    async def reload_units(conn: AsyncConnection[Any]) -> None:
        gateway.units = await load_unit_overrides(conn)

    watcher = asyncio.create_task(watch_registry(url, registry, stop, also=reload_units),
                                  name="hj212-stations")
    try:
        await stop.wait()
    finally:
        watcher.cancel()
        await gateway.close()  # no new packets; then commit what was received
        pipeline_stop.set()
        await asyncio.gather(committer, watcher, return_exceptions=True)
        if health is not None:
            await health.close()


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Component entry of ``envmon run`` (started when the ``hj212`` section is enabled)."""
    await serve(settings, gateway_settings(settings), stop, serve_health=False)
