"""What a simulated station says: documents (one JSON v1 object) and wire messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from envmon.beijing_time import BEIJING
from ingest.reading import DataFlag, Interval

# China has no daylight saving; a fixed offset keeps formatting cheap in load mode.

Channel = Literal["data", "hj212"]
# Station ids the unknown-station fault invents: the real id behind this prefix (never registered).
UNREGISTERED_PREFIX = "unregistered-"


@dataclass(frozen=True, slots=True)
class Document:
    """One averaging interval of one station: the ``{"ts", "interval", "values", "flags"}`` object.

    ``ts`` is aware and marks the start of the interval (wire contract v1).
    """

    station_id: str
    interval: Interval
    ts: datetime
    values: dict[str, float]
    flags: dict[str, DataFlag] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Message:
    """Bytes for one MQTT publish (or one HJ 212 packet on TCP).

    ``faults`` names the injected faults this message carries (empty for a clean message); they
    never go on the wire and exist so tests and run statistics can count them.
    """

    station_id: str
    channel: Channel
    payload: bytes
    faults: tuple[str, ...] = ()

    def topic(self, prefix: str) -> str:
        return f"{prefix}/v1/{self.station_id}/{self.channel}"


def rfc3339(ts: datetime) -> str:
    """``2026-01-01T08:00:00+08:00``: Beijing local time with its offset, as stations send it."""
    return ts.astimezone(BEIJING).isoformat()
