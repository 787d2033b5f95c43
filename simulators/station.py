"""A simulated station: its model's hourly means turned into the documents a logger sends at
the cadences real stations use (real-time every 30 s-5 min, minute, hourly, daily)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from envmon.beijing_time import BEIJING
from envmon.parameters import StationKind, catalogue
from envmon.stations import Station
from simulators.document import Document
from simulators.models import Region, model_for
from simulators.models.noise import energy_mean

# Decimals a logger reports (HJ 212 data types, reference/hj212.md §7: N3.1 for most).
DECIMALS: dict[StationKind, dict[str, int]] = {
    "air": {"pm25": 1, "pm10": 1, "so2": 1, "no2": 1, "o3": 1, "co": 3, "temp": 1, "rh": 1,
            "pres": 1, "ws": 1, "wd": 0, "rain": 1, "dewp": 1},
    "water": {"ph": 2, "do": 2, "codmn": 2, "cod": 1, "bod5": 2, "nh3n": 3, "tp": 3, "tn": 2,
              "temp": 1, "cond": 0, "turb": 1, "chla": 4},
    "noise": {"leq": 1, "lmax": 1, "lmin": 1, "l10": 1, "l50": 1, "l90": 1, "ld": 1, "ln": 1},
}
# What real-time (and minute) documents carry: the analysers, not the derived statistics.
SUB_HOUR: dict[StationKind, tuple[str, ...]] = {
    "air": ("pm25", "pm10", "so2", "no2", "o3", "co", "temp", "rh", "ws", "wd"),
    "water": ("ph", "do", "temp", "cond", "turb"),
    "noise": ("leq",),
}
_DAY_HOURS = range(6, 22)  # GB 3096 day 06:00-22:00 (reference/noise.md §1.3)


@dataclass(frozen=True, slots=True)
class Cadence:
    """Which documents a station sends. ``realtime_seconds``: 30-3600 (HJ 212 RtdInterval)."""

    realtime_seconds: int | None = None
    minute_interval: int | None = None
    hourly: bool = True
    daily: bool = True

    def __post_init__(self) -> None:
        if self.realtime_seconds is not None and not 30 <= self.realtime_seconds <= 3600:
            raise ValueError("realtime_seconds must be 30..3600 (HJ 212 RtdInterval)")
        if self.minute_interval is not None and 60 % self.minute_interval:
            raise ValueError("minute_interval must divide 60 (HJ 212 MinInterval)")


def station_rng(seed: int, station_id: str, purpose: str) -> random.Random:
    """An independent, reproducible random stream per (seed, station, purpose)."""
    return random.Random(f"{seed}/{station_id}/{purpose}")


class SimStation:
    """One station advancing hour by hour; ``documents`` must be called for consecutive hours."""

    def __init__(self, station: Station, seed: int, cadence: Cadence | None = None,
                 region: Region | None = None) -> None:
        self.station = station
        self.cadence = cadence or Cadence()
        self._model = model_for(station, station_rng(seed, station.station_id, "model"), region)
        self._jitter = station_rng(seed, station.station_id, "jitter")
        self._hours: list[tuple[datetime, dict[str, float]]] = []

    def documents(self, hour: datetime, realtime: bool = True) -> Iterator[Document]:
        """The documents for the hour starting at ``hour``, in the order they are due;
        ``realtime=False`` leaves out the sub-hour documents (the model still advances)."""
        hour = hour.astimezone(BEIJING)
        values = self._model.step(hour)
        kind = self.station.kind
        if self.cadence.realtime_seconds is not None and realtime:
            yield from self._sub_hour(hour, values, "rt", self.cadence.realtime_seconds)
        if self.cadence.minute_interval is not None and realtime:
            yield from self._sub_hour(hour, values, "min", 60 * self.cadence.minute_interval)
        if self.cadence.hourly:
            yield Document(self.station.station_id, "hour", hour, _rounded(kind, values))
        if self.cadence.daily:
            if hour.hour == 0:
                self._hours.clear()
            self._hours.append((hour, values))
            if hour.hour == 23 and len(self._hours) == 24:
                day = self._hours[0][0]
                yield Document(self.station.station_id, "day", day,
                               _rounded(kind, _daily(kind, self._hours)))

    def _sub_hour(self, hour: datetime, values: dict[str, float], interval: str,
                  step_seconds: int) -> Iterator[Document]:
        kind = self.station.kind
        rng = self._jitter
        spec = catalogue()[kind]
        for k in range(3600 // step_seconds):
            sub: dict[str, float] = {}
            for p in SUB_HOUR[kind]:
                v = values[p]
                if kind == "noise":
                    sub[p] = v + rng.gauss(0.0, 2.0)
                elif p == "wd":
                    sub[p] = (v + rng.gauss(0.0, 15.0)) % 360.0
                elif p == "temp":
                    sub[p] = v + rng.gauss(0.0, 0.3)
                else:
                    sub[p] = v * math.exp(rng.gauss(0.0, 0.08))
                sub[p] = min(spec[p].max, max(spec[p].min, sub[p]))
            yield Document(self.station.station_id, "rt" if interval == "rt" else "min",
                           hour + timedelta(seconds=k * step_seconds), _rounded(kind, sub))


def _daily(kind: StationKind, hours: list[tuple[datetime, dict[str, float]]]) -> dict[str, float]:
    """Daily values as a logger computes them: means, rain as a sum, noise by energy."""
    rows = [v for _, v in hours]
    if kind == "noise":
        return {
            "leq": energy_mean([r["leq"] for r in rows]),
            "ld": energy_mean([v["leq"] for h, v in hours if h.hour in _DAY_HOURS]),
            "ln": energy_mean([v["leq"] for h, v in hours if h.hour not in _DAY_HOURS]),
            "lmax": max(r["lmax"] for r in rows),
            "lmin": min(r["lmin"] for r in rows),
        }
    out = {p: sum(r[p] for r in rows) / len(rows) for p in rows[0] if p != "wd"}
    if "rain" in out:
        out["rain"] *= len(rows)
    return out


def _rounded(kind: StationKind, values: dict[str, float]) -> dict[str, float]:
    decimals = DECIMALS[kind]
    return {p: round(v, decimals[p]) for p, v in values.items()}
