"""Time as the aggregator counts it, defined once: Beijing natural days (the days of HJ 633/663
and GB 3096 indicators), hours, months, and an hour in PostgreSQL microseconds (the unit of
the arrays read by aggregator/pg_arrays.py). Beijing time, the hour and a day's start come
from the standards library."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from aggregator.standards.air_time import BEIJING, HOUR, day_start

__all__ = ["BEIJING", "DAY", "HOUR", "HOUR_US", "day_end", "day_start", "next_month"]

DAY = timedelta(days=1)
#: one hour in microseconds, the unit of timestamptz arrays (``pg_arrays.to_pg_us``)
HOUR_US = 3_600_000_000


def day_end(day: date) -> datetime:
    """00:00 Beijing of the day after ``day``."""
    return day_start(day + DAY)


def next_month(day: date) -> date:
    """The first day of the month after ``day``'s."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)
