"""AQI as HJ 633-2012 and HJ 633-2026 define it: IAQI by exact interpolation, then ceiling.

Float arithmetic turns an exact 100 into 100.00000000000001 and the ceiling into 101, so the
interpolation is exact (air.md §4.2): integer arithmetic on the concentration's numerator and
denominator against breakpoints scaled to a common denominator, the ceiling by integer
division. The tables are data (``aqi_tables.toml``).
"""

from __future__ import annotations

import itertools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Literal

from aggregator.standards._numbers import Number, exact, ratio, round_half_even
from aggregator.standards.air_time import beijing_day
from aggregator.standards.errors import StandardsError
from aggregator.standards.rules import AIR_RULES_SWITCH, RuleSet, air_rules_for

Pollutant = Literal["so2", "no2", "co", "o3", "pm10", "pm25"]
Period = Literal["1h", "8h", "24h"]
POLLUTANTS: tuple[Pollutant, ...] = ("so2", "no2", "co", "o3", "pm10", "pm25")

#: IAQI given to a concentration above the top breakpoint (IAQI 500). HJ 633 is silent;
#: reporting 500 is common practice (air.md §4.2) and keeps IAQI monotonic.
ABOVE_TOP_IAQI = 500

_TABLE_KEY: dict[RuleSet, str] = {"2012": "hj633_2012", "2026": "hj633_2026"}


@dataclass(frozen=True, slots=True)
class Category:
    """An AQI band of HJ 633 表2 with its Annex A colour."""

    level: int
    name: str
    name_en: str
    colour: str
    colour_en: str
    hex: str
    rgb: tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class AqiReport:
    """A daily or real-time AQI report; ``aqi is None`` means NA (not published).

    ``missing`` names the indicators without a value, ``missing_pollutants`` the pollutants
    none of whose indicators has one (HJ 633-2012 has two O3 indicators per report), and
    ``used`` the indicators whose IAQI the AQI is the maximum of (empty when NA).
    """

    rules: RuleSet
    report: Literal["daily", "hourly"]
    aqi: int | None
    iaqi: Mapping[str, int]
    missing: tuple[str, ...]
    category: Category | None
    primary: tuple[str, ...]
    notes: tuple[str, ...]
    used: tuple[str, ...]
    missing_pollutants: tuple[Pollutant, ...]

    @property
    def complete(self) -> bool:
        """All indicators of the report had a value."""
        return not self.missing

    @property
    def all_pollutants(self) -> bool:
        """Each of the six pollutants has a value in at least one of its indicators."""
        return not self.missing_pollutants


@cache
def _tables() -> dict[str, Any]:
    text = resources.files("aggregator.standards").joinpath("aqi_tables.toml").read_text("utf-8")
    return tomllib.loads(text)


@cache
def _column(pollutant: str, period: str, rules: RuleSet) -> tuple[tuple[Fraction, int], ...]:
    """(breakpoint, IAQI) pairs of one column of 表1 (2012) / 表3 (2026)."""
    if pollutant not in POLLUTANTS:
        raise StandardsError(f"unknown pollutant {pollutant!r}")
    if pollutant in ("pm10", "pm25") and period == "1h":
        if rules == "2012":
            raise StandardsError(
                "HJ 633-2012 has no 1-hour PM breakpoints (real-time report uses 24-h moving)"
            )
        period = "24h"  # HJ 633-2026 §4.2: PM 1-hour values use the daily breakpoints
    table = _tables()
    column = table[_TABLE_KEY[rules]].get(f"{pollutant}_{period}")
    if column is None:
        raise StandardsError(f"no IAQI breakpoints for {pollutant} {period}")
    return tuple(zip((exact(bp) for bp in column), table["iaqi"], strict=False))


def round_concentration(pollutant: Pollutant, value: Number, rules: RuleSet) -> Decimal:
    """The concentration that enters the IAQI step.

    HJ 633-2026 §4.2: rounded per GB/T 8170 (half to even) — µg/m³ to integers, CO (mg/m³) to
    one decimal. HJ 633-2012 prescribes no rounding: the exact value is returned.
    """
    if rules == "2026":
        return round_half_even(value, 1 if pollutant == "co" else 0)
    f = exact(value)
    return Decimal(f.numerator) / Decimal(f.denominator)


def iaqi(pollutant: Pollutant, period: Period, value: Number, rules: RuleSet) -> int | None:
    """IAQI of one concentration (HJ 633 formula 1, rounded up; 2012 clause 6.2, 2026 4.2.6).

    ``None`` when HJ 633-2012 computes no IAQI from the value (SO2 1-h > 800, O3 8-h > 800;
    表1 notes 2, 3 — the report substitutes another average). Under HJ 633-2026 those cases
    count as 200 and 300 (表3 notes b, c).
    """
    return _iaqi(pollutant, period, value, rules)


@lru_cache(maxsize=1 << 16, typed=True)
def _iaqi(pollutant: Pollutant, period: Period, value: Number, rules: RuleSet) -> int | None:
    """``iaqi``, cached per distinct value: a year of hourly reports has few distinct 1-h
    concentrations. ``typed`` keeps e.g. the float 0.1 (read as 0.1) apart from the equal
    binary ``Fraction`` (a different exact value)."""
    n, d = ratio(value)
    if n < 0:
        raise StandardsError(f"negative concentration {value!r} for {pollutant}")
    if rules == "2026":
        n, d = round_concentration(pollutant, value, rules).as_integer_ratio()
    scale, column = _scaled_column(pollutant, period, rules)
    # c = n/d against a breakpoint b/scale: c <= b/scale  <=>  x <= b*d  with x = n*scale
    x = n * scale
    if x > column[-1][0] * d:
        if (pollutant, period) in (("so2", "1h"), ("o3", "8h")):
            if rules == "2012":
                return None
            return 200 if pollutant == "so2" else 300
        return ABOVE_TOP_IAQI
    for (b_lo, i_lo), (b_hi, i_hi) in itertools.pairwise(column):
        if x <= b_hi * d:
            # formula (1): i_lo + (i_hi - i_lo)(c - b_lo)/(b_hi - b_lo), rounded up: -(-a // b)
            return i_lo - (-(i_hi - i_lo) * (x - b_lo * d) // ((b_hi - b_lo) * d))
    raise AssertionError("unreachable: c <= top")  # pragma: no cover


@cache
def _scaled_column(
    pollutant: str, period: str, rules: RuleSet
) -> tuple[int, tuple[tuple[int, int], ...]]:
    """The column's breakpoints as integers over one common denominator ``scale``."""
    column = _column(pollutant, period, rules)
    scale = math.lcm(*(bp.denominator for bp, _ in column))
    return scale, tuple((int(bp * scale), i) for bp, i in column)


def category(aqi: int) -> Category:
    """The HJ 633 表2 band of an AQI value."""
    if aqi < 0:
        raise StandardsError(f"negative AQI {aqi}")
    return _category(aqi)


@cache
def _category(aqi: int) -> Category:
    """Built once per AQI value: every hourly report asks for one."""
    for row in _tables()["category"]:
        if "upper" not in row or aqi <= row["upper"]:
            return Category(
                level=row["level"],
                name=row["name"],
                name_en=row["name_en"],
                colour=row["colour"],
                colour_en=row["colour_en"],
                hex=row["hex"],
                rgb=(row["rgb"][0], row["rgb"][1], row["rgb"][2]),
            )
    raise AssertionError("unreachable: last band is open")  # pragma: no cover


# Indicator key -> (pollutant, period) per report and rule set (2012 §5.1; 2026 §4.2). The
# order is the report's: it orders ``missing``, ``primary`` and ``used``.
_Spec = dict[str, tuple[Pollutant, Period]]


def _averages(period: Period, *pollutants: Pollutant) -> _Spec:
    """Indicators named after their pollutant, all of one averaging period."""
    return {p: (p, period) for p in pollutants}


_DAILY_2026 = _averages("24h", "so2", "no2", "co", "pm10", "pm25") | {"o3_8h": ("o3", "8h")}
_DAILY: dict[RuleSet, _Spec] = {
    "2012": _DAILY_2026 | {"o3_1h": ("o3", "1h")},
    "2026": _DAILY_2026,
}
_HOURLY: dict[RuleSet, _Spec] = {
    "2012": _averages("1h", "so2", "no2", "co", "o3")
    | {"o3_8h": ("o3", "8h"), "pm10_24h": ("pm10", "24h"), "pm25_24h": ("pm25", "24h")},
    "2026": _averages("1h", *POLLUTANTS),
}
_DAILY_KEYS = frozenset(k for spec in _DAILY.values() for k in spec)
_HOURLY_KEYS = frozenset(k for spec in _HOURLY.values() for k in spec) | {"so2_24h"}


def _choose(day: date | None, rules: RuleSet | None) -> RuleSet:
    if day is not None:
        return air_rules_for(day, rules)
    if rules is None:
        raise StandardsError("give the data's date or an explicit rule set")
    return air_rules_for(AIR_RULES_SWITCH, rules)


def _report(
    kind: Literal["daily", "hourly"],
    spec: _Spec,
    values: Mapping[str, Number | None],
    rules: RuleSet,
    known: frozenset[str],
) -> AqiReport:
    if not known.issuperset(values):
        unknown = sorted(set(values) - known)
        raise StandardsError(f"unknown {kind} AQI indicator(s): {', '.join(unknown)}")
    sub: dict[str, int] = {}
    missing: list[str] = []
    notes: list[str] = []
    for key, (pollutant, period) in spec.items():
        value = values.get(key)
        if value is None:
            missing.append(key)
            continue
        result = iaqi(pollutant, period, value, rules)
        if result is not None:
            sub[key] = result
        elif pollutant == "so2":
            # HJ 633-2012 表1 note 2: SO2 1-h > 800 -> report the IAQI of the 24-h average.
            day_value = values.get("so2_24h")
            day_iaqi = None if day_value is None else iaqi("so2", "24h", day_value, rules)
            if day_iaqi is None:
                missing.append(key)
            else:
                sub[key] = day_iaqi
                notes.append("so2: 1-h > 800 µg/m³, IAQI of the 24-h average (HJ 633-2012 表1 注2)")
        else:
            # HJ 633-2012 表1 note 3: O3 8-h > 800 -> the O3 IAQI comes from the 1-hour value,
            # which is its own indicator in both reports; the 8-h indicator is dropped.
            notes.append("o3_8h: > 800 µg/m³, O3 IAQI from the 1-h average (HJ 633-2012 表1 注3)")
    gone = tuple(
        p for p in POLLUTANTS if all(k in missing for k, (q, _) in spec.items() if q == p)
    )
    top = max(sub.values(), default=None)
    if top is not None and rules == "2026":
        top = max(top, 1)  # HJ 633-2026 §4.2: the AQI range is 1-500
    if top is None or (gone and top <= 100):
        # HJ 633-2026 §5.3.1: with a pollutant missing, AQI etc. are published only if > 100.
        # A missing indicator of a pollutant that has another (the 2012 O3 1-h max next to the
        # MDA8) is no missing pollutant: the AQI is the maximum of the indicators present.
        return AqiReport(
            rules, kind, None, sub, tuple(missing), None, (), tuple(notes), (), gone
        )
    primary = tuple(k for k, v in sub.items() if v == top) if top > 50 else ()
    return AqiReport(
        rules, kind, top, sub, tuple(missing), category(top), primary, tuple(notes), tuple(sub),
        gone,
    )


def daily_aqi(
    values: Mapping[str, Number | None],
    *,
    day: date | None = None,
    rules: RuleSet | None = None,
) -> AqiReport:
    """Daily-report AQI (HJ 633-2012 §5.1: 7 indicators; HJ 633-2026 §4.2: 6 indicators).

    Keys: ``so2 no2 co pm10 pm25`` (24-h means), ``o3_8h`` (daily max 8-h), ``o3_1h`` (daily
    max 1-h; 2012 only, ignored under 2026). The rule set comes from ``day`` unless ``rules``.
    """
    chosen = _choose(day, rules)
    return _report("daily", _DAILY[chosen], values, chosen, _DAILY_KEYS)


def hourly_aqi(
    values: Mapping[str, Number | None],
    *,
    hour_start: datetime | None = None,
    rules: RuleSet | None = None,
) -> AqiReport:
    """Real-time (hourly) AQI (HJ 633-2012 §5.1: 9 averages; HJ 633-2026 §4.2: 6 1-h means).

    Keys 2026: ``so2 no2 co o3 pm10 pm25`` (1-h). Keys 2012: ``so2 no2 co o3`` (1-h), ``o3_8h``
    (8-h moving), ``pm10_24h pm25_24h`` (24-h moving), optional ``so2_24h`` (used only when SO2
    1-h > 800). ``hour_start`` is the aware start of the hour; its Beijing day picks the rules.
    """
    chosen = _choose(None if hour_start is None else beijing_day(hour_start), rules)
    return _report("hourly", _HOURLY[chosen], values, chosen, _HOURLY_KEYS)
