"""The sender loop: claims due outbox rows, sends them, records sent / retry / dead.

A claimed row stays locked (``FOR UPDATE SKIP LOCKED``) until its outcome is committed, so two
senders never send it twice, and a sender killed mid-send leaves it pending for the next one
(at-least-once; receivers de-duplicate by the idempotency key). Failed sends are retried after
an exponential backoff with jitter, up to ``max_attempts``; then the row is ``dead`` and shown
by ``envmon alerts outbox``. See docs/alerts-delivery.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts import outbox
from alerts.notification import Notification, PayloadError
from alerts.outbox import OutboxRow
from alerts.receivers import DeliveryError, Receiver
from envmon import db
from envmon.metrics import Metrics

log = logging.getLogger(__name__)

BATCH = 50
PRUNE_EVERY_S = 3600.0


class DeliverySettings(BaseModel):
    """The optional ``[delivery]`` table of the rules file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(12, ge=1, le=100)
    base_backoff_s: float = Field(10.0, gt=0)
    max_backoff_s: float = Field(3600.0, gt=0)
    timeout_s: float = Field(10.0, gt=0, description="bound on one send, connect included")
    poll_s: float = Field(30.0, gt=0, description="re-check without a NOTIFY (missed wake-ups)")
    keep_sent_days: int = Field(90, ge=1, description="sent rows older than this are deleted")

    @model_validator(mode="after")
    def _backoff_order(self) -> DeliverySettings:
        if self.max_backoff_s < self.base_backoff_s:
            raise ValueError("max_backoff_s must be >= base_backoff_s")
        return self


def backoff_s(settings: DeliverySettings, attempts: int, rng: random.Random) -> float:
    """Pause after the ``attempts``-th failed try: base * 2^(attempts-1), capped, with jitter.

    The jitter draws from the upper half of the step ("equal jitter"), so receivers that come
    back do not get every queued notification at the same instant, yet no retry comes early.
    """
    step = min(settings.max_backoff_s, settings.base_backoff_s * 2.0 ** (attempts - 1))
    return step / 2 + rng.uniform(0, step / 2)


class DeliveryMetrics(Metrics):
    """Delivery metrics on one registry (a fresh one per test; ``DeliveryMetrics.of()`` in
    the sender)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.notifications = self.counter(
            "envmon_alerts_notifications_total",
            "Send attempts by outcome: sent, failed (will be retried), dead (given up)",
            ["receiver", "result"])
        self.pending = self.gauge(
            "envmon_alerts_outbox_pending", "Outbox rows not yet sent nor dead")


class SendBudget:
    """Sliding one-minute windows of sends per receiver, for receivers with ``max_per_minute``
    (the DingTalk and WeCom robots take 20 a minute). Per sender process: two senders may
    together send twice the budget."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sent: dict[str, deque[float]] = {}

    def reserve(self, receiver: str, per_minute: int | None) -> float:
        """0 when a send may go now (it is counted), else the seconds until a slot frees."""
        if per_minute is None:
            return 0.0
        now = self._clock()
        window = self._sent.setdefault(receiver, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= per_minute:
            return window[0] + 60 - now
        window.append(now)
        return 0.0


@dataclass(frozen=True)
class Outcome:
    result: str  # "sent" | "failed" | "dead"
    error: str | None = None
    retry_after: float | None = None


async def _attempt(
    row: OutboxRow, receivers: Mapping[str, Receiver], settings: DeliverySettings
) -> Outcome:
    receiver = receivers.get(row.receiver)
    if receiver is None:
        return Outcome("dead", f"no receiver named {row.receiver!r} in the rules file")
    try:
        notification = Notification.from_payload(row.payload)
    except PayloadError as exc:
        return Outcome("dead", f"bad payload: {exc}")
    try:
        async with asyncio.timeout(settings.timeout_s):
            await receiver.send(notification)
    except DeliveryError as exc:
        return Outcome("dead" if exc.permanent else "failed", str(exc), exc.retry_after)
    except TimeoutError:
        return Outcome("failed", f"no answer within {settings.timeout_s:g} s")
    except Exception as exc:
        # A bug in a receiver must not stop delivery to the others nor crash-loop the sender
        # on the same row: it is retried like a failure and ends dead, visible in the outbox.
        log.exception("receiver %s raised on %s", row.receiver, row.idempotency_key)
        return Outcome("failed", f"receiver raised {type(exc).__name__}: {exc}")
    return Outcome("sent")


async def deliver_due(
    conn: AsyncConnection[Any],
    receivers: Mapping[str, Receiver],
    settings: DeliverySettings,
    metrics: DeliveryMetrics,
    rng: random.Random,
    budget: SendBudget,
) -> int:
    """Claim up to BATCH due rows, send them concurrently, record outcomes; returns rows
    claimed. The rows stay locked for the whole send. Rows over their receiver's per-minute
    budget are put back until a slot frees, without counting an attempt."""
    async with conn.transaction():
        rows = []
        claimed_rows = await outbox.claim_due(conn, BATCH)
        claimed = len(claimed_rows)
        for row in claimed_rows:
            receiver = receivers.get(row.receiver)
            wait = budget.reserve(row.receiver, receiver.max_per_minute if receiver else None)
            if wait > 0:
                await outbox.defer(conn, row.id, wait)
            else:
                rows.append(row)
        outcomes = await asyncio.gather(*(_attempt(r, receivers, settings) for r in rows))
        for row, outcome in zip(rows, outcomes, strict=True):
            attempts = row.attempts + 1
            result = outcome.result
            if result == "failed" and attempts >= settings.max_attempts:
                result = "dead"
            error = outcome.error or ""
            if result == "sent":
                await outbox.mark_sent(conn, row.id)
            elif result == "dead":
                await outbox.mark_dead(conn, row.id, f"attempt {attempts}: {error}")
                log.warning("notification %s dead: %s", row.idempotency_key, error)
            else:
                delay = max(backoff_s(settings, attempts, rng), outcome.retry_after or 0.0)
                await outbox.mark_retry(conn, row.id, delay, f"attempt {attempts}: {error}")
                log.info("notification %s failed (%s), retry in %.0f s",
                         row.idempotency_key, error, delay)
            metrics.notifications.labels(row.receiver, result).inc()
    metrics.pending.set(await outbox.count_pending(conn))
    await conn.commit()
    return claimed




async def run_sender(
    database_url: str,
    receivers: Mapping[str, Receiver],
    settings: DeliverySettings,
    stop: asyncio.Event,
    *,
    metrics: DeliveryMetrics | None = None,
) -> None:
    """Deliver until ``stop`` is set; survives database outages (reconnects after a pause).

    Closes the receivers when it returns.
    """
    metrics = metrics or DeliveryMetrics.of()
    rng = random.Random()
    budget = SendBudget()
    try:
        while not stop.is_set():
            try:
                await _serve(database_url, receivers, settings, stop, metrics, rng, budget)
            except Exception as exc:
                if not db.is_transient(exc):
                    raise
                log.warning("alert sender lost the database (%s); reconnecting", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(settings.poll_s, 5.0))
    finally:
        for receiver in receivers.values():
            await receiver.close()


async def _serve(
    database_url: str,
    receivers: Mapping[str, Receiver],
    settings: DeliverySettings,
    stop: asyncio.Event,
    metrics: DeliveryMetrics,
    rng: random.Random,
    budget: SendBudget,
) -> None:
    async with (
        await db.connect(database_url, autocommit=True) as listener,
        await db.connect(database_url) as conn,
    ):
        await listener.execute(f"LISTEN {outbox.CHANNEL}")
        loop = asyncio.get_running_loop()
        pruned_at = -PRUNE_EVERY_S
        while not stop.is_set():
            if loop.time() - pruned_at >= PRUNE_EVERY_S:
                deleted = await outbox.prune_sent(conn, settings.keep_sent_days)
                await conn.commit()
                pruned_at = loop.time()
                if deleted:
                    log.info("deleted %d notifications sent over %d days ago",
                             deleted, settings.keep_sent_days)
            claimed = await deliver_due(conn, receivers, settings, metrics, rng, budget)
            if claimed == BATCH:
                continue
            due_in = await outbox.next_due_in(conn)
            await conn.commit()
            # Due rows but none claimed: another sender holds them; look again shortly.
            least = 0.0 if claimed else min(settings.poll_s, 1.0)
            wait = settings.poll_s if due_in is None else min(settings.poll_s, due_in)
            wait = max(wait, least)
            if wait > 0:
                await db.wait_notify(listener, stop, wait)
