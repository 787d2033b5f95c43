"""Hourly values from minute and real-time readings on arrays (aggregator/compute/sample_hours.py)
equal the per-sample reference (aggregator/compute/hourly_values.py) value for value: GB 3095
表4 45-minute rule, HJ 212 表8 flags, fsum means for air, the reference's arithmetic for water
and noise."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.compute import hourly_values as hourly
from aggregator.compute import sample_hours
from aggregator.compute.beijing_time import to_us
from aggregator.compute.flags import EXCLUDED_FLAGS, VALID_FLAGS
from aggregator.compute.hourly_values import Sample
from aggregator.compute.sample_hours import SampleSeries
from envmon.parameters import StationKind
from ingest.reading import Interval

H0 = datetime(2025, 12, 31, 15, 0, tzinfo=UTC)  # Beijing midnight of a year end
PARAMETERS: dict[StationKind, tuple[str, ...]] = {
    "air": ("pm25", "o3", "co"),
    "water": ("nh3n", "tp"),
    "noise": ("leq", "lmax", "lmin", "l10"),
}


def as_series(samples: list[Sample]) -> list[SampleSeries]:
    """The samples as aggregator/store/batch_readings.py reads them: one series per parameter and
    interval, in the order the database returns them (any)."""
    groups: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for s in samples:
        groups[(s.parameter, s.interval)].append(s)
    out = []
    for (parameter, interval), group in groups.items():
        bad = [s for s in group if s.flag not in VALID_FLAGS]
        out.append(SampleSeries.of(
            parameter, "min" if interval == "min" else "rt",
            np.array([to_us(s.ts) for s in group], dtype=np.int64),
            np.array([s.value for s in group]),
            np.array([to_us(s.ts) for s in bad], dtype=np.int64), [s.flag for s in bad]))
    return out


def check(kind: StationKind, samples: list[Sample]) -> list[hourly.HourlyValue]:
    expected = hourly.hourly_values(kind, samples)
    got = sample_hours.hourly_values(kind, as_series(samples))
    assert got == expected
    return got


MIN = timedelta(minutes=1)


def minutes(n: int, value: float = 10.0, flag: str = "N", step: int = 1,
            parameter: str = "pm25", start: datetime = H0) -> list[Sample]:
    return [Sample(parameter, "min", start + i * step * MIN, value + i, flag) for i in range(n)]


@pytest.mark.parametrize(("kind", "samples"), [
    # GB 3095 表4: >= 45 minutes of valid sampling in the hour
    ("air", minutes(45)),
    ("air", minutes(44)),
    ("air", minutes(9, step=5)),
    ("air", minutes(8, step=5)),
    # HJ 212 表8: flagged samples neither count nor enter the mean
    ("air", minutes(50)[:40] + minutes(50, flag="C")[40:]),
    ("air", minutes(60)[:46] + minutes(60, flag="M")[46:]),
    ("air", minutes(60, flag="D")),
    # one sample covers one minute; spacing taken per hour
    ("air", minutes(1)),
    ("air", minutes(3, step=30) + minutes(60, start=H0 + 90 * MIN)),
    # minute data wins over real-time data of the same hour, not of other hours
    ("air", [Sample("pm10", "rt", H0 + i * 30 * timedelta(seconds=1), 99.0 + i % 7, "N")
             for i in range(240)] + minutes(60, parameter="pm10")),
    # decimals whose float sum is not exact: the fsum mean
    ("air", [Sample("co", "min", H0 + i * MIN, 0.1 * (i % 10) + 0.7, "N") for i in range(60)]),
    ("water", [Sample("tp", "min", H0 + i * 30 * MIN, v, "N") for i, v in enumerate((0.26, 0.34))]),
    ("noise", [Sample(p, "min", H0 + i * MIN, 50.0 + i % 11, "N")
               for i in range(60) for p in ("leq", "lmax", "lmin", "l10")]),
    ("noise", minutes(20, parameter="leq")),
])
def test_table_cases_equal_the_reference(kind: StationKind, samples: list[Sample]) -> None:
    assert check(kind, samples)


def test_hours_of_several_series_sorted_by_time_and_parameter() -> None:
    got = check("air", minutes(120, parameter="o3") + minutes(90, parameter="co"))
    assert [(h.ts, h.parameter) for h in got] == sorted((h.ts, h.parameter) for h in got)
    assert len(got) == 4


values_any = st.one_of(
    st.integers(0, 500).map(float),
    st.integers(0, 5000).map(lambda n: n / 10),
    st.integers(0, 100000).map(lambda n: n / 1000),
    st.floats(0, 1e4, allow_nan=False, allow_infinity=False),
)
#: sound levels (dB): 10 ** (L / 10) stays a float
levels = st.one_of(st.integers(200, 1300).map(lambda n: n / 10),
                   st.floats(20, 130, allow_nan=False))


@st.composite
def station_samples(draw: st.DrawFn) -> tuple[StationKind, list[Sample]]:
    kind: StationKind = draw(st.sampled_from(("air", "air", "water", "noise")))
    samples = []
    for parameter in draw(st.lists(st.sampled_from(PARAMETERS[kind]), min_size=1, max_size=3,
                                   unique=True)):
        intervals: tuple[Interval, ...] = ("min", "rt")
        for interval in draw(st.lists(st.sampled_from(intervals), min_size=1, max_size=2,
                                      unique=True)):
            unit = 60 if interval == "min" else draw(st.sampled_from((1, 10, 30)))
            offsets = draw(st.sets(st.integers(0, 3 * 3600 // unit), min_size=1, max_size=400))
            for k in sorted(offsets):
                flag = draw(st.sampled_from(("N",) * 8 + tuple(sorted(EXCLUDED_FLAGS))))
                samples.append(Sample(parameter, interval, H0 + timedelta(seconds=k * unit),
                                      draw(levels if kind == "noise" else values_any),
                                      flag))
    return kind, draw(st.permutations(samples))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(station_samples())
def test_random_series_equal_the_reference(case: tuple[StationKind, list[Sample]]) -> None:
    kind, samples = case
    check(kind, samples)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 60), min_size=1, max_size=60), values_any)
def test_gaps_and_coverage_equal_the_reference(steps: list[int], base: float) -> None:
    """Irregular spacing: the smallest gap of each hour sets the minutes a sample covers."""
    ts, out = H0, []
    for i, step in enumerate(steps):
        ts += step * MIN
        out.append(Sample("o3", "min", ts, base + i, "N"))
    check("air", out)
