"""``envmon ingest``: run the MQTT consumers."""

from __future__ import annotations

import click

from envmon.clikit import load_settings, require_database, run_until_signalled, setup_logging


@click.command("ingest")
def ingest() -> None:
    """Consume station telemetry from MQTT and store it (acknowledged after commit)."""
    settings = load_settings()
    require_database(settings)
    if settings.mqtt_url is None:
        raise click.UsageError("ENVMON_MQTT_URL is not set (e.g. mqtt://127.0.0.1:1883)")
    setup_logging(settings)
    from ingest import service

    try:
        run_until_signalled(lambda stop: service.run(settings, stop))
    except service.MetricsPortInUse as exc:
        raise click.ClickException(str(exc)) from None
