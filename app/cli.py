"""The ``envmon`` command. Subcommands live beside the code they drive and load lazily,
so ``envmon --help`` stays fast and one broken component cannot break the others."""

from __future__ import annotations

import importlib

import click

from envmon import __version__

# name -> "module:attribute" of a click command or group. The whole registry.
COMMANDS: dict[str, str] = {
    "db": "envmon.db_cli:db_group",
    "stations": "envmon.stations_cli:stations_group",
    "ingest": "ingest.cli:ingest",
    "dead-letter": "ingest.dead_letter_cli:dead_letter_group",
    "aqi": "aggregator.aqi_cli:aqi",
    "aggregate": "aggregator.cli:aggregate",
    "import": "ingest.import_cli:import_cmd",
    "report": "aggregator.report_cli:report",
    "simulate": "simulators.cli:simulate",
    "run": "app.run:run",
    "hj212-gateway": "ingest.hj212_cli:gateway",
    "api": "web.service:api",
    "alerts": "alerts.cli:alerts_group",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="envmon")
def main() -> None:
    """envmon: air, water and noise monitoring telemetry, indicators and alerts.

    Settings come from ENVMON_* environment variables and the TOML file named by
    ENVMON_CONFIG (see README).
    """
