"""Beijing time and calendar steps, defined once for every component.

Readings are stored in UTC; indicators, reports and station clocks use Beijing natural days
(Asia/Shanghai, UTC+8, no daylight saving since 1991) — docs and ARCHITECTURE-PRINCIPLES,
"Time". The standards library (aggregator/standards/air_time.py) builds the HJ 663 hour
labels on these; partitions (envmon/storage.py) and period figures step by ``next_month``.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def month_start(day: date) -> date:
    """The first day of ``day``'s month."""
    return date(day.year, day.month, 1)


def next_month(day: date) -> date:
    """The first day of the month after ``day``'s."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)
