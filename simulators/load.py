"""Load mode: N air stations sending real-time JSON documents at a target total message rate.

The payloads are cheap variations around per-station levels (the physics is not the point
here, the message rate is); every (station, ts) is distinct, so ingest writes each one.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from envmon.stations import Station
from simulators.publish import Publisher

_TICK = 0.01  # seconds between rate-control checks


def load_stations(n: int, prefix: str = "load") -> list[Station]:
    """The stations load mode publishes for (register them before measuring ingest)."""
    return [Station(f"{prefix}-{i:06d}", "air", f"Load station {i}", city="Load")
            for i in range(n)]


@dataclass(frozen=True, slots=True)
class LoadResult:
    stations: int
    messages: int
    seconds: float
    target_rate: float | None

    @property
    def rate(self) -> float:
        """Achieved messages per second, counted when the broker has acknowledged them all."""
        return self.messages / self.seconds if self.seconds > 0 else 0.0


class _Payloads:
    """Real-time documents, round-robin over the stations, each station with its own clock."""

    def __init__(self, stations: list[Station], prefix: str, period: timedelta, seed: int,
                 start: datetime) -> None:
        rng = random.Random(seed)
        self._topics = [f"{prefix}/v1/{s.station_id}/data" for s in stations]
        self._levels = [rng.uniform(10.0, 80.0) for _ in stations]
        self._rng = rng
        self._start = start
        self._period = period
        self._i = 0

    def next(self) -> tuple[str, bytes]:
        n = len(self._topics)
        k, round_ = self._i % n, self._i // n
        self._i += 1
        ts = (self._start + round_ * self._period).isoformat(timespec="milliseconds")
        pm = self._levels[k] * (0.8 + 0.4 * self._rng.random())
        payload = (f'{{"ts":"{ts}","interval":"rt","values":{{"pm25":{pm:.1f},'
                   f'"pm10":{pm * 1.9:.1f},"no2":{pm * 0.6:.1f},"co":{pm * 0.012:.3f}}}}}')
        return self._topics[k], payload.encode()


async def run_load(publisher: Publisher, stations: list[Station], prefix: str, *,
                   duration: float, rate: float | None = None, seed: int = 0,
                   stop: asyncio.Event | None = None) -> LoadResult:
    """Publish for ``duration`` seconds at ``rate`` messages/s (``None``: as fast as possible)."""
    if not stations:
        raise ValueError("load mode needs at least one station")
    # Each station's clock advances by its share of the rate, so timestamps stay in the past
    # (ingest rejects documents more than 10 minutes ahead).
    period = timedelta(seconds=len(stations) / rate) if rate else timedelta(milliseconds=100)
    start = datetime.now(UTC) - timedelta(days=1)
    payloads = _Payloads(stations, prefix, period, seed, start)
    t0 = time.monotonic()
    sent_before, acked_before = publisher.sent, publisher.acked
    sent = 0
    while (elapsed := time.monotonic() - t0) < duration:
        if stop is not None and stop.is_set():
            break
        due = int(rate * elapsed) + 1 if rate else sent + 1000
        if sent >= due:
            await asyncio.sleep(_TICK)
            continue
        for _ in range(min(due - sent, 5000)):
            topic, payload = payloads.next()
            await publisher.publish(topic, payload)
        sent = publisher.sent - sent_before
    await publisher.flush()
    return LoadResult(len(stations), publisher.acked - acked_before, time.monotonic() - t0, rate)
