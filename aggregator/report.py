"""Period reports against the plan targets, from the stored daily indicators.

Air: good/valid/polluted/heavy days and the good-day ratio (HJ 633 daily AQI, day counts per
``standards.day_counts``), the HJ 663 statistics of each pollutant over the period's valid
daily values (``standards.annual_statistics``; their validity flag follows the annual rule,
so it is False for periods shorter than a year), and the plan target with the margin left.
Water: the class of each section from the period means of its daily means, and the share of
sections in class I-III. Noise: day/night compliance rates of the points per zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from psycopg import AsyncConnection

from aggregator import standards
from aggregator.compute import periods, water
from aggregator.compute.beijing_time import DAY, next_month, period_end
from aggregator.compute.station_day import Row
from aggregator.store import stations as stored_stations
from aggregator.store import stored_indicators

PeriodKind = Literal["day", "month", "quarter", "year", "ytd"]


@dataclass(frozen=True, slots=True)
class Period:
    kind: PeriodKind
    start: date
    end: date  # exclusive

    @property
    def label(self) -> str:
        if self.kind == "day":
            return self.start.isoformat()
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        if self.kind == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        if self.kind == "year":
            return str(self.start.year)
        return f"{self.start.year} to {self.end - DAY}"


def period_of(kind: PeriodKind, value: str, today: date | None = None) -> Period:
    """Parse ``2015``, ``2015-07``, ``2015-Q3``, ``2015-07-01`` or a YTD end date."""
    if kind == "day":
        day = date.fromisoformat(value)
        return Period(kind, day, day + DAY)
    if kind == "month":
        y, m = (int(x) for x in value.split("-"))
        return Period(kind, date(y, m, 1), next_month(date(y, m, 1)))
    if kind == "quarter":
        year_text, quarter = value.upper().split("-Q")
        year, first = int(year_text), 3 * (int(quarter) - 1) + 1
        if not 1 <= first <= 10:
            raise ValueError(f"quarter must be 1-4: {value!r}")
        end = date(year + 1, 1, 1) if first == 10 else date(year, first + 3, 1)
        return Period(kind, date(year, first, 1), end)
    if kind == "year":
        start = date(int(value), 1, 1)
        return Period(kind, start, period_end("year", start))
    last = date.fromisoformat(value) if value else (today or date.today())
    return Period(kind, date(last.year, 1, 1), last + DAY)


def _remaining_days(period: Period) -> int:
    """Days of the target year after the period (YTD), else 0: the ratio is final."""
    if period.kind != "ytd":
        return 0
    return (date(period.start.year, 12, 31) - (period.end - DAY)).days


def air_figures(scope: str, rows: Sequence[Row], period: Period) -> dict[str, Any]:
    """One report line for a station or region from its daily rows in the period."""
    counts = periods.day_counts(rows)
    year = period.start.year
    status = standards.air_target_status(
        counts.good_days, counts.valid_days, year, remaining_days=_remaining_days(period)
    )
    margin = (None if status.ratio is None or status.target is None
              else status.ratio - status.target)
    out: dict[str, Any] = {
        "scope": scope, "period": period.label, "start": period.start.isoformat(),
        "end": (period.end - DAY).isoformat(),
        "valid_days": counts.valid_days, "good_days": counts.good_days,
        "good_ratio": counts.good_ratio, "polluted_days": counts.polluted_days,
        "heavy_days": counts.heavy_days, "polluted_ratio": counts.polluted_ratio,
        "heavy_ratio": counts.heavy_ratio, "partial_days": counts.partial_days,
        "target_good_ratio": status.target,
        "margin": margin, "affordable_non_good_days": status.affordable,
    }
    stats: dict[str, dict[str, Any]] = {}
    for s in periods.annual(rows, year):
        entry = stats.setdefault(s.pollutant, {"n_days": s.n_days, "valid": s.valid})
        entry[s.statistic] = None if s.reported is None else float(s.reported)
        entry[f"{s.statistic}_limit"] = s.limit
        entry[f"{s.statistic}_attains"] = s.attains
    out["statistics"] = stats
    return out


async def air_report(
    conn: AsyncConnection[Any],
    period: Period,
    *,
    regions: Sequence[tuple[str, str]] = (),
    stations: Sequence[str] = (),
) -> list[dict[str, Any]]:
    out = []
    for city, county in regions:
        rows = await stored_indicators.region_days(conn, city, county, period.start, period.end)
        out.append(air_figures(f"{city}/{county}" if county else city, rows, period))
    for sid in stations:
        rows = await stored_indicators.station_days(conn, sid, period.start, period.end)
        out.append(air_figures(sid, rows, period))
    return out


@dataclass(frozen=True, slots=True)
class _Section:
    water_target_class: int | None
    water_body: str | None


async def water_report(
    conn: AsyncConnection[Any], period: Period, *, regions: Sequence[tuple[str, str]] = (),
    stations: Sequence[str] = (),
) -> dict[str, Any]:
    sections = []
    classes = []
    for st in await stored_stations.of_kind(conn, "water", regions, stations):
        days = await stored_indicators.water_days(
            conn, st["station_id"], period.start, period.end)
        row = water.period_grade(_Section(st["water_target_class"], st["water_body"]), days)
        sections.append({"station_id": st["station_id"], "days": len(days),
                         "target_class": st["water_target_class"], **row})
        if row["water_class"] is not None:
            classes.append(standards.WaterClass(row["water_class"]))
    shares = standards.class_shares(classes) if classes else None
    share = shares.share_i_iii if shares else None
    target = standards.plan_target("water_class_i_iii_share", period.start.year)
    return {
        "period": period.label, "sections": sections,
        "graded_sections": len(classes), "share_i_iii": share,
        "share_worse_v": shares.share_worse_v if shares else None,
        "target_share_i_iii": target,
        "margin": None if share is None or target is None else share - target,
    }


async def noise_report(
    conn: AsyncConnection[Any], period: Period, *, regions: Sequence[tuple[str, str]] = (),
    stations: Sequence[str] = (),
) -> dict[str, Any]:
    ids = [s["station_id"]
           for s in await stored_stations.of_kind(conn, "noise", regions, stations)]
    results = [standards.PointDay(*r)
               for r in await stored_indicators.noise_days(conn, ids, period.start, period.end)]
    rates = standards.compliance_rates(results)
    target = standards.plan_target("noise_night_compliance", period.start.year)
    night = rates["all"].night_rate if "all" in rates else None
    return {
        "period": period.label, "points": len(ids),
        "zones": {z: {"day_points": r.day_points, "day_compliant": r.day_compliant,
                      "day_rate": r.day_rate, "night_points": r.night_points,
                      "night_compliant": r.night_compliant, "night_rate": r.night_rate}
                  for z, r in sorted(rates.items())},
        "target_night_rate": target,
        "margin": None if night is None or target is None else night - target,
    }

