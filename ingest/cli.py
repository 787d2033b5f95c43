"""``envmon ingest``: run the MQTT consumers."""

from __future__ import annotations

import asyncio
import signal

import click

from envmon.clikit import load_settings, require_database, setup_logging


@click.command("ingest")
def ingest() -> None:
    """Consume station telemetry from MQTT and store it (acknowledged after commit)."""
    settings = load_settings()
    require_database(settings)
    if settings.mqtt_url is None:
        raise click.UsageError("ENVMON_MQTT_URL is not set (e.g. mqtt://127.0.0.1:1883)")
    setup_logging(settings)
    from ingest import service

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await service.run(settings, stop)

    asyncio.run(main())
