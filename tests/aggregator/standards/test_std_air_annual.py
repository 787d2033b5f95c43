"""Annual assessment (HJ 663 表1, Annex A), limits by date (GB 3095) and day counts (air.md)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from aggregator.standards import (
    StandardsError,
    air_limit,
    annual_attainment,
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


def test_day_without_o3_1h_is_a_valid_good_day() -> None:
    """HJ 633-2012 §5.1 has two O3 daily indicators; a day with the six pollutants but no O3
    1-h max has an AQI (from the six present) and counts as a valid day (issue 11)."""
    days = [daily_aqi({**GOOD, "o3_1h": None}, day=date(2025, 5, d)) for d in range(1, 11)]
    counts = day_counts(days)
    assert (counts.valid_days, counts.good_days, counts.good_ratio) == (10, 10, 100.0)
    assert counts.partial_days == 10
    assert day_counts([daily_aqi(GOOD, rules="2012")]).partial_days == 0


# GB 3095-2012 表1 Level 2: annual SO2 60, NO2 40, PM10 70, PM2.5 35; 24-h SO2 150, NO2 80,
# PM10 150, PM2.5 75, CO 4 mg/m³; O3 8-h 160. n = 365: p95 at k = 346.8, p98 at 357.72, p90 at
# 328.6 (HJ 663 Annex A), so with b bad days on top, X(i) is bad for i > 365 - b.
CLEAN = {"so2": 10.0, "no2": 20.0, "pm10": 50.0, "pm25": 30.0, "co": 1.0, "o3": 100.0}


@pytest.mark.parametrize(
    ("pollutant", "bad_days", "bad_value", "hj663", "bulletin"),
    [
        (None, 0, 0.0, True, True),
        ("pm25", 365, 35.0, True, True),  # annual mean 35 = limit: attains (<=)
        ("pm25", 365, 35.4, True, True),  # reported 35 after GB/T 8170 rounding
        ("pm25", 365, 35.6, False, False),
        ("pm25", 18, 200.0, False, False),  # mean (347*30 + 18*200)/365 = 38.4 > 35
        ("pm25", 19, 100.0, False, True),  # mean 33.4 <= 35 but p95: 30 + 0.8*70 = 86 > 75
        ("pm25", 18, 100.0, True, True),  # p95 = X(346)..X(347) = 30: 32.7 mean, 30 p95
        ("so2", 365, 61.0, False, False),
        ("so2", 9, 160.0, False, True),  # p98: X(357) = X(358) = 160 > 150; mean 13.7
        ("so2", 8, 160.0, True, True),  # p98: X(357) = 10, X(358) = 160 -> 118
        ("no2", 365, 40.0, True, True),
        ("pm10", 365, 71.0, False, False),
        ("co", 19, 4.1, True, True),  # X(346) = 1.0, X(347) = 4.1 -> 3.48 -> 3.5
        ("co", 20, 4.1, False, False),  # X(346) = X(347) = 4.1
        ("o3", 37, 170.0, True, True),  # X(328) = 100, X(329) = 170 -> 142
        ("o3", 38, 170.0, False, False),
    ],
)
def test_annual_attainment_all_six(
    pollutant: str | None, bad_days: int, bad_value: float, hj663: bool, bulletin: bool
) -> None:
    """City attainment on all six pollutants (air.md §7.5). ``hj663``: every HJ 663 表1
    statistic of a pollutant <= its limit (annual mean and 24-h p98/p95; CO p95; O3 MDA8 p90);
    ``bulletin``: SO2/NO2/PM10/PM2.5 annual means, CO p95 and O3 p90 only."""
    daily = {p: {d: v for d in year_of(2025)} for p, v in CLEAN.items()}
    if pollutant is not None:
        for d in sorted(daily[pollutant])[:bad_days]:
            daily[pollutant][d] = bad_value
    for items, attains, n_stats in (("hj663", hj663, 10), ("bulletin", bulletin, 6)):
        result = annual_attainment(daily, 2025, items=items)  # type: ignore[arg-type]
        assert result.attains is attains, items
        assert result.exceeding == (() if attains else (pollutant,))
        assert len(result.statistics) == n_stats and result.items == items


def test_annual_attainment_unknown_without_a_valid_year() -> None:
    """GB 3095 表4: < 324 days -> no verdict for that pollutant; a failure still fails."""
    daily = {p: {d: v for d in year_of(2025)} for p, v in CLEAN.items()}
    daily["co"] = dict(list(daily["co"].items())[:300])
    result = annual_attainment(daily, 2025)  # type: ignore[arg-type]
    assert result.attains is None and result.pollutants["co"] is None
    daily["so2"] = {d: 100.0 for d in daily["so2"]}
    assert annual_attainment(daily, 2025).attains is False  # type: ignore[arg-type]
    assert annual_attainment({}, 2025).attains is None
