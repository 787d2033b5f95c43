"""Surface water at an automatic river (or lake) station: slow drift around a state that meets
the section's target class, a dissolved-oxygen day cycle, rain run-off (turbidity, TP, CODMn up,
DO down) and occasional pollution events that push the section below its target class.
Class limits are GB 3838-2002 表1 (reference/water.md §1)."""

from __future__ import annotations

import math
import random
from datetime import datetime
from typing import Literal

from simulators.models.base import Ar1, Episode, season

# GB 3838-2002 表1, classes I..V (index 0..4), mg/L.
CODMN = (2.0, 4.0, 6.0, 10.0, 15.0)
NH3N = (0.15, 0.5, 1.0, 1.5, 2.0)
TP_RIVER = (0.02, 0.1, 0.2, 0.3, 0.4)
TP_LAKE = (0.01, 0.025, 0.05, 0.1, 0.2)
DO_MIN = (7.5, 6.0, 5.0, 3.0, 2.0)

# Monthly probability that a run-off event starts in a given hour (summer storms).
_RUNOFF_START = (0.0005, 0.0005, 0.001, 0.002, 0.004, 0.006,
                 0.010, 0.010, 0.006, 0.003, 0.001, 0.0005)


def do_saturation(temp: float, altitude_m: float = 1350.0) -> float:
    """DO at saturation (mg/L) for fresh water, corrected for the lower pressure at altitude."""
    sat = 14.62 - 0.3898 * temp + 0.006969 * temp**2 - 0.00005896 * temp**3
    return sat * math.exp(-altitude_m / 8400.0)


class WaterModel:
    """One water station meeting ``target_class`` (1..5) most of the time."""

    def __init__(self, rng: random.Random, target_class: int = 3,
                 body: Literal["river", "lake"] = "river",
                 pollution_events_per_year: float = 4.0) -> None:
        i = min(max(target_class, 1), 5) - 1
        self._rng = rng
        self._codmn = 0.6 * CODMN[i]
        self._nh3n = 0.45 * NH3N[i]
        self._tp = 0.55 * (TP_LAKE if body == "lake" else TP_RIVER)[i]
        self._nh3n_limit = NH3N[i]
        self._lake = body == "lake"
        self._event_rate = pollution_events_per_year / 8766.0
        self._drift = Ar1(rng, tau_hours=240, sd=0.18)
        self._cond = Ar1(rng, tau_hours=300, sd=60.0)
        self._ph = Ar1(rng, tau_hours=120, sd=0.12)
        self._runoff: Episode | None = None
        self._runoff_level = 0.0
        self._spill: Episode | None = None

    def step(self, hour: datetime) -> dict[str, float]:
        rng = self._rng
        h = hour.hour
        s = season(hour)
        drift = math.exp(self._drift.step(rng))
        if self._runoff is None and rng.random() < _RUNOFF_START[hour.month - 1]:
            dry = 0.25 if hour.month in (11, 12, 1, 2, 3) else 1.0  # snow, frozen ground
            self._runoff = Episode(rng.randint(6, 24), rng.uniform(2.0, 25.0) * dry)
        if self._runoff is not None:
            self._runoff_level = max(self._runoff_level, self._runoff.step())
            if self._runoff.done:
                self._runoff = None
        else:
            self._runoff_level *= 0.94  # recedes over one to three days
        r = self._runoff_level
        if self._spill is None and rng.random() < self._event_rate:
            self._spill = Episode(rng.randint(6, 30), rng.uniform(1.3, 2.8) * self._nh3n_limit)
        spill = self._spill.step() if self._spill is not None else 0.0
        if self._spill is not None and self._spill.done:
            self._spill = None

        temp = max(0.3, 12.0 - 10.5 * season(hour, peak_doy=25.0) + 1.2 * math.cos(
            2.0 * math.pi * (h - 16) / 24.0) + rng.gauss(0.0, 0.2))
        photo = math.cos(2.0 * math.pi * (h - 15) / 24.0) * (0.9 - 0.4 * s)
        codmn = self._codmn * drift * (1.0 + 0.08 * r) + 0.3 * spill
        nh3n = self._nh3n * drift * (1.0 + 0.03 * r) + spill
        tp = self._tp * drift * (1.0 + 0.06 * r) + 0.04 * spill
        do = max(0.5, 0.92 * do_saturation(temp) + photo - 0.06 * r - 1.2 * spill
                 + rng.gauss(0.0, 0.1))
        turb = min(9000.0, (60.0 if not self._lake else 8.0) * drift * (1.0 + 1.5 * r)
                   * rng.uniform(0.9, 1.1))
        chla = max(0.0005, (0.004 - 0.003 * s) * (3.0 if self._lake else 1.0) * drift
                   * (1.0 + 0.2 * photo))
        return {
            "ph": 8.1 + self._ph.step(rng) + 0.12 * photo - 0.01 * r,
            "do": do,
            "codmn": codmn,
            "cod": codmn * rng.uniform(3.0, 3.6),
            "bod5": codmn * rng.uniform(0.45, 0.6),
            "nh3n": nh3n,
            "tp": tp,
            "tn": (2.6 if not self._lake else 0.9) * drift + 1.5 * spill,
            "temp": temp,
            "cond": max(150.0, (780.0 + self._cond.step(rng)) * (1.0 - 0.02 * r)),
            "turb": turb,
            "chla": chla,
        }
