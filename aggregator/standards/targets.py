"""Where a region stands against the city plan's targets (``targets.toml``)."""

from __future__ import annotations

import calendar
import math
import tomllib
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from functools import cache
from importlib import resources
from typing import Literal

from aggregator.standards._numbers import exact
from aggregator.standards.errors import StandardsError

TargetIndicator = Literal["air_good_day_ratio", "water_class_i_iii_share", "noise_night_compliance"]


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """An achieved share (%) against its plan target (%)."""

    indicator: TargetIndicator
    year: int
    value: float
    target: float | None
    met: bool | None


@dataclass(frozen=True, slots=True)
class AirTargetStatus:
    """Good-day ratio so far and how many more non-good days the year can afford.

    ``affordable`` assumes every remaining day is a valid day and is at most the remaining
    days; negative means the target can no longer be reached even if every remaining day is
    good. Ratios are compared exactly (unrounded) with the target.
    """

    year: int
    good_days: int
    valid_days: int
    ratio: float | None
    target: float | None
    remaining_days: int
    affordable: int | None
    met_so_far: bool | None


@cache
def _targets() -> dict[str, dict[int, Fraction]]:
    text = resources.files("aggregator.standards").joinpath("targets.toml").read_text("utf-8")
    raw = tomllib.loads(text)
    return {k: {int(y): exact(v) for y, v in table.items()} for k, table in raw.items()}


def _target(indicator: TargetIndicator, year: int) -> Fraction | None:
    table = _targets().get(indicator)
    if table is None:
        raise StandardsError(f"unknown plan target {indicator!r}")
    years = [y for y in table if y <= year]
    return table[max(years)] if years else None


def plan_target(indicator: TargetIndicator, year: int) -> float | None:
    """The plan's target (%) for ``year``; ``None`` before the first target year."""
    t = _target(indicator, year)
    return None if t is None else float(t)


def share_target_status(indicator: TargetIndicator, value: float, year: int) -> TargetStatus:
    """An achieved share (%), e.g. class Ⅰ–Ⅲ share or night compliance, against the plan."""
    target = _target(indicator, year)
    met = None if target is None else exact(value) >= target
    return TargetStatus(indicator, year, value, None if target is None else float(target), met)


def air_target_status(
    good_days: int,
    valid_days: int,
    year: int,
    *,
    remaining_days: int | None = None,
    as_of: date | None = None,
) -> AirTargetStatus:
    """Good-day ratio so far and the non-good days the year can still afford.

    Give ``as_of`` (the last day included in the counts) or ``remaining_days`` (days still to
    come). With g good of v valid days and R days left, the year ends at (g + R − x)/(v + R)
    when x of them are not good; ``affordable`` is the largest x that keeps it >= the target.
    """
    if not 0 <= good_days <= valid_days:
        raise StandardsError("need 0 <= good_days <= valid_days")
    if remaining_days is None:
        if as_of is None:
            raise StandardsError("give as_of or remaining_days")
        if as_of.year != year:
            raise StandardsError("as_of must lie in the target year")
        remaining_days = (date(year, 12, 31) - as_of).days
    if not 0 <= remaining_days <= (366 if calendar.isleap(year) else 365):
        raise StandardsError("remaining_days out of range")
    target = _target("air_good_day_ratio", year)
    ratio = Fraction(100 * good_days, valid_days) if valid_days else None
    affordable = None
    if target is not None and valid_days + remaining_days > 0:
        slack = good_days + remaining_days - target / 100 * (valid_days + remaining_days)
        affordable = min(math.floor(slack), remaining_days)
    return AirTargetStatus(
        year=year,
        good_days=good_days,
        valid_days=valid_days,
        ratio=None if ratio is None else float(ratio),
        target=None if target is None else float(target),
        remaining_days=remaining_days,
        affordable=affordable,
        met_so_far=None if ratio is None or target is None else ratio >= target,
    )
