"""Met fields for a loess-plateau city (Pingliang, about 1 350 m): temperature, humidity,
pressure, wind and rain. Air-quality physics reads them (rain washes out particles, sunshine
and heat drive ozone), so they are simulated first each hour."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime

from simulators.models.base import Ar1, Episode, magnus_dewpoint, season


@dataclass(frozen=True, slots=True)
class Weather:
    temp: float
    rh: float
    pres: float
    ws: float
    wd: float
    rain: float
    dewp: float
    sun: float  # 0..1 clear-sky sunshine this hour (not a wire parameter)


class WeatherModel:
    """Hour-by-hour weather with seasons, a diurnal cycle and synoptic (multi-day) swings."""

    # Monthly probability that a rain spell starts in a given hour (summer monsoon peak).
    _RAIN_START = (0.002, 0.003, 0.006, 0.010, 0.014, 0.018,
                   0.026, 0.026, 0.020, 0.010, 0.004, 0.002)

    def __init__(self, rng: random.Random, mean_temp: float = 9.5, temp_amplitude: float = 12.5,
                 pressure: float = 865.0) -> None:
        self._rng = rng
        self._mean_temp = mean_temp
        self._temp_amplitude = temp_amplitude
        self._pressure = pressure
        self._synoptic = Ar1(rng, tau_hours=72, sd=3.0)
        self._humid = Ar1(rng, tau_hours=48, sd=12.0)
        self._wind = Ar1(rng, tau_hours=12, sd=0.45)
        self._press = Ar1(rng, tau_hours=60, sd=4.0)
        self._wd = rng.uniform(0.0, 360.0)
        self._rain: Episode | None = None

    def step(self, hour: datetime) -> Weather:
        rng = self._rng
        s = season(hour)  # +1 mid-winter
        h = hour.hour
        synoptic = self._synoptic.step(rng)
        diurnal = math.cos(2.0 * math.pi * (h - 15) / 24.0)
        spring = max(0.0, season(hour, peak_doy=105.0))
        temp = (self._mean_temp - self._temp_amplitude * s + (5.5 + 1.5 * spring) * diurnal
                + synoptic)
        if self._rain is None and rng.random() < self._RAIN_START[hour.month - 1]:
            self._rain = Episode(rng.randint(2, 14), rng.expovariate(1.0 / 1.6))
        rain = 0.0
        if self._rain is not None:
            rain = max(0.0, self._rain.step() * rng.uniform(0.5, 1.5))
            if self._rain.done:
                self._rain = None
        raining = rain > 0.05
        base_rh = 60.0 - 12.0 * s + self._humid.step(rng) - 12.0 * diurnal
        rh = min(99.0, max(12.0, 92.0 + rng.uniform(0, 6) if raining else base_rh))
        if raining:
            temp -= 2.0
        wind = math.exp(self._wind.step(rng))
        ws = max(0.1, (1.4 + 0.9 * spring + 1.0 * max(0.0, diurnal)) * wind)
        self._wd = (self._wd + rng.gauss(0.0, 20.0)) % 360.0
        sun = 0.0 if raining else max(0.0, math.sin(math.pi * (h - 6.0) / 13.0)) * (
            1.0 - 0.35 * s) * (1.0 - max(0.0, rh - 60.0) / 80.0)
        return Weather(
            temp=temp, rh=rh, pres=self._pressure + 6.0 * s + self._press.step(rng), ws=ws,
            wd=self._wd, rain=rain, dewp=magnus_dewpoint(temp, rh), sun=min(1.0, sun),
        )
