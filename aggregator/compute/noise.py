"""Noise indicators of a functional-zone point from its hourly values (pure; GB 3096-2008
via ``aggregator.standards``): daily Ld/Ln/Ldn and day/night compliance, plus the night
maximum level checked against the night limit + 15 dB(A) (GB 3096-2008 表1 note)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, Protocol

from aggregator import standards
from aggregator.compute.hourly_values import HourlyValue


class Point(Protocol):
    @property
    def noise_zone(self) -> standards.Zone | None: ...


def _is_night(h: HourlyValue, day: date) -> bool:
    """Night hour of ``day`` under the default calendar-day night (00-06 and 22-24)."""
    local = h.ts.astimezone(standards.BEIJING)
    s = standards.NOISE
    return local.date() == day and not s.day_start_hour <= local.hour < s.night_start_hour


def station_day(point: Point, hours: Iterable[HourlyValue], day: date) -> dict[str, Any]:
    """The columns of a noise_station_daily row for ``day``."""
    hours = list(hours)
    leq = {h.ts: h.value for h in hours if h.parameter == "leq" and h.valid}
    levels = standards.day_night_levels(leq, day)
    night_max = [
        h.value for h in hours
        if h.parameter == "lmax" and h.valid and h.value is not None and _is_night(h, day)
    ]
    night_lmax = max(night_max) if night_max else None
    zone = point.noise_zone
    if zone not in standards.ZONES:
        raise ValueError(f"noise station without a valid functional zone: {zone!r}")
    result = standards.point_day_compliance(levels, zone, night_lmax=night_lmax)
    return {
        "zone": zone, "ld": levels.ld, "ln": levels.ln, "ldn": levels.ldn,
        "n_day": levels.n_day, "n_night": levels.n_night, "night_lmax": night_lmax,
        "day_ok": result.day_ok, "night_ok": result.night_ok,
        "night_lmax_ok": result.night_lmax_ok,
    }
