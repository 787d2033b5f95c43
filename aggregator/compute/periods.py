"""Period figures from stored daily values (pure): air day counts and good-day ratio of a
region's month or year, HJ 663 annual statistics, a water section's monthly class.

The daily AQI report of each day is rebuilt from its stored concentrations with the same
standards function that produced it, so the period table, the report command and the daily
rows can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from aggregator import standards
from aggregator.compute import water
from aggregator.compute.air_reference import DAILY_COLUMNS, DAILY_MEANS
from aggregator.compute.beijing_time import PeriodName

#: the daily column holding each pollutant's daily value for the annual statistics
ANNUAL_COLUMNS: Mapping[standards.Pollutant, str] = {**{p: p for p in DAILY_MEANS}, "o3": "o3_8h"}


@lru_cache(maxsize=200_000)
def _daily_report(day: date, values: tuple[float | None, ...]) -> standards.AqiReport:
    """Cached: a late reading changes one day, yet its year is recounted from all its days."""
    return standards.daily_aqi(dict(zip(DAILY_COLUMNS, values, strict=True)), day=day)


def reports(rows: Sequence[dict[str, Any]]) -> list[standards.AqiReport]:
    return [_daily_report(r["day"], tuple(r[c] for c in DAILY_COLUMNS)) for r in rows]


def day_counts(rows: Sequence[dict[str, Any]]) -> standards.DayCounts:
    return standards.day_counts(reports(rows))


def annual(rows: Sequence[dict[str, Any]], year: int) -> list[standards.AnnualStatistic]:
    """HJ 663 annual statistics of each pollutant from the year's daily values."""
    out: list[standards.AnnualStatistic] = []
    for pollutant, column in ANNUAL_COLUMNS.items():
        daily = {r["day"]: r[column] for r in rows if r[column] is not None}
        out.extend(standards.annual_statistics(pollutant, daily, year))
    return out


def period_keys(days: Iterable[date]) -> set[tuple[PeriodName, date]]:
    """The (period, start) of the months and years the days fall in."""
    out: set[tuple[PeriodName, date]] = set()
    for d in days:
        out |= {("month", date(d.year, d.month, 1)), ("year", date(d.year, 1, 1))}
    return out


def region_period(key: dict[str, Any], daily: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """An air_region_period row (``key``: city, county, period, period_start) from the
    region's daily rows of the period."""
    counts = day_counts(daily)
    return {**key, "valid_days": counts.valid_days, "good_days": counts.good_days,
            "polluted_days": counts.polluted_days, "heavy_days": counts.heavy_days,
            "good_ratio": counts.good_ratio}


def water_month(
    section: water.Section, key: dict[str, Any], days: Sequence[water.Means]
) -> dict[str, Any]:
    """A water_station_monthly row (``key``: station_id, month) from the daily means of the
    month: the period mean of each parameter, graded."""
    return {**key, **water.grade(section, water.period_means(days)), "n_days": len(days)}
