"""The one decoded type that crosses the ingest boundary.

Every decoder (JSON, HJ 212) produces :class:`Reading`; the writer knows nothing about formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

Interval = Literal["rt", "min", "hour", "day"]
INTERVALS: tuple[Interval, ...] = get_args(Interval)

# HJ 212-2017 data flags (reference/hj212.md §6.4, 表8 数据标记): N normal, F stopped,
# M maintenance, S manually set, D fault, C calibration, T over limit, B communication abnormal.
DataFlag = Literal["N", "F", "M", "S", "D", "C", "T", "B"]
DATA_FLAGS: tuple[DataFlag, ...] = get_args(DataFlag)

Source = Literal["json", "hj212", "import", "sim"]


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one parameter at one station for one averaging interval.

    ``ts`` is timezone-aware and marks the *start* of the averaging interval.
    """

    station_id: str
    parameter: str
    interval: Interval
    ts: datetime
    value: float
    flag: DataFlag = "N"
    source: Source = "json"

    @property
    def key(self) -> tuple[str, str, str, datetime]:
        """The identity of a reading: a second reading with the same key is a resend or revision."""
        return (self.station_id, self.parameter, self.interval, self.ts)
