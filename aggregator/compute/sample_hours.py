"""Hourly values derived from minute and real-time readings, all hours of a series at once.

Real stations send minute (``min``) or real-time (``rt``) data; per hour they make the same
values as aggregator/hourly.py, the per-sample reference (compared value for value by
tests/aggregator/test_sample_hours.py), without a Python object per sample:

* a series is one station's readings of one parameter and interval, read as arrays
  (aggregator/store/batch_readings.py): timestamps (Unix µs, distinct: they are the readings'
  key), values, and whether the flag lets the value in (aggregator/flags.py);
* per hour, the smallest spacing of its samples (1 min for a single one) is the time a
  sample covers, and the hour is valid when the valid samples cover >= 45 minutes (GB 3095
  表4, ``standards.hour_valid``);
* concentrations are the arithmetic mean of the valid samples, ``fsum / n`` bit for bit:
  the sums are ``air_grid.exact_sums`` (exact by construction, see air_grid.py), over the
  hours padded with zeros to a few common lengths;
* water and noise hours (exact decimal means, energy averages, max/min; few stations) take
  the valid samples of each hour to ``hourly.combine``, the reference's own arithmetic;
* minute data wins over real-time data of the same parameter and hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

from aggregator import standards
from aggregator.compute.air_arrays import exact_sums
from aggregator.compute.beijing_time import HOUR_US, from_us
from aggregator.compute.hourly_values import HourlyValue, combine, is_plain_mean
from envmon.parameters import StationKind

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]
_US_PER_MINUTE = 60_000_000.0


@dataclass(frozen=True, slots=True)
class SampleSeries:
    """One station's minute or real-time readings of one parameter, in time order;
    ``flagged``: the (time, flag) of the readings whose flag keeps them out."""

    parameter: str
    interval: Literal["min", "rt"]
    stamps: I64
    values: F64
    ok: Bool
    flagged: tuple[tuple[datetime, str], ...] = ()

    @classmethod
    def of(
        cls, parameter: str, interval: Literal["min", "rt"], stamps: I64, values: F64,
        flagged_stamps: I64, flags: list[str],
    ) -> SampleSeries:
        """A series from its readings in any order and the stamps and flags of its
        flagged ones."""
        if len(stamps) > 1 and not (stamps[1:] > stamps[:-1]).all():  # mostly read in order
            order = np.argsort(stamps, kind="stable")
            stamps, values = stamps[order], values[order]
        ok = np.ones(len(stamps), dtype=bool)
        ok[np.searchsorted(stamps, flagged_stamps)] = False  # stamps are distinct (the key)
        return cls(parameter, interval, stamps, values, ok,
                   tuple(zip(map(from_us, flagged_stamps.tolist()), flags, strict=True)))


@dataclass(frozen=True, slots=True)
class _Hours:
    """The hours of a series: start (µs), first sample, number of samples and of valid
    ones, and the minutes one sample covers."""

    hours: I64
    first: I64
    counts: I64
    good: I64
    step: F64


def _hours(s: SampleSeries) -> _Hours:
    hour = s.stamps // HOUR_US * HOUR_US
    first = np.flatnonzero(np.r_[True, hour[1:] != hour[:-1]])
    counts = np.diff(np.r_[first, len(hour)])
    # gap to the next sample of the same hour; inf at an hour's last sample
    gaps = np.full(len(hour), np.inf)
    same = hour[1:] == hour[:-1]
    gaps[:-1][same] = np.diff(s.stamps)[same].astype(np.float64)
    smallest = np.minimum.reduceat(gaps, first)
    # timedelta.total_seconds() / 60 in the reference: µs / 1e6 is correctly rounded, as there
    step = np.where(np.isinf(smallest), 1.0, np.minimum(60.0, smallest / 1e6 / 60))
    good = np.add.reduceat(s.ok.astype(np.int64), first)
    return _Hours(hour[first], first, counts, good, step)


def _means(s: SampleSeries, h: _Hours) -> F64:
    """``fsum(valid values) / n`` of each hour (NaN without a valid value): the hours padded
    with zeros (which leave an exact sum as it is) to the next power of two of their length,
    each length in one ``exact_sums`` call."""
    z = np.where(s.ok, s.values, 0.0)
    sums = np.zeros(len(h.hours))
    width = 1 << np.ceil(np.log2(np.maximum(h.counts, 1))).astype(np.int64)
    for w in np.unique(width).tolist():
        rows = np.flatnonzero(width == w)
        offsets = np.arange(w)
        idx = h.first[rows, None] + offsets
        inside = offsets < h.counts[rows, None]
        block = np.where(inside, z[np.where(inside, idx, 0)], 0.0)
        sums[rows] = exact_sums(block.T)
    out = np.full(len(h.hours), np.nan)
    np.divide(sums, h.good, out=out, where=h.good > 0)
    return out


def _values(
    kind: StationKind, s: SampleSeries, h: _Hours
) -> tuple[list[float | None], list[bool | None]]:
    """Value (None: no value) and validity of each hour; None as value and validity ``None``
    for an hour the reference derives nothing from (noise percentile levels)."""
    if is_plain_mean(kind):
        means = _means(s, h)
        valid = standards.hour_valid(np.minimum(60.0, h.good * h.step))  # type: ignore[arg-type]
        return ([None if m != m else m for m in means.tolist()],
                np.asarray(valid, dtype=bool).tolist())
    values: list[float | None] = []
    valids: list[bool | None] = []
    vals, ok = s.values.tolist(), s.ok.tolist()
    for lo, n, step in zip(h.first.tolist(), h.counts.tolist(), h.step.tolist(), strict=True):
        got = combine(kind, s.parameter, [v for v, k in zip(vals[lo:lo + n], ok[lo:lo + n],
                                                             strict=True) if k], step)
        values.append(None if got is None else got[0])
        valids.append(None if got is None else got[1])
    return values, valids


def hourly_values(kind: StationKind, series: list[SampleSeries]) -> list[HourlyValue]:
    """Hourly values of one station's minute and real-time series (any hours), sorted by
    time and parameter: what ``hourly.hourly_values`` makes of the same readings (ordered
    by numpy, each hour start made a datetime once for all parameters)."""
    minute_hours = {s.parameter: s.stamps // HOUR_US * HOUR_US
                    for s in series if s.interval == "min" and len(s.stamps)}
    rank = {p: i for i, p in enumerate(sorted({s.parameter for s in series}))}
    hours: list[I64] = []
    ranks: list[I64] = []
    rows: list[tuple[str, float | None, bool, Literal["min", "rt"], int, int]] = []
    for s in series:
        if not len(s.stamps):
            continue
        h = _hours(s)
        values, valids = _values(kind, s, h)
        keep = np.array([v is not None for v in valids], dtype=bool)
        if s.interval == "rt" and s.parameter in minute_hours:  # minute data wins
            keep &= ~np.isin(h.hours, minute_hours[s.parameter])
        at = np.flatnonzero(keep)
        hours.append(h.hours[at])
        ranks.append(np.full(len(at), rank[s.parameter]))
        counts, good = h.counts.tolist(), h.good.tolist()
        rows += [(s.parameter, values[i], bool(valids[i]), s.interval, counts[i],
                  counts[i] - good[i]) for i in at.tolist()]
    if not rows:
        return []
    starts = np.concatenate(hours)
    when = {us: from_us(us) for us in np.unique(starts).tolist()}
    stamps = starts.tolist()
    out = []
    for i in np.lexsort((np.concatenate(ranks), starts)).tolist():
        parameter, value, valid, source, n, excluded = rows[i]
        out.append(HourlyValue(parameter, when[stamps[i]], value, valid, source, n, excluded))
    return out
