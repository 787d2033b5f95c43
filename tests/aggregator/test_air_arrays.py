"""aggregator.compute.air_arrays equals the reference functions (compute.air_reference +
standards) bit for bit.

Every comparison is field by field through ``ReportView``: rules, presence, AQI, the IAQI dict,
the primary tuple (indicator order), completeness, and the concentrations (floats with ``==``,
NaN <-> None). Clauses: HJ 633 formula 1 (IAQI, rounded up), HJ 633-2012 表1 notes 2/3
(SO2 1-h > 800, O3 8-h > 800), HJ 633-2026 §4.2 (GB/T 8170 rounding, AQI >= 1), GB 3095 表4
(validity of daily means and moving averages), HJ 663 §6.1.2 (O3 MDA8), HJ 663 表A.1 (city
means).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import standards
from aggregator.compute import air_arrays as ag
from aggregator.compute import air_reference
from aggregator.standards import Period, Pollutant, StandardsError
from aggregator.standards import aqi as std_aqi
from aggregator.standards.air_time import day_start
from envmon.beijing_time import HOUR

SWITCH_EDGE = date(2026, 2, 27)  # 2 days of 2012 rules, then 2026 (2026-03-01)
STARTS = (date(2025, 6, 1), SWITCH_EDGE, date(2026, 2, 28), date(2026, 6, 1))
BASE = np.array([30.0, 60.0, 1.5, 120.0, 150.0, 90.0])  # so2 no2 co o3 pm10 pm25


def _columns() -> list[tuple[Pollutant, Period, standards.RuleSet]]:
    out: list[tuple[Pollutant, Period, standards.RuleSet]] = []
    for rules in ("2012", "2026"):
        for spec in (std_aqi._HOURLY[rules], std_aqi._DAILY[rules]):
            for pollutant, period in spec.values():
                if (pollutant, period, rules) not in out:
                    out.append((pollutant, period, rules))
    out.append(("so2", "24h", "2012"))
    return out


COLUMNS = _columns()


def _breakpoints(pollutant: str) -> list[float]:
    """Every breakpoint of ``pollutant`` (both rule sets, all periods) and its neighbours."""
    out: set[float] = set()
    for p, period, rules in COLUMNS:
        if p != pollutant:
            continue
        scale, column = std_aqi._scaled_column(p, period, rules)
        for b, _ in column:
            c = b / scale
            out |= {c, c + 1, max(c - 1, 0), c + 0.1, max(c - 0.1, 0), c + 0.5, c + 0.05}
    return sorted(out)


BREAKPOINTS = [_breakpoints(p) for p in standards.POLLUTANTS]


# ---- comparison helpers -------------------------------------------------------------------


def starts_of(grid: ag.Grid, first: int, count: int) -> list[datetime]:
    return [grid.start + (first + i) * HOUR for i in range(count)]


def assert_hourly_equal(grid: ag.Grid, first: int, count: int) -> None:
    """``hourly`` == ``air_reference.hours`` of the same series (HJ 633 §5 real-time report)."""
    series = ag.series_from_grid(grid)
    starts = starts_of(grid, first, count)
    ref = {h.ts: h for h in air_reference.hours(series, starts)}
    got = ag.hourly(grid, first, count)
    assert got.rules == [standards.air_rules_for(standards.beijing_day(s)) for s in starts]
    for i, ts in enumerate(starts):
        h = ref.get(ts)
        want = None if h is None else ag.ReportView.of(h.report, h.values)
        assert ag.report_at(got, i) == want, ts
        if h is None:
            assert got.aqi[i] == -1 and got.primary[i] == 0 and not got.complete[i]
            assert np.all(got.iaqi[i] == -1) and np.all(np.isnan(got.values[i]))


def assert_daily_equal(grid: ag.Grid) -> None:
    """``daily`` == ``air_reference.station_day`` per day (GB 3095 表4, HJ 663 §6.1.2)."""
    series = ag.series_from_grid(grid)
    n = grid.n_hours // 24
    got = ag.daily(grid, 0, n)
    for k in range(n):
        ref = air_reference.station_day(series, grid.first_day + timedelta(days=k))
        assert ag.report_at(got, k) == ag.ReportView.of(ref.report, ref.values), k


def assert_region_equal(grids: Sequence[ag.Grid]) -> None:
    """``region_grid``/``region_daily`` == ``air_reference.region_series``/``region_day``
    (HJ 663 表A.1), plus the station count per hour (``region_grid``'s second result)."""
    stations = [ag.series_from_grid(g) for g in grids]
    ref_series = air_reference.region_series(stations)
    region, n_stations = ag.region_grid(grids)
    assert ag.series_from_grid(region) == {p: ref_series.get(p, {}) for p in standards.POLLUTANTS}
    for i, ts in enumerate(starts_of(region, 0, region.n_hours)):
        want = sum(1 for s in stations if any(ts in p for p in s.values()))
        assert n_stations[i] == want, ts
    assert_hourly_equal(region, 0, region.n_hours)
    n = region.n_hours // 24
    station_values = np.stack([ag.daily(g, 0, n).values[:, :5] for g in grids])
    got = ag.region_daily(station_values, region, 0, n)
    for k in range(n):
        day = region.first_day + timedelta(days=k)
        days = [air_reference.station_day(s, day).values for s in stations]
        ref = air_reference.region_day(days, ref_series, day)
        assert ag.report_at(got, k) == ag.ReportView.of(ref.report, ref.values), day


# ---- data -----------------------------------------------------------------------------------


def make_values(rng: np.random.Generator, n_hours: int, kind: str, gap: float) -> np.ndarray:
    """Hourly values with a wide spread (every IAQI band is reached) and NaN gaps."""
    v = BASE[:, None] * rng.lognormal(0.0, 0.9, (6, n_hours))
    if kind == "int":
        v = np.round(v)
    elif kind == "station":  # integers, CO to one decimal (how stations report)
        v = np.round(v)
        v[2] = np.round(BASE[2] * rng.lognormal(0.0, 0.9, n_hours), 1)
    elif kind == "decimal":
        v = np.round(v, 1)
    elif kind == "mixed":
        places = rng.integers(0, 4, v.shape)
        v = np.where(places == 3, v, np.round(v * 10.0**places) / 10.0**places)
    v[rng.random(v.shape) < gap] = np.nan
    return v


Run = tuple[int, int, int, float]  # (pollutant row, first hour, hours, value)


@st.composite
def runs(draw: st.DrawFn, n_hours: int) -> list[Run]:
    """Constant runs of breakpoint values: exact means on breakpoints, SO2 > 800 (表1 note 2),
    O3 8-h > 800 (表1 note 3), and long gaps."""
    out = []
    for _ in range(draw(st.integers(0, 6))):
        row = draw(st.integers(0, 5))
        first = draw(st.integers(0, n_hours - 1))
        length = draw(st.sampled_from([1, 3, 8, 10, 24, 30]))
        value = draw(st.one_of(
            st.sampled_from(BREAKPOINTS[row]),
            st.just(math.nan),
            st.sampled_from([801.0, 850.0, 1000.0, 1700.0, 2700.0]),  # above the notes' 800
        ))
        out.append((row, first, length, value))
    return out


def build(start: date, values: np.ndarray, extra: Sequence[Run] = ()) -> ag.Grid:
    values = values.copy()
    for row, first, length, value in extra:
        values[row, first : first + length] = value
    return ag.Grid(day_start(start), values)


# ---- exact sums -----------------------------------------------------------------------------

finite = st.floats(min_value=-1e100, max_value=1e100, allow_nan=False)


@given(st.lists(st.lists(finite, min_size=1, max_size=30), min_size=1, max_size=8),
       st.integers(1, 30))
def test_exact_sums_equal_fsum(rows: list[list[float]], width: int) -> None:
    """The TwoSum path == math.fsum (the library's mean numerator), ties included."""
    x = np.array([(r * width)[:width] for r in rows]).T
    got = ag.exact_sums(x)
    assert [float(v) for v in got] == [math.fsum(r) for r in x.T.tolist()]


@pytest.mark.parametrize("values", [
    [1e16, 1.0, -1e16],  # cancellation
    [0.1] * 24,
    [2.0**53, 1.0, 1.0],  # beyond the exact-integer range
    [1.0, 2.0**-53, 2.0**-106],  # a tie broken by a tiny remainder
    [1.0, 2.0**-53],  # an exact tie: half-even
    [1.0 + 2.0**-52, 2.0**-53],
    [5e-324, 5e-324, 1e-320],
    [0.0, -0.0],
])
def test_exact_sums_hard_cases(values: list[float]) -> None:
    x = np.array(values)[:, None]
    assert float(ag.exact_sums(x)[0]) == math.fsum(values)


def test_moving_sums_of_decimals() -> None:
    """Window sums of one-decimal and arbitrary data == fsum of the window (HJ 633-2012 §5.1)."""
    rng = np.random.default_rng(7)
    for z in (np.round(rng.lognormal(0, 1, 500), 1), rng.lognormal(3, 1, 500)):
        got = ag._window_sums(z, 24)
        assert [float(v) for v in got] == [math.fsum(z[i : i + 24]) for i in range(len(got))]


# ---- IAQI -----------------------------------------------------------------------------------


def _iaqi_cases() -> Iterator[tuple[Pollutant, Period, standards.RuleSet, float]]:
    rng = np.random.default_rng(11)
    for pollutant, period, rules in COLUMNS:
        scale, column = std_aqi._scaled_column(pollutant, period, rules)
        top = column[-1][0] / scale
        values: list[float] = [0.0, top + 1, top * 3, 1e12]
        for b, _ in column:
            c = b / scale
            for d in (-1, -0.5, -0.1, -0.05, -0.0001, 0, 0.0001, 0.05, 0.1, 0.5, 1, 0.25, 0.35):
                if c + d >= 0:
                    values.append(c + d)
            values += [math.nextafter(c, 0), math.nextafter(c, math.inf)]
        values += [float(v) for v in rng.uniform(0, top * 1.1, 200)]
        values += [float(v) for v in np.round(rng.uniform(0, top * 1.1, 200), 1)]
        values += [float(v) for v in np.round(rng.uniform(0, top * 1.1, 200), 2)]
        values += [k / n for k in range(0, 200, 7) for n in (3, 7, 8, 16, 20, 23, 24)]
        values += [v + 0.5 for v in range(0, int(top) + 2, 3)]  # 2026 half-even ties
        for v in values:
            yield pollutant, period, rules, v


@pytest.mark.parametrize(
    ("pollutant", "period", "rules"), COLUMNS,
    ids=[f"HJ633-formula1-{r}-{p}-{t}" for p, t, r in COLUMNS],
)
def test_iaqi_vector_equals_library(
    pollutant: Pollutant, period: Period, rules: standards.RuleSet
) -> None:
    """HJ 633 formula 1 (2012 §6.2, 2026 §4.2.6; 2026 values rounded per GB/T 8170 first):
    breakpoints, their neighbours, half-even ties, short decimals, means k/n, floats."""
    cases = [v for p, t, r, v in _iaqi_cases() if (p, t, r) == (pollutant, period, rules)]
    got = ag._iaqi(pollutant, period, rules, np.array([*cases, math.nan]))
    want = [standards.iaqi(pollutant, period, v, rules) for v in cases]
    assert [None if g == -2 else int(g) for g in got[:-1]] == want
    assert got[-1] == -1


@given(st.sampled_from(COLUMNS), st.lists(st.one_of(
    st.floats(min_value=0, max_value=5000, allow_nan=False),
    st.integers(0, 50_000).map(lambda k: k / 10),
    st.integers(0, 500_000).map(lambda k: k / 100),
    st.fractions(min_value=0, max_value=4000, max_denominator=24).map(float),
), min_size=1, max_size=50))
def test_iaqi_vector_property(
    column: tuple[Pollutant, Period, standards.RuleSet], values: list[float]
) -> None:
    """HJ 633 formula 1 on arbitrary non-negative floats == standards.iaqi."""
    pollutant, period, rules = column
    got = ag._iaqi(pollutant, period, rules, np.array(values))
    want = [standards.iaqi(pollutant, period, v, rules) for v in values]
    assert [None if g == -2 else int(g) for g in got] == want


@pytest.mark.parametrize("rules", ["2012", "2026"])
def test_iaqi_fractional_breakpoints(
    rules: standards.RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HJ 633 formula 1 with breakpoints float64 cannot hold (a hypothetical CO 1-h column in
    tenths): values at, next to and between them still equal the library's."""
    real = std_aqi._scaled_column
    fake = (10, ((0, 0), (15, 50), (35, 100), (101, 150), (355, 200), (601, 300), (1203, 400),
                 (1500, 500)))

    def scaled(pollutant: str, period: str, r: standards.RuleSet) -> tuple[int, tuple[
            tuple[int, int], ...]]:
        return fake if (pollutant, period) == ("co", "1h") else real(pollutant, period, r)

    monkeypatch.setattr(std_aqi, "_scaled_column", scaled)
    std_aqi._iaqi.cache_clear()
    ag._prepared.cache_clear()
    try:
        values = [k / 10 for k in range(0, 1600)] + [k / 100 for k in range(0, 2000, 7)]
        for b, _ in fake[1]:
            c = b / 10
            values += [c, math.nextafter(c, 0), math.nextafter(c, math.inf), c + 1e-12,
                       c * (1 + 1e-10), c * (1 - 1e-10), c + 1 / 3]
        got = ag._iaqi("co", "1h", rules, np.array(values))
        want = [standards.iaqi("co", "1h", v, rules) for v in values]
        assert [None if g == -2 else int(g) for g in got] == want
    finally:
        std_aqi._iaqi.cache_clear()
        ag._prepared.cache_clear()


def test_iaqi_exact_decimals_take_no_fallback() -> None:
    """Short decimals (<= 4 places: station data, means k/n with n | 10**4) use int64 only."""
    ag.FALLBACKS.clear()
    for pollutant, period, rules in COLUMNS:
        values = np.array([k / 10 for k in range(0, 40_000, 7)] + [k / 16 for k in range(999)])
        ag._iaqi(pollutant, period, rules, values)
    assert ag.FALLBACKS["iaqi"] == 0


def test_negative_concentration_is_the_library_error() -> None:
    with pytest.raises(StandardsError, match="negative concentration"):
        ag._iaqi("no2", "1h", "2012", np.array([3.0, -1.0]))


def test_exact_decimal_reading_matches_repr() -> None:
    """The premise of the int64 path: fl(k / 10**4) == c  =>  repr(c) reads k / 10**4."""
    rng = np.random.default_rng(3)
    for k in rng.integers(0, 10**12, 2000):
        c = float(k) / 10_000
        assert Fraction(repr(c)) == Fraction(int(k), 10_000)


# ---- reports: property tests against the reference ---------------------------------------

KINDS = ("int", "station", "decimal", "mixed", "float")
slow = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@slow
@given(
    st.sampled_from(STARTS), st.sampled_from(KINDS), st.integers(0, 2**32),
    st.sampled_from([0.0, 0.05, 0.2, 0.5]), st.data(),
)
def test_station_hourly_and_daily(
    start: date, kind: str, seed: int, gap: float, data: st.DataObject
) -> None:
    """One station over 4 days: real-time reports of days 2-4 (moving averages reach into day
    1, HJ 633-2012 §5.1), of all days (hours before the grid are missing), and daily reports."""
    n_hours = 4 * 24
    values = make_values(np.random.default_rng(seed), n_hours, kind, gap)
    grid = build(start, values, data.draw(runs(n_hours)))
    assert_hourly_equal(grid, 24, n_hours - 24)
    assert_hourly_equal(grid, 0, n_hours)
    assert_hourly_equal(grid, 30, 7)
    assert_daily_equal(grid)


@slow
@given(
    st.sampled_from(STARTS), st.sampled_from(KINDS), st.integers(0, 2**32),
    st.integers(1, 4), st.sampled_from([0.0, 0.1, 0.4]), st.data(),
)
def test_region(
    start: date, kind: str, seed: int, n: int, gap: float, data: st.DataObject
) -> None:
    """A region of 1-4 stations: hourly means, station counts, region hourly and daily."""
    rng = np.random.default_rng(seed)
    n_hours = 3 * 24
    grids = [
        build(start, make_values(rng, n_hours, kind, gap), data.draw(runs(n_hours)))
        for _ in range(n)
    ]
    assert_region_equal(grids)


# ---- table-driven cases -----------------------------------------------------------------------


#: O3 hours missing at starts 0, 5, 10, 15, 20 of day 1: 19 valid hours -> no daily O3 max
#: 1-h (>= 20 h), yet every 8-h window has >= 6 hours -> a valid MDA8 (HJ 663 §6.1.2).
NO_O3_1H: list[Run] = [(3, 24 + h, 1, math.nan) for h in (0, 5, 10, 15, 20)]


def constant(start: date, days: int, level: Sequence[float]) -> np.ndarray:
    return np.repeat(np.array(level, dtype=np.float64)[:, None], days * 24, axis=1)


@pytest.mark.parametrize(("name", "start", "runs_"), [
    ("HJ633-2012-table1-note2-so2-1h-over-800-with-24h", date(2025, 6, 1),
     [(0, 0, 96, 700.0), (0, 60, 2, 900.0)]),
    ("HJ633-2012-table1-note2-so2-1h-over-800-no-24h", date(2025, 6, 1),
     [(0, 0, 40, math.nan), (0, 40, 3, 900.0)]),
    ("HJ633-2012-table1-note2-so2-24h-also-over-2620", date(2025, 6, 1), [(0, 0, 96, 3000.0)]),
    ("HJ633-2012-table1-note3-o3-8h-over-800", date(2025, 6, 1), [(3, 30, 20, 1000.0)]),
    ("HJ633-2026-table3-so2-over-800-is-200", date(2026, 6, 1), [(0, 30, 20, 900.0)]),
    ("HJ633-2026-table3-o3-8h-over-800-is-300", date(2026, 6, 1), [(3, 30, 20, 1000.0)]),
    ("both-rule-sets-across-2026-03-01", SWITCH_EDGE, [(3, 40, 30, 1000.0), (0, 50, 5, 900.0)]),
    ("GB3095-table4-19-hours-no-daily-mean", date(2025, 6, 1), [(4, 24, 5, math.nan)]),
    ("HJ663-6.1.2-mda8-few-windows-but-over-160", date(2025, 6, 1),
     [(3, 0, 96, math.nan), (3, 30, 8, 200.0)]),
    ("HJ633-2026-4.2-aqi-at-least-1", date(2026, 6, 1), [(r, 0, 96, 0.0) for r in range(6)]),
    ("HJ633-2012-5.1-no-o3-1h-max-but-mda8", date(2025, 6, 1), NO_O3_1H),
    ("HJ633-2026-5.3.1-missing-and-over-100", date(2026, 6, 1),
     [(0, 0, 96, math.nan), (5, 0, 96, 120.0)]),
    ("HJ633-table1-means-on-breakpoints", date(2025, 6, 1),
     [(4, 0, 96, 150.0), (5, 0, 96, 75.0), (1, 0, 96, 80.0), (2, 0, 96, 4.0)]),
])
def test_cases(name: str, start: date, runs_: list[Run]) -> None:
    grid = build(start, constant(start, 4, [10, 40, 0.5, 60, 50, 30]), runs_)
    assert_hourly_equal(grid, 24, 72)
    assert_daily_equal(grid)
    assert_region_equal([grid, build(start, constant(start, 4, [20, 50, 1.0, 80, 70, 40]))])


def test_2012_day_without_o3_1h_max_has_an_aqi() -> None:
    """Issue 11, HJ 633-2012 §5.1: the day has all six pollutants (O3 by its MDA8); no rule
    voids its AQI, which is the maximum over the indicators present."""
    start = date(2025, 6, 1)
    grid = build(start, constant(start, 3, [10, 40, 0.5, 60, 50, 30]), NO_O3_1H)
    got = ag.daily(grid, 0, 3)
    view = ag.report_at(got, 1)
    assert view is not None and view.values["o3_1h"] is None and not view.complete
    assert view.aqi == max(view.iaqi.values()) and set(view.iaqi) == {
        "so2", "no2", "co", "pm10", "pm25", "o3_8h"}
    assert_daily_equal(grid)


def test_special_rows_are_counted() -> None:
    """HJ 633-2012 表1 notes 2/3 rows go to the library, one by one."""
    start = date(2025, 6, 1)
    grid = build(start, constant(start, 2, [10, 40, 0.5, 60, 50, 30]), [(0, 30, 3, 900.0)])
    ag.FALLBACKS.clear()
    ag.hourly(grid, 24, 24)
    assert ag.FALLBACKS["report"] == 3


@pytest.mark.parametrize("start", STARTS)
def test_integer_data_takes_no_fallback(start: date) -> None:
    """Integer-valued data (the fast path, also for 2012 moving averages, MDA8 and daily
    means, GB 3095 表4 / HJ 663 §6.1.2) never leaves numpy."""
    rng = np.random.default_rng(5)
    grids = [build(start, np.minimum(make_values(rng, 96, "int", 0.1), 700)) for _ in range(3)]
    ag.FALLBACKS.clear()
    for g in grids:
        ag.hourly(g, 24, 72)
        ag.daily(g, 0, 4)
    ag.hourly(ag.region_grid(grids)[0], 24, 72)
    assert sum(ag.FALLBACKS.values()) == 0, dict(ag.FALLBACKS)
    assert_hourly_equal(grids[0], 24, 72)
    assert_daily_equal(grids[0])


def test_region_of_decimal_data_rarely_falls_back() -> None:
    """Region means are no integers: sums take the TwoSum path (fsum only where a sum may be a
    tie); IAQIs of means such as CO 2.0999999999999996 (IAQI 20.999999999999996 by its repr,
    HJ 633 formula 1) are the library's, well under 1% of the elements."""
    rng = np.random.default_rng(9)
    start = date(2025, 12, 1)
    grids = [build(start, make_values(rng, 20 * 24, "station", 0.05)) for _ in range(10)]
    ag.FALLBACKS.clear()
    region, _ = ag.region_grid(grids)
    hourly = ag.hourly(region, 24, 19 * 24)
    daily = ag.daily(region, 0, 20)
    elements = hourly.present.sum() * 7 + daily.present.sum() * 7
    assert ag.FALLBACKS["fsum"] + ag.FALLBACKS["iaqi"] <= 0.01 * elements, dict(ag.FALLBACKS)
    assert ag.FALLBACKS["report"] == 0


# ---- many stations in one call --------------------------------------------------------------


def assert_same_reports(got: ag.Reports, want: ag.Reports) -> None:
    """Element for element (and dtype for dtype) the same reports."""
    assert (got.rules, got.kind, got.indicators, got.columns) == (
        want.rules, want.kind, want.indicators, want.columns)
    for name in ("present", "aqi", "iaqi", "primary", "complete", "values"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.array_equal(a, b, equal_nan=name == "values"), name


def assert_many_equal(start: datetime, values: np.ndarray, first: int, count: int) -> None:
    """``hourly_many``/``daily_many`` == ``hourly``/``daily`` of each station's grid."""
    n_days = values.shape[2] // 24
    hourly = ag.hourly_many(start, values, first, count)
    daily = ag.daily_many(start, values, 1, n_days - 1)
    assert len(hourly) == len(daily) == values.shape[0]
    for s in range(values.shape[0]):
        grid = ag.Grid(start, values[s].copy())
        assert_same_reports(hourly[s], ag.hourly(grid, first, count))
        assert_same_reports(daily[s], ag.daily(grid, 1, n_days - 1))


@slow
@given(
    st.sampled_from(STARTS), st.lists(st.sampled_from(KINDS), min_size=1, max_size=5),
    st.integers(0, 2**32), st.sampled_from([0.0, 0.05, 0.3]), st.integers(0, 4), st.data(),
)
def test_many_equal_per_station(
    start: date, kinds: list[str], seed: int, gap: float, empty_at: int, data: st.DataObject
) -> None:
    """Stations stacked (one of them without any data, integer and float data side by side,
    breakpoint runs and HJ 633-2012 表1 note 2/3 rows) give every station's own reports."""
    rng = np.random.default_rng(seed)
    n_hours = 4 * 24
    grids = [build(start, make_values(rng, n_hours, k, gap), data.draw(runs(n_hours)))
             for k in kinds]
    values = np.stack([g.values for g in grids])
    values = np.insert(values, min(empty_at, len(grids)), np.nan, axis=0)
    assert_many_equal(day_start(start), values, 24, n_hours - 24)
    assert_many_equal(day_start(start), values, 0, n_hours)
    assert_many_equal(day_start(start), values, 30, 7)
    assert_hourly_equal(ag.Grid(day_start(start), values[0].copy()), 24, n_hours - 24)


@pytest.mark.parametrize("start", [date(2025, 6, 1), SWITCH_EDGE, date(2026, 6, 1)])
def test_many_with_fallbacks(start: date) -> None:
    """Stations whose data leaves the fast paths (an fsum near a tie, IAQIs of float data,
    HJ 633-2012 表1 note 2 rows) next to plain ones: the same reports, the same fallbacks."""
    rng = np.random.default_rng(13)
    plain = make_values(rng, 96, "station", 0.05)
    floats = make_values(rng, 96, "float", 0.05)
    floats[2, 40:42] = [2.0999999999999996, 2.0500000001]  # IAQI 21 / a 2026 tie, nearly
    tie = plain.copy()
    tie[2, 24:48] = np.nan
    tie[2, 24:27] = [1.0, 2.0**-53, 2.0**-106]  # a daily CO sum that fsum must settle
    note2 = plain.copy()
    note2[0, 30:33] = 900.0
    values = np.stack([plain, floats, np.full((6, 96), np.nan), tie, note2])
    starts = day_start(start)
    ag.FALLBACKS.clear()
    for s in range(len(values)):
        grid = ag.Grid(starts, values[s].copy())
        ag.hourly(grid, 24, 72)
        ag.daily(grid, 1, 3)
    per_station = dict(ag.FALLBACKS)
    ag.FALLBACKS.clear()
    ag.hourly_many(starts, values, 24, 72)
    ag.daily_many(starts, values, 1, 3)
    assert per_station["fsum"] > 0 and per_station["iaqi"] > 0
    assert start >= date(2026, 3, 1) or per_station["report"] > 0
    # sums of the stack may take the TwoSum path where one station alone was integral
    assert {k: v for k, v in ag.FALLBACKS.items() if k != "fsum"} == {
        k: v for k, v in per_station.items() if k != "fsum"}
    assert ag.FALLBACKS["fsum"] >= per_station["fsum"]
    assert_many_equal(starts, values, 24, 72)
    assert_hourly_equal(ag.Grid(starts, values[3].copy()), 24, 72)
    assert_daily_equal(ag.Grid(starts, values[3].copy()))


def test_many_views_and_edges() -> None:
    """Reports of a stack are views into shared arrays; no stations, no reports; the stack's
    shape and start are checked like a grid's."""
    start = day_start(date(2026, 6, 1))
    values = np.stack([constant(date(2026, 6, 1), 2, [10, 40, 0.5, 60, 50, 30])] * 3)
    reports = ag.hourly_many(start, values, 0, 48)
    assert reports[0].aqi.base is not None and reports[0].aqi.base is reports[2].aqi.base
    assert reports[1].values.shape == (48, len(ag.HOURLY_CONCENTRATIONS))
    assert ag.hourly_many(start, values[:0], 0, 48) == []
    assert ag.daily_many(start, values[:0], 0, 2) == []
    for bad in (values[0], values[:, :5], values[:, :, :30]):
        with pytest.raises(ValueError):
            ag.hourly_many(start, bad, 0, 24)
    with pytest.raises(ValueError):
        ag.daily_many(start + HOUR, values, 0, 2)
    with pytest.raises(ValueError):
        ag.daily_many(start, values, 1, 2)
    grids = [ag.Grid(start, v.copy()) for v in values]
    got_start, stacked = ag.stack(grids)
    assert got_start == start and np.array_equal(stacked, values)
    with pytest.raises(ValueError):
        ag.stack([grids[0], ag.Grid(start + timedelta(days=1), values[0].copy())])


# ---- grids ----------------------------------------------------------------------------------


def test_grid_series_round_trip() -> None:
    start = date(2026, 2, 27)
    values = make_values(np.random.default_rng(1), 72, "mixed", 0.3)
    grid = ag.Grid(day_start(start), values)
    series = ag.series_from_grid(grid)
    back = ag.grid_from_series(series, grid.start, 3)
    assert np.array_equal(back.values, values, equal_nan=True)
    assert all(ts.tzinfo is standards.BEIJING for s in series.values() for ts in s)


def test_grid_from_series_edges() -> None:
    """UTC keys find their Beijing hour; None is absent; keys outside the days are left out."""
    start = day_start(date(2025, 6, 1))
    series: dict[str, air_reference.Series] = {"no2": {
        datetime(2025, 5, 31, 16, tzinfo=UTC): 1.0,  # 00:00 Beijing
        datetime(2025, 6, 1, 15, tzinfo=UTC): 2.0,  # 23:00 Beijing
        datetime(2025, 6, 1, 16, tzinfo=UTC): 3.0,  # next day: outside
        datetime(2025, 5, 31, 15, tzinfo=UTC): 4.0,  # before
        datetime(2025, 6, 1, 2, tzinfo=UTC): None,
    }}
    grid = ag.grid_from_series(series, start, 1)
    row = grid.values[1]
    assert row[0] == 1.0 and row[23] == 2.0 and np.isnan(row[1:23]).all()
    with pytest.raises(ValueError, match="whole hours"):
        ag.grid_from_series({"o3": {start + timedelta(minutes=30): 1.0}}, start, 1)


@pytest.mark.parametrize(("start", "shape"), [
    (day_start(date(2025, 6, 1)) + HOUR, (6, 24)),
    (day_start(date(2025, 6, 1)), (6, 25)),
    (day_start(date(2025, 6, 1)), (5, 24)),
    (day_start(date(2025, 6, 1)).replace(tzinfo=None), (6, 24)),
])
def test_grid_validation(start: object, shape: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        ag.Grid(start, np.zeros(shape))  # type: ignore[arg-type]


def test_ranges_are_checked() -> None:
    grid = ag.Grid(day_start(date(2025, 6, 1)), np.zeros((6, 48)))
    with pytest.raises(ValueError):
        ag.hourly(grid, 24, 25)
    with pytest.raises(ValueError):
        ag.daily(grid, 1, 2)
    with pytest.raises(ValueError):
        ag.region_grid([grid, ag.Grid(day_start(date(2025, 6, 2)), np.zeros((6, 48)))])
