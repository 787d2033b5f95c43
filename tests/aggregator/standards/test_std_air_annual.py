"""Annual assessment (HJ 663 表1, Annex A), limits by date (GB 3095) and day counts (air.md)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from aggregator.standards import (
    StandardsError,
    air_limit,
    annual_statistics,
    daily_aqi,
    day_counts,
    exceedance_multiple,
    percentile,
)


def test_percentile_worked_example() -> None:
    """HJ 663 Annex A, air.md §7.6: {3,4,8,2,5,4}, p = 90 -> 6.5."""
    assert percentile([3, 4, 8, 2, 5, 4], 90) == 6.5


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([1, 2, 3, 4, 5], 50, 3.0),  # k = 3, integer: X(3)
        ([1, 2, 3, 4, 5], 100, 5.0),  # k = n
        ([1, 2, 3, 4, 5], 0, 1.0),
        (list(range(1, 101)), 95, 95.05),  # k = 95.05 -> 95 + 0.05
        ([7], 98, 7.0),
    ],
)
def test_percentile_formula(values: list[int], p: int, expected: float) -> None:
    """k = 1 + (n-1)p%, s = int(k), m = X(s) + (X(s+1) - X(s))(k - s)."""
    assert percentile(values, p) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("pollutant", "period", "day", "level2"),
    [  # GB 3095-2012 表1; GB 3095-2026 表1 transitional / final (clause 4.4)
        ("pm25", "24h", date(2026, 2, 28), 75),
        ("pm25", "24h", date(2026, 3, 1), 60),
        ("pm25", "annual", date(2030, 12, 31), 30),
        ("pm25", "annual", date(2031, 1, 1), 25),
        ("pm10", "24h", date(2025, 1, 1), 150),
        ("pm10", "24h", date(2027, 1, 1), 120),
        ("pm10", "24h", date(2031, 1, 1), 100),
        ("so2", "annual", date(2031, 1, 1), 20),
        ("no2", "annual", date(2031, 1, 1), 30),
        ("o3", "8h", date(2031, 1, 1), 160),
        ("co", "24h", date(2020, 1, 1), 4),
    ],
)
def test_limits_by_date(pollutant: str, period: str, day: date, level2: float) -> None:
    assert air_limit(pollutant, period, day) == level2  # type: ignore[arg-type]


def test_no_annual_co_limit() -> None:
    with pytest.raises(StandardsError):
        air_limit("co", "annual", date(2025, 1, 1))


def test_exceedance_multiple() -> None:
    """(C - S) / S only when C > S (air.md §7.7)."""
    assert exceedance_multiple(112.5, 75) == 0.5
    assert exceedance_multiple(75, 75) is None


def year_of(year: int, value_for: dict[int, float] | None = None) -> dict[date, float]:
    d, out = date(year, 1, 1), {}
    i = 0
    while d.year == year:
        out[d] = (value_for or {}).get(i, 10.0)
        d += timedelta(days=1)
        i += 1
    return out


def test_annual_statistics_pm25() -> None:
    """HJ 663 表1: PM2.5 annual mean and 95th percentile of daily means, vs 35 / 75 (2012)."""
    daily = year_of(2025, {i: 200.0 for i in range(60)})  # 60 bad days of 365
    mean, p95 = annual_statistics("pm25", daily, 2025)
    assert (mean.statistic, p95.statistic) == ("mean", "p95")
    assert mean.value == pytest.approx((305 * 10 + 60 * 200) / 365)
    assert mean.limit == 35 and p95.limit == 75 and mean.valid
    assert mean.reported == 41 and mean.attains is False
    assert mean.exceedance == pytest.approx((41 - 35) / 35)
    assert p95.value == 200.0 and p95.attains is False


def test_annual_statistics_invalid_year() -> None:
    """GB 3095 表4: fewer than 324 days -> not valid, no attainment verdict."""
    daily = dict(list(year_of(2025).items())[:300])
    (p90,) = annual_statistics("o3", daily, 2025)
    assert p90.statistic == "p90" and not p90.valid and p90.attains is None


GOOD = {"so2": 5, "no2": 10, "co": 0.5, "pm10": 20, "pm25": 20, "o3_8h": 50, "o3_1h": 60}


def test_day_counts_good_day_ratio() -> None:
    """Good-day ratio = days AQI <= 100 / valid days (air.md §6: 86/91 = 94.5 %)."""
    good = [daily_aqi(GOOD, rules="2012")] * 86
    bad = [daily_aqi({**GOOD, "pm25": 100}, rules="2012")] * 4
    heavy = [daily_aqi({**GOOD, "pm25": 200}, rules="2012")]
    incomplete = [daily_aqi({**GOOD, "so2": None, "pm25": 300}, rules="2012")] * 2
    counts = day_counts(good + bad + heavy + incomplete)
    assert (counts.valid_days, counts.good_days, counts.polluted_days) == (91, 86, 5)
    assert counts.heavy_days == 1
    assert counts.good_ratio is not None and round(counts.good_ratio, 1) == 94.5
    assert day_counts(good + incomplete, valid_day="published").valid_days == 88
    assert day_counts([]).good_ratio is None
