"""Online, late or offline, judged by each station's own cadence.

Stations report every 30 s, every minute, every hour or once a day; one fixed timeout would
call an hourly station silent for most of every hour, or a real-time one online long after it
died. So the cadence is learned: the median gap between the latest timestamps of the station's
most recent series. A station is ``online`` while its last interval ended at most
``LATE_AFTER`` cadences (+ ``GRACE`` for transmission) ago, ``late`` up to ``OFFLINE_AFTER``
cadences, then ``offline``; with no reading in the look-back window it is ``offline``.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

State = Literal["online", "late", "offline"]

#: length of an averaging interval: a value is complete (and sent) at ts + length
INTERVAL_LENGTH: dict[str, timedelta] = {
    "rt": timedelta(0), "min": timedelta(minutes=1), "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
#: cadence assumed when a series has a single timestamp (nothing to learn from yet)
NOMINAL_CADENCE: dict[str, timedelta] = {
    "rt": timedelta(minutes=1), "min": timedelta(minutes=1), "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
GRACE = timedelta(minutes=5)
LATE_AFTER = 2
OFFLINE_AFTER = 6
LOOKBACK = timedelta(days=3)
CADENCE_SAMPLES = 24


@dataclass(frozen=True, slots=True)
class Judgement:
    state: State
    cadence: timedelta | None
    last_seen: datetime | None  # end of the latest interval received


def learned_cadence(timestamps: Sequence[datetime]) -> timedelta | None:
    """Median gap between consecutive distinct timestamps; None with fewer than two."""
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sorted(set(timestamps)))]
    return timedelta(seconds=statistics.median(gaps)) if gaps else None


def judge(interval: str | None, last_ts: datetime | None, series: Sequence[datetime],
          now: datetime) -> Judgement:
    """The state of a station whose latest reading started at ``last_ts`` in ``interval``."""
    if interval is None or last_ts is None:
        return Judgement("offline", None, None)
    cadence = learned_cadence(series) or NOMINAL_CADENCE[interval]
    last_seen = last_ts + INTERVAL_LENGTH[interval]
    age = now - last_seen
    if age <= LATE_AFTER * cadence + GRACE:
        state: State = "online"
    elif age <= OFFLINE_AFTER * cadence + GRACE:
        state = "late"
    else:
        state = "offline"
    return Judgement(state, cadence, last_seen)
