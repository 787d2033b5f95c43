"""City plan targets (issue 3, targets.toml) and the good-day budget of a year."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.standards import (
    StandardsError,
    air_target_status,
    plan_target,
    share_target_status,
)


@pytest.mark.parametrize(
    ("indicator", "year", "target"),
    [
        ("air_good_day_ratio", 2024, None),
        ("air_good_day_ratio", 2025, 96.7),
        ("air_good_day_ratio", 2029, 96.7),
        ("air_good_day_ratio", 2030, 98.0),
        ("water_class_i_iii_share", 2025, 100.0),
        ("noise_night_compliance", 2026, 85.0),
    ],
)
def test_plan_targets_by_year(indicator: str, year: int, target: float | None) -> None:
    assert plan_target(indicator, year) == target  # type: ignore[arg-type]


def test_budget_at_year_start_2025() -> None:
    """365 days at >= 96.7 %: at most 12 non-good days (353/365 = 96.71 %, 352/365 = 96.44 %)."""
    s = air_target_status(0, 0, 2025, remaining_days=365)
    assert s.affordable == 12 and s.ratio is None and s.met_so_far is None


def test_budget_mid_year() -> None:
    """Through 30 June: 175 good of 181 valid; 184 days left at 96.7 %."""
    s = air_target_status(175, 181, 2025, as_of=date(2025, 6, 30))
    assert s.remaining_days == 184
    expected = (175 + 184) - Fraction(967, 1000) * (181 + 184)
    assert s.affordable == int(expected // 1)
    end_ok = Fraction(175 + 184 - s.affordable, 365) >= Fraction(967, 1000)
    end_bad = Fraction(175 + 184 - s.affordable - 1, 365) >= Fraction(967, 1000)
    assert end_ok and not end_bad
    assert s.ratio == pytest.approx(100 * 175 / 181) and s.met_so_far is False


def test_target_already_missed_is_negative() -> None:
    s = air_target_status(300, 340, 2030, remaining_days=25)
    assert s.affordable is not None and s.affordable < 0


def test_share_targets() -> None:
    assert share_target_status("noise_night_compliance", 89.1, 2025).met is True
    assert share_target_status("noise_night_compliance", 84.9, 2025).met is False
    assert share_target_status("water_class_i_iii_share", 99.9, 2025).met is False


def test_invalid_inputs() -> None:
    with pytest.raises(StandardsError):
        air_target_status(5, 4, 2025, remaining_days=1)
    with pytest.raises(StandardsError):
        air_target_status(1, 1, 2025)


@given(st.integers(0, 365), st.data())
def test_affordable_is_the_exact_budget(valid: int, data: st.DataObject) -> None:
    """Spending exactly `affordable` non-good days keeps the target; one more misses it."""
    good = data.draw(st.integers(0, valid))
    remaining = 365 - valid
    s = air_target_status(good, valid, 2025, remaining_days=remaining)
    assert s.affordable is not None and s.affordable <= remaining
    t = Fraction(967, 1000)
    if 0 <= s.affordable < remaining:
        assert Fraction(good + remaining - s.affordable, 365) >= t
        assert Fraction(good + remaining - s.affordable - 1, 365) < t
