"""Air data validity (GB 3095 表4) and HJ 663 time labelling/O3 windows (air.md §3, §7)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator import standards as std

DAY = date(2025, 7, 1)
H = timedelta(hours=1)


def start(day: date, hour: int) -> datetime:
    """Aware UTC start of the Beijing hour ``hour`` of ``day`` (readings are stored in UTC)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=std.BEIJING).astimezone(UTC)


def test_labels_hour_end_and_beijing_day() -> None:
    """HJ 663 表A.1: value labelled X covers the hour ending at X; day D = hours 01 … 24."""
    first = start(DAY, 0)  # 2025-06-30 16:00 UTC
    assert first == datetime(2025, 6, 30, 16, tzinfo=UTC)
    assert std.hour_end_label(first) == datetime(2025, 7, 1, 1, tzinfo=std.BEIJING)
    assert std.beijing_day(first) == DAY
    last = start(DAY, 23)
    assert std.hour_end_label(last) == datetime(2025, 7, 2, 0, tzinfo=std.BEIJING)  # "24:00" of D
    assert std.beijing_day(last) == DAY
    with pytest.raises(ValueError):
        std.beijing_day(datetime(2025, 7, 1))


@pytest.mark.parametrize(("minutes", "valid"), [(44.9, False), (45, True), (60, True)])
def test_hour_needs_45_minutes(minutes: float, valid: bool) -> None:
    """GB 3095 表4: 1-hour average needs >= 45 min of sampling."""
    assert std.hour_valid(minutes) is valid


@pytest.mark.parametrize(("hours", "valid"), [(19, False), (20, True), (24, True)])
def test_daily_mean_needs_20_hours(hours: int, valid: bool) -> None:
    """GB 3095 表4: 24-hour average needs >= 20 hourly values."""
    series = {start(DAY, h): 10.0 + h for h in range(hours)}
    series[start(DAY - timedelta(days=1), 23)] = 999.0  # previous day: not part of D
    series[start(DAY + timedelta(days=1), 0)] = 999.0  # next day
    agg = std.daily_mean(series, DAY)
    assert agg.valid is valid and agg.n_valid == hours
    assert agg.value == pytest.approx(sum(10.0 + h for h in range(hours)) / hours)


def test_series_keys_in_any_zone() -> None:
    """Keys are instants: a UTC key and a Beijing key for the same hour are the same hour."""
    series = {start(DAY, h).astimezone(ZoneInfo("Europe/Berlin")): 5.0 for h in range(24)}
    assert std.daily_mean(series, DAY).value == 5.0


@pytest.mark.parametrize(("hours", "valid"), [(5, False), (6, True), (8, True)])
def test_o3_8h_needs_6_hours(hours: int, valid: bool) -> None:
    """GB 3095 表4: each 8-hour window needs >= 6 hourly values; window = X-7 … X."""
    end = datetime(2025, 7, 1, 8, tzinfo=std.BEIJING)  # covers starts 00:00 … 07:00
    series = {start(DAY, h): 100.0 for h in range(8 - hours, 8)}
    series[start(DAY, 8)] = 1000.0  # the hour ending 09:00 is outside the window
    agg = std.o3_8h(series, end)
    assert (agg.valid, agg.n_valid, agg.value) == (valid, hours, 100.0)


def test_mda8_windows_end_08_to_24() -> None:
    """HJ 663 §6.1.2: 17 windows ending 08:00 … 24:00; the max and its window end."""
    series = {start(DAY, h): float(h) for h in range(24)}
    m = std.o3_mda8(series, DAY)
    assert m.n_windows == 17 and m.valid
    assert m.value == sum(range(16, 24)) / 8
    assert m.window_end == datetime(2025, 7, 2, 0, tzinfo=std.BEIJING)


@pytest.mark.parametrize(
    ("hours_kept", "level", "n_windows", "valid"),
    [
        (range(0, 19), 100.0, 14, True),  # 14 windows: valid (>= 14)
        (range(0, 18), 100.0, 13, False),  # 13 windows, max 100 <= 160: invalid
        (range(0, 18), 170.0, 13, True),  # 13 windows but max 170 > 160: valid exceedance
    ],
)
def test_mda8_14_windows_or_exceedance(
    hours_kept: range, level: float, n_windows: int, valid: bool
) -> None:
    """HJ 663 §6.1.2: >= 14 valid 8-h values, or fewer when the max exceeds the limit."""
    series = {start(DAY, h): level for h in hours_kept}
    m = std.o3_mda8(series, DAY)
    assert (m.n_windows, m.valid) == (n_windows, valid)


def test_pm_24h_moving_and_o3_max_1h() -> None:
    series = {start(DAY, h): 50.0 + h for h in range(24)}
    end = datetime(2025, 7, 2, 0, tzinfo=std.BEIJING)
    assert std.pm_24h_moving(series, end).value == pytest.approx(50 + 11.5)
    shorter = std.pm_24h_moving(series, end + 5 * H)
    assert shorter.n_valid == 19 and not shorter.valid
    mx = std.o3_daily_max_1h(series, DAY)
    assert (mx.value, mx.valid) == (73.0, True)


def days_of(year: int, per_month: dict[int, int]) -> list[date]:
    return [date(year, m, d) for m, n in per_month.items() for d in range(1, n + 1)]


@pytest.mark.parametrize(
    ("month", "n", "valid"),
    [(1, 26, False), (1, 27, True), (2, 24, False), (2, 25, True)],
)
def test_month_validity(month: int, n: int, valid: bool) -> None:
    """GB 3095 表4: 27 daily values per month, February 25 (MONTH_MIN_DAYS)."""
    assert std.month_valid(days_of(2025, {month: n}), 2025, month) is valid


def test_year_validity_324_and_each_month() -> None:
    """GB 3095 表4: >= 324 daily values and >= 27 per month (Feb >= 25)."""
    full = {m: 27 for m in range(1, 13)} | {2: 25}
    base = days_of(2025, full)  # 322 days
    assert not std.year_valid(base, 2025)
    more = days_of(2025, full | {1: 28, 3: 28})  # 324
    assert std.year_valid(more, 2025)
    assert not std.year_valid(days_of(2025, {m: 28 for m in range(1, 12)} | {12: 26}), 2025)


def test_city_mean_of_valid_stations() -> None:
    """HJ 663 表A.1: city value = arithmetic mean of the assessment points."""
    assert std.city_mean([10.0, None, 20.0]) == 15.0
    assert std.city_mean([None]) is None


hour_values = st.dictionaries(st.integers(0, 23), st.floats(min_value=0, max_value=400))


@given(hour_values, st.integers(0, 23), st.floats(min_value=0, max_value=400))
def test_one_more_valid_hour_never_loses_validity(
    hours: dict[int, float], extra: int, value: float
) -> None:
    """Daily mean validity and the MDA8 window count never drop when an hour is added."""
    series = {start(DAY, h): v for h, v in hours.items()}
    more = {start(DAY, extra): value} | series
    assert std.daily_mean(series, DAY).valid <= std.daily_mean(more, DAY).valid
    assert std.o3_mda8(series, DAY).n_windows <= std.o3_mda8(more, DAY).n_windows


@given(st.sets(st.integers(0, 23)), st.integers(0, 23))
def test_mda8_validity_monotonic_at_constant_level(hours: set[int], extra: int) -> None:
    """With equal hourly values MDA8 validity never drops when an hour is added.

    (With varying values it can: a low added hour may pull the only exceeding window under
    the limit while fewer than 14 windows exist — that is the HJ 663 §6.1.2 rule itself.)
    """
    series = {start(DAY, h): 170.0 for h in hours}
    more = series | {start(DAY, extra): 170.0}
    assert std.o3_mda8(series, DAY).valid <= std.o3_mda8(more, DAY).valid


def test_mda8_exceedance_branch_is_not_monotonic() -> None:
    """The counter-example behind the docstring above, pinned so the rule stays as written."""
    series = {start(DAY, 0): 0.0} | {start(DAY, h): 170.0 for h in range(1, 8)}
    assert std.o3_mda8(series, DAY).valid  # 3 windows, max 170 > 160
    worse = series | {start(DAY, 8): 0.0}
    assert not std.o3_mda8(worse, DAY).valid  # 4 windows, max 148.75 <= 160


@given(
    hours=st.dictionaries(st.integers(0, 80), st.one_of(st.none(), st.floats(0, 500)), max_size=80),
    ends=st.lists(st.tuples(st.integers(-30, 110), st.sampled_from([0, 0, 0, 30])), max_size=30),
    window=st.sampled_from([(8, 6), (24, 20)]),
)
def test_moving_averages_equal_moving_average(
    hours: dict[int, float | None], ends: list[tuple[int, int]], window: tuple[int, int]
) -> None:
    """The one-pass version gives exactly the per-end values (UTC keys, Beijing ends, some
    ends off the hour grid)."""
    series = {start(DAY, 0) + h * H: v for h, v in hours.items()}
    at = [(start(DAY, 0) + e * H + timedelta(minutes=m)).astimezone(std.BEIJING) for e, m in ends]
    n, min_valid = window
    assert std.moving_averages(series, at, hours=n, min_valid=min_valid) == [
        std.moving_average(series, end, hours=n, min_valid=min_valid) for end in at
    ]
