"""``envmon import``: load hourly history from CSV files into the readings table.

Readings go through the ingest writer, in one transaction per batch, so an import is
idempotent (a re-run stores only duplicates), revisions are recorded and the touched days
are marked dirty for the aggregator exactly as for live data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import click
from psycopg import AsyncConnection
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from envmon import db
from envmon.clikit import load_settings, require_database, run_async
from ingest.csv_import import CsvMapping, ParseStats, load_mapping, open_text, parse
from ingest.errors import Rejection
from ingest.reading import Reading
from ingest.writer import PartitionCache, WriteStats, write_readings


def _pairs(values: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint=what)
        out[key] = value
    return out


async def _known_stations(conn: AsyncConnection[Any]) -> set[str]:
    cur = await conn.execute("SELECT station_id FROM stations")
    return {r[0] for r in await cur.fetchall()}


def _batches(
    path: Path, text: IO[str], mapping: CsvMapping, parsed: ParseStats, batch_rows: int
) -> Iterator[list[Reading]]:
    try:
        yield from parse(text, mapping, parsed, batch_rows)
    except Rejection as exc:
        raise click.ClickException(f"{path}: {exc.detail}") from exc


async def import_files(
    url: str, files: Sequence[Path], mapping: CsvMapping, batch_rows: int, quiet: bool
) -> tuple[ParseStats, WriteStats]:
    """Import ``files``; returns the parse and write counts."""
    parsed, written = ParseStats(), WriteStats()
    partitions = PartitionCache()
    total = sum(f.stat().st_size for f in files)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TimeRemainingColumn())
    async with await db.connect(url) as conn:
        known = await _known_stations(conn)
        await conn.commit()
        with Progress(*columns, disable=quiet, transient=False) as progress:
            task = progress.add_task("import", total=total)
            done = 0
            for path in files:
                progress.update(task, description=path.name[:40])
                raw, text = open_text(path)
                with raw, text:
                    for batch in _batches(path, text, mapping, parsed, batch_rows):
                        unknown = {r.station_id for r in batch} - known
                        if unknown:
                            raise click.ClickException(
                                f"{path}: unknown station(s) {', '.join(sorted(unknown))}; "
                                "register them first (envmon stations import FILE)"
                            )
                        try:
                            async with conn.transaction():
                                written += await write_readings(conn, batch, partitions)
                        except Exception:
                            partitions.forget()
                            raise
                        progress.update(task, completed=done + raw.tell())
                done += path.stat().st_size
                progress.update(task, completed=done)
    return parsed, written


@click.command("import")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mapping", "mapping_file", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="TOML file with the column mapping (keys as the options).")
@click.option("--kind", type=click.Choice(["air", "water", "noise"]))
@click.option("--column", "columns", multiple=True, metavar="CSV=PARAM",
              help="Map a CSV column to a catalogue parameter (repeatable).")
@click.option("--scale", "scales", multiple=True, metavar="PARAM=FACTOR",
              help="Multiply a parameter by FACTOR, e.g. co=0.001 for µg/m³ -> mg/m³.")
@click.option("--station-column", help="Column holding the station id.")
@click.option("--station", help="Station id for every row (file without station column).")
@click.option("--station-prefix", help="Prefix added to the station column's value.")
@click.option("--time-column", help="Column with the timestamp (else year/month/day/hour).")
@click.option("--time-format", help="strptime format of --time-column.")
@click.option("--tz", help="Time zone of the timestamps [Asia/Shanghai].")
@click.option("--hour-label", type=click.Choice(["start", "end"]),
              help="Whether a timestamp is the start or the end of its hour [start].")
@click.option("--missing", "missing", multiple=True, help="Missing-value marker (repeatable).")
@click.option("--batch-rows", type=click.IntRange(1, 100_000), default=2000, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def import_cmd(
    files: tuple[Path, ...], mapping_file: Path | None, kind: str | None,
    columns: tuple[str, ...], scales: tuple[str, ...], station_column: str | None,
    station: str | None, station_prefix: str | None, time_column: str | None,
    time_format: str | None, tz: str | None, hour_label: str | None,
    missing: tuple[str, ...], batch_rows: int, quiet: bool,
) -> None:
    """Import hourly station data from CSV files (plain or .gz) into readings."""
    settings = load_settings()
    url = require_database(settings)
    try:
        mapping = load_mapping(
            mapping_file, kind=kind, columns=_pairs(columns, "--column"),
            scale={k: float(v) for k, v in _pairs(scales, "--scale").items()},
            station_column=station_column, station=station, station_prefix=station_prefix,
            time_column=time_column, time_format=time_format, tz=tz, hour_label=hour_label,
            missing=tuple(missing),
        )
    except (TypeError, ValueError) as exc:
        raise click.UsageError(f"invalid mapping: {exc}") from exc
    parsed, written = run_async(import_files(url, files, mapping, batch_rows, quiet))
    rejected = ", ".join(f"{k} {v}" for k, v in sorted(parsed.rejected.items())) or "none"
    click.echo(
        f"rows {parsed.rows}, values {parsed.values}, missing {parsed.missing}, "
        f"rejected {rejected}; stored: inserted {written.inserted}, "
        f"duplicates {written.duplicates}, revised {written.revised}"
    )
