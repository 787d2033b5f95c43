"""Time as the aggregator counts it, defined once: Beijing natural days (the days of HJ 633/663
and GB 3096 indicators), hours, months and years (the period figures), and instants in
PostgreSQL microseconds (the unit of the timestamptz arrays aggregator/store/wire_format.py
reads, which the hour grids are indexed by). Beijing time, the hour, the day and the month
step are the ground floor's (envmon/beijing_time.py), a day's start the standards library's."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal

from aggregator.standards.air_time import day_start
from envmon.beijing_time import BEIJING, DAY, HOUR, next_month

__all__ = [
    "BEIJING", "DAY", "HOUR", "HOUR_US", "PG_EPOCH_US", "PeriodName", "day_end", "day_start",
    "from_pg_us", "next_month", "period_end", "to_pg_us",
]

#: one hour in microseconds, the unit of timestamptz arrays (``to_pg_us``)
HOUR_US = 3_600_000_000
#: 2000-01-01 UTC (PostgreSQL's epoch) in Unix microseconds
PG_EPOCH_US = 946_684_800_000_000
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

#: the periods of the stored period figures (``air_region_period.period``)
PeriodName = Literal["month", "year"]


def day_end(day: date) -> datetime:
    """00:00 Beijing of the day after ``day``."""
    return day_start(day + DAY)


def period_end(period: str, start: date) -> date:
    """The first day after the month or year that begins on ``start``."""
    return next_month(start) if period == "month" else date(start.year + 1, 1, 1)


def to_pg_us(ts: datetime) -> int:
    """Microseconds since PostgreSQL's epoch (2000-01-01 UTC), as timestamptz is sent."""
    return int(ts.timestamp()) * 1_000_000 + ts.microsecond - PG_EPOCH_US


def from_pg_us(us: int) -> datetime:
    """The instant ``us`` microseconds after PostgreSQL's epoch (``to_pg_us`` reversed)."""
    return _PG_EPOCH + timedelta(microseconds=us)
