"""Building blocks the station models share: seasonal curves, AR(1) noise, episodes."""

from __future__ import annotations

import math
import random
from datetime import datetime
from typing import Protocol


class HourlyModel(Protocol):
    """A station's physics: hourly means for consecutive hours (call in time order)."""

    def step(self, hour: datetime) -> dict[str, float]:
        """Values for the hour that starts at ``hour`` (aware, Beijing local)."""
        ...


def season(hour: datetime, peak_doy: float = 15.0) -> float:
    """cos of the day of year: +1 on ``peak_doy`` (mid-January by default), -1 half a year later."""
    doy = hour.timetuple().tm_yday + hour.hour / 24.0
    return math.cos(2.0 * math.pi * (doy - peak_doy) / 365.25)


def bump(hour_of_day: float, centre: float, width: float) -> float:
    """A daily Gaussian bump in [0, 1] centred on ``centre`` o'clock, wrapping midnight."""
    d = (hour_of_day - centre + 12.0) % 24.0 - 12.0
    return math.exp(-0.5 * (d / width) ** 2)


class Ar1:
    """Gaussian AR(1) with a correlation time in hours and a stationary standard deviation."""

    __slots__ = ("_phi", "_sigma", "value")

    def __init__(self, rng: random.Random, tau_hours: float, sd: float) -> None:
        self._phi = math.exp(-1.0 / tau_hours)
        self._sigma = sd * math.sqrt(1.0 - self._phi**2)
        self.value = rng.gauss(0.0, sd)

    def step(self, rng: random.Random) -> float:
        self.value = self._phi * self.value + rng.gauss(0.0, self._sigma)
        return self.value


class Episode:
    """A rise-and-fall event (haze, dust, rain, spill): ``level`` follows sin(pi t / T)."""

    __slots__ = ("_elapsed", "_hours", "peak")

    def __init__(self, hours: int, peak: float) -> None:
        self._hours = max(1, hours)
        self._elapsed = 0
        self.peak = peak

    @property
    def done(self) -> bool:
        return self._elapsed >= self._hours

    def step(self) -> float:
        """Advance one hour; the shape value for that hour (0 at the ends, ``peak`` mid-way)."""
        self._elapsed += 1
        return self.peak * math.sin(math.pi * (self._elapsed - 0.5) / self._hours)


def magnus_dewpoint(temp: float, rh: float) -> float:
    """Dew point (degC) from temperature and relative humidity (Magnus formula, over water)."""
    a, b = 17.62, 243.12
    g = math.log(max(rh, 1.0) / 100.0) + a * temp / (b + temp)
    return b * g / (a - g)


def magnus_rh(temp: float, dewp: float) -> float:
    """Relative humidity (%) from temperature and dew point, the inverse of the above."""
    a, b = 17.62, 243.12
    return min(100.0, 100.0 * math.exp(a * dewp / (b + dewp) - a * temp / (b + temp)))
