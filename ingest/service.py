"""``envmon ingest`` as a component: MQTT consumer + pipeline + metrics/health endpoint."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

from psycopg import AsyncConnection

from envmon import db
from envmon.health import HealthServer
from envmon.settings import Settings
from envmon.stations import StationRegistry, watch_registry
from ingest.errors import Rejection
from ingest.hj212.intake import expire_forever
from ingest.hj212.overrides import load_unit_overrides
from ingest.metrics import IngestMetrics
from ingest.mqtt_consumer import MqttConsumer
from ingest.pipeline import Pipeline
from ingest.router import Router, station_decoders
from ingest.transports import MQTT

log = logging.getLogger(__name__)


class MetricsPortInUse(RuntimeError):
    """The health/metrics port is taken (usually: ingest is already running)."""


def _tune_gc() -> None:
    """Readings and decoded documents form no reference cycles, but at 10 k messages/s they
    trigger the cyclic collector constantly, and each pass walks every pending reading
    (profiled: most of the decode time). Move start-up objects out of its view and collect
    young objects less often; reference counting still frees everything at once."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


async def run(settings: Settings, stop: asyncio.Event, *, serve_health: bool = True) -> None:
    """Run the ingest component until ``stop`` is set; drains and acknowledges on the way out."""
    url = settings.database_url
    if url is None:
        raise ValueError("ENVMON_DATABASE_URL is not set")
    metrics = IngestMetrics.of()
    metrics.export_station_series(settings.ingest.station_metrics)
    registry = StationRegistry()
    metrics.stations_registered.set_function(lambda: len(registry))
    async with await db.connect(url) as conn:
        await registry.refresh(conn)
    log.info("ingest: %d stations registered", len(registry))
    decoders, hj212 = station_decoders(
        registry, reassembly_timeout=settings.hj212.reassembly_timeout_seconds)

    async def reload_units(conn: AsyncConnection[Any]) -> None:
        hj212.units = await load_unit_overrides(conn)

    router = Router(settings.topic_prefix, registry, settings.ingest.max_payload_bytes,
                    decoders=decoders)
    options = settings.ingest
    pipeline = Pipeline(url, metrics, batch_max_messages=options.batch_max_messages,
                        batch_max_seconds=options.batch_max_seconds,
                        max_pending=options.max_held_messages,
                        max_pending_bytes=options.max_held_bytes,
                        batch_max_bytes=options.batch_max_bytes,
                        max_retries=options.max_db_retries)
    consumer = MqttConsumer(settings, router, pipeline, metrics)
    health = None
    if serve_health:
        health = HealthServer(settings.metrics_host, settings.metrics_port,
                              ready=lambda: consumer.subscribed and pipeline.db_ready)
        try:
            await health.start()
        except OSError as exc:
            # Before the broker is touched: a second consumer with the same client id would
            # take the first one's session over.
            raise MetricsPortInUse(
                f"cannot listen on {settings.metrics_host}:{settings.metrics_port} for "
                f"/metrics and /healthz ({exc.strerror}): is another envmon ingest running? "
                "Give this one its own ENVMON_METRICS_PORT (and ENVMON_INGEST__CLIENT_ID)"
            ) from None
    _tune_gc()
    tasks = [
        asyncio.create_task(pipeline.run(stop), name="ingest-pipeline"),
        asyncio.create_task(consumer.run(stop), name="ingest-mqtt"),
        asyncio.create_task(watch_registry(url, registry, stop, also=reload_units),
                            name="ingest-stations"),
    ]
    async def reject_expired(topic: str, raw: bytes, rejection: Rejection) -> None:
        await pipeline.reject(MQTT, topic, raw, rejection)

    # split HJ 212 parts that never completed are dead-lettered on a timer, not on the next packet
    expiry = asyncio.create_task(expire_forever(hj212.reassembler, registry, reject_expired),
                                 name="ingest-hj212-expiry")
    try:
        await asyncio.gather(*tasks)
    finally:
        expiry.cancel()
        for t in tasks:
            t.cancel()
        if health is not None:
            await health.close()
        log.info("ingest stopped: %d written, %d duplicates, %d revised", pipeline.totals.inserted,
                 pipeline.totals.duplicates, pipeline.totals.revised)

