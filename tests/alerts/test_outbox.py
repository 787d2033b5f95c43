"""The outbox against the real PostgreSQL: transactional enqueue, NOTIFY, claims, ordering."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg import AsyncConnection

from alerts import outbox
from alerts.notification import Notification, PayloadError
from envmon import db
from tests.alerts.peers import sample_notification

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("event", ["firing", "resolved", "reminder", "escalation"])
def test_payload_round_trip(event: str) -> None:
    n = sample_notification(event=event)
    assert Notification.from_payload(n.to_payload()) == n


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"event": "exploded"}, "event must be one of"),
        ({"severity": "fatal"}, "severity must be one of"),
        ({"started_at": "yesterday"}, "Invalid isoformat"),
        ({"started_at": "2026-03-01T06:00:00"}, "timezone-aware"),
        ({"subject_kind": "planet"}, "subject_kind must be one of"),
        ({"value": float("nan")}, "value must be a finite number"),
        ({"limit": "inf"}, "limit must be a finite number"),
    ],
)
def test_bad_payload_is_a_specific_error(change: dict[str, Any], message: str) -> None:
    payload = sample_notification().to_payload() | change
    with pytest.raises(PayloadError, match=message):
        Notification.from_payload(payload)


def test_missing_field_named() -> None:
    payload = sample_notification().to_payload()
    del payload["clause"]
    with pytest.raises(PayloadError, match="clause"):
        Notification.from_payload(payload)


async def test_enqueue_is_in_the_callers_transaction(conn: AsyncConnection[Any]) -> None:
    items = [sample_notification("ops"), sample_notification("bureau")]
    async with conn.transaction(force_rollback=True):
        assert await outbox.enqueue(conn, items) == 2
    assert await outbox.list_rows(conn, None, 10) == []
    async with conn.transaction():
        assert await outbox.enqueue(conn, items) == 2
    async with conn.transaction():
        assert await outbox.enqueue(conn, items) == 0, "same idempotency keys are ignored"
    rows = await outbox.list_rows(conn, "pending", 10)
    assert sorted(r.receiver for r in rows) == ["bureau", "ops"]
    assert all(r.attempts == 0 and r.status == "pending" for r in rows)
    assert Notification.from_payload(rows[0].payload).receiver == rows[0].receiver


async def test_notify_arrives_only_after_commit(url: str, conn: AsyncConnection[Any]) -> None:
    async with await db.connect(url, autocommit=True) as listener:
        await listener.execute(f"LISTEN {outbox.CHANNEL}")
        gen = listener.notifies(timeout=0.5)
        async with conn.transaction(force_rollback=True):
            await outbox.enqueue(conn, [sample_notification()])
        assert [n async for n in gen] == []
        async with conn.transaction():
            await outbox.enqueue(conn, [sample_notification()])
        got = [n.channel async for n in listener.notifies(timeout=5, stop_after=1)]
        assert got == [outbox.CHANNEL]


async def test_two_claimers_never_share_a_row(url: str, conn: AsyncConnection[Any]) -> None:
    async with conn.transaction():
        await outbox.enqueue(conn, [sample_notification(episode_id=i) for i in range(10)])
    async with await db.connect(url) as other, conn.transaction(), other.transaction():
        first = await outbox.claim_due(conn, 6)
        second = await outbox.claim_due(other, 6)
        assert len(first) == 6 and len(second) == 4
        assert {r.id for r in first}.isdisjoint(r.id for r in second)


async def test_resolve_waits_for_its_firing(conn: AsyncConnection[Any]) -> None:
    async with conn.transaction():
        await outbox.enqueue(
            conn, [sample_notification(event="firing"), sample_notification(event="resolved")]
        )
    async with conn.transaction():
        claimed = await outbox.claim_due(conn, 10)
        assert [r.event for r in claimed] == ["firing"]
        await outbox.mark_retry(conn, claimed[0].id, 3600, "receiver down")
    async with conn.transaction():
        assert await outbox.claim_due(conn, 10) == [], "the resolve must not overtake"
        firing = (await outbox.list_rows(conn, "pending", 10))[-1]
        await outbox.mark_dead(conn, firing.id, "gave up")
    async with conn.transaction():
        assert [r.event for r in await outbox.claim_due(conn, 10)] == ["resolved"]


async def test_list_rows_filters_and_rejects_unknown_status(conn: AsyncConnection[Any]) -> None:
    async with conn.transaction():
        await outbox.enqueue(conn, [sample_notification(episode_id=i) for i in range(3)])
        rows = await outbox.list_rows(conn, None, 10)
        await outbox.mark_sent(conn, rows[0].id)
        await outbox.mark_dead(conn, rows[1].id, "HTTP 404")
    dead = await outbox.list_rows(conn, "dead", 10)
    assert [(r.id, r.last_error, r.attempts) for r in dead] == [(rows[1].id, "HTTP 404", 1)]
    assert [r.id for r in await outbox.list_rows(conn, "sent", 10)] == [rows[0].id]
    assert await outbox.count_pending(conn) == 1
    assert len(await outbox.list_rows(conn, None, 2)) == 2
    with pytest.raises(ValueError, match="status must be one of"):
        await outbox.list_rows(conn, "lost", 10)


async def test_prune_deletes_only_old_sent_rows(conn: AsyncConnection[Any]) -> None:
    async with conn.transaction():
        await outbox.enqueue(conn, [sample_notification(episode_id=i) for i in range(4)])
        rows = sorted(await outbox.list_rows(conn, None, 10), key=lambda r: r.id)
        for row in rows[:2]:
            await outbox.mark_sent(conn, row.id)
        await outbox.mark_dead(conn, rows[2].id, "gave up")
        await conn.execute(
            "UPDATE alert_outbox SET sent_at = now() - interval '91 days',"
            " created_at = now() - interval '91 days' WHERE id <> %s", (rows[1].id,))
        assert await outbox.prune_sent(conn, 90) == 1
    left = sorted((r.id, r.status) for r in await outbox.list_rows(conn, None, 10))
    assert left == [(rows[1].id, "sent"), (rows[2].id, "dead"), (rows[3].id, "pending")]


async def test_enqueue_nothing_is_a_no_op(conn: AsyncConnection[Any]) -> None:
    assert await outbox.enqueue(conn, []) == 0
    assert await outbox.list_rows(conn, None, 10) == []
