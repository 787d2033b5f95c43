"""Acoustic environment: GB 3096-2008 表1 limits, Ld/Ln/Ldn and compliance rates (noise.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator import standards as std

DAY = date(2025, 5, 6)


def start(hour: int, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=std.BEIJING).astimezone(UTC)


@pytest.mark.parametrize(
    ("zone", "day", "night"),
    [("0", 50, 40), ("1", 55, 45), ("2", 60, 50), ("3", 65, 55), ("4a", 70, 55), ("4b", 70, 60)],
)
def test_every_zone_limit(zone: str, day: float, night: float) -> None:
    """GB 3096-2008 表1: day/night limits; night L_max <= night + 15; at limit complies."""
    lim = std.zone_limits(zone)  # type: ignore[arg-type]
    assert (lim.day, lim.night, lim.night_lmax) == (day, night, night + 15)
    levels = std.DayNightLevels(day, night, None, 16, 8)
    at = std.point_day_compliance(levels, zone, night_lmax=night + 15)  # type: ignore[arg-type]
    assert (at.day_ok, at.night_ok, at.night_lmax_ok) == (True, True, True)
    over = std.point_day_compliance(
        std.DayNightLevels(day + 0.1, night + 0.1, None, 16, 8),
        zone,  # type: ignore[arg-type]
        night_lmax=night + 15.1,
    )
    assert (over.day_ok, over.night_ok, over.night_lmax_ok) == (False, False, False)


def test_existing_railway_4b() -> None:
    """GB 3096 表1 clause: existing railway trunk lines, background 70 / 55."""
    assert std.zone_limits("4b", existing_railway=True).night == 55
    with pytest.raises(std.StandardsError):
        std.zone_limits("2", existing_railway=True)
    with pytest.raises(std.StandardsError):
        std.zone_limits("5")  # type: ignore[arg-type]


def test_energy_average_is_not_arithmetic() -> None:
    """noise.md §2.1: 60 and 70 dB energy-average to 67.4 dB, not 65."""
    assert std.energy_average([60, 70]) == pytest.approx(67.403, abs=1e-3)
    assert std.energy_average([55, 55, None]) == pytest.approx(55)
    assert std.energy_average([]) is None


def test_hourly_leq_vdr() -> None:
    """HJ 906 3.1/3.2: Leq over valid samples; valid data rate threshold (setting, 75 %)."""
    assert std.hourly_leq([50.0] * 45, 60).valid
    assert not std.hourly_leq([50.0] * 44 + [None] * 16, 60).valid


def test_ld_ln_ldn_full_day() -> None:
    """Day = 06–22 (16 hourly Leq), night = 22–06 (8); Ldn with +10 dB night penalty."""
    hourly = {start(h): (60.0 if 6 <= h < 22 else 50.0) for h in range(24)}
    levels = std.day_night_levels(hourly, DAY)
    assert (levels.ld, levels.ln, levels.n_day, levels.n_night) == (60.0, 50.0, 16, 8)
    assert levels.ldn == pytest.approx(round(std.ldn(60, 50), 1))
    assert std.ldn(60, 50) == pytest.approx(60.0)  # 16·10^6 + 8·10^6 over 24


@pytest.mark.parametrize(
    ("day_hours", "night_hours", "ld_valid", "ln_valid"),
    [(12, 6, True, True), (11, 5, False, False)],
)
def test_validity_minimums(
    day_hours: int, night_hours: int, ld_valid: bool, ln_valid: bool
) -> None:
    """NoiseSettings defaults (UNVERIFIED): 12 of 16 day hours, 6 of 8 night hours."""
    hourly = {start(6 + i): 55.0 for i in range(day_hours)}
    hourly |= {start(h): 45.0 for h in [0, 1, 2, 3, 4, 5][:night_hours]}
    levels = std.day_night_levels(hourly, DAY)
    assert (levels.ld is not None, levels.ln is not None) == (ld_valid, ln_valid)


def test_night_assignment_settings() -> None:
    """Night of D: calendar day (00–06 + 22–24, HJ 212 daily packet) or 22:00 D → 06:00 D+1."""
    next_day = date(2025, 5, 7)
    hourly = {start(h): 40.0 for h in range(6)} | {start(h): 40.0 for h in (22, 23)}
    hourly |= {start(h, next_day): 60.0 for h in range(6)}
    assert std.day_night_levels(hourly, DAY).ln == 40.0
    evening_start = std.NoiseSettings(night_of="evening_start")
    evening = std.day_night_levels(hourly, DAY, settings=evening_start)
    assert evening.ln is not None and evening.ln > 55


def test_compliance_rate_worked_example() -> None:
    """noise.md §3.2: 156 day + 156 night point-times; 151 day -> 96.8 %, 139 night -> 89.1 %."""
    results = [
        std.PointDay("2", day_ok=i < 151, night_ok=i < 139, night_lmax_ok=None) for i in range(156)
    ]
    rates = std.compliance_rates(results)
    r = rates["all"]
    assert (r.day_points, r.day_compliant, r.night_points, r.night_compliant) == (
        156,
        151,
        156,
        139,
    )
    assert r.day_rate is not None and round(r.day_rate, 1) == 96.8
    assert r.night_rate is not None and round(r.night_rate, 1) == 89.1
    assert rates["2"] == r


def test_invalid_point_times_are_not_counted() -> None:
    rates = std.compliance_rates(
        [std.PointDay("1", True, None, None), std.PointDay("4a", False, False, None)]
    )
    assert (rates["all"].day_points, rates["all"].night_points) == (2, 1)
    assert rates["1"].night_rate is None


@given(st.lists(st.floats(min_value=20, max_value=120), min_size=1, max_size=30))
def test_energy_average_between_min_and_max(levels: list[float]) -> None:
    avg = std.energy_average(levels)
    assert avg is not None and min(levels) - 1e-9 <= avg <= max(levels) + 1e-9
