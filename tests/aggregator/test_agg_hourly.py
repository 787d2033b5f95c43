"""Hourly values from readings (pure): station hourly values as they are, sub-hourly readings
combined with the GB 3095 表4 45-minute rule, HJ 212 表8 flags excluded and counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from aggregator import standards
from aggregator.compute.flags import EXCLUDED_FLAGS, is_valid_flag
from aggregator.compute.hourly_values import Sample, hourly_values

pytestmark = pytest.mark.layouts  # plain and TimescaleDB (tests/layouts.py)

H0 = datetime(2025, 6, 1, 2, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def minutes(n: int, value: float = 10.0, flag: str = "N", step: int = 1,
            parameter: str = "pm25") -> list[Sample]:
    return [Sample(parameter, "min", H0 + i * step * MIN, value + i, flag) for i in range(n)]


@pytest.mark.parametrize(
    ("samples", "valid", "value"),
    [
        # GB 3095 表4: a 1-hour value needs >= 45 minutes of sampling in the hour
        (minutes(45), True, 10 + 22.0),
        (minutes(44), False, 10 + 21.5),
        # 5-minute data: 9 samples cover 45 minutes
        (minutes(9, step=5), True, 14.0),
        (minutes(8, step=5), False, 13.5),
        # flagged samples do not count towards the 45 minutes (HJ 212 表8)
        (minutes(50)[:40] + minutes(50, flag="C")[40:], False, 10 + 19.5),
        (minutes(60)[:46] + minutes(60, flag="M")[46:], True, 10 + 22.5),
    ],
)
def test_minute_readings_make_an_hour(samples: list[Sample], valid: bool, value: float) -> None:
    [hour] = hourly_values("air", samples)
    assert (hour.valid, hour.source) == (valid, "min")
    assert hour.value == pytest.approx(value)
    assert hour.n_excluded == sum(not is_valid_flag(s.flag) for s in samples)


@pytest.mark.parametrize(("flag", "valid"), [("N", True), *((f, False) for f in EXCLUDED_FLAGS)])
def test_station_hourly_value_used_as_is_unless_flagged(flag: str, valid: bool) -> None:
    samples = [Sample("so2", "hour", H0, 7.0, flag), *minutes(60, parameter="so2")]
    [hour] = hourly_values("air", samples)
    assert (hour.source, hour.valid, hour.n_samples) == ("hour", valid, 1)
    assert hour.value == (7.0 if valid else None)


def test_minute_preferred_over_realtime_and_day_values_ignored() -> None:
    rt = [Sample("pm10", "rt", H0 + i * 30 * timedelta(seconds=1), 99.0, "N") for i in range(120)]
    day = [Sample("pm10", "day", H0, 1.0, "N")]
    [hour] = hourly_values("air", rt + minutes(60, parameter="pm10") + day)
    assert hour.source == "min"
    [only_rt] = hourly_values("air", rt)
    assert (only_rt.source, only_rt.valid, only_rt.value) == ("rt", True, 99.0)


def test_noise_leq_is_an_energy_average() -> None:
    levels = [50.0] * 30 + [60.0] * 30
    samples = [Sample("leq", "min", H0 + i * MIN, v, "N") for i, v in enumerate(levels)]
    [hour] = hourly_values("noise", samples)
    expected = standards.hourly_leq(levels, 60)
    assert hour.valid is expected.valid is True
    assert hour.value == pytest.approx(expected.value)
    assert hour.value != pytest.approx(55.0)  # never an arithmetic mean of dB


def test_noise_percentile_levels_need_station_hourly_values() -> None:
    samples = [Sample("l10", "min", H0 + i * MIN, 50.0, "N") for i in range(60)]
    assert hourly_values("noise", samples) == []


@pytest.mark.parametrize(("parameter", "values", "expected"), [
    ("tp", (0.26, 0.34), 0.3),  # fmean: 0.30000000000000004, graded class Ⅴ instead of Ⅳ
    ("nh3n", (0.14, 0.16), 0.15),  # fmean: 0.15000000000000002, class Ⅱ instead of Ⅰ
    ("nh3n", (0.1, 0.2, 0.2), 1 / 6),  # not a short decimal: the nearest double
])
def test_water_hour_from_samples_is_the_exact_mean(
    parameter: str, values: tuple[float, ...], expected: float
) -> None:
    """Issue 11: an hour of water samples is a period mean; GB 3838 limits are decimals, so it
    is the exact mean rounded once (a mean on a limit stays on it)."""
    step = 60 // len(values)
    samples = [Sample(parameter, "min", H0 + i * step * MIN, v, "N") for i, v in enumerate(values)]
    [hour] = hourly_values("water", samples)
    assert hour.valid and hour.value == expected
    assert standards.parameter_class(parameter, hour.value) == standards.parameter_class(
        parameter, Fraction(sum(Fraction(str(v)) for v in values), len(values)))
