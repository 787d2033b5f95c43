"""Air AQI of many hours and days at once: numpy on dense hour grids, bit-for-bit equal to
the dict-based reference (compute/air_reference.py, ``air_reference`` below) and
``aggregator.standards`` (which stay the reference).

A :class:`Grid` holds one station's (or region's) valid hourly values of the six pollutants on
consecutive Beijing hours, NaN where the dict series has no value. :func:`hourly`,
:func:`daily`, :func:`region_grid` and :func:`region_daily` return what ``air_reference``'s
``hours``, ``station_day``, ``region_series`` and ``region_day`` return, as arrays.
:func:`hourly_many` and :func:`daily_many` do ``hourly``/``daily`` for many stations whose
grids share start and length in one pass (values ``[stations, 6, n_hours]``, see
:func:`stack`): the same elements, with the fixed cost of the numpy calls paid once. Their
fast-path checks (integer sums, below) look at the whole stack, so a sum may take the exact
TwoSum path, and rarely ``fsum``, where the station alone would not; the results are the same.

Why the vector path is exact, and when it falls back (``FALLBACKS`` counts every fallback):

* **Means** (GB 3095 表4 daily means, HJ 633-2012 §5.1 moving averages, HJ 663 §6.1.2 MDA8,
  HJ 663 表A.1 city means): the library computes ``math.fsum(v) / n``; ``fsum`` is the
  correctly rounded (half-even) sum of the exact binary values, order-free. When every value
  is integer-valued and the absolute sum is below 2**52, every partial sum is an integer that
  float64 holds exactly, so ``numpy.sum``/``cumsum`` is that exact sum in any order. Otherwise
  TwoSum tree (pairwise, error-free: ``s + Σe`` is the exact sum), whose errors ``e`` are
  summed by a second TwoSum tree (``E + Σe2 == Σe``), gives ``r + t == s + E`` exactly with
  ``r = fl(s + E)``, so the exact sum is ``r + t + Σe2``. It rounds to ``r`` (half-even ties
  included) when ``Σe2 == 0`` or when ``|t| + Σ|e2|`` stays short of half the gap to ``r``'s
  neighbour; only the other (rare) sums are recomputed by ``math.fsum``
  (``FALLBACKS["fsum"]``). The division by ``n`` is the same IEEE division in numpy as in
  Python.
* **IAQI** (HJ 633 formula 1, rounded up): the library reads a float by its ``repr`` (the
  shortest round-tripping decimal) and interpolates exactly. A float ``c`` with
  ``fl(k / 10**p) == c`` for an integer ``|k| < 10**15`` *is* ``k / 10**p`` for ``repr`` (two
  different decimals of <= 15 significant digits never round to one double). One-decimal
  values (station data; every 2026 value after rounding) are looked up in a per-column table
  of the IAQI of ``k / 10``, built once by exact int64 arithmetic against the breakpoints
  scaled like ``aqi._scaled_column`` (ceiling by floor division). Other floats (means such as
  45.291666666666664) use the float formula, whose error is below 1e-10 here; only an element
  within 1e-6 of an integer IAQI is settled exactly: by int64 arithmetic when it is a decimal
  of <= 4 places (``p = 4``), else by ``standards.iaqi`` (``FALLBACKS["iaqi"]``; e.g. a CO
  mean 2.0999999999999996, IAQI 20.999999999999996). Breakpoints are integers, so ``c`` and
  its ``repr`` fall on the same side of each (monotonic rounding); a table with other
  breakpoints would also settle values within 1e-9 (relative) of one exactly.
* **2026 rounding** (GB/T 8170 half-even, HJ 633-2026 §4.2) by the fraction of
  ``c·10**places``; within 1e-6 of one half exactly, as above.
* **Special rows** (HJ 633-2012 表1 notes 2, 3: SO2 1-h > 800, O3 8-h > 800) are computed by
  ``standards.hourly_aqi`` / ``daily_aqi`` row by row (``FALLBACKS["report"]``).

Differences to the dict functions, by design: a ``None`` in a dict series counts as absent
(``air_reference.hours`` would report an hour whose only key maps to ``None``; a grid has no such
hour: invalid hours are NaN), and the grid assumes Beijing's fixed UTC+8 (no DST since 1991).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import cache
from typing import Literal

import numpy as np
import numpy.typing as npt

from aggregator import standards
from aggregator.compute import air_reference
from aggregator.compute.beijing_time import DAY, HOUR
from aggregator.standards import POLLUTANTS, Period, Pollutant
from aggregator.standards import aqi as _aqi
from aggregator.standards.rules import AIR_RULES_SWITCH, RuleSet

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Bool = npt.NDArray[np.bool_]

HOURLY_INDICATORS = (*POLLUTANTS, "o3_8h", "pm10_24h", "pm25_24h")
HOURLY_CONCENTRATIONS = (*HOURLY_INDICATORS, "so2_24h")
DAILY_INDICATORS = air_reference.DAILY_COLUMNS

#: Why the fast path was left: "fsum" (a sum), "iaqi" (one IAQI), "report" (one report row).
FALLBACKS: Counter[str] = Counter()

_UTC8 = timedelta(hours=8)
_EXACT_BELOW = 2.0**52
_TEN4 = 10_000
#: Rows of the 2012 real-time report's moving averages (HJ 633-2012 §5.1): column ->
#: (pollutant row, hours, minimum valid hours) — the same table as ``air_reference._MOVING``.
_MOVING = {
    "o3_8h": (3, 8, standards.O3_8H_MIN_HOURS),
    "pm10_24h": (4, 24, standards.PM_24H_MOVING_MIN_HOURS),
    "pm25_24h": (5, 24, standards.PM_24H_MOVING_MIN_HOURS),
    "so2_24h": (0, 24, standards.PM_24H_MOVING_MIN_HOURS),
}
_DAILY_MEAN_ROWS = [POLLUTANTS.index(p) for p in air_reference.DAILY_MEANS]
#: ``_MOVING`` by window: (columns, pollutant rows, hours, minimum valid hours)
_MOVING_GROUPS = [
    ([HOURLY_CONCENTRATIONS.index(k) for k in keys], [_MOVING[k][0] for k in keys],
     _MOVING[keys[0]][1], _MOVING[keys[0]][2])
    for keys in (
        [k for k in _MOVING if _MOVING[k][1:] == spec]
        for spec in dict.fromkeys(m[1:] for m in _MOVING.values())
    )
]
#: the concentrations an hourly report of each rule set shows (the AQI's inputs)
HOURLY_COLUMNS: dict[str, tuple[str, ...]] = {
    "2012": ("so2", "no2", "co", "o3", "o3_8h", "pm10_24h", "pm25_24h", "so2_24h"),
    "2026": POLLUTANTS,
}


@dataclass(frozen=True, slots=True)
class Grid:
    """Valid hourly values of one station or region on consecutive Beijing hours."""

    start: datetime  # aware, 00:00 Beijing of the first day
    values: F64  # float64[len(POLLUTANTS), n_hours]; NaN = no valid value; n_hours % 24 == 0

    def __post_init__(self) -> None:
        _check_grid(self.start, self.values, stations=False)

    @property
    def n_hours(self) -> int:
        return int(self.values.shape[1])

    @property
    def first_day(self) -> date:
        return self.start.astimezone(standards.BEIJING).date()


def _check_grid(start: datetime, values: F64, *, stations: bool) -> date:
    """Validate a grid's (``stations``: a stack of grids') start and values; its first day."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(f"grid start must be timezone-aware: {start!r}")
    local = start.astimezone(standards.BEIJING)
    if (local.hour, local.minute, local.second, local.microsecond) != (0, 0, 0, 0):
        raise ValueError(f"grid start must be 00:00 Beijing: {start!r}")
    shape = values.shape
    want = (3 if stations else 2, len(POLLUTANTS))
    if values.dtype != np.float64 or (len(shape), shape[-2] if shape else -1) != want:
        form = "[stations, 6, n]" if stations else f"[{len(POLLUTANTS)}, n]"
        raise ValueError(f"grid values must be float64{form}, got {shape}")
    if shape[-1] % 24:
        raise ValueError(f"grid must cover whole days, got {shape[-1]} hours")
    end = local + shape[-1] * HOUR
    if local.utcoffset() != _UTC8 or end.utcoffset() != _UTC8:
        raise ValueError("grid hours must all be UTC+8 (Beijing has no DST since 1991)")
    return local.date()


@dataclass(frozen=True, slots=True, eq=False)
class Reports:
    """AQI reports of consecutive periods (hours, or Beijing days) as arrays.

    Rows without a report (``present`` False) have aqi -1, no IAQI, primary 0, complete False
    and NaN values.
    """

    rules: list[RuleSet]  # per period, by its Beijing day
    present: Bool  # hourly: >= 1 valid 1-h value of the six pollutants; daily: all True
    aqi: I32  # -1 = NA (report.aqi is None)
    iaqi: I32  # [n, len(indicators)]; -1 = not in report.iaqi
    primary: I32  # bit i set = indicators[i] is a primary pollutant
    complete: Bool  # nothing missing
    values: F64  # [n, len(columns)] (column-major); NaN = None or not part of this report
    indicators: tuple[str, ...]  # HOURLY_INDICATORS or DAILY_INDICATORS
    columns: tuple[str, ...]  # HOURLY_CONCENTRATIONS or DAILY_INDICATORS
    kind: Literal["daily", "hourly"]


@dataclass(frozen=True, slots=True)
class ReportView:
    """One report in the reference's terms, for comparisons (see :func:`report_at`)."""

    rules: RuleSet
    aqi: int | None
    iaqi: dict[str, int]
    primary: tuple[str, ...]
    complete: bool
    values: dict[str, float | None]

    @staticmethod
    def of(report: standards.AqiReport, values: Mapping[str, float | None]) -> ReportView:
        """The view of a reference report and the values it was computed from."""
        return ReportView(
            report.rules, report.aqi, dict(report.iaqi), report.primary, report.complete,
            dict(values),
        )


def report_at(reports: Reports, i: int) -> ReportView | None:
    """Row ``i`` as the reference would give it; None where no report exists."""
    if not reports.present[i]:
        return None
    rules = reports.rules[i]
    columns = DAILY_INDICATORS if reports.kind == "daily" else HOURLY_COLUMNS[rules]
    row = reports.values[i]
    values = {}
    for c in columns:
        v = float(row[reports.columns.index(c)])
        values[c] = None if math.isnan(v) else v
    aqi = int(reports.aqi[i])
    bits = int(reports.primary[i])
    return ReportView(
        rules,
        None if aqi < 0 else aqi,
        {k: int(v) for k, v in zip(reports.indicators, reports.iaqi[i], strict=True) if v >= 0},
        tuple(k for b, k in enumerate(reports.indicators) if bits >> b & 1),
        bool(reports.complete[i]),
        values,
    )


# ---- grids <-> dict series ------------------------------------------------------------------


def grid_from_series(
    series: Mapping[str, air_reference.Series], start: datetime, n_days: int
) -> Grid:
    """The grid of ``n_days`` Beijing days from ``start`` (00:00 Beijing). Values outside those
    days are left out; ``None`` counts as absent; a key between two hours is an error."""
    start = start.astimezone(standards.BEIJING)
    n = n_days * 24
    values = np.full((len(POLLUTANTS), n), np.nan)
    t0 = start.timestamp()
    for row, p in enumerate(POLLUTANTS):
        items = [(ts, v) for ts, v in series.get(p, {}).items() if v is not None]
        if not items:
            continue
        offsets = np.fromiter(((ts.timestamp() - t0) for ts, _ in items), np.float64, len(items))
        idx = offsets / 3600.0
        whole = np.rint(idx)
        if np.any(whole != idx):
            raise ValueError(f"{p}: series keys must be whole hours from {start.isoformat()}")
        inside = (whole >= 0) & (whole < n)
        vals = np.fromiter((float(v) for _, v in items), np.float64, len(items))
        values[row, whole[inside].astype(np.int64)] = vals[inside]
    return Grid(start, values)


def series_from_grid(grid: Grid) -> dict[str, air_reference.Series]:
    """The dict series of a grid (keys: aware Beijing hour starts), for tests and fallbacks."""
    start = grid.start.astimezone(standards.BEIJING)
    out: dict[str, air_reference.Series] = {}
    for row, p in enumerate(POLLUTANTS):
        idx = np.flatnonzero(~np.isnan(grid.values[row]))
        out[p] = {start + int(i) * HOUR: float(grid.values[row, i]) for i in idx}
    return out


# ---- exact sums (== math.fsum) --------------------------------------------------------------


def _integral(x: F64) -> bool:
    """All integer-valued with an absolute total below 2**52: numpy sums are then exact."""
    return bool(np.all(x == np.trunc(x))) and float(np.abs(x).sum()) < _EXACT_BELOW


def _two_sum(a: F64, b: F64) -> tuple[F64, F64]:
    """Knuth's TwoSum: ``s = fl(a + b)`` and ``e`` with ``a + b == s + e`` exactly."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _tree_sum(x: F64) -> tuple[F64, F64]:
    """TwoSum in a pairwise tree over axis 0: ``s`` and the errors ``e`` [m - 1, ...] with
    ``Σx == s + Σe`` exactly (every TwoSum is error-free); a few numpy calls per level."""
    level, errors = x, []
    while level.shape[0] > 1:
        half = level.shape[0] // 2
        s, e = _two_sum(level[0 : 2 * half : 2], level[1 : 2 * half : 2])
        errors.append(e)
        level = np.concatenate((s, level[2 * half :])) if level.shape[0] % 2 else s
    if not errors:
        return level[0], np.zeros((0, *x.shape[1:]))
    return level[0], np.concatenate(errors)


def exact_sums(x: F64) -> F64:
    """``math.fsum`` over axis 0 of a finite array (see the module docstring for the proof)."""
    m = x.shape[0]
    if m == 0:
        return np.zeros(x.shape[1:])
    if _integral(x):
        return np.asarray(x.sum(axis=0) + 0.0, dtype=np.float64)
    s, errors = _tree_sum(x)  # exact sum == s + Σe
    e_sum, errors2 = _tree_sum(errors) if m > 1 else (np.zeros_like(s), errors)  # Σe == E + Σe2
    e2_abs = np.abs(errors2).sum(axis=0)
    r, t = _two_sum(s, e_sum)  # exact sum == r + t + Σe2
    r = r + 0.0  # fsum's zero is +0.0
    bound = (1 + m * 2.0**-52) * e2_abs  # >= |Σe2|
    up = np.nextafter(r, np.inf) - r
    down = r - np.nextafter(r, -np.inf)
    ok = (bound == 0) | ((t + bound < up / 2) & (t - bound > -down / 2))
    if not np.all(ok):
        bad = np.argwhere(~ok)
        FALLBACKS["fsum"] += len(bad)
        for index in map(tuple, bad):
            r[index] = math.fsum(x[(slice(None), *index)].tolist())
    return np.asarray(r, dtype=np.float64)


def _window_sums(z: F64, n: int) -> F64:
    """Exact sums of the ``n``-hour windows along the last axis of ``z`` (no NaN), window
    ``i`` = ``z[..., i:i+n]``."""
    if _integral(z):
        cs = np.cumsum(z, axis=-1)
        out = cs[..., n - 1 :].copy()
        out[..., 1:] -= cs[..., : -n]
        return out
    view = np.lib.stride_tricks.sliding_window_view(z, n, axis=-1)
    return exact_sums(np.moveaxis(view, -1, 0))


def _means(sums: F64, counts: npt.NDArray[np.int64], min_valid: int) -> F64:
    """sum / n where n >= min_valid (and n > 0), else NaN: the library's valid means."""
    out = np.full(sums.shape, np.nan)
    ok = (counts >= max(min_valid, 1))
    np.divide(sums, counts, out=out, where=ok)
    return out


def _window_counts(valid: Bool, n: int) -> I64:
    """Number of True in each ``n``-window along the last axis."""
    cv = np.cumsum(valid, axis=-1, dtype=np.int64)
    out = cv[..., n - 1 :].copy()
    out[..., 1:] -= cv[..., : -n]
    return out


def _moving_means(x: F64, n: int, min_valid: int, lo: int, hi: int) -> F64:
    """Valid ``n``-hour moving means of the windows ending with hours lo..hi-1 of the last
    axis (HJ 663 label = hour end); hours before index 0 are missing (HJ 633-2012 §5.1,
    GB 3095 表4)."""
    if hi <= lo:
        return np.zeros((*x.shape[:-1], 0))
    first = lo - n + 1
    seg = x[..., max(first, 0) : hi]
    if first < 0:
        seg = np.concatenate((np.full((*x.shape[:-1], -first), np.nan), seg), axis=-1)
    valid = ~np.isnan(seg)
    z = np.where(valid, seg, 0.0)
    return _means(_window_sums(z, n), _window_counts(valid, n), min_valid)


def _row_sums(z: F64) -> F64:
    """Exact sums over the last axis of ``z`` [stations, rows, ..., n]; each row (a
    pollutant) is checked for the integer fast path on its own, the others share one
    TwoSum pass."""
    other = tuple(a for a in range(z.ndim) if a != 1)
    ints = np.all(z == np.trunc(z), axis=other) & (np.abs(z).sum(axis=other) < _EXACT_BELOW)
    if ints.all():
        return np.asarray(z.sum(axis=-1) + 0.0, np.float64)
    if not ints.any():
        return exact_sums(np.moveaxis(z, -1, 0))
    out = np.empty(z.shape[:-1])
    out[:, ints] = z[:, ints].sum(axis=-1) + 0.0
    out[:, ~ints] = exact_sums(np.moveaxis(z[:, ~ints], -1, 0))
    return out


def _day_means(x: F64, min_hours: int = 20) -> F64:
    """Daily means of ``x`` [stations, pollutants, days, 24]: >= 20 valid hours (GB 3095
    表4)."""
    valid = ~np.isnan(x)
    sums = _row_sums(np.where(valid, x, 0.0))
    return _means(sums, valid.sum(axis=-1, dtype=np.int64), min_hours)


def _o3_daily(o3: F64) -> tuple[F64, F64]:
    """O3 MDA8 (HJ 663 §6.1.2: windows ending 08:00..24:00, >= 6 h each, >= 14 windows or
    max > 160) and daily max 1-h (>= 20 h) of ``o3`` [..., days, 24]."""
    valid = ~np.isnan(o3)
    z = np.where(valid, o3, 0.0)
    means = _means(_window_sums(z, 8), _window_counts(valid, 8), standards.O3_8H_MIN_HOURS)
    ok = ~np.isnan(means)
    n_windows = ok.sum(axis=-1)
    best = np.where(ok, means, -np.inf).max(axis=-1)
    mda8 = np.where((n_windows > 0) & ((n_windows >= 14) | (best > 160)), best, np.nan)
    hours = valid.sum(axis=-1)
    top = np.where(valid, o3, -np.inf).max(axis=-1)
    max_1h = np.where(hours >= standards.O3_1H_MAX_MIN_HOURS, top, np.nan)
    return np.asarray(mda8, np.float64), np.asarray(max_1h, np.float64)


# ---- IAQI -------------------------------------------------------------------------------------


def _library_iaqi(pollutant: Pollutant, period: Period, rules: RuleSet, value: float) -> int:
    FALLBACKS["iaqi"] += 1
    result = standards.iaqi(pollutant, period, float(value), rules)
    return -2 if result is None else result


@dataclass(frozen=True, slots=True)
class _Column:
    """One IAQI column (HJ 633-2012 表1 / 2026 表3) prepared for arrays."""

    pollutant: Pollutant
    period: Period
    rules: RuleSet
    scale: int  # breakpoints are bps / scale (aqi._scaled_column)
    bps: I64
    levels: I64
    above_top: int  # IAQI above the top breakpoint; -2 = none (2012 notes 2, 3)
    places: int  # 2026 rounding: decimals kept (GB/T 8170); 2012: -1 (no rounding)
    table: I64  # IAQI of k / 10 for k < len(table); every k / 10 beyond is above the top
    integral: bool  # breakpoints are integers: float comparisons with them are exact


@cache
def _prepared(pollutant: Pollutant, period: Period, rules: RuleSet) -> _Column:
    scale, column = _aqi._scaled_column(pollutant, period, rules)
    special = (pollutant, period) in (("so2", "1h"), ("o3", "8h"))
    above = (-2 if rules == "2012" else 200 if pollutant == "so2" else 300) if special else 500
    col = _Column(
        pollutant, period, rules, scale,
        np.array([b for b, _ in column], np.int64), np.array([i for _, i in column], np.int64),
        above, (1 if pollutant == "co" else 0) if rules == "2026" else -1,
        np.zeros(0, np.int64), all(b % scale == 0 for b, _ in column),
    )
    # k / 10 > top (+ 1 under 2026, where rounding may bring it down to the top) is above
    size = (column[-1][0] * 10) // scale + (11 if rules == "2026" else 1)
    table = _exact_iaqi(col, np.arange(size, dtype=np.int64), 1)
    return replace(col, table=table)


def _exact_iaqi(col: _Column, k: I64, p: int) -> I64:
    """IAQI of the exact concentrations ``k / 10**p`` (k >= 0), integer arithmetic only:
    GB/T 8170 half-even first under 2026, then formula 1 rounded up (ceil = -(-a // b))."""
    if col.places >= 0 and p > col.places:
        unit = 10 ** (p - col.places)
        q, rest = np.divmod(k, unit)
        q += (rest > unit // 2) | ((rest == unit // 2) & (q % 2 == 1))
        k = q * unit
    xs = k * col.scale
    bs = col.bps * 10**p
    j = np.clip(np.searchsorted(bs, xs, side="left") - 1, 0, len(bs) - 2)
    b_lo, b_hi, i_lo, i_hi = bs[j], bs[j + 1], col.levels[j], col.levels[j + 1]
    value = i_lo - ((-(i_hi - i_lo) * (xs - b_lo)) // (b_hi - b_lo))
    return np.asarray(np.where(xs > bs[-1], col.above_top, value), np.int64)


def _short_decimals(col: _Column, x: F64, idx: npt.NDArray[np.intp], res: I64) -> None:
    """Exact IAQI of ``x[idx]`` where ``repr`` is a decimal of <= 4 places (|k| < 10**15:
    then ``repr(c) == k / 10**4``; k * scale < 10**15 also keeps formula 1 inside int64);
    the library's for the others."""
    xi = x[idx]
    k = np.rint(xi * _TEN4)
    ok = (k * col.scale < 1e15) & (k / _TEN4 == xi)
    res[idx[ok]] = _exact_iaqi(col, k[ok].astype(np.int64), 4)
    for i in idx[~ok]:
        res[i] = _library_iaqi(col.pollutant, col.period, col.rules, float(x[i]))


def _iaqi(pollutant: Pollutant, period: Period, rules: RuleSet, c: F64) -> I64:
    """IAQI of each concentration (HJ 633 formula 1, rounded up): -1 for NaN, -2 where
    HJ 633-2012 gives none (SO2 1-h > 800, O3 8-h > 800; 表1 notes 2, 3)."""
    if c.ndim != 1:
        return _iaqi(pollutant, period, rules, c.ravel()).reshape(c.shape)
    nan = np.isnan(c)
    if nan.any():
        out = np.full(c.shape, -1, np.int64)
        where = np.flatnonzero(~nan)
        if len(where):
            out[where] = _iaqi_of_numbers(pollutant, period, rules, c[where])
        return out
    return _iaqi_of_numbers(pollutant, period, rules, c)


def _iaqi_of_numbers(pollutant: Pollutant, period: Period, rules: RuleSet, x: F64) -> I64:
    """:func:`_iaqi` of a 1-d array without NaN."""
    if (x < 0).any():  # the library's error for a negative concentration
        for v in x[x < 0]:
            standards.iaqi(pollutant, period, float(v), rules)
    col = _prepared(pollutant, period, rules)
    size = len(col.table)
    if col.places >= 0:
        # HJ 633-2026 §4.2: GB/T 8170 half-even to 10**-places; near a tie only exactly
        y = np.minimum(x, 1e12) * 10**col.places  # far above every top either way
        floor = np.floor(y)
        frac = y - floor
        k = (floor + (frac > 0.5)) * 10 ** (1 - col.places)
        inside = k < size
        res = np.where(inside, col.table[np.where(inside, k, 0).astype(np.int64)], col.above_top)
        tie = np.flatnonzero(np.abs(frac - 0.5) < 1e-6)
        if len(tie):
            _short_decimals(col, x, tie, res)
        return res
    # HJ 633-2012: one-decimal concentrations from the table, others by the float formula
    k = np.rint(np.minimum(x, 1e12) * 10)
    short = (k / 10 == x) & (k < size)
    res = np.where(short, col.table[np.where(short, k, 0).astype(np.int64)], -1)
    rest = np.flatnonzero(~short)
    if len(rest):
        xf = x[rest]
        bf = col.bps / col.scale
        jf = np.clip(np.searchsorted(bf, xf, side="left") - 1, 0, len(bf) - 2)
        f_lo, f_hi = bf[jf], bf[jf + 1]
        lo, hi = col.levels[jf], col.levels[jf + 1]
        v = lo + (hi - lo) * (xf - f_lo) / (f_hi - f_lo)
        above = xf > bf[-1]
        res[rest] = np.where(above, col.above_top, np.ceil(v)).astype(np.int64)
        check = ~above & (np.abs(v - np.rint(v)) < 1e-6)
        if not col.integral:  # a breakpoint float64 may not hold: settle neighbours exactly
            check |= np.minimum(np.abs(xf - f_lo), np.abs(xf - f_hi)) <= 1e-9 * f_hi
        idx = rest[check]
        if len(idx):
            _short_decimals(col, x, idx, res)
    return res


# ---- reports --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Stack:
    """The reports of many stations over the same periods, as [station, period] arrays
    (``iaqi`` and ``values`` indicator/column first): :meth:`station` gives one station's
    :class:`Reports` as views into them."""

    kind: Literal["daily", "hourly"]
    rules: list[RuleSet]
    present: Bool  # [stations, n]
    aqi: I32  # [stations, n]
    iaqi: I32  # [len(indicators), stations, n]
    primary: I32  # [stations, n]
    complete: Bool  # [stations, n]
    by_column: F64  # [len(columns), stations, n]

    @property
    def indicators(self) -> tuple[str, ...]:
        return DAILY_INDICATORS if self.kind == "daily" else HOURLY_INDICATORS

    @property
    def columns(self) -> tuple[str, ...]:
        return DAILY_INDICATORS if self.kind == "daily" else HOURLY_CONCENTRATIONS

    @staticmethod
    def empty(
        kind: Literal["daily", "hourly"], rules: list[RuleSet], by_column: F64, present: Bool
    ) -> _Stack:
        n_indicators = len(DAILY_INDICATORS if kind == "daily" else HOURLY_INDICATORS)
        shape = present.shape
        return _Stack(
            kind, rules, present, np.full(shape, -1, np.int32),
            np.full((n_indicators, *shape), -1, np.int32), np.zeros(shape, np.int32),
            np.zeros(shape, np.bool_), by_column,
        )

    def station(self, s: int) -> Reports:
        return Reports(
            rules=list(self.rules),
            present=self.present[s],
            aqi=self.aqi[s],
            iaqi=self.iaqi[:, s].T,  # column-major, like values
            primary=self.primary[s],
            complete=self.complete[s],
            values=self.by_column[:, s].T,
            indicators=self.indicators,
            columns=self.columns,
            kind=self.kind,
        )

    def reports(self) -> list[Reports]:
        return [self.station(s) for s in range(self.present.shape[0])]


def _fill(out: _Stack, lo: int, hi: int, rules: RuleSet) -> None:
    """Compute the reports of periods [lo, hi) (all of one rule set) of every station into
    ``out`` (HJ 633 §5, 2026 §4.2, §5.3.1: AQI = max IAQI, 2026 at least 1; NA when a pollutant
    is missing and AQI <= 100; primary pollutants when AQI > 50). A row without values gets no
    report."""
    if hi <= lo or out.present.shape[0] == 0:
        return
    spec = (_aqi._DAILY if out.kind == "daily" else _aqi._HOURLY)[rules]
    indicators, columns = out.indicators, out.columns
    cols = [indicators.index(k) for k in spec]
    sub = np.empty((len(spec), out.present.shape[0], hi - lo), np.int64)
    for j, (key, (pollutant, period)) in enumerate(spec.items()):
        sub[j] = _iaqi(pollutant, period, rules, out.by_column[columns.index(key), :, lo:hi])
    top = sub.max(axis=0)
    if rules == "2026":
        top[top == 0] = 1
    missing = (sub == -1).any(axis=0)
    gone = np.zeros(top.shape, np.bool_)  # a pollutant none of whose indicators has a value
    for pollutant in _aqi.POLLUTANTS:
        rows = [j for j, (p, _) in enumerate(spec.values()) if p == pollutant]
        gone |= (sub[rows] == -1).all(axis=0)
    aqi = np.where((top < 0) | (gone & (top <= 100)), -1, top)
    primary = np.zeros(top.shape, np.int64)
    for j, c in enumerate(cols):
        primary |= (sub[j] == top) * np.int64(1 << c)
    out.iaqi[cols, :, lo:hi] = np.maximum(sub, -1)
    out.aqi[:, lo:hi] = aqi
    out.primary[:, lo:hi] = np.where(aqi > 50, primary, 0)
    out.complete[:, lo:hi] = ~missing
    if sub.min() == -2:
        for s, r in np.argwhere((sub == -2).any(axis=0)):
            _fill_by_library(out.station(int(s)), lo + int(r), rules)


def _fill_by_library(out: Reports, row: int, rules: RuleSet) -> None:
    """One report row by the standards library (the rare HJ 633-2012 表1 note 2/3 cases);
    ``out`` is a view, so the row is written into its stack."""
    FALLBACKS["report"] += 1
    view = report_at(out, row)
    assert view is not None
    if out.kind == "daily":
        report = standards.daily_aqi(view.values, rules=rules)
    else:
        report = standards.hourly_aqi(view.values, rules=rules)
    out.aqi[row] = -1 if report.aqi is None else report.aqi
    out.iaqi[row] = [report.iaqi.get(k, -1) for k in out.indicators]
    out.primary[row] = sum(1 << out.indicators.index(k) for k in report.primary)
    out.complete[row] = report.complete


def _split(first_day: date, first: int, count: int, per_day: int) -> int:
    """Periods [first, first + count) before the 2026 rule switch (by Beijing day)."""
    switch = (AIR_RULES_SWITCH - first_day).days * per_day
    return min(max(switch - first, 0), count)


def _rules(n12: int, count: int) -> list[RuleSet]:
    old: RuleSet = "2012"
    new: RuleSet = "2026"
    return [old] * n12 + [new] * (count - n12)


def _check_range(first: int, count: int, n: int) -> None:
    if first < 0 or count < 0 or first + count > n:
        raise ValueError(f"range [{first}, {first + count}) outside the grid's [0, {n})")


def _hourly_stack(first_day: date, v: F64, first: int, count: int) -> _Stack:
    """Real-time reports of hours [first, first + count) of ``v`` [stations, 6, hours]."""
    _check_range(first, count, v.shape[2])
    n12 = _split(first_day, first, count, 24)
    by_column = np.empty((len(HOURLY_CONCENTRATIONS), v.shape[0], count))
    if n12:
        by_column[0:4, :, :n12] = v[:, 0:4, first : first + n12].transpose(1, 0, 2)
        by_column[4:6, :, :n12] = np.nan
        for keys, rows, n, min_valid in _MOVING_GROUPS:
            means = _moving_means(v[:, rows], n, min_valid, first, first + n12)
            by_column[keys, :, :n12] = means.transpose(1, 0, 2)
    by_column[0:6, :, n12:] = v[:, :, first + n12 : first + count].transpose(1, 0, 2)
    by_column[6:, :, n12:] = np.nan
    present = ~np.all(np.isnan(v[:, :, first : first + count]), axis=1)
    if not present.all():
        by_column[:, ~present] = np.nan
    out = _Stack.empty("hourly", _rules(n12, count), by_column, present)
    _fill(out, 0, n12, "2012")
    _fill(out, n12, count, "2026")
    return out


def hourly(grid: Grid, first: int, count: int) -> Reports:
    """Real-time reports of grid hours [first, first + count), as ``air_reference.hours``: 2012
    hours with the O3 8-h and PM/SO2 24-h moving averages (HJ 633-2012 §5.1, which may reach back
    before ``first`` within the grid; hours before the grid are missing), 2026 hours from the
    six 1-h values (HJ 633-2026 §4.2)."""
    return _hourly_stack(grid.first_day, grid.values[None], first, count).station(0)


def hourly_many(start: datetime, values: F64, first: int, count: int) -> list[Reports]:
    """:func:`hourly` of many stations' grids sharing ``start`` and length in one pass:
    ``values`` float64[stations, len(POLLUTANTS), n_hours] (as :attr:`Grid.values` each).
    Element for element what ``hourly`` gives per station; the reports are views into
    arrays shared by all stations."""
    first_day = _check_grid(start, values, stations=True)
    return _hourly_stack(first_day, values, first, count).reports()


def _daily_stack(first_day: date, by_column: F64) -> _Stack:
    """Daily reports of ``by_column`` [len(DAILY_INDICATORS), stations, days]."""
    count = by_column.shape[2]
    n12 = _split(first_day, 0, count, 1)
    present = np.ones(by_column.shape[1:], np.bool_)
    out = _Stack.empty("daily", _rules(n12, count), by_column, present)
    _fill(out, 0, n12, "2012")
    _fill(out, n12, count, "2026")
    return out


def _daily_values(v: F64, first_day: int, count: int) -> F64:
    """The daily report concentrations of days [first_day, first_day + count) of ``v``
    [stations, 6, hours], as [len(DAILY_INDICATORS), stations, count]: 24-h means (>= 20 h,
    GB 3095 表4), O3 MDA8 (HJ 663 §6.1.2), O3 max 1-h (>= 20 h)."""
    _check_range(first_day, count, v.shape[2] // 24)
    x = v[:, :, first_day * 24 : (first_day + count) * 24].reshape(v.shape[0], 6, count, 24)
    by_column = np.empty((len(DAILY_INDICATORS), v.shape[0], count))
    by_column[:5] = _day_means(x[:, _DAILY_MEAN_ROWS]).transpose(1, 0, 2)
    by_column[5], by_column[6] = _o3_daily(x[:, 3])
    return by_column


def daily(grid: Grid, first_day: int, count: int) -> Reports:
    """Daily reports of grid days [first_day, first_day + count), as ``air_reference.station_day``:
    24-h means (>= 20 h, GB 3095 表4), O3 MDA8 (HJ 663 §6.1.2), O3 max 1-h (>= 20 h)."""
    by_column = _daily_values(grid.values[None], first_day, count)
    return _daily_stack(grid.first_day + first_day * DAY, by_column).station(0)


def daily_many(start: datetime, values: F64, first_day: int, count: int) -> list[Reports]:
    """:func:`daily` of many stations' grids sharing ``start`` and length in one pass
    (``values`` as for :func:`hourly_many`); the reports are views into shared arrays."""
    day0 = _check_grid(start, values, stations=True)
    by_column = _daily_values(values, first_day, count)
    return _daily_stack(day0 + first_day * DAY, by_column).reports()


def stack(grids: Sequence[Grid]) -> tuple[datetime, F64]:
    """The shared start and the values [stations, 6, n_hours] of grids of the same start and
    length (for :func:`hourly_many`, :func:`daily_many`); a copy."""
    if not grids:
        raise ValueError("no grids to stack")
    start, n = grids[0].start, grids[0].n_hours
    if any(g.start != start or g.n_hours != n for g in grids):
        raise ValueError("station grids must share start and length")
    return start, np.stack([g.values for g in grids])


def region_grid(grids: Sequence[Grid]) -> tuple[Grid, I32]:
    """The region's hourly grid (per hour and pollutant the mean of the stations with a valid
    value, HJ 663 表A.1 / ``air_reference.region_series``) and the number of stations with any valid
    value in each hour. All grids must share start and length."""
    if not grids:
        raise ValueError("a region needs at least one station grid")
    start, n = grids[0].start, grids[0].n_hours
    if any(g.start != start or g.n_hours != n for g in grids):
        raise ValueError("station grids must share start and length")
    values = np.full((len(POLLUTANTS), n), np.nan)
    any_valid = np.zeros((len(grids), n), np.bool_)
    for row in range(len(POLLUTANTS)):
        stack = np.stack([g.values[row] for g in grids])  # [stations, hours]
        valid = ~np.isnan(stack)
        any_valid |= valid
        stack[~valid] = 0.0
        values[row] = _means(exact_sums(stack), valid.sum(axis=0, dtype=np.int64), 1)
    return Grid(start, values), any_valid.sum(axis=0, dtype=np.int32)


def region_daily(station_values: F64, region: Grid, first_day: int, count: int) -> Reports:
    """Daily reports of a region, as ``air_reference.region_day``: SO2/NO2/CO/PM the mean of the
    stations' valid daily values (``station_values`` [stations, count, 5] in
    ``DAILY_INDICATORS[:5]`` order, NaN = None; HJ 663 表A.1), O3 from ``region``'s hours."""
    _check_range(first_day, count, region.n_hours // 24)
    if station_values.ndim != 3 or station_values.shape[1:] != (count, 5):
        raise ValueError(f"station_values must be [stations, {count}, 5]")
    valid = ~np.isnan(station_values)
    sums = exact_sums(np.where(valid, station_values, 0.0))
    by_column = np.empty((len(DAILY_INDICATORS), 1, count))
    by_column[:5, 0] = _means(sums, valid.sum(axis=0, dtype=np.int64), 1).T
    o3 = region.values[3, first_day * 24 : (first_day + count) * 24].reshape(count, 24)
    by_column[5, 0], by_column[6, 0] = _o3_daily(o3)
    return _daily_stack(region.first_day + first_day * DAY, by_column).station(0)
