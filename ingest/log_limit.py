"""Log lines about input, rate-limited: a flood of bad messages must not become a flood of logs.

Every rejection is counted in metrics and kept in the dead-letter table; the log only needs
enough lines to show what is going on, and a count of what it left out.
"""

from __future__ import annotations

import logging
import time
from typing import Any


class LogLimiter:
    """At most ``burst`` lines per key per ``window`` seconds; the next line after a window
    with suppressed lines says how many were suppressed."""

    def __init__(self, logger: logging.Logger, burst: int = 20, window: float = 60.0) -> None:
        self._logger = logger
        self._burst = burst
        self._window = window
        self._state: dict[str, list[float]] = {}  # key -> [window start, lines, suppressed]

    def log(self, level: int, key: str, msg: str, *args: Any) -> None:
        now = time.monotonic()
        state = self._state.get(key)
        if state is None or now - state[0] >= self._window:
            if state is not None and state[2]:
                self._logger.log(level, "%d more lines like the next were suppressed in %.0f s",
                                 int(state[2]), self._window)
            if len(self._state) > 1000:  # keys come from a fixed set; this is only a guard
                self._state.clear()
            state = self._state[key] = [now, 0, 0]
        if state[1] < self._burst:
            state[1] += 1
            self._logger.log(level, msg, *args)
        else:
            state[2] += 1
