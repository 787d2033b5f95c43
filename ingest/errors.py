"""Why input was rejected: one exception carrying a reason code (a metric label) and detail.

Details quote what the sender sent (JSON keys, values, topics), so they are made safe here,
once, for every place they go: PostgreSQL ``text`` refuses NUL, and control characters in a
log line can forge or hide lines. Quoted input is also bounded in length.
"""

from __future__ import annotations

import re

MAX_DETAIL_CHARS = 1000
# C0 controls (NUL included), DEL and C1 controls; tab is kept.
_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _escape(m: re.Match[str]) -> str:
    return f"\\x{ord(m.group()):02x}"


def safe_text(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """``text`` with control characters escaped (``\\x00``) and cut to ``limit`` characters,
    saying how much was cut: storable in PostgreSQL ``text`` and printable on one log line."""
    if len(text) > limit:
        text = f"{text[:limit]}… (+{len(text) - limit} chars)"
    return _UNSAFE.sub(_escape, text)


class Rejection(Exception):
    """Input that will not be stored as readings; it goes to the dead-letter table instead.

    ``reason`` is a short snake_case code from a fixed set (it is a Prometheus label);
    ``detail`` is a human-readable explanation naming the offending field or value, made safe
    by :func:`safe_text`.
    """

    def __init__(self, reason: str, detail: str, station_id: str | None = None) -> None:
        detail = safe_text(detail)
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.station_id = None if station_id is None else safe_text(station_id, 64)
