"""``envmon ingest`` as a component: MQTT consumer + pipeline + metrics/health endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from psycopg import AsyncConnection

from envmon import db
from envmon.settings import Settings
from envmon.stations import StationRegistry
from ingest.health import HealthServer
from ingest.metrics import IngestMetrics
from ingest.mqtt_consumer import MqttConsumer
from ingest.pipeline import Pipeline
from ingest.router import Router

log = logging.getLogger(__name__)

_metrics: IngestMetrics | None = None


def process_metrics() -> IngestMetrics:
    """The metrics of this process (one set on the default registry)."""
    global _metrics
    if _metrics is None:
        _metrics = IngestMetrics()
    return _metrics


async def _watch_stations(url: str, registry: StationRegistry, stop: asyncio.Event) -> None:
    """Reload the registry on ``NOTIFY envmon_stations`` and every 30 s as a fallback."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            conn: AsyncConnection[Any] = await db.connect(url, autocommit=True)
            async with conn:
                await conn.execute("LISTEN envmon_stations")
                await registry.refresh(conn)
                last = loop.time()
                while not stop.is_set():
                    notified = False
                    async for _ in conn.notifies(timeout=0.5, stop_after=1):
                        notified = True
                    if notified or loop.time() - last > 30:
                        await registry.refresh(conn)
                        last = loop.time()
        except Exception as exc:
            log.warning("station registry refresh failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2)


async def run(settings: Settings, stop: asyncio.Event, *, serve_health: bool = True) -> None:
    """Run the ingest component until ``stop`` is set; drains and acknowledges on the way out."""
    url = settings.database_url
    if url is None:
        raise ValueError("ENVMON_DATABASE_URL is not set")
    metrics = process_metrics()
    registry = StationRegistry()
    async with await db.connect(url) as conn:
        await registry.refresh(conn)
    log.info("ingest: %d stations registered", len(registry))
    router = Router(settings.topic_prefix, registry, settings.ingest.max_payload_bytes)
    pipeline = Pipeline(url, metrics, batch_max_messages=settings.ingest.batch_max_messages,
                        batch_max_seconds=settings.ingest.batch_max_seconds,
                        max_pending=settings.ingest.max_inflight_messages)
    consumer = MqttConsumer(settings, router, pipeline, metrics)
    health = None
    if serve_health:
        health = HealthServer(settings.metrics_host, settings.metrics_port,
                              ready=lambda: consumer.subscribed and pipeline.db_ready)
        await health.start()
    tasks = [
        asyncio.create_task(pipeline.run(stop), name="ingest-pipeline"),
        asyncio.create_task(consumer.run(stop), name="ingest-mqtt"),
        asyncio.create_task(_watch_stations(url, registry, stop), name="ingest-stations"),
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        if health is not None:
            await health.close()
        log.info("ingest stopped: %d written, %d duplicates, %d revised", pipeline.totals.inserted,
                 pipeline.totals.duplicates, pipeline.totals.revised)

