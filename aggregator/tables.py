"""The indicator tables (envmon/migrations/0010_aggregator.sql) as the writer sees them:
key, compared value columns, and when the period of a row ends (for revisions)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from aggregator.revisions import IndicatorTable
from aggregator.timebase import HOUR, day_end, day_start, next_month


def _hour_end(row: dict[str, Any]) -> datetime:
    ts: datetime = row["ts"]
    return ts + HOUR


def _day_end(row: dict[str, Any]) -> datetime:
    return day_end(row["day"])


def _month_end(row: dict[str, Any]) -> datetime:
    return day_start(next_month(row["month"]))


def _period_end(row: dict[str, Any]) -> datetime:
    start: date = row["period_start"]
    end = next_month(start) if row["period"] == "month" else date(start.year + 1, 1, 1)
    return day_start(end)


_AQI = ("rules", "aqi", "level", "category", "primary_pollutants", "iaqi")
_AIR_DAILY = (*_AQI, "complete", "so2", "no2", "co", "pm10", "pm25", "o3_8h", "o3_1h")
_WATER = ("water_class", "class_label", "compliant", "exceeding", "means")

HOURLY_ROLLUP = IndicatorTable(
    "hourly_rollup",
    ("station_id", "ts", "parameter"),
    ("value", "valid", "source", "n_samples", "n_excluded"),
    _hour_end,
)
AIR_STATION_DAILY = IndicatorTable(
    "air_station_daily", ("station_id", "day"), _AIR_DAILY, _day_end
)
AIR_REGION_DAILY = IndicatorTable(
    "air_region_daily",
    ("city", "county", "day"),
    (*_AIR_DAILY, "n_stations"),
    _day_end,
)
AIR_REGION_PERIOD = IndicatorTable(
    "air_region_period",
    ("city", "county", "period", "period_start"),
    ("valid_days", "good_days", "polluted_days", "heavy_days", "good_ratio"),
    _period_end,
)
WATER_STATION_HOURLY = IndicatorTable(
    "water_station_hourly", ("station_id", "ts"), _WATER, _hour_end
)
WATER_STATION_DAILY = IndicatorTable(
    "water_station_daily", ("station_id", "day"), _WATER, _day_end
)
WATER_STATION_MONTHLY = IndicatorTable(
    "water_station_monthly", ("station_id", "month"), (*_WATER, "n_days"), _month_end,
)
NOISE_STATION_DAILY = IndicatorTable(
    "noise_station_daily",
    ("station_id", "day"),
    ("zone", "ld", "ln", "ldn", "n_day", "n_night", "night_lmax", "day_ok", "night_ok",
     "night_lmax_ok"),
    _day_end,
)
