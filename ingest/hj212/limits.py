"""The budgets that keep the TCP gateway alive under hostile input (issue 13 item 4).

A `#` flood once turned every two bytes into a dead-letter row and a log line (5 GB RSS, 2.6 M
rows), and idle connections beyond the descriptor limit locked every logger out. Each limit here
bounds one resource: bytes and packets read (per connection and for the whole gateway), rows
written for anonymous garbage, log lines, and open descriptors.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import Counter
from collections.abc import Callable

from ingest.errors import Rejection


class Budget:
    """A token bucket that may go into debt: :meth:`take` charges at once and then sleeps the
    debt off, so concurrent takers queue fairly instead of all passing after a short sleep."""

    def __init__(self, rate: float, burst: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._rate, self._burst = rate, burst
        self._tokens = burst
        self._clock = clock
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now

    async def take(self, n: float = 1.0) -> None:
        """Spend ``n`` and wait until the budget is out of debt again (backpressure)."""
        self._refill()
        self._tokens -= n
        if self._tokens < 0:
            await asyncio.sleep(-self._tokens / self._rate)

    def try_take(self, n: float = 1.0) -> bool:
        """Spend ``n`` if it is there; never waits."""
        self._refill()
        if self._tokens < n:
            return False
        self._tokens -= n
        return True


def anonymous(rejection: Rejection) -> bool:
    """Rejected before the sender proved it knows a station's MN and PW: anyone can send this,
    so it is rate-limited; rejections of an identified station are always stored."""
    return rejection.station_id is None or rejection.reason in {"hj212_password",
                                                                 "hj212_mn_mismatch"}


class DeadLetterLimiter:
    """Anonymous rejections become dead-letter rows at most ``rate`` per second (after a first
    ``burst``); the rest are counted by reason and bytes, and :meth:`summary` turns them into one
    ``hj212_flood`` row with the counts and a sample of the first suppressed payload."""

    def __init__(self, rate: float, burst: int, sample_bytes: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._bucket = Budget(rate, burst, clock)
        self._sample_bytes = sample_bytes
        self._counts: Counter[str] = Counter()
        self._bytes = 0
        self._topics: set[str] = set()
        self._sample: tuple[str, bytes] | None = None

    def admit(self, topic: str, payload: bytes, rejection: Rejection) -> bool:
        """True: store this rejection as its own row. False: it was counted for the summary."""
        if not anonymous(rejection) or self._bucket.try_take():
            return True
        self._counts[rejection.reason] += 1
        self._bytes += len(payload)
        if len(self._topics) < 10_000:
            self._topics.add(topic)
        if self._sample is None:
            self._sample = (rejection.reason, payload[: self._sample_bytes])
        return False

    def summary(self) -> tuple[bytes, Rejection] | None:
        """The suppressed rejections since the last summary as one row, or ``None``."""
        if self._sample is None:
            return None
        counts = ", ".join(f"{reason} x{n}" for reason, n in self._counts.most_common())
        reason, sample = self._sample
        detail = (f"{sum(self._counts.values())} rejections over the dead-letter rate limit, "
                  f"{self._bytes} bytes from {len(self._topics)} connections ({counts}); "
                  f"payload: the first bytes of the first one ({reason})")
        self._counts.clear()
        self._bytes = 0
        self._topics.clear()
        self._sample = None
        return sample, Rejection("hj212_flood", detail)


class LogLimiter:
    """At most ``lines`` log lines per ``seconds`` for each kind of event; the next line after
    a quiet spell says how many were left out."""

    def __init__(self, logger: logging.Logger, lines: int = 10, seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log, self._lines, self._seconds, self._clock = logger, lines, seconds, clock
        self._windows: dict[str, tuple[float, int, int]] = {}  # key -> (start, logged, left out)

    def log(self, key: str, level: int, msg: str, *args: object) -> None:
        now = self._clock()
        start, logged, left_out = self._windows.get(key, (now, 0, 0))
        if now - start >= self._seconds:
            start, logged = now, 0
        if logged >= self._lines:
            self._windows[key] = (start, logged, left_out + 1)
            return
        if left_out:
            msg += f" ({left_out} similar lines left out)"
        self._log.log(level, msg, *args)
        self._windows[key] = (start, logged + 1, 0)


def connection_cap(configured: int, backlog: int) -> int:
    """``configured``, lowered to stay below the soft descriptor limit (RLIMIT_NOFILE): past it
    ``accept`` fails with EMFILE, which locks every logger out and floods the log. The reserve
    is 64 descriptors (database, listener, logs, health endpoint) plus twice the listen
    ``backlog``: asyncio accepts up to ``backlog`` sockets at once before the gateway can judge
    any of them, and the connections evicted for them close one loop iteration later."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, soft - 64 - 2 * backlog))
