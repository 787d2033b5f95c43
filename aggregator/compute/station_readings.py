"""One station's readings as the computation receives them, and its air hour grid.

A batch's readings arrive from aggregator/store/batch_readings.py as arrays: each hourly parameter
as hour starts (Unix µs, ``compute.beijing_time``) and values (NaN where the flag keeps
the value out of statistics, ``compute.flags``), the flagged hourly readings listed for the
exclusion counts, and the minute and real-time readings as one series per parameter and
interval (``compute.sample_hours``). An hourly reading wins over values derived from minute or
real-time readings of the same hour, even when its flag makes the hour invalid
(``compute.hourly_values``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from aggregator.compute.air_arrays import Grid
from aggregator.compute.beijing_time import HOUR_US, from_us, to_us
from aggregator.compute.hourly_values import HourlyValue
from aggregator.compute.sample_hours import SampleSeries
from aggregator.standards import POLLUTANTS

Array = np.ndarray[Any, Any]


@dataclass(slots=True)
class HourReadings:
    """One station's readings: hourly ones per parameter as hour starts (Unix µs) and
    values (NaN = flagged out), the flagged hourly ones listed for the exclusion counts; and
    its minute and real-time readings as one series per parameter and interval."""

    series: dict[str, tuple[Array, Array]] = field(default_factory=dict)
    flagged: list[tuple[str, datetime, str]] = field(default_factory=list)
    samples: list[SampleSeries] = field(default_factory=list)

    def hours_of(self, parameter: str) -> set[int]:
        got = self.series.get(parameter)
        return set() if got is None else set(got[0].tolist())

    def hourly_values(self) -> list[HourlyValue]:
        """As aggregator.hourly would make them (for water and noise stations)."""
        out = []
        for parameter, (stamps, values) in self.series.items():
            for us, v in zip(stamps.tolist(), values.tolist(), strict=True):
                valid = v == v
                out.append(HourlyValue(parameter, from_us(us), v if valid else None, valid,
                                       "hour", 1, 0 if valid else 1))
        return out


def grid(
    start: datetime, n_days: int, readings: HourReadings | None,
    derived: Iterable[HourlyValue] = (),
) -> Grid:
    """The air grid of ``n_days`` Beijing days from ``start``: hourly readings, then the
    derived hourly values of the hours that have no hourly reading."""
    n = n_days * 24
    values = np.full((len(POLLUTANTS), n), np.nan)
    base = to_us(start)
    taken = np.zeros((len(POLLUTANTS), n), dtype=bool)
    for row, parameter in enumerate(POLLUTANTS):
        got = None if readings is None else readings.series.get(parameter)
        if got is None:
            continue
        stamps, vals = got
        idx = (stamps - base) // HOUR_US
        inside = (idx >= 0) & (idx < n)
        values[row, idx[inside]] = vals[inside]
        taken[row, idx[inside]] = True
    rows: dict[str, int] = {p: i for i, p in enumerate(POLLUTANTS)}
    hour_at: dict[datetime, int] = {}  # the parameters of an hour share its start
    for h in derived:
        row_of = rows.get(h.parameter)
        if row_of is None or not h.valid or h.value is None:
            continue
        i = hour_at.get(h.ts)
        if i is None:
            i = hour_at[h.ts] = (to_us(h.ts) - base) // HOUR_US
        if 0 <= i < n and not taken[row_of, i]:
            values[row_of, i] = h.value
    return Grid(start, values)
