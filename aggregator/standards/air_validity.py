"""Which air averages are valid (GB 3095 表4, HJ 663 §6.1) and how they are formed.

Hourly series are ``Mapping[datetime, float | None]`` keyed by the aware START of the hour
(``Reading.ts``); ``None`` or an absent key is an invalid/missing hour. Window ends (``end``)
are HJ 663 labels: the Beijing-local end of the window's last hour (see ``air_time``).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from aggregator.standards.air_time import day_start
from aggregator.standards.errors import StandardsError
from envmon.beijing_time import BEIJING, HOUR

HourlySeries = Mapping[datetime, float | None]

#: Valid hours for the 24-h moving PM average of the 2012 real-time report. HJ 633-2012 names
#: the average but not its minimum; the GB 3095 表4 daily rule (20 h) is reused. UNVERIFIED.
PM_24H_MOVING_MIN_HOURS = 20
#: Valid hours for the daily maximum O3 1-h value of the 2012 daily report. GB 3095 表4 has no
#: rule for it; the daily rule (20 h) is reused, as common platforms do. UNVERIFIED.
O3_1H_MAX_MIN_HOURS = 20
#: Monthly validity: GB 3095 表4 states 27 days per month (February 25) as part of the annual
#: rule; using it for monthly means is a convention (air.md §3 note). UNVERIFIED.
MONTH_MIN_DAYS = 27
MONTH_MIN_DAYS_FEBRUARY = 25
#: Valid hours for an O3 8-hour moving average (GB 3095 表4).
O3_8H_MIN_HOURS = 6


@dataclass(frozen=True, slots=True)
class Aggregate:
    """A mean over a period with the count of valid inputs behind it.

    ``value`` is the mean of the valid inputs even when ``valid`` is False, so a caller can
    show it flagged; only a valid aggregate enters indicators.
    """

    value: float | None
    n_valid: int
    valid: bool


@dataclass(frozen=True, slots=True)
class Mda8:
    """O3 daily maximum 8-hour average with its window count and the winning window's end."""

    value: float | None
    n_windows: int
    valid: bool
    window_end: datetime | None


def hour_valid(minutes_sampled: float, *, min_minutes: float = 45) -> bool:
    """A 1-hour average needs >= 45 minutes of sampling in the hour (GB 3095 表4)."""
    return minutes_sampled >= min_minutes


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _hours(series: HourlySeries, first_start: datetime, count: int) -> list[float]:
    out = []
    for i in range(count):
        value = series.get(first_start + i * HOUR)
        if value is not None:
            out.append(float(value))
    return out


def daily_mean(series: HourlySeries, day: date, *, min_hours: int = 20) -> Aggregate:
    """24-hour mean of the Beijing natural day: >= 20 valid hours (GB 3095 表4)."""
    values = _hours(series, day_start(day), 24)
    return Aggregate(_mean(values), len(values), len(values) >= min_hours)


def _end(end: datetime) -> datetime:
    if end.tzinfo is None or end.utcoffset() is None:
        raise StandardsError(f"window end must be timezone-aware: {end!r}")
    return end.astimezone(BEIJING)


def moving_average(series: HourlySeries, end: datetime, *, hours: int, min_valid: int) -> Aggregate:
    """Mean of the ``hours`` hours ending at ``end`` (HJ 663 label), valid with ``min_valid``."""
    values = _hours(series, _end(end) - hours * HOUR, hours)
    return Aggregate(_mean(values), len(values), len(values) >= min_valid)


def moving_averages(
    series: HourlySeries, ends: Sequence[datetime], *, hours: int, min_valid: int
) -> list[Aggregate]:
    """``moving_average`` at each of ``ends``, the same numbers in one pass.

    A year of real-time reports needs three moving averages per hour; looking up every hour
    of every window costs more than the rest of the report. Here each hour from the first
    window's start to the last end is looked up once (the same lookups ``moving_average``
    makes), missing hours as 0.0 with a running count of the valid ones, and each window is
    ``fsum`` of a slice: the exactly rounded sum of the same values (zeros add nothing, and
    ``fsum`` returns 0.0 for any zero sum). An end that is not one of those hours is
    computed alone.
    """
    if not ends:
        return []
    aware = [_end(e) for e in ends]
    base = min(aware) - hours * HOUR
    stamps = [base + i * HOUR for i in range((max(aware) - base) // HOUR + 1)]
    found = [series.get(ts) for ts in stamps[:-1]]
    grid = [0.0 if v is None else float(v) for v in found]
    count = [0, *itertools.accumulate(v is not None for v in found)]  # valid hours before i
    out = []
    for end in aware:
        stop = (end - base) // HOUR
        if stamps[stop] != end:  # an end between the hours
            out.append(moving_average(series, end, hours=hours, min_valid=min_valid))
            continue
        n = count[stop] - count[stop - hours]
        mean = math.fsum(grid[stop - hours : stop]) / n if n else None
        out.append(Aggregate(mean, n, n >= min_valid))
    return out


def o3_8h(series: HourlySeries, end: datetime) -> Aggregate:
    """O3 8-hour moving average at ``end``: hours end-7 … end, >= 6 valid (GB 3095 表4)."""
    return moving_average(series, end, hours=8, min_valid=O3_8H_MIN_HOURS)


def pm_24h_moving(
    series: HourlySeries, end: datetime, *, min_hours: int = PM_24H_MOVING_MIN_HOURS
) -> Aggregate:
    """PM 24-hour moving average at ``end`` for the 2012 real-time report (HJ 633-2012 §5.1)."""
    return moving_average(series, end, hours=24, min_valid=min_hours)


def o3_mda8(series: HourlySeries, day: date, *, limit: float = 160, min_windows: int = 14) -> Mda8:
    """O3 daily maximum 8-hour average (HJ 663 §6.1.2, air.md §7.2).

    The windows of day D end at 08:00 … 24:00 Beijing (17 windows, all inside D). Valid with
    >= 14 valid windows, or with fewer when the maximum already exceeds ``limit`` (the O3 8-h
    limit of the applicable level; Level 2 = 160 µg/m³ — which limit is an UNVERIFIED detail).
    """
    first_end = day_start(day) + timedelta(hours=8)
    ends = [first_end + i * HOUR for i in range(17)]
    windows = moving_averages(series, ends, hours=8, min_valid=O3_8H_MIN_HOURS)
    best: tuple[float, datetime] | None = None
    n = 0
    for end, window in zip(ends, windows, strict=True):
        if not window.valid or window.value is None:
            continue
        n += 1
        if best is None or window.value > best[0]:
            best = (window.value, end)
    if best is None:
        return Mda8(None, 0, False, None)
    return Mda8(best[0], n, n >= min_windows or best[0] > limit, best[1])


def o3_daily_max_1h(
    series: HourlySeries, day: date, *, min_hours: int = O3_1H_MAX_MIN_HOURS
) -> Aggregate:
    """Daily maximum O3 1-hour value (2012 daily report indicator, HJ 633-2012 §5.1)."""
    values = _hours(series, day_start(day), 24)
    return Aggregate(max(values, default=None), len(values), len(values) >= min_hours)


def month_valid(
    days: Iterable[date],
    year: int,
    month: int,
    *,
    min_days: int = MONTH_MIN_DAYS,
    min_days_february: int = MONTH_MIN_DAYS_FEBRUARY,
) -> bool:
    """Enough valid days in a month (GB 3095 表4: 27, February 25; see MONTH_MIN_DAYS)."""
    n = len({d for d in days if d.year == year and d.month == month})
    return n >= (min_days_february if month == 2 else min_days)


def year_valid(
    days: Iterable[date],
    year: int,
    *,
    min_days: int = 324,
    min_days_month: int = 27,
    min_days_february: int = 25,
) -> bool:
    """Annual statistic validity: >= 324 valid days and every month >= 27 (Feb 25) (表4)."""
    per_month = Counter(d.month for d in set(days) if d.year == year)
    if sum(per_month.values()) < min_days:
        return False
    return all(
        per_month[m] >= (min_days_february if m == 2 else min_days_month) for m in range(1, 13)
    )


def city_mean(values: Iterable[float | None]) -> float | None:
    """City value = arithmetic mean of the assessment points with a valid value (HJ 663 表A.1)."""
    return _mean([float(v) for v in values if v is not None])
