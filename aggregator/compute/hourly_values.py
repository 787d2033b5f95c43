"""Hourly values from stored readings, sample by sample: the input of every indicator, and
the reference aggregator/compute/sample_hours.py (the array path the worker runs) is tested against.

Per station, parameter and hour (keyed by the hour's UTC start, like readings):

* a station-reported hourly value (interval ``hour``) is used as it is; its flag decides
  whether it is valid;
* otherwise the minute readings (``min``), or failing those the real-time readings (``rt``),
  of that hour are combined: valid samples only (compute/flags.py), the hour is valid when
  the valid samples cover at least 45 minutes (GB 3095 表4, ``standards.hour_valid``; the
  same rule is applied to PM, water and noise — reference/air.md §3 note, noise.md §2.1).
  A sample covers the spacing of the series in that hour (1 min for a single sample).
* ``day`` readings are not hourly data and are ignored here.

Sub-hourly samples are combined as the standards define per parameter: arithmetic mean for
concentrations (exact for water, whose GB 3838 limits a mean often equals), energy average
(``standards.hourly_leq``) for noise Leq, max/min for noise Lmax/Lmin. Percentile levels
(L10/L50/L90) cannot be derived from samples and are used only when the station reports them
hourly.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from operator import attrgetter
from statistics import fmean
from typing import Literal, cast

from aggregator import standards
from aggregator.compute.flags import is_valid_flag
from envmon.parameters import StationKind
from ingest.reading import Interval

HourSource = Literal["rt", "min", "hour"]
_PREFERENCE: tuple[HourSource, ...] = ("hour", "min", "rt")
_NOISE_PERCENTILES = frozenset({"l10", "l50", "l90", "ld", "ln"})


@dataclass(frozen=True, slots=True)
class Sample:
    """One stored reading, as the aggregator reads it back."""

    parameter: str
    interval: Interval
    ts: datetime
    value: float
    flag: str


@dataclass(frozen=True, slots=True)
class HourlyValue:
    parameter: str
    ts: datetime
    value: float | None
    valid: bool
    source: HourSource
    n_samples: int
    n_excluded: int


def hour_of(ts: datetime) -> datetime:
    """UTC start of the hour ``ts`` falls in (in UTC, whatever the session time zone)."""
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _step_minutes(stamps: list[datetime]) -> float:
    """Sampling step of a series: its smallest spacing (1 min for a single sample)."""
    distinct = sorted(set(stamps))
    gaps = [b - a for a, b in itertools.pairwise(distinct)]
    step = min(gaps) if gaps else timedelta(minutes=1)
    return min(60.0, step.total_seconds() / 60)


def _combine(
    kind: StationKind, parameter: str, samples: list[Sample]
) -> tuple[float | None, bool] | None:
    """Value and validity of an hour from sub-hourly samples; None if not derivable."""
    good = [s.value for s in samples if is_valid_flag(s.flag)]
    return combine(kind, parameter, good, _step_minutes([s.ts for s in samples]))


def combine(
    kind: StationKind, parameter: str, good: list[float], step: float
) -> tuple[float | None, bool] | None:
    """Value and validity of an hour from its valid samples (``good``) of a series sampled
    every ``step`` minutes; None if not derivable. aggregator/compute/sample_hours.py computes the
    plain means (``is_plain_mean``) on arrays and calls this for the others."""
    if kind == "noise" and parameter in _NOISE_PERCENTILES:
        return None
    minutes = min(60.0, len(good) * step)
    if kind == "noise" and parameter == "leq":
        agg = standards.hourly_leq(good, max(1, round(60 / step)))
        return agg.value, agg.valid
    if not good:
        return None, False
    if kind == "noise" and parameter == "lmax":
        value = max(good)
    elif kind == "noise" and parameter == "lmin":
        value = min(good)
    elif kind == "water":  # GB 3838 limits are decimals: the exact mean, rounded once
        value = float(cast(Fraction, standards.period_mean(good)))
    else:
        value = fmean(good)
    return value, standards.hour_valid(minutes)


def is_plain_mean(kind: StationKind) -> bool:
    """Whether ``combine`` takes the arithmetic mean (``fmean``) of every parameter of a
    station of this kind."""
    return kind not in ("noise", "water")


def hourly_values(kind: StationKind, samples: Iterable[Sample]) -> list[HourlyValue]:
    """Hourly values of one station's readings (any hours), sorted by time."""
    groups: dict[tuple[str, datetime], list[Sample]] = {}
    hours: dict[datetime, datetime] = {}  # the parameters of a station share timestamps
    for s in samples:
        if s.interval == "day":
            continue
        hour = hours.get(s.ts)
        if hour is None:
            hour = hours[s.ts] = hour_of(s.ts)
        group = groups.get((s.parameter, hour))
        if group is None:
            groups[(s.parameter, hour)] = [s]
        else:
            group.append(s)
    out: list[HourlyValue] = []
    source: HourSource
    for (parameter, hour), group in groups.items():
        if len(group) == 1:  # the usual case: one reading (hourly data), nothing to choose
            source, used = cast(HourSource, group[0].interval), group  # "day" skipped above
        else:
            intervals = {s.interval for s in group}
            source = next(i for i in _PREFERENCE if i in intervals)
            used = [s for s in group if s.interval == source]
        ok = [is_valid_flag(s.flag) for s in used]
        if source == "hour":
            valid = ok[-1]
            value: float | None = used[-1].value if valid else None
        else:
            combined = _combine(kind, parameter, used)
            if combined is None:
                continue
            value, valid = combined
        out.append(HourlyValue(parameter, hour, value, valid, source, len(ok), ok.count(False)))
    out.sort(key=attrgetter("ts", "parameter"))
    return out
