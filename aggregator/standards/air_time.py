"""The one place where reading timestamps (hour START, any zone) meet HJ 663 labels (hour END,
Beijing time).

HJ 663 labels an hourly value by the end of its hour (air.md §7.1): the 24 hours of day D are
01:00 … 24:00, i.e. the hours that *start* 00:00 … 23:00 Beijing time on D. So the natural day
of an hour is simply the Beijing date of its start.
"""

from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache

from aggregator.standards.errors import StandardsError
from envmon.beijing_time import BEIJING, HOUR


def _aware(ts: datetime) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise StandardsError(f"timestamp must be timezone-aware: {ts!r}")
    return ts.astimezone(BEIJING)


def hour_end_label(start: datetime) -> datetime:
    """HJ 663 label (Beijing-local hour end) of the hour that starts at ``start``."""
    return _aware(start) + HOUR


def hour_start(end: datetime) -> datetime:
    """Beijing-local start of the hour whose HJ 663 label (end) is ``end``."""
    return _aware(end) - HOUR


@lru_cache(maxsize=1 << 14)
def beijing_day(start: datetime) -> date:
    """The natural day (Beijing) an hour starting at ``start`` belongs to.

    Cached (equal datetimes are the same instant, hence the same day): the aggregator asks
    for the day of every hourly value and reading, and a zone conversion costs 10x a lookup.
    """
    return _aware(start).date()


def day_start(day: date) -> datetime:
    """00:00 Beijing of ``day`` (start of its first hour; HJ 663 label of that hour is 01:00)."""
    return datetime.combine(day, time(0), BEIJING)
