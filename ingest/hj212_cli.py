"""``envmon hj212-gateway``: the TCP gateway for HJ 212 data loggers as its own process."""

from __future__ import annotations

import click
from pydantic import ValidationError

from envmon.clikit import load_settings, require_database, run_until_signalled, setup_logging
from envmon.settings import GatewaySettings

_DEFAULTS = GatewaySettings()


@click.command("hj212-gateway")
@click.option("--host", default=_DEFAULTS.host, show_default=True, envvar="ENVMON_HJ212__HOST")
@click.option("--port", type=int, default=_DEFAULTS.port, show_default=True,
              envvar="ENVMON_HJ212__PORT")
@click.option("--max-packet-bytes", type=int, default=_DEFAULTS.max_packet_bytes,
              show_default=True, envvar="ENVMON_HJ212__MAX_PACKET_BYTES",
              help="Longest accepted packet, ## to CR LF.")
@click.option("--idle-timeout", type=float, default=_DEFAULTS.idle_timeout_seconds,
              show_default=True, envvar="ENVMON_HJ212__IDLE_TIMEOUT_SECONDS",
              help="Seconds without data before a connection is closed.")
@click.option("--rate", type=float, default=_DEFAULTS.max_packets_per_second, show_default=True,
              envvar="ENVMON_HJ212__MAX_PACKETS_PER_SECOND",
              help="Packets per second per connection (beyond it the gateway reads slower).")
@click.option("--burst", type=int, default=_DEFAULTS.burst_packets, show_default=True,
              envvar="ENVMON_HJ212__BURST_PACKETS")
@click.option("--max-connections", type=int, default=_DEFAULTS.max_connections,
              show_default=True, envvar="ENVMON_HJ212__MAX_CONNECTIONS")
def gateway(host: str, port: int, max_packet_bytes: int, idle_timeout: float, rate: float,
            burst: int, max_connections: int) -> None:
    """Accept HJ 212-2017 data loggers over TCP and store their readings.

    Packets are identified by MN (the station's `mn`) and checked against its hj212_password;
    CN 9014 answers are sent after the readings are committed. Every limit (connections,
    timeouts, byte and packet budgets, dead-letter rates) is also an ENVMON_HJ212__… variable;
    see docs/hj212.md.
    """
    settings = load_settings()
    require_database(settings)
    try:  # the other limits come from the ``hj212`` settings (ENVMON_HJ212__…)
        options = GatewaySettings(**{
            **settings.hj212.model_dump(), "enabled": True, "host": host, "port": port,
            "max_packet_bytes": max_packet_bytes, "idle_timeout_seconds": idle_timeout,
            "max_packets_per_second": rate, "burst_packets": burst,
            "max_connections": max_connections})
    except ValidationError as exc:
        raise click.UsageError(f"invalid gateway options:\n{exc}") from exc
    setup_logging(settings)
    from ingest.hj212.service import serve

    run_until_signalled(lambda stop: serve(settings, options, stop, serve_health=True))
