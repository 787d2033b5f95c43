"""Acoustic functional-zone indicators of GB 3096-2008: Ld, Ln, Ldn and compliance rates.

Levels are energy-averaged, never arithmetically (noise.md §2.1). Hourly series are keyed by
the aware START of the hour (``Reading.ts``); day/night membership is by the Beijing-local hour
of that start. Validity minimums of HJ 906 were not readable: they are ``NoiseSettings``.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any, Literal

from aggregator.standards._numbers import round_half_even
from aggregator.standards.air_time import day_start
from aggregator.standards.air_validity import Aggregate
from aggregator.standards.errors import StandardsError
from envmon.beijing_time import HOUR

Zone = Literal["0", "1", "2", "3", "4a", "4b"]
ZONES: tuple[Zone, ...] = ("0", "1", "2", "3", "4a", "4b")


@dataclass(frozen=True, slots=True)
class NoiseSettings:
    """Day/night periods and validity minimums (all UNVERIFIED beyond the defaults' sources).

    * ``day_start_hour``/``night_start_hour``: GB 3096 default 06:00 / 22:00; a city may
      shift them (noise.md §1.3), so they are per-city settings.
    * ``min_day_hours``/``min_night_hours``: 75 % of the period's hours (12 of 16, 6 of 8) —
      convention while HJ 906 §6/§7 is unread.
    * ``min_hour_vdr``: valid data rate of an hour, 0.75 (≈ 45 min) — convention.
    * ``night_of``: ``"calendar_day"`` = 00:00–06:00 + 22:00–24:00 of the same day (HJ 212
      daily packet layout); ``"evening_start"`` = 22:00 of the day to 06:00 of the next.
    """

    day_start_hour: int = 6
    night_start_hour: int = 22
    min_day_hours: int = 12
    min_night_hours: int = 6
    min_hour_vdr: float = 0.75
    night_of: Literal["calendar_day", "evening_start"] = "calendar_day"

    def __post_init__(self) -> None:
        if not 0 <= self.day_start_hour < self.night_start_hour <= 24:
            raise StandardsError("need 0 <= day_start_hour < night_start_hour <= 24")


NOISE = NoiseSettings()


@dataclass(frozen=True, slots=True)
class ZoneLimits:
    """GB 3096 表1 limits of a zone, plus the night L_max ceiling (night limit + 15)."""

    day: float
    night: float
    night_lmax: float


@dataclass(frozen=True, slots=True)
class DayNightLevels:
    """Ld, Ln (``None`` when too few valid hours) and Ldn, rounded to 0.1 dB (GB/T 8170)."""

    ld: float | None
    ln: float | None
    ldn: float | None
    n_day: int
    n_night: int


@dataclass(frozen=True, slots=True)
class PointDay:
    """One point-day: day and night compliance (``None`` = not monitored/invalid)."""

    zone: Zone
    day_ok: bool | None
    night_ok: bool | None
    night_lmax_ok: bool | None


@dataclass(frozen=True, slots=True)
class ComplianceRate:
    """Day/night compliance rates (%) on point-times (noise.md §3.2)."""

    day_points: int
    day_compliant: int
    day_rate: float | None
    night_points: int
    night_compliant: int
    night_rate: float | None


@cache
def _tables() -> dict[str, Any]:
    text = resources.files("aggregator.standards").joinpath("noise_tables.toml").read_text("utf-8")
    return tomllib.loads(text)


def zone_limits(zone: Zone, *, existing_railway: bool = False) -> ZoneLimits:
    """GB 3096-2008 表1 limits; ``existing_railway`` = the 70/55 rule for zone 4b along
    railway trunk lines existing before 2011 (same clause)."""
    tables = _tables()
    row = tables["zones"].get(zone)
    if row is None:
        raise StandardsError(f"unknown acoustic functional zone {zone!r}")
    if existing_railway:
        if zone != "4b":
            raise StandardsError("the existing-railway limits apply to zone 4b only")
        row = tables["existing_railway"]
    margin = tables["sudden_noise"]["night_lmax_margin"]
    return ZoneLimits(float(row["day"]), float(row["night"]), float(row["night"] + margin))


def energy_average(levels: Iterable[float | None]) -> float | None:
    """L = 10·lg((1/N)·Σ 10^(0.1·L_i)) over the valid levels (noise.md §2.1)."""
    xs = [float(x) for x in levels if x is not None]
    if not xs:
        return None
    return 10 * math.log10(math.fsum(10 ** (0.1 * x) for x in xs) / len(xs))


def hourly_leq(
    samples: Iterable[float | None], expected: int, *, min_vdr: float = NOISE.min_hour_vdr
) -> Aggregate:
    """Hourly Leq of the valid samples; valid when n/expected >= ``min_vdr`` (HJ 906 3.1/3.2)."""
    if expected <= 0:
        raise StandardsError("expected sample count must be positive")
    xs = [float(x) for x in samples if x is not None]
    return Aggregate(energy_average(xs), len(xs), len(xs) / expected >= min_vdr)


def ldn(ld: float, ln: float, *, day_hours: int = 16) -> float:
    """Day-night level with a 10 dB night penalty (noise.md §2.1), unrounded."""
    night_hours = 24 - day_hours
    energy = day_hours * 10 ** (0.1 * ld) + night_hours * 10 ** (0.1 * (ln + 10))
    return 10 * math.log10(energy / 24)


def _round(level: float | None) -> float | None:
    return None if level is None else float(round_half_even(level, 1))


def day_night_levels(
    hourly: Mapping[datetime, float | None], day: date, *, settings: NoiseSettings = NOISE
) -> DayNightLevels:
    """Ld and Ln of natural day ``day`` from hourly Leq keyed by hour START (noise.md §2.1)."""
    start = day_start(day)
    day_hours = range(settings.day_start_hour, settings.night_start_hour)
    if settings.night_of == "calendar_day":
        night_offsets = [h for h in range(24) if h not in day_hours]
    else:
        night_offsets = list(range(settings.night_start_hour, 24 + settings.day_start_hour))
    day_levels = [hourly.get(start + h * HOUR) for h in day_hours]
    night_levels = [hourly.get(start + h * HOUR) for h in night_offsets]
    n_day = sum(x is not None for x in day_levels)
    n_night = sum(x is not None for x in night_levels)
    ld = energy_average(day_levels) if n_day >= settings.min_day_hours else None
    ln = energy_average(night_levels) if n_night >= settings.min_night_hours else None
    both = None if ld is None or ln is None else ldn(ld, ln, day_hours=len(day_hours))
    return DayNightLevels(_round(ld), _round(ln), _round(both), n_day, n_night)


def point_day_compliance(
    levels: DayNightLevels,
    zone: Zone,
    *,
    night_lmax: float | None = None,
    existing_railway: bool = False,
) -> PointDay:
    """Day compliant if Ld <= day limit, night if Ln <= night limit (judged separately);
    optional sudden-noise flag: night L_max <= night limit + 15 (GB 3096 表1 clause)."""
    limits = zone_limits(zone, existing_railway=existing_railway)
    return PointDay(
        zone=zone,
        day_ok=None if levels.ld is None else levels.ld <= limits.day,
        night_ok=None if levels.ln is None else levels.ln <= limits.night,
        night_lmax_ok=None if night_lmax is None else night_lmax <= limits.night_lmax,
    )


def _rate(points: list[bool]) -> tuple[int, int, float | None]:
    ok = sum(points)
    return len(points), ok, (100 * ok / len(points) if points else None)


def compliance_rates(results: Iterable[PointDay]) -> dict[str, ComplianceRate]:
    """Functional-zone day/night compliance rates per zone and ``"all"`` (noise.md §3.2):
    compliant point-times / monitored point-times; L_max does not enter the rate."""
    by_zone: dict[str, list[PointDay]] = {}
    for r in results:
        by_zone.setdefault(r.zone, []).append(r)
        by_zone.setdefault("all", []).append(r)
    out = {}
    for zone, rs in by_zone.items():
        day = _rate([r.day_ok for r in rs if r.day_ok is not None])
        night = _rate([r.night_ok for r in rs if r.night_ok is not None])
        out[zone] = ComplianceRate(*day, *night)
    return out
