"""``envmon aqi``: a daily-report AQI calculator on the standards library (HJ 633-2012/-2026)."""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click

from aggregator.standards import AqiReport, RuleSet, StandardsError, daily_aqi

_INDICATORS = ("pm25", "pm10", "so2", "no2", "co", "o3_8h", "o3_1h")


def _number(name: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise StandardsError(f"{name}: not a number: {text!r}") from exc
    if not value.is_finite():
        raise StandardsError(f"{name}: not a finite number: {text!r}")
    return value


def _compute(day: str | None, rules: str | None, raw: dict[str, str | None]) -> dict[str, Any]:
    """One case: strings in (flags or CSV cells), a JSON-ready dict out."""
    values = {k: (None if not v or not v.strip() else _number(k, v)) for k, v in raw.items()}
    parsed_day = None
    if day:
        try:
            parsed_day = date.fromisoformat(day.strip())
        except ValueError as exc:
            raise StandardsError(f"date: not YYYY-MM-DD: {day!r}") from exc
    chosen: RuleSet | None = None
    if rules:
        if rules.strip() not in ("2012", "2026"):
            raise StandardsError(f"rules: 2012 or 2026, not {rules!r}")
        chosen = "2012" if rules.strip() == "2012" else "2026"
    report = daily_aqi(values, day=parsed_day, rules=chosen)
    return _as_json(parsed_day, report)


def _as_json(day: date | None, r: AqiReport) -> dict[str, Any]:
    c = r.category
    return {
        "date": None if day is None else day.isoformat(),
        "rules": r.rules,
        "aqi": r.aqi,
        "iaqi": dict(r.iaqi),
        "category": None if c is None else c.name,
        "category_en": None if c is None else c.name_en,
        "level": None if c is None else c.level,
        "colour": None if c is None else c.hex,
        "primary": list(r.primary),
        "missing": list(r.missing),
        "used": list(r.used),
        "notes": list(r.notes),
    }


def _text(doc: dict[str, Any]) -> str:
    iaqi = ", ".join(f"{k}={v}" for k, v in doc["iaqi"].items())
    aqi = "NA" if doc["aqi"] is None else str(doc["aqi"])
    lines = [f"AQI {aqi} (HJ 633-{doc['rules']} daily report)"]
    if doc["category"] is not None:
        lines.append(f"category {doc['category']} ({doc['category_en']}), level {doc['level']}")
    lines.append("primary " + (", ".join(doc["primary"]) or "-"))
    lines.append(f"IAQI {iaqi}")
    if doc["used"]:
        lines.append("AQI from " + ", ".join(doc["used"]))
    if doc["missing"]:
        lines.append("missing " + ", ".join(doc["missing"]))
    lines.extend(doc["notes"])
    return "\n".join(lines)


def _run_file(path: Path, rules: str | None) -> int:
    errors = 0
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = {(c or "").strip().replace("-", "_"): c for c in reader.fieldnames or ()}
        unknown = set(columns) - {*_INDICATORS, "date", "rules"}
        if unknown:
            raise click.UsageError(f"{path}: unknown column(s): {', '.join(sorted(unknown))}")
        for line, row in enumerate(reader, start=2):
            cells = {k: row.get(orig) for k, orig in columns.items()}
            raw = {k: cells.get(k) for k in _INDICATORS if k in cells}
            try:
                doc = _compute(cells.get("date"), cells.get("rules") or rules, raw)
            except StandardsError as exc:
                errors += 1
                doc = {"line": line, "error": str(exc)}
            click.echo(json.dumps(doc, ensure_ascii=False))
    return errors


@click.command("aqi")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="Date of the data (picks the rules).")
@click.option("--rules", type=click.Choice(["2012", "2026"]), help="Override the rule set.")
@click.option("--pm25", help="PM2.5 24-h mean, µg/m³.")
@click.option("--pm10", help="PM10 24-h mean, µg/m³.")
@click.option("--so2", help="SO2 24-h mean, µg/m³.")
@click.option("--no2", help="NO2 24-h mean, µg/m³.")
@click.option("--co", help="CO 24-h mean, mg/m³.")
@click.option("--o3-8h", "o3_8h", help="O3 daily maximum 8-h mean, µg/m³.")
@click.option("--o3-1h", "o3_1h", help="O3 daily maximum 1-h value, µg/m³ (2012 rules only).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--input",
    "input_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV, one case per row (columns date, rules and the indicator names); JSON lines out.",
)
def aqi(
    day: str | None,
    rules: str | None,
    fmt: str,
    input_file: Path | None,
    **indicators: str | None,
) -> None:
    """Daily-report AQI, IAQI per indicator, category and primary pollutant(s).

    Rules by date: HJ 633-2012 before 2026-03-01, HJ 633-2026 from then on.
    """
    if input_file is not None:
        if day or any(v is not None for v in indicators.values()):
            raise click.UsageError("--input replaces --date and the indicator options")
        if _run_file(input_file, rules):
            raise SystemExit(1)
        return
    try:
        doc = _compute(day, rules, dict(indicators))
    except StandardsError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(json.dumps(doc, ensure_ascii=False) if fmt == "json" else _text(doc))
