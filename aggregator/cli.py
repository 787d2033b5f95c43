"""``envmon aggregate``: run the aggregator worker on its own, or drain the queue once."""

from __future__ import annotations

import asyncio
import signal

import click

from aggregator import service
from aggregator.store import queue
from envmon import db
from envmon.clikit import load_settings, require_database, run_async, setup_logging
from envmon.health import HealthServer
from envmon.settings import AggregatorSettings


@click.command("aggregate")
@click.option("--once", is_flag=True, help="Drain the dirty-day queue, then exit.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=None,
              help="Station-days recomputed per transaction  [default: the [aggregator]"
                   f" batch_size setting, {AggregatorSettings().batch_size}]")
@click.option("--retry-failed", is_flag=True,
              help="First put the station-days in failed_days back into the queue.")
def aggregate(once: bool, batch_size: int | None, retry_failed: bool) -> None:
    """Keep indicators current: recompute the station-days marked dirty by ingest."""
    settings = load_settings()
    setup_logging(settings)
    url = require_database(settings)
    tuning = settings.aggregator
    if batch_size is not None:
        tuning = tuning.model_copy(update={"batch_size": batch_size})

    async def requeue() -> int:
        async with await db.connect(url) as conn:
            n = await queue.retry_failed(conn)
            await conn.commit()
            return n

    async def go_once() -> int:
        async with await db.connect(url) as conn, await db.connect(url) as reader:
            return await service.drain(conn, tuning.batch_size, tuning.lease_seconds, reader)

    async def go_forever() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        worker = asyncio.create_task(service.run(settings, stop, tuning))
        health = None
        if settings.metrics_port:
            health = HealthServer(settings.metrics_host, settings.metrics_port,
                                  ready=lambda: not worker.done())
            await health.start()
        try:
            await worker
        finally:
            if health is not None:
                await health.close()

    if retry_failed:
        click.echo(f"requeued {run_async(requeue())} failed station-days")
    if once:
        click.echo(f"recomputed {run_async(go_once())} station-days")
    else:
        run_async(go_forever())
