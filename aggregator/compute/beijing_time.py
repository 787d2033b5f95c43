"""Time as the aggregator counts it, defined once: Beijing natural days (the days of HJ 633/663
and GB 3096 indicators), hours, months and years (the period figures), and instants in
microseconds since the Unix epoch (the unit of the timestamp arrays the computation receives,
which the hour grids are indexed by; aggregator/store/wire_format.py converts PostgreSQL's
own once, as it decodes them). Beijing time, the hour, the day and the month
step are the ground floor's (envmon/beijing_time.py), a day's start the standards library's."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal

from aggregator.standards.air_time import day_start
from envmon.beijing_time import BEIJING, DAY, HOUR, next_month

__all__ = [
    "BEIJING", "DAY", "HOUR", "HOUR_US", "PeriodName", "day_end", "day_start", "from_us",
    "next_month", "period_end", "to_us",
]

#: one hour in microseconds, the unit of timestamp arrays (``to_us``)
HOUR_US = 3_600_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: the periods of the stored period figures (``air_region_period.period``)
PeriodName = Literal["month", "year"]


def day_end(day: date) -> datetime:
    """00:00 Beijing of the day after ``day``."""
    return day_start(day + DAY)


def period_end(period: str, start: date) -> date:
    """The first day after the month or year that begins on ``start``."""
    return next_month(start) if period == "month" else date(start.year + 1, 1, 1)


def to_us(ts: datetime) -> int:
    """Microseconds since the Unix epoch (1970-01-01 UTC)."""
    return int(ts.timestamp()) * 1_000_000 + ts.microsecond


def from_us(us: int) -> datetime:
    """The instant ``us`` microseconds after the Unix epoch (``to_us`` reversed)."""
    return _EPOCH + timedelta(microseconds=us)
