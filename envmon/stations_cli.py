"""``envmon stations``: the station registry."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from envmon import db, stations
from envmon.clikit import load_settings, require_database, run_async
from envmon.mosquitto_acl import password_steps, render_acl


@click.group("stations")
def stations_group() -> None:
    """Register and list monitoring stations."""


@stations_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_(file: Path) -> None:
    """Import stations from a TOML ([[station]] tables) or CSV file; updates existing ids."""
    try:
        parsed = stations.parse_station_file(file)
    except stations.StationFileError as exc:
        raise click.ClickException(str(exc)) from exc
    url = require_database(load_settings())

    async def go() -> int:
        async with await db.connect(url) as conn:
            n = await stations.upsert_stations(conn, parsed)
            await conn.commit()
            return n

    click.echo(f"imported {run_async(go())} stations from {file}")


@stations_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def list_(fmt: str) -> None:
    """List registered stations."""
    url = require_database(load_settings())

    async def go() -> list[stations.Station]:
        async with await db.connect(url) as conn:
            return await stations.load_stations(conn)

    rows = run_async(go())
    if fmt == "json":
        click.echo(json.dumps([asdict(s) for s in rows], ensure_ascii=False, indent=1))
        return
    click.echo(f"{'id':<24} {'kind':<6} {'city':<12} {'county':<12} {'class/zone':<10} name")
    for s in rows:
        extra = s.water_target_class or s.noise_zone or ""
        click.echo(f"{s.station_id:<24} {s.kind:<6} {s.city:<12} {s.county:<12} "
                   f"{extra!s:<10} {s.name}")
    click.echo(f"{len(rows)} stations")




@stations_group.command("acl")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the ACL here (default: standard output).")
@click.option("--ingest-user", default="envmon-ingest", show_default=True,
              help="MQTT username of the ingest consumers (read access to every station).")
@click.option("--password-file", default="/etc/mosquitto/envmon.passwd", show_default=True,
              help="Where the printed password steps put Mosquitto's password file.")
def acl(output: Path | None, ingest_user: str, password_file: str) -> None:
    """Mosquitto acl_file from the station registry: each station (username = station id)
    may publish only to its own topics; the password steps are printed on stderr."""
    settings = load_settings()
    url = require_database(settings)

    async def go() -> list[stations.Station]:
        async with await db.connect(url) as conn:
            return await stations.load_stations(conn)

    rows = run_async(go())
    text = render_acl(rows, settings.topic_prefix, ingest_user)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"wrote the ACL of {len(rows)} stations to {output}", err=True)
    click.echo(password_steps([s.station_id for s in rows], ingest_user, password_file),
               err=True)
