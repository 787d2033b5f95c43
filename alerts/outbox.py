"""The alert outbox: notifications stored in the caller's transaction, claimed by the sender.

Enqueueing inside the transaction that changes an episode means "decided" and "queued" commit
together: a crash can lose neither half. The sender (alerts/delivery.py) claims due rows with
``FOR UPDATE SKIP LOCKED`` and keeps them locked until it records the outcome, so two senders
never send one row twice. See docs/alerts-delivery.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row

from alerts.notification import Notification

CHANNEL = "envmon_alert_outbox"
STATUSES = ("pending", "sent", "dead")


@dataclass(frozen=True)
class OutboxRow:
    """One stored notification with its delivery state (what `envmon alerts outbox` shows)."""

    id: int
    idempotency_key: str
    receiver: str
    episode_id: int
    event: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    payload: dict[str, Any]


# Rows a sender may take once due: pending and the oldest pending row of their (receiver,
# episode), so a resolve never overtakes the firing it ends.
_NEXT_IN_LINE = (
    "o.status = 'pending' AND NOT EXISTS (SELECT 1 FROM alert_outbox p"
    "   WHERE p.status = 'pending' AND p.receiver = o.receiver"
    "     AND p.episode_id = o.episode_id AND p.id < o.id)"
)
_COLUMNS = (
    "id, idempotency_key, receiver, episode_id, event, status, attempts, created_at,"
    " next_attempt_at, sent_at, last_error, payload"
)


async def enqueue(conn: AsyncConnection[Any], items: Sequence[Notification]) -> int:
    """Insert ``items`` (duplicates by idempotency key ignored); returns rows inserted.

    Runs in the caller's transaction and does not commit; the NOTIFY that wakes the sender is
    delivered by PostgreSQL only when that transaction commits.
    """
    if not items:
        return 0
    cur = await conn.execute(
        "INSERT INTO alert_outbox (idempotency_key, receiver, episode_id, event, payload)"
        " SELECT k, r, e, ev, p::jsonb"
        " FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[], %s::text[])"
        "   AS t(k, r, e, ev, p)"
        " ON CONFLICT (idempotency_key) DO NOTHING",
        (
            [n.idempotency_key for n in items],
            [n.receiver for n in items],
            [n.episode_id for n in items],
            [n.event for n in items],
            [json.dumps(n.to_payload(), ensure_ascii=False) for n in items],
        ),
    )
    inserted = cur.rowcount
    if inserted > 0:
        await conn.execute(f"NOTIFY {CHANNEL}")
    return inserted


async def list_rows(
    conn: AsyncConnection[Any], status: str | None, limit: int
) -> list[OutboxRow]:
    """Newest rows first, optionally of one status (``pending``, ``sent`` or ``dead``)."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    async with conn.cursor(row_factory=class_row(OutboxRow)) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM alert_outbox"  # noqa: S608 - constant column list
            " WHERE %(status)s::text IS NULL OR status = %(status)s"
            " ORDER BY id DESC LIMIT %(limit)s",
            {"status": status, "limit": limit},
        )
        return await cur.fetchall()


async def claim_due(conn: AsyncConnection[Any], limit: int) -> list[OutboxRow]:
    """Lock up to ``limit`` due pending rows that no other transaction holds.

    Only the oldest pending row per (receiver, episode) is due, so a resolve never overtakes the
    firing it ends. Call inside a transaction; the locks last until it ends.
    """
    async with conn.cursor(row_factory=class_row(OutboxRow)) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM alert_outbox o"  # noqa: S608 - constants
            f" WHERE {_NEXT_IN_LINE} AND o.next_attempt_at <= now()"
            " ORDER BY next_attempt_at, id LIMIT %s"
            " FOR UPDATE SKIP LOCKED",
            (limit,),
        )
        return await cur.fetchall()


async def mark_sent(conn: AsyncConnection[Any], row_id: int) -> None:
    await conn.execute(
        "UPDATE alert_outbox SET status = 'sent', sent_at = now(), attempts = attempts + 1,"
        " last_error = NULL WHERE id = %s",
        (row_id,),
    )


async def mark_retry(conn: AsyncConnection[Any], row_id: int, delay_s: float, error: str) -> None:
    await conn.execute(
        "UPDATE alert_outbox SET attempts = attempts + 1, last_error = %s,"
        " next_attempt_at = now() + make_interval(secs => %s) WHERE id = %s",
        (error, delay_s, row_id),
    )


async def defer(conn: AsyncConnection[Any], row_id: int, delay_s: float) -> None:
    """Put a row back for ``delay_s`` without counting an attempt (receiver's rate budget)."""
    await conn.execute(
        "UPDATE alert_outbox SET next_attempt_at = now() + make_interval(secs => %s)"
        " WHERE id = %s",
        (delay_s, row_id),
    )


async def mark_dead(conn: AsyncConnection[Any], row_id: int, error: str) -> None:
    await conn.execute(
        "UPDATE alert_outbox SET status = 'dead', attempts = attempts + 1, last_error = %s"
        " WHERE id = %s",
        (error, row_id),
    )


async def prune_sent(conn: AsyncConnection[Any], keep_days: int) -> int:
    """Delete rows sent more than ``keep_days`` ago (dead rows stay until someone looks);
    returns rows deleted. Their episodes are long over, so their keys never come again."""
    cur = await conn.execute(
        "DELETE FROM alert_outbox WHERE status = 'sent'"
        " AND sent_at < now() - make_interval(days => %s)",
        (keep_days,),
    )
    return cur.rowcount


async def count_pending(conn: AsyncConnection[Any]) -> int:
    cur = await conn.execute("SELECT count(*) FROM alert_outbox WHERE status = 'pending'")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def next_due_in(conn: AsyncConnection[Any]) -> float | None:
    """Seconds until the next row a sender may take is due (<= 0: now); None: no such row.

    Rows queued behind an older row of their episode do not count: they become due only
    when that one is sent or dead.
    """
    cur = await conn.execute(
        "SELECT extract(epoch FROM min(o.next_attempt_at) - now())::float8"  # noqa: S608
        f" FROM alert_outbox o WHERE {_NEXT_IN_LINE}"
    )
    row = await cur.fetchone()
    return None if row is None or row[0] is None else float(row[0])
