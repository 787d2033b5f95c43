"""AQI per HJ 633-2012 表1/表2 and HJ 633-2026 表3 (air.md §4, §5).

The breakpoint tables are transcribed here a second time, independently of aqi_tables.toml, so a
typo in either shows up as a failing row.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.standards import (
    StandardsError,
    air_rules_for,
    category,
    daily_aqi,
    hourly_aqi,
    iaqi,
    round_concentration,
)

IAQI = (0, 50, 100, 150, 200, 300, 400, 500)
# HJ 633-2012 表1 (µg/m³, CO mg/m³)
T2012: dict[tuple[str, str], tuple[str, ...]] = {
    ("so2", "24h"): ("0", "50", "150", "475", "800", "1600", "2100", "2620"),
    ("so2", "1h"): ("0", "150", "500", "650", "800"),
    ("no2", "24h"): ("0", "40", "80", "180", "280", "565", "750", "940"),
    ("no2", "1h"): ("0", "100", "200", "700", "1200", "2340", "3090", "3840"),
    ("pm10", "24h"): ("0", "50", "150", "250", "350", "420", "500", "600"),
    ("co", "24h"): ("0", "2", "4", "14", "24", "36", "48", "60"),
    ("co", "1h"): ("0", "5", "10", "35", "60", "90", "120", "150"),
    ("o3", "1h"): ("0", "160", "200", "300", "400", "800", "1000", "1200"),
    ("o3", "8h"): ("0", "100", "160", "215", "265", "800"),
    ("pm25", "24h"): ("0", "35", "75", "115", "150", "250", "350", "500"),
}
# HJ 633-2026 表3: identical except PM at IAQI 100 (PM10 150 -> 120, PM2.5 75 -> 60).
T2026 = dict(T2012)
T2026[("pm10", "24h")] = ("0", "50", "120", "250", "350", "420", "500", "600")
T2026[("pm25", "24h")] = ("0", "35", "60", "115", "150", "250", "350", "500")
TABLES = {"2012": T2012, "2026": T2026}


def oracle(column: tuple[str, ...], c: Fraction) -> int:
    """Formula (1) of HJ 633 by hand, exact, rounded up (2012 clause 6.2 / 2026 4.2.6)."""
    bps = [Fraction(Decimal(b)) for b in column]
    for i in range(1, len(bps)):
        if c <= bps[i]:
            lo, hi = bps[i - 1], bps[i]
            return math.ceil(Fraction(IAQI[i] - IAQI[i - 1]) / (hi - lo) * (c - lo) + IAQI[i - 1])
    raise AssertionError("above table")


def rows() -> list[tuple[str, str, str, int, int]]:
    return [
        (rules, pollutant, period, i, IAQI[i])
        for rules, table in TABLES.items()
        for (pollutant, period), column in table.items()
        for i in range(len(column))
    ]


@pytest.mark.parametrize(("rules", "pollutant", "period", "row", "at_bp"), rows())
def test_every_breakpoint_at_below_above(
    rules: str, pollutant: str, period: str, row: int, at_bp: int
) -> None:
    """HJ 633-2012 表1 / HJ 633-2026 表3, every row: at, just below, just above the breakpoint."""
    column = TABLES[rules][(pollutant, period)]
    bp = Fraction(Decimal(column[row]))
    # 2026 rounds concentrations first (µg/m³ integers, CO 0.1 mg/m³), so "just" is one unit.
    step = Fraction(1, 100) if rules == "2012" else Fraction(1, 10 if pollutant == "co" else 1)
    assert iaqi(pollutant, period, Decimal(column[row]), rules) == at_bp  # type: ignore[arg-type]
    if row > 0:
        below = bp - step
        expected = oracle(column, below)
        assert iaqi(pollutant, period, str(float(below)), rules) == expected  # type: ignore[arg-type]
        assert IAQI[row - 1] < expected <= at_bp
    if row < len(column) - 1:
        above = bp + step
        got = iaqi(pollutant, period, str(float(above)), rules)  # type: ignore[arg-type]
        assert got == oracle(column, above)
        assert got is not None and at_bp < got <= IAQI[row + 1]


@pytest.mark.parametrize(
    ("rules", "pollutant", "period", "value", "expected"),
    [
        ("2012", "pm25", "24h", 80, 107),  # air.md §4.2 worked example
        ("2026", "pm25", "24h", 80, 119),  # air.md §5.1 worked example
        ("2012", "pm10", "24h", 130, 90),  # air.md §5.1
        ("2026", "pm10", "24h", 130, 104),  # air.md §5.1
        ("2012", "pm25", "24h", 75.0, 100),  # exact arithmetic: never 101
        ("2026", "pm25", "24h", "60.5", 100),  # GB/T 8170: 60.5 -> 60 (half to even)
        ("2026", "pm25", "24h", "61.5", 102),  # 61.5 -> 62 -> 101.8 -> 102
        ("2026", "co", "24h", "4.05", 100),  # 4.05 -> 4.0
        ("2026", "co", "24h", "4.15", 101),  # 4.15 -> 4.2 -> exactly 101
        ("2026", "pm25", "1h", 80, 119),  # HJ 633-2026 §4.2: PM 1-h uses the daily column
        ("2012", "so2", "1h", 801, None),  # HJ 633-2012 表1 注2
        ("2026", "so2", "1h", 801, 200),  # HJ 633-2026 表3 注b
        ("2012", "o3", "8h", 801, None),  # HJ 633-2012 表1 注3
        ("2026", "o3", "8h", 801, 300),  # HJ 633-2026 表3 注c
        ("2012", "pm25", "24h", 501, 500),  # above the table: ABOVE_TOP_IAQI
    ],
)
def test_worked_examples_and_special_cases(
    rules: str, pollutant: str, period: str, value: object, expected: int | None
) -> None:
    assert iaqi(pollutant, period, value, rules) == expected  # type: ignore[arg-type]


def test_co_415_rounds_half_to_even_upwards() -> None:
    """GB/T 8170: 4.15 -> 4.2 (the discarded 5 makes the kept digit even)."""
    assert round_concentration("co", "4.15", "2026") == Decimal("4.2")
    assert round_concentration("co", "4.25", "2026") == Decimal("4.2")
    assert round_concentration("pm25", "80.5", "2026") == Decimal("80")
    assert round_concentration("pm25", "80.5", "2012") == Decimal("80.5")


def test_pm_1h_under_2012_is_rejected() -> None:
    with pytest.raises(StandardsError):
        iaqi("pm25", "1h", 10, "2012")
    with pytest.raises(StandardsError):
        iaqi("pm25", "24h", -1, "2012")


@pytest.mark.parametrize(
    ("aqi", "level", "name", "hex_"),
    [  # HJ 633 表2 bands and Annex A colours
        (0, 1, "优", "#00E400"),
        (50, 1, "优", "#00E400"),
        (51, 2, "良", "#FFFF00"),
        (100, 2, "良", "#FFFF00"),
        (101, 3, "轻度污染", "#FF7E00"),
        (150, 3, "轻度污染", "#FF7E00"),
        (151, 4, "中度污染", "#FF0000"),
        (200, 4, "中度污染", "#FF0000"),
        (201, 5, "重度污染", "#99004C"),
        (300, 5, "重度污染", "#99004C"),
        (301, 6, "严重污染", "#7E0023"),
        (500, 6, "严重污染", "#7E0023"),
    ],
)
def test_category_bands(aqi: int, level: int, name: str, hex_: str) -> None:
    c = category(aqi)
    assert (c.level, c.name, c.hex) == (level, name, hex_)


def test_rules_by_date_and_override() -> None:
    assert air_rules_for(date(2026, 2, 28)) == "2012"
    assert air_rules_for(date(2026, 3, 1)) == "2026"
    assert air_rules_for(date(2026, 3, 1), "2012") == "2012"


DAY = {"so2": 5, "no2": 30, "co": 0.5, "pm10": 130, "pm25": 80, "o3_8h": 90, "o3_1h": 100}
# A clean HJ 633-2012 real-time report (§5.1): every IAQI well below 50.
HOUR_2012 = {
    "so2": 5, "no2": 10, "co": 1, "o3": 10, "o3_8h": 10, "pm10_24h": 10, "pm25_24h": 10
}


def test_daily_report_2012_vs_2026_by_date() -> None:
    """HJ 633-2012 §5.1 (7 indicators) vs HJ 633-2026 §4.2 (6; O3 1-h max dropped)."""
    old = daily_aqi(DAY, day=date(2026, 2, 28))
    new = daily_aqi(DAY, day=date(2026, 3, 1))
    assert (old.rules, old.aqi, old.primary) == ("2012", 107, ("pm25",))
    assert (new.rules, new.aqi, new.primary) == ("2026", 119, ("pm25",))
    assert "o3_1h" in old.iaqi and "o3_1h" not in new.iaqi
    assert old.category is not None and old.category.level == 3
    assert daily_aqi(DAY, day=date(2026, 3, 1), rules="2012").aqi == 107


def test_primary_pollutant_ties_and_threshold() -> None:
    """Clause 3.3/4.4.2: primary only when AQI > 50; ties listed together."""
    tie = daily_aqi(
        {"so2": 150, "no2": 80, "co": 1, "pm10": 10, "pm25": 10, "o3_8h": 10}, rules="2026"
    )
    assert tie.aqi == 100 and tie.primary == ("so2", "no2")
    clean = daily_aqi(
        {"so2": 50, "no2": 40, "co": 1, "pm10": 10, "pm25": 10, "o3_8h": 10}, rules="2026"
    )
    assert clean.aqi == 50 and clean.primary == ()


def test_missing_indicator_publishes_only_above_100() -> None:
    """HJ 633-2026 §5.3.1: with a missing pollutant AQI is published only when > 100."""
    partial = {k: v for k, v in DAY.items() if k != "so2"}
    low = daily_aqi({**partial, "pm25": 20, "pm10": 20}, rules="2026")
    assert low.aqi is None and low.category is None and low.missing == ("so2",)
    assert low.iaqi["pm25"] == iaqi("pm25", "24h", 20, "2026")
    high = daily_aqi({**partial, "so2": None}, rules="2026")
    assert high.aqi == 119 and not high.complete


def test_2012_o3_8h_above_800_uses_1h() -> None:
    """HJ 633-2012 表1 注3: O3 8-h > 800 -> no IAQI from it; O3 IAQI from the 1-h value."""
    r = daily_aqi({**DAY, "o3_8h": 850, "o3_1h": 900}, rules="2012")
    assert "o3_8h" not in r.iaqi and r.complete
    assert r.aqi == iaqi("o3", "1h", 900, "2012") and r.primary == ("o3_1h",)
    assert r.notes


def test_2012_hourly_so2_above_800_uses_24h() -> None:
    """HJ 633-2012 表1 注2 in the real-time report; 2026 counts it as 200 (表3 注b)."""
    values = {**HOUR_2012, "so2": 900, "so2_24h": 300}
    r = hourly_aqi(values, hour_start=datetime(2025, 1, 1, 3, tzinfo=UTC))
    assert r.rules == "2012" and r.iaqi["so2"] == iaqi("so2", "24h", 300, "2012") == 124
    without = hourly_aqi({**values, "so2_24h": None}, rules="2012")
    assert "so2" in without.missing
    new = hourly_aqi(
        {"so2": 900, "no2": 10, "co": 1, "o3": 10, "pm10": 10, "pm25": 10}, rules="2026"
    )
    assert new.iaqi["so2"] == 200 and new.aqi == 200


def test_hourly_2012_uses_pm_24h_moving() -> None:
    """HJ 633-2012 §5.1: real-time PM IAQI from the 24-h moving averages."""
    values = {**HOUR_2012, "pm25_24h": 80, "pm25": 300}
    r = hourly_aqi(values, rules="2012")
    assert r.aqi == 107 and r.primary == ("pm25_24h",)


def test_hour_start_picks_rules_by_beijing_day() -> None:
    """2026-02-28 16:00 UTC = 2026-03-01 00:00 Beijing: the hour belongs to the 2026 rules."""
    v = {"so2": 5, "no2": 10, "co": 1, "o3": 10, "pm10": 10, "pm25": 80}
    assert hourly_aqi(v, hour_start=datetime(2026, 2, 28, 16, tzinfo=UTC)).rules == "2026"
    old = hourly_aqi(v, hour_start=datetime(2026, 2, 28, 15, tzinfo=UTC))
    assert old.rules == "2012" and old.missing == ("o3_8h", "pm10_24h", "pm25_24h")
    assert old.aqi is None  # 2012 real-time PM comes from 24-h moving averages only


def test_unknown_key_and_missing_rules_raise() -> None:
    with pytest.raises(StandardsError):
        daily_aqi({"pm2.5": 10}, rules="2012")
    with pytest.raises(StandardsError):
        daily_aqi(DAY)


COLUMNS = [(r, p, per) for r, t in TABLES.items() for (p, per) in t]


@given(
    column=st.sampled_from(COLUMNS),
    a=st.decimals(min_value=0, max_value=4000, places=2),
    b=st.decimals(min_value=0, max_value=4000, places=2),
)
def test_iaqi_is_monotonic(column: tuple[str, str, str], a: Decimal, b: Decimal) -> None:
    """IAQI never decreases when the concentration increases (within the defined range)."""
    rules, pollutant, period = column
    lo, hi = sorted((a, b))
    i_lo = iaqi(pollutant, period, lo, rules)  # type: ignore[arg-type]
    i_hi = iaqi(pollutant, period, hi, rules)  # type: ignore[arg-type]
    if i_hi is None:  # 2012 gives no IAQI above 800 for SO2 1-h / O3 8-h
        return
    assert i_lo is not None and i_lo <= i_hi


conc = st.decimals(min_value=0, max_value=700, places=1)


@given(st.sampled_from(["2012", "2026"]), conc, conc, conc, conc, conc, conc, conc)
def test_aqi_is_max_iaqi(
    rules: str,
    so2: Decimal,
    no2: Decimal,
    co: Decimal,
    pm10: Decimal,
    pm25: Decimal,
    o3_8h: Decimal,
    o3_1h: Decimal,
) -> None:
    values = {
        "so2": so2,
        "no2": no2,
        "co": co / 10,
        "pm10": pm10,
        "pm25": pm25,
        "o3_8h": o3_8h,
        "o3_1h": o3_1h,
    }
    r = daily_aqi(values, rules=rules)  # type: ignore[arg-type]
    assert r.aqi == max(1 if rules == "2026" else 0, *r.iaqi.values())
    assert all(r.iaqi[p] == r.aqi for p in r.primary)


@given(
    column=st.sampled_from(COLUMNS),
    c=st.one_of(
        st.floats(min_value=0, max_value=3000),
        st.fractions(min_value=0, max_value=3000),
        st.decimals(min_value=0, max_value=3000, places=6),
        st.integers(min_value=0, max_value=3000),
    ),
)
def test_iaqi_equals_the_exact_formula(
    column: tuple[str, str, str], c: float | Fraction | Decimal | int
) -> None:
    """The integer arithmetic of ``iaqi`` is formula (1) on exact values, for every number
    type (floats by their repr), cached or not."""
    rules, pollutant, period = column
    exact_c = Fraction(Decimal(repr(c))) if isinstance(c, float) else Fraction(c)
    if rules == "2026":
        exact_c = Fraction(round_concentration(pollutant, exact_c, rules))  # type: ignore[arg-type]
    table = TABLES[rules][(pollutant, period)]
    if exact_c > Fraction(table[-1]):
        return  # above the table: the special cases are tested above
    for _ in range(2):  # computed, then from the cache
        assert iaqi(pollutant, period, c, rules) == oracle(table, exact_c)  # type: ignore[arg-type]


# issue 11; 2012 IAQI: SO2 10, NO2 38, CO 20, PM10 55, PM2.5 50 + 50 × 15/40 = 68.75 -> 69
SIX = {"so2": 10, "no2": 30, "co": 0.8, "pm10": 60, "pm25": 50, "o3_8h": 100}


@pytest.mark.parametrize(
    ("values", "rules", "aqi", "used", "missing_pollutants"),
    [
        # HJ 633-2012 §5.1: seven daily indicators, two of them O3. Without the O3 1-h max the
        # six pollutants are all there; 2012 has no rule voiding the AQI: max of those present.
        (SIX, "2012", 69, ("so2", "no2", "co", "pm10", "pm25", "o3_8h"), ()),
        ({**SIX, "o3_1h": 250}, "2012", 125, (*SIX, "o3_1h"), ()),
        # only the O3 1-h max for O3: still every pollutant
        ({**SIX, "o3_8h": None, "o3_1h": 150}, "2012", 69, ("so2", "no2", "co", "pm10",
                                                          "pm25", "o3_1h"), ()),
        # a whole pollutant missing: 5.3.1 of HJ 633-2026, borrowed for 2012 (NA unless > 100)
        ({**SIX, "pm25": None}, "2012", None, (), ("pm25",)),
        ({**SIX, "pm25": None, "pm10": 300}, "2012", 175, ("so2", "no2", "co", "pm10",
                                                           "o3_8h"), ("pm25",)),
        # HJ 633-2026 §4.2: six daily indicators, no O3 1-h max at all -> the same day is whole
        # (2026 PM2.5 50: 50 + 50 × (50 − 35) / (60 − 35) = 80)
        (SIX, "2026", 80, tuple(SIX), ()),
        ({**SIX, "o3_1h": 250}, "2026", 80, tuple(SIX), ()),  # accepted and ignored
        ({**SIX, "so2": None}, "2026", None, (), ("so2",)),  # §5.3.1: NA when <= 100
    ],
)
def test_daily_aqi_from_the_indicators_present(
    values: dict[str, float | None],
    rules: str,
    aqi: int | None,
    used: tuple[str, ...],
    missing_pollutants: tuple[str, ...],
) -> None:
    r = daily_aqi(values, rules=rules)  # type: ignore[arg-type]
    assert r.aqi == aqi
    assert r.used == used and r.missing_pollutants == missing_pollutants
    assert r.all_pollutants is (not missing_pollutants)
    if aqi is not None:
        assert r.aqi == max(r.iaqi[k] for k in r.used)


def test_cli_day_without_o3_1h_names_the_indicators_used() -> None:
    """`envmon aqi --date 2025-05-01 --pm25 50 …` without --o3-1h (issue 11)."""
    r = daily_aqi(SIX, day=date(2025, 5, 1))
    assert r.rules == "2012" and r.aqi == 69 and r.missing == ("o3_1h",) and not r.complete


def test_hourly_2012_o3_8h_missing_o3_1h_present() -> None:
    """HJ 633-2012 real-time report: O3 has the 1-h and the 8-h indicator; either suffices."""
    values = {"so2": 5, "no2": 10, "co": 1, "o3": 10, "pm10_24h": 10, "pm25_24h": 10}
    r = hourly_aqi(values, rules="2012")
    assert r.aqi == 15 and r.missing == ("o3_8h",) and r.all_pollutants  # PM 10: 14.3 -> 15
