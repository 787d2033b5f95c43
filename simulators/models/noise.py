"""Functional-zone noise: hourly Leq by GB 3096-2008 zone class and hour (traffic peaks, quiet
nights), sudden night events (Lmax) and statistical levels consistent with Leq.

The short-term A-levels within an hour are modelled as normally distributed in dB with spread
``sigma``; for such a distribution L10/L50/L90 are L50 ± 1.28 sigma and Leq = L50 + 0.115 sigma²
(energy mean of a log-normal), so the statistics agree with each other by construction.
Zone limits: reference/noise.md §1.2."""

from __future__ import annotations

import math
import random
from datetime import datetime

from simulators.models.base import Ar1, bump

# Typical day Leq, dB(A), for a point in each zone class, a few dB under the GB 3096 表1 day
# limit (0: 50, 1: 55, 2: 60, 3: 65, 4a/4b: 70) so that most days comply; and the spread
# (traffic makes the level fluctuate more).
_DAY_LEVEL = {"0": 47.5, "1": 53.0, "2": 57.5, "3": 61.5, "4a": 66.0, "4b": 64.0}
_SIGMA = {"0": 3.5, "1": 4.0, "2": 4.5, "3": 4.0, "4a": 5.5, "4b": 6.5}
_NIGHT_DROP = {"0": 9.0, "1": 9.0, "2": 9.0, "3": 8.0, "4a": 10.5, "4b": 6.5}


def energy_mean(levels: list[float]) -> float:
    """10 lg(mean of 10^(L/10)) — how Leq, Ld and Ln combine (reference/noise.md §2.1)."""
    return 10.0 * math.log10(sum(10.0 ** (0.1 * x) for x in levels) / len(levels))


class NoiseModel:
    """One noise point in GB 3096 zone ``zone`` ("0", "1", "2", "3", "4a", "4b")."""

    def __init__(self, rng: random.Random, zone: str = "2", night_events_per_night: float = 0.3
                 ) -> None:
        self._rng = rng
        self._day = _DAY_LEVEL[zone]
        self._sigma = _SIGMA[zone]
        self._drop = _NIGHT_DROP[zone]
        self._event_p = night_events_per_night / 8.0
        self._anom = Ar1(rng, tau_hours=6, sd=1.2)

    def step(self, hour: datetime) -> dict[str, float]:
        rng = self._rng
        h = hour.hour
        activity = (bump(h, 8.0, 1.2) + bump(h, 18.0, 1.5)) * 2.0 - 0.5 * bump(h, 13.0, 1.0)
        night = 1.0 if h >= 22 or h < 6 else 0.0
        deep = bump(h, 3.0, 1.8)
        weekend = -1.0 if hour.weekday() >= 5 else 0.0
        l50 = (self._day - 2.0 + activity - night * self._drop - 3.0 * deep + weekend
               + self._anom.step(rng))
        sigma = self._sigma * (0.8 if night else 1.0) * rng.uniform(0.9, 1.1)
        leq = l50 + 0.115 * sigma**2
        lmax = l50 + 2.9 * sigma + rng.uniform(2.0, 8.0)
        if night and rng.random() < self._event_p:
            # A sudden event: a few seconds of a loud source (a lorry, a car alarm, a shout).
            event_level = l50 + rng.uniform(28.0, 42.0)
            seconds = rng.uniform(2.0, 20.0)
            leq = 10.0 * math.log10(10.0 ** (0.1 * leq)
                                    + seconds / 3600.0 * 10.0 ** (0.1 * event_level))
            lmax = max(lmax, event_level)
        return {
            "leq": leq,
            "lmax": lmax,
            "lmin": l50 - 2.6 * sigma - rng.uniform(0.5, 2.0),
            "l10": l50 + 1.28 * sigma,
            "l50": l50,
            "l90": l50 - 1.28 * sigma,
        }
