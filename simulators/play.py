"""Publishing a scenario's messages on time: as fast as possible (time compression), at a speed
factor, or live (each message when it is due on the wall clock; overdue ones at once)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from simulators.document import Message
from simulators.publish import Publisher

_YIELD_EVERY = 500  # let other tasks of the event loop (ingest in `envmon run`) breathe


class Sink(Protocol):
    """Where messages go: MQTT topics, or HJ 212 over TCP."""

    async def send(self, msg: Message) -> None: ...

    async def flush(self) -> None: ...


class MqttSink:
    """Messages to ``{prefix}/v1/{station_id}/{data|hj212}`` (wire contract v1)."""

    def __init__(self, publisher: Publisher, prefix: str) -> None:
        self.publisher = publisher
        self.prefix = prefix

    async def send(self, msg: Message) -> None:
        await self.publisher.publish(msg.topic(self.prefix), msg.payload)

    async def flush(self) -> None:
        await self.publisher.flush()


@dataclass(slots=True)
class PlayStats:
    messages: int = 0
    seconds: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


async def play(messages: Iterable[tuple[datetime, Message]], sink: Sink,
               *, speed: float | None = None, live: bool = False,
               stop: asyncio.Event | None = None) -> PlayStats:
    """Publish ``(due, message)`` pairs in order.

    ``live``: wait until each message is due on the wall clock. ``speed``: simulated seconds per
    wall second from the first message on. Neither: as fast as the broker acknowledges.
    """
    if speed is not None and speed <= 0:
        raise ValueError("speed must be positive")
    stats = PlayStats()
    t0 = time.monotonic()
    first: datetime | None = None
    for due, msg in messages:
        if stop is not None and stop.is_set():
            break
        if live:
            wait = (due - datetime.now(UTC)).total_seconds()
        elif speed is not None:
            first = first or due
            wait = t0 + (due - first).total_seconds() / speed - time.monotonic()
        else:
            wait = 0.0
        if wait > 0 and await _sleep(wait, stop):
            break
        await sink.send(msg)
        stats.messages += 1
        stats.faults.update(msg.faults)
        if stats.messages % _YIELD_EVERY == 0:
            await asyncio.sleep(0)
    await sink.flush()
    stats.seconds = time.monotonic() - t0
    return stats


async def _sleep(seconds: float, stop: asyncio.Event | None) -> bool:
    """Sleep, waking early when ``stop`` is set; returns whether it was."""
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
