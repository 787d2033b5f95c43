"""``envmon report air|water|noise``: period figures against the plan targets, as a terminal
table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date
from typing import Any, Literal

import click
from psycopg import AsyncConnection
from rich.console import Console
from rich.table import Table

from aggregator import report as rpt
from envmon import db
from envmon.clikit import load_settings, require_database, run_async

ReportKind = Literal["air", "water", "noise"]
_PERIODS: tuple[tuple[str, rpt.PeriodKind, str], ...] = (
    ("--day", "day", "A Beijing natural day, YYYY-MM-DD."),
    ("--month", "month", "A month, YYYY-MM."),
    ("--quarter", "quarter", "A quarter, YYYY-Qn."),
    ("--year", "year", "A calendar year, YYYY."),
    ("--ytd", "ytd", "Year to date, through YYYY-MM-DD (or 'today')."),
)


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``a_b`` columns (for CSV and the terminal table)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}_"))
        elif isinstance(value, list):
            out[name] = json.dumps(value, ensure_ascii=False, default=str)
        else:
            out[name] = value
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "NA"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def render(rows: Sequence[Mapping[str, Any]], fmt: str, document: Any) -> str:
    if fmt == "json":
        return json.dumps(document, ensure_ascii=False, indent=2, default=str)
    flat = [flatten(r) for r in rows]
    columns = list(dict.fromkeys(k for r in flat for k in r))
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)
        return buf.getvalue()
    table = Table(show_lines=False)
    table.add_column("field")
    for r in flat:
        table.add_column(str(r.get("scope") or r.get("station_id") or r.get("zone") or ""))
    for c in columns:
        table.add_row(c, *(_cell(r.get(c)) for r in flat))
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(table)
    return console.export_text()


def _echo(text: str) -> None:
    click.echo(text, nl=not text.endswith("\n"))


def period_from_options(options: Mapping[str, str | None]) -> rpt.Period:
    """Exactly one of day/month/quarter/year/ytd (``today`` = the current YTD)."""
    chosen = [(kind, options[kind]) for _, kind, _ in _PERIODS if options.get(kind) is not None]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --day, --month, --quarter, --year, --ytd")
    kind, value = chosen[0]
    try:
        return rpt.period_of(kind, "" if value == "today" else str(value), date.today())
    except ValueError as exc:
        raise click.UsageError(f"bad period {value!r}: {exc}") from exc


def scopes(city: str | None, county: str | None, stations: Sequence[str]
           ) -> list[tuple[str, str]]:
    if county and not city:
        raise click.UsageError("--county needs --city")
    if not city and not stations:
        raise click.UsageError("give --city [--county] and/or --station")
    return [(city, county or "")] if city else []


def _run(build: Callable[[AsyncConnection[Any]], Awaitable[Any]]) -> Any:
    url = require_database(load_settings())

    async def go() -> Any:
        async with await db.connect(url) as conn:
            return await build(conn)

    return run_async(go())


def _common(f: Callable[..., Any]) -> Callable[..., Any]:
    for flag, kind, help_text in reversed(_PERIODS):
        f = click.option(flag, kind, metavar="PERIOD", help=help_text)(f)
    f = click.option("--city", help="Region: a city (county '' = the whole city).")(f)
    f = click.option("--county", help="Region: a county of --city.")(f)
    f = click.option("--station", "stations", multiple=True, help="A station (repeatable).")(f)
    return click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]),
                        default="table", show_default=True)(f)


@click.group("report")
def report() -> None:
    """Period reports (day, month, quarter, year, year to date) against plan targets."""


@report.command("air")
@_common
def air(city: str | None, county: str | None, stations: tuple[str, ...], fmt: str,
        **periods: str | None) -> None:
    """Good days, valid days, ratio, pollution days and pollutant statistics."""
    _report("air", city, county, stations, fmt, periods)


@report.command("water")
@_common
def water(city: str | None, county: str | None, stations: tuple[str, ...], fmt: str,
          **periods: str | None) -> None:
    """Class of each section and the share of sections in class I-III."""
    _report("water", city, county, stations, fmt, periods)


@report.command("noise")
@_common
def noise(city: str | None, county: str | None, stations: tuple[str, ...], fmt: str,
          **periods: str | None) -> None:
    """Day and night compliance rates of the functional-zone points."""
    _report("noise", city, county, stations, fmt, periods)


def _report(kind: ReportKind, city: str | None, county: str | None, stations: Sequence[str],
            fmt: str, periods: Mapping[str, str | None]) -> None:
    period = period_from_options(periods)
    regions = scopes(city, county, stations)
    rows, doc = _run(lambda c: build(c, kind, period, regions, stations))
    _echo(render(rows, fmt, doc))


async def build(
    conn: AsyncConnection[Any], kind: ReportKind, period: rpt.Period,
    regions: Sequence[tuple[str, str]], stations: Sequence[str],
) -> tuple[list[dict[str, Any]], Any]:
    """The rows (table, CSV) and the document (JSON) of one report; the HTTP API serves the
    same two, so the command and the API can never disagree."""
    if kind == "air":
        rows = await rpt.air_report(conn, period, regions=regions, stations=stations)
        return rows, rows[0] if len(rows) == 1 else rows
    if kind == "water":
        doc = await rpt.water_report(conn, period, regions=regions, stations=stations)
        summary = {k: v for k, v in doc.items() if k != "sections"}
        return [*doc["sections"], {"station_id": "all", **summary}], doc
    doc = await rpt.noise_report(conn, period, regions=regions, stations=stations)
    out = [{"zone": z, **r} for z, r in doc["zones"].items()]
    out.append({"zone": "target", "night_rate": doc["target_night_rate"],
                "margin": doc["margin"]})
    return out, doc
