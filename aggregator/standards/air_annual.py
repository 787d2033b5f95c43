"""Air limits by date (GB 3095-2012/-2026) and the annual assessment of HJ 663 (air.md §6, §7)."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import cache
from importlib import resources
from typing import Any, Literal

from aggregator.standards._numbers import Number, exact, round_half_even
from aggregator.standards.air_validity import year_valid
from aggregator.standards.aqi import POLLUTANTS, AqiReport, Pollutant
from aggregator.standards.errors import StandardsError

LimitPeriod = Literal["1h", "8h", "24h", "annual"]
ValidDay = Literal["complete", "published"]

#: Which days count as valid monitoring days for the good-day ratio. ``"complete"``: only days
#: with a daily value of each of the six pollutants (air.md §6, conservative choice while
#: HJ 663-2026 is not available; the 2012 O3 1-h max is a second O3 indicator, its absence does
#: not void a day); ``"published"``: also days whose partial AQI was published (> 100,
#: HJ 633-2026 §5.3.1). UNVERIFIED.
VALID_DAY: ValidDay = "complete"

#: Decimals an annual statistic is rounded to (GB/T 8170) before it is compared with the limit:
#: µg/m³ integers, CO 0.1 mg/m³. HJ 663 cites GB/T 8170 but its rounding table was not read;
#: these follow the HJ 633-2026 concentration rounding. UNVERIFIED.
STATISTIC_DECIMALS: Mapping[str, int] = {p: (1 if p == "co" else 0) for p in POLLUTANTS}

# HJ 663 表1 (air.md §7.5): statistic -> period of the limit it is compared with.
_ANNUAL_ITEMS: dict[str, tuple[tuple[str, LimitPeriod], ...]] = {
    "so2": (("mean", "annual"), ("p98", "24h")),
    "no2": (("mean", "annual"), ("p98", "24h")),
    "pm10": (("mean", "annual"), ("p95", "24h")),
    "pm25": (("mean", "annual"), ("p95", "24h")),
    "co": (("p95", "24h"),),
    "o3": (("p90", "8h"),),
}


@dataclass(frozen=True, slots=True)
class AnnualStatistic:
    """One HJ 663 表1 statistic of a pollutant for a calendar year."""

    pollutant: Pollutant
    statistic: str
    value: float | None
    reported: Decimal | None
    limit: float
    n_days: int
    valid: bool
    attains: bool | None
    exceedance: float | None


#: Which statistics decide a pollutant's annual attainment: ``"hj663"`` every HJ 663 表1
#: statistic of the pollutant (annual mean and 24-h percentile; reference air.md §7.5: "a
#: pollutant attains when all its statistics are <= the limits"); ``"bulletin"`` the
#: ``BULLETIN_ATTAINMENT_ITEMS`` only (as bulletins and city rankings state attainment).
AttainmentItems = Literal["hj663", "bulletin"]

#: One statistic per pollutant as the bulletins judge attainment: SO2, NO2, PM10, PM2.5
#: annual means vs the annual limits, CO 24-h p95 vs the 24-h limit, O3 MDA8 p90 vs the 8-h
#: limit (the 24-h percentiles of SO2, NO2, PM10, PM2.5 are left out).
BULLETIN_ATTAINMENT_ITEMS: Mapping[Pollutant, str] = {
    "so2": "mean", "no2": "mean", "pm10": "mean", "pm25": "mean", "co": "p95", "o3": "p90",
}


@dataclass(frozen=True, slots=True)
class AnnualAttainment:
    """Does a city (or station) attain the annual standard on all six pollutants?

    ``pollutants``: per pollutant the verdict of its statistics (False if one fails, True if
    all attain, ``None`` when the year's data are not valid or absent); ``attains`` is False
    as soon as one pollutant fails, True when all six attain, otherwise ``None``;
    ``exceeding`` lists the failing pollutants; ``statistics`` those behind the verdicts.
    """

    items: AttainmentItems
    year: int
    attains: bool | None
    pollutants: Mapping[Pollutant, bool | None]
    exceeding: tuple[Pollutant, ...]
    statistics: tuple[AnnualStatistic, ...]


@dataclass(frozen=True, slots=True)
class DayCounts:
    """Daily-AQI day counts and their ratios (%) over valid days (air.md §6);
    ``partial_days``: valid days whose AQI lacks one of the report's indicators."""

    valid_days: int
    good_days: int
    polluted_days: int
    heavy_days: int
    good_ratio: float | None
    polluted_ratio: float | None
    heavy_ratio: float | None
    partial_days: int


@cache
def _limit_tables() -> list[dict[str, Any]]:
    text = resources.files("aggregator.standards").joinpath("air_limits.toml").read_text("utf-8")
    return sorted(tomllib.loads(text).values(), key=lambda t: t["from"])


def air_limit(pollutant: Pollutant, period: LimitPeriod, day: date, *, level: int = 2) -> float:
    """The concentration limit in force on ``day`` (GB 3095-2012 表1; GB 3095-2026 表1,
    transitional until 2030-12-31, final from 2031-01-01, clause 4.4)."""
    if level not in (1, 2):
        raise StandardsError(f"level must be 1 or 2, not {level!r}")
    table = [t for t in _limit_tables() if t["from"] <= day][-1]
    limits = table.get(pollutant, {}).get(period)
    if limits is None:
        raise StandardsError(f"GB 3095 has no {period} limit for {pollutant}")
    return float(limits[level - 1])


def exceedance_multiple(value: Number, limit: Number) -> float | None:
    """超标倍数 (C − S) / S, only when C > S (HJ 663; air.md §7.7)."""
    c, s = exact(value), exact(limit)
    if s <= 0:
        raise StandardsError(f"limit must be positive, not {limit!r}")
    return float((c - s) / s) if c > s else None


def percentile(values: Iterable[Number], p: Number) -> float:
    """HJ 663 Annex A percentile: k = 1 + (n − 1)·p %, linear between order statistics."""
    xs = sorted(exact(v) for v in values)
    if not xs:
        raise StandardsError("percentile of no values")
    pp = exact(p)
    if not 0 <= pp <= 100:
        raise StandardsError(f"percentile must be within 0..100, not {p!r}")
    k = 1 + (len(xs) - 1) * pp / 100
    s = math.floor(k)
    if s >= len(xs):
        return float(xs[-1])
    return float(xs[s - 1] + (xs[s] - xs[s - 1]) * (k - s))


def annual_statistics(
    pollutant: Pollutant, daily: Mapping[date, float], year: int, *, level: int = 2
) -> tuple[AnnualStatistic, ...]:
    """The HJ 663 表1 statistics of one pollutant for ``year``.

    ``daily`` holds the VALID daily values (O3: MDA8) by Beijing day; other years are ignored.
    Validity: >= 324 days and >= 27 per month (Feb 25) (GB 3095 表4; for the 24-h percentiles of
    SO2/NO2/CO/PM the rule is UNVERIFIED, air.md §7.3). Limits: those in force on 31 December.
    """
    if pollutant not in _ANNUAL_ITEMS:
        raise StandardsError(f"unknown pollutant {pollutant!r}")
    values = {d: v for d, v in daily.items() if d.year == year and v is not None}
    valid = year_valid(values, year)
    out = []
    for statistic, period in _ANNUAL_ITEMS[pollutant]:
        limit = air_limit(pollutant, period, date(year, 12, 31), level=level)
        value: float | None = None
        if values:
            if statistic == "mean":
                value = math.fsum(values.values()) / len(values)
            else:
                value = percentile(values.values(), int(statistic[1:]))
        reported = None if value is None else round_half_even(value, STATISTIC_DECIMALS[pollutant])
        attains = None if reported is None or not valid else reported <= Fraction(limit)
        exceed = None if reported is None else exceedance_multiple(reported, limit)
        out.append(
            AnnualStatistic(
                pollutant, statistic, value, reported, limit, len(values), valid, attains, exceed
            )
        )
    return tuple(out)


def annual_attainment(
    daily: Mapping[Pollutant, Mapping[date, float]],
    year: int,
    *,
    level: int = 2,
    items: AttainmentItems = "hj663",
) -> AnnualAttainment:
    """Whether a city attains the annual air standard on all six pollutants (达标: every
    pollutant attains, air.md §7.5), by the HJ 663 表1 statistics (``annual_statistics``:
    Annex A percentiles, validity 324 days and 27 per month, GB 3095 limits in force on
    31 December — annual limits for means, 24-h / 8-h limits for percentiles).

    ``daily`` holds each pollutant's VALID daily values (O3: MDA8) by Beijing day, e.g. the
    city's daily means (HJ 663 表A.1, ``city_mean``); a pollutant without values is unknown.
    ``items`` (``AttainmentItems``): all 表1 statistics, or the bulletins' one per pollutant.
    """
    stats = []
    verdicts: dict[Pollutant, bool | None] = {}
    for pollutant, bulletin_statistic in BULLETIN_ATTAINMENT_ITEMS.items():
        found = [
            s for s in annual_statistics(pollutant, daily.get(pollutant, {}), year, level=level)
            if items == "hj663" or s.statistic == bulletin_statistic
        ]
        stats.extend(found)
        verdicts[pollutant] = _all_attain(s.attains for s in found)
    exceeding = tuple(p for p, ok in verdicts.items() if ok is False)
    return AnnualAttainment(
        items, year, _all_attain(verdicts.values()), verdicts, exceeding, tuple(stats)
    )


def _all_attain(verdicts: Iterable[bool | None]) -> bool | None:
    """False if any fails, True if all attain, else unknown."""
    vs = list(verdicts)
    return False if False in vs else (True if all(vs) else None)


def day_counts(reports: Iterable[AqiReport], *, valid_day: ValidDay = VALID_DAY) -> DayCounts:
    """Good (AQI <= 100), polluted (> 100) and heavy (> 200) days over valid days (air.md §6).

    Only daily reports count (never hourly AQIs). Ratios in %, ``None`` with no valid day.
    """
    aqis = []
    partial = 0
    for r in reports:
        if r.report != "daily":
            raise StandardsError("day counts use daily AQI reports only")
        if r.aqi is not None and (r.all_pollutants or valid_day == "published"):
            aqis.append(r.aqi)
            partial += not r.complete
    n = len(aqis)
    good = sum(a <= 100 for a in aqis)
    polluted = n - good
    heavy = sum(a > 200 for a in aqis)

    def ratio(k: int) -> float | None:
        return None if n == 0 else 100 * k / n

    return DayCounts(
        n, good, polluted, heavy, ratio(good), ratio(polluted), ratio(heavy), partial
    )
