"""Ambient air: PM2.5/PM10, SO2, NO2, O3, CO and met fields, tuned to a north-western Chinese
city (Pingliang, Gansu) so that daily AQI statistics look like a real year: mostly good days,
winter heating haze lasting several days, spring dust storms (PM10 spikes) and summer afternoon
ozone. Levels are bounded by GB 3095-2012 表1 orders of magnitude (reference/air.md §1)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime

from simulators.models.base import Ar1, Episode, bump, season
from simulators.models.weather import Weather, WeatherModel

# Mean-1 diurnal profile of particles: night accumulation in a shallow boundary layer, a
# morning traffic peak and an afternoon minimum when the mixing layer is deepest.
_PM_DIURNAL = (1.10, 1.08, 1.05, 1.01, 0.98, 0.98, 1.01, 1.07, 1.13, 1.12, 1.05, 0.97,
               0.90, 0.85, 0.82, 0.82, 0.85, 0.92, 1.00, 1.08, 1.14, 1.17, 1.16, 1.13)


def heating_season(hour: datetime) -> bool:
    """Central heating in northern China runs from 15 November to 15 March."""
    md = (hour.month, hour.day)
    return md >= (11, 15) or md <= (3, 15)


@dataclass(frozen=True, slots=True)
class RegionHour:
    """What the stations of one city share in an hour: weather and air-mass history."""

    weather: Weather
    pm_anomaly: float  # log-anomaly of particles (stagnation, transport)
    o3_anomaly: float
    haze: float  # 0 outside a haze episode
    dust: float  # µg/m³ of dust added to PM10 (0 outside a dust storm)
    washout: float  # 1 = none; < 1 for hours after rain


class Region:
    """A city's weather, haze episodes and dust storms, shared by its air stations so that a
    haze or a dust storm reaches every station at once. Stepped once per hour, whichever
    station asks first (all stations advance in lockstep)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._weather = WeatherModel(rng)
        self._pm = Ar1(rng, tau_hours=30, sd=0.38)
        self._o3 = Ar1(rng, tau_hours=40, sd=0.2)
        self._haze: Episode | None = None
        self._dust: Episode | None = None
        self._washout = 1.0
        self._last: tuple[datetime, RegionHour] | None = None

    def at(self, hour: datetime) -> RegionHour:
        if self._last is not None and self._last[0] == hour:
            return self._last[1]
        rng = self._rng
        w = self._weather.step(hour)
        h = hour.hour
        if h == 0 and self._haze is None and heating_season(hour) and rng.random() < 0.045:
            self._haze = Episode(rng.randint(48, 132), rng.uniform(1.2, 3.2))
        if h == 6 and self._dust is None and hour.month in (3, 4, 5) and rng.random() < 0.03:
            self._dust = Episode(rng.randint(10, 36), rng.uniform(250.0, 900.0))
        haze = self._haze.step() if self._haze is not None else 0.0
        if self._haze is not None and (self._haze.done or w.ws > 6.0):
            self._haze = None  # a strong wind ends the episode
        dust = self._dust.step() if self._dust is not None else 0.0
        if self._dust is not None and self._dust.done:
            self._dust = None
        self._washout = 0.55 if w.rain > 0.3 else min(1.0, self._washout + 0.04)
        state = RegionHour(w, self._pm.step(rng), self._o3.step(rng), haze, dust, self._washout)
        self._last = (hour, state)
        return state


class AirModel:
    """One air station. ``scale`` shifts its pollution level (1.0 = a typical urban site);
    stations given the same ``region`` share weather and episodes."""

    def __init__(self, rng: random.Random, scale: float = 1.0, region: Region | None = None
                 ) -> None:
        self._rng = rng
        self._scale = scale
        self._region = region or Region(rng)
        self._pm = Ar1(rng, tau_hours=24, sd=0.25)  # local sources and local weather
        self._no2 = Ar1(rng, tau_hours=10, sd=0.25)

    def step(self, hour: datetime) -> dict[str, float]:
        rng = self._rng
        r = self._region.at(hour)
        w = r.weather
        s = season(hour)
        heating = heating_season(hour)
        h = hour.hour
        pm_anom = r.pm_anomaly + self._pm.step(rng)
        haze, dust = r.haze, r.dust * rng.uniform(0.8, 1.2)

        ventilation = 1.0 / (0.65 + 0.35 * w.ws)  # calm air traps pollution
        base_pm25 = (24.0 + 8.0 * s + (18.0 if heating else 0.0)) * self._scale
        pm25 = (base_pm25 * math.exp(pm_anom) * _PM_DIURNAL[h] * (1.0 + haze)
                * r.washout * min(1.6, ventilation) + 0.18 * dust)
        fine_share = 0.55 if heating else 0.42
        pm10 = pm25 / fine_share * rng.uniform(0.9, 1.1) + dust

        traffic = (0.7 + 0.5 * bump(h, 8.0, 1.5) + 0.45 * bump(h, 19.5, 2.0)
                   - 0.25 * bump(h, 14, 2.5))
        no2 = ((28.0 + 8.0 * s) * self._scale * traffic * math.exp(self._no2.step(rng)
               + 0.5 * pm_anom) * (1.0 + 0.3 * haze) * min(1.5, ventilation))
        so2 = ((7.0 + (15.0 if heating else 0.0)) * self._scale * math.exp(0.6 * pm_anom)
               * (0.85 + 0.3 * bump(h, 12.0, 3.0)) * rng.uniform(0.9, 1.1))
        co = 0.3 + 0.011 * pm25 * (1.2 if heating else 1.0) * rng.uniform(0.85, 1.15)

        photo = (18.0 + 115.0 * max(0.0, -season(hour, peak_doy=15.0)) ** 1.3) * math.exp(
            r.o3_anomaly) * max(0.0, (w.temp + 5.0) / 30.0)
        o3 = max(2.0, (50.0 - 8.0 * s) * (0.45 + 0.55 * w.ws / (1.0 + w.ws))
                 + photo * w.sun * bump(h, 14.5, 3.2) * rng.uniform(0.92, 1.08)
                 - 0.45 * no2 * (1.0 - w.sun))
        return {
            "pm25": pm25, "pm10": pm10, "so2": so2, "no2": no2, "o3": o3, "co": co,
            "temp": w.temp + rng.gauss(0.0, 0.3), "rh": w.rh, "pres": w.pres, "ws": w.ws,
            "wd": w.wd, "rain": w.rain, "dewp": w.dewp,
        }
