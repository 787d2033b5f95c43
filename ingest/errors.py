"""Why input was rejected: one exception carrying a reason code (a metric label) and detail."""

from __future__ import annotations


class Rejection(Exception):
    """Input that will not be stored as readings; it goes to the dead-letter table instead.

    ``reason`` is a short snake_case code from a fixed set (it is a Prometheus label);
    ``detail`` is a human-readable explanation naming the offending field or value.
    """

    def __init__(self, reason: str, detail: str, station_id: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.station_id = station_id
