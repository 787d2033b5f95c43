"""The sender loop with the real PostgreSQL and real peers: every receiver end to end, a
receiver down for a while, one that never recovers, two senders at once, a killed sender."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from psycopg import AsyncConnection

from alerts import outbox
from alerts.delivery import (
    DeliveryMetrics,
    DeliverySettings,
    SendBudget,
    backoff_s,
    run_sender,
)
from alerts.notification import Notification
from alerts.receivers import Receiver, build, parse_receiver
from tests.alerts.peers import (
    SMTP_PASSWORD,
    SMTP_USER,
    Alertmanager,
    DingTalkPeer,
    WebhookPeer,
    WeComPeer,
    sample_notification,
    start_alertmanager,
    start_smtp,
)
from tests.conftest import REPO

pytestmark = pytest.mark.integration

SECRET = "hook-secret"
FAST = DeliverySettings(max_attempts=100, base_backoff_s=0.05, max_backoff_s=0.2, poll_s=5)


@pytest.fixture
async def hook() -> AsyncIterator[WebhookPeer]:
    peer = WebhookPeer(SECRET)
    await peer.start()
    yield peer
    await peer.stop()


@pytest.fixture
def metrics() -> DeliveryMetrics:
    return DeliveryMetrics(CollectorRegistry())


def count(metrics: DeliveryMetrics, receiver: str, result: str) -> float:
    return float(metrics.notifications.labels(receiver, result)._value.get())


def webhook(peer: WebhookPeer, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    monkeypatch.setenv("ENVMON_TEST_HOOK_SECRET", SECRET)
    return build(parse_receiver({
        "type": "webhook", "url": peer.base_url + "/hook", "secret_env": "ENVMON_TEST_HOOK_SECRET",
    }))


async def eventually(check: Callable[[], Awaitable[bool]], what: str, limit_s: float = 60) -> None:
    """Wait for ``check`` to hold (a liveness guard for a hung test, not a timing assert)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"not reached within {limit_s} s: {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def sender(
    url: str, receivers: Mapping[str, Receiver], settings: DeliverySettings,
    metrics: DeliveryMetrics,
) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_sender(url, receivers, settings, stop, metrics=metrics))
    try:
        yield
    finally:
        stop.set()
        await task


async def statuses(conn: AsyncConnection[Any]) -> list[str]:
    rows = await outbox.list_rows(conn, None, 1000)
    await conn.commit()
    return [r.status for r in rows]


async def enqueue(conn: AsyncConnection[Any], *items: Any) -> None:
    async with conn.transaction():
        await outbox.enqueue(conn, items)


@pytest.mark.parametrize("attempts", [1, 2, 5, 20])
def test_backoff_doubles_within_jitter_and_cap(attempts: int) -> None:
    import random

    settings = DeliverySettings(base_backoff_s=10, max_backoff_s=3600)
    step = min(3600, 10 * 2 ** (attempts - 1))
    draws = [backoff_s(settings, attempts, random.Random(seed)) for seed in range(200)]
    assert all(step / 2 <= d <= step for d in draws)
    assert len(set(draws)) > 100, "jittered, not one fixed pause"


def test_backoff_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_backoff_s must be >= base_backoff_s"):
        DeliverySettings(base_backoff_s=60, max_backoff_s=10)


# --- every receiver, through the outbox ---------------------------------------------------


@pytest.fixture(scope="module")
def alertmanager() -> Iterator[Alertmanager]:
    am = start_alertmanager()
    yield am
    am.stop()


async def test_every_receiver_end_to_end(
    url: str, conn: AsyncConnection[Any], hook: WebhookPeer, alertmanager: Alertmanager,
    metrics: DeliveryMetrics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    smtp = start_smtp(tmp_path)
    ding, wecom = DingTalkPeer("tok", "SECding"), WeComPeer("wkey")
    await ding.start()
    await wecom.start()
    (tmp_path / "pw").write_text(SMTP_PASSWORD)
    (tmp_path / "ding-token").write_text("tok")
    (tmp_path / "ding-secret").write_text("SECding")
    monkeypatch.setenv("ENVMON_TEST_WECOM_KEY", "wkey")
    receivers = {
        "hook": webhook(hook, monkeypatch),
        "mail": build(parse_receiver({
            "type": "email", "host": smtp.host, "port": smtp.port, "username": SMTP_USER,
            "password_file": str(tmp_path / "pw"), "from": "envmon@pl.example",
            "to": ["duty@pl.example"], "ca_file": str(smtp.cert)})),
        "am": build(parse_receiver({"type": "alertmanager", "url": alertmanager.url})),
        "ding": build(parse_receiver({
            "type": "dingtalk", "url": ding.base_url + "/robot/send",
            "access_token_file": str(tmp_path / "ding-token"),
            "secret_file": str(tmp_path / "ding-secret")})),
        "wecom": build(parse_receiver({
            "type": "wecom", "url": wecom.base_url + "/cgi-bin/webhook/send",
            "key_env": "ENVMON_TEST_WECOM_KEY", "language": "en"})),
    }
    started = sample_notification().started_at
    try:
        async with sender(url, receivers, FAST, metrics):
            await enqueue(conn, *(sample_notification(name, episode_id=7) for name in receivers))
            await eventually(lambda: _all(conn, "sent", 5), "5 firing notifications sent")
            shown = [a for a in alertmanager.alerts() if a["labels"].get("station") == "pl-air-01"]
            assert [a["status"]["state"] for a in shown] == ["active"]
            await enqueue(conn, *(sample_notification(
                name, episode_id=7, event="resolved", started_at=started) for name in receivers))
            await eventually(lambda: _all(conn, "sent", 10), "5 resolved notifications sent")
        assert [a for a in alertmanager.alerts()
                if a["labels"].get("station") == "pl-air-01"] == []
        assert [len(p.accepted) for p in (hook, ding, wecom)] == [2, 2, 2]
        assert [m.message["Subject"] for m in smtp.received] == [
            "【告警·警告】平凉市监测站 PM2.5", "【已恢复·警告】平凉市监测站 PM2.5"]
        assert [count(metrics, name, "sent") for name in receivers] == [2] * 5
        assert metrics.pending._value.get() == 0
    finally:
        smtp.controller.stop()
        await ding.stop()
        await wecom.stop()


async def _all(conn: AsyncConnection[Any], status: str, n: int) -> bool:
    got = await statuses(conn)
    return len(got) == n and set(got) == {status}


async def test_sender_prunes_old_sent_rows(
    url: str, conn: AsyncConnection[Any], hook: WebhookPeer, metrics: DeliveryMetrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await enqueue(conn, sample_notification("hook", episode_id=1),
                  sample_notification("hook", episode_id=2))
    async with conn.transaction():
        old = (await outbox.claim_due(conn, 1))[0]
        await outbox.mark_sent(conn, old.id)
        await conn.execute("UPDATE alert_outbox SET sent_at = now() - interval '2 days'"
                           " WHERE id = %s", (old.id,))
    settings = FAST.model_copy(update={"keep_sent_days": 1})
    async with sender(url, {"hook": webhook(hook, monkeypatch)}, settings, metrics):
        await eventually(lambda: _all(conn, "sent", 1), "old row pruned, new one sent")
    [left] = await outbox.list_rows(conn, None, 10)
    assert left.id != old.id and len(hook.accepted) == 1


# --- failures -------------------------------------------------------------------------------


async def test_receiver_down_for_a_while_gets_it_once(
    url: str, conn: AsyncConnection[Any], hook: WebhookPeer, metrics: DeliveryMetrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await hook.stop()
    async with sender(url, {"hook": webhook(hook, monkeypatch)}, FAST, metrics):
        await enqueue(conn, sample_notification("hook"))

        async def retried() -> bool:
            [row] = await outbox.list_rows(conn, "pending", 10)
            await conn.commit()
            return row.attempts >= 3

        await eventually(retried, "three failed attempts while the receiver is down")
        [row] = await outbox.list_rows(conn, "pending", 10)
        assert row.last_error is not None and "Client" in row.last_error
        await hook.start()
        await eventually(lambda: _all(conn, "sent", 1), "sent once the receiver is back")
    assert len(hook.accepted) == 1
    assert hook.accepted[0].headers["Idempotency-Key"] == "1:firing:0:hook"
    assert count(metrics, "hook", "failed") >= 3 and count(metrics, "hook", "sent") == 1


async def test_receiver_that_never_recovers_ends_dead(
    url: str, conn: AsyncConnection[Any], hook: WebhookPeer, metrics: DeliveryMetrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook.fail_with = 503
    settings = FAST.model_copy(update={"max_attempts": 3})
    async with sender(url, {"hook": webhook(hook, monkeypatch)}, settings, metrics):
        await enqueue(conn, sample_notification("hook"))
        await eventually(lambda: _all(conn, "dead", 1), "dead after 3 attempts")
    [row] = await outbox.list_rows(conn, "dead", 10)
    assert row.attempts == 3 and row.last_error == "attempt 3: HTTP 503: unavailable"
    assert len(hook.rejected) == 3 and hook.accepted == []
    assert (count(metrics, "hook", "failed"), count(metrics, "hook", "dead")) == (2, 1)
    assert metrics.pending._value.get() == 0


async def test_retry_after_is_honoured(
    url: str, conn: AsyncConnection[Any], hook: WebhookPeer, metrics: DeliveryMetrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook.fail_with, hook.fail_headers = 429, {"Retry-After": "3600"}
    async with sender(url, {"hook": webhook(hook, monkeypatch)}, FAST, metrics):
        await enqueue(conn, sample_notification("hook"))

        async def tried_once() -> bool:
            rows = await outbox.list_rows(conn, "pending", 10)
            await conn.commit()
            return rows[0].attempts == 1

        await eventually(tried_once, "the first attempt answered 429")
    [row] = await outbox.list_rows(conn, "pending", 10)
    wait = (row.next_attempt_at - row.created_at).total_seconds()
    assert wait >= 3600, "the peer's Retry-After beats the 0.05 s backoff"
    assert row.last_error == "attempt 1: HTTP 429: unavailable"


async def test_refusals_and_unknown_receivers_are_dead_at_once(
    url: str, conn: AsyncConnection[Any], hook: WebhookPeer, metrics: DeliveryMetrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVMON_TEST_BAD_SECRET", "wrong")
    bad = build(parse_receiver({
        "type": "webhook", "url": hook.base_url, "secret_env": "ENVMON_TEST_BAD_SECRET"}))
    async with sender(url, {"hook": bad}, FAST, metrics):
        await enqueue(conn, sample_notification("hook"), sample_notification("gone"))
        await eventually(lambda: _all(conn, "dead", 2), "both dead")
    dead = {r.receiver: r for r in await outbox.list_rows(conn, "dead", 10)}
    assert dead["hook"].attempts == 1 and "HTTP 401" in (dead["hook"].last_error or "")
    assert "no receiver named 'gone'" in (dead["gone"].last_error or "")


class RaisingReceiver:
    """A receiver with a bug: it raises something that is not a DeliveryError."""

    max_per_minute: int | None = None

    async def send(self, notification: Notification) -> None:
        raise KeyError(notification.event)

    async def close(self) -> None:
        pass


async def test_a_receiver_bug_does_not_stop_delivery(
    url: str, conn: AsyncConnection[Any], hook: WebhookPeer, metrics: DeliveryMetrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = FAST.model_copy(update={"max_attempts": 2})
    receivers = {"hook": webhook(hook, monkeypatch), "buggy": RaisingReceiver()}
    async with sender(url, receivers, settings, metrics):
        await enqueue(conn, sample_notification("buggy"), sample_notification("hook"))
        await eventually(lambda: _count(conn, {"sent": 1, "dead": 1}), "one sent, one dead")
        await enqueue(conn, sample_notification("hook", episode_id=2))
        await eventually(lambda: _count(conn, {"sent": 2, "dead": 1}), "the sender goes on")
    [dead] = await outbox.list_rows(conn, "dead", 10)
    assert (dead.receiver, dead.attempts) == ("buggy", 2)
    assert dead.last_error == "attempt 2: receiver raised KeyError: 'firing'"
    assert len(hook.accepted) == 2


async def _count(conn: AsyncConnection[Any], expected: dict[str, int]) -> bool:
    got = await statuses(conn)
    return {s: got.count(s) for s in set(got)} == expected


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("per_minute", "times", "waits"),
    [
        (None, [0, 0, 0, 0], [0, 0, 0, 0]),
        (3, [0, 1, 2, 3, 30], [0, 0, 0, 57, 30]),
        (3, [0, 1, 2, 60, 60.5, 61, 62], [0, 0, 0, 0, 0.5, 0, 0]),
        (1, [0, 59.9, 60], [0, 0.1, 0]),
    ],
)
def test_send_budget_is_a_sliding_minute(
    per_minute: int | None, times: list[float], waits: list[float]
) -> None:
    clock = FakeClock()
    budget = SendBudget(clock)
    got = []
    for t in times:
        clock.now = 1000.0 + t
        got.append(round(budget.reserve("robot", per_minute), 6))
    assert got == waits
    assert budget.reserve("another", per_minute) == 0, "budgets are per receiver"


async def test_robot_budget_defers_without_spending_attempts(
    url: str, conn: AsyncConnection[Any], metrics: DeliveryMetrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    peer = WeComPeer("wkey", per_minute=3)
    await peer.start()
    monkeypatch.setenv("ENVMON_TEST_WECOM_KEY", "wkey")
    robot = build(parse_receiver({
        "type": "wecom", "url": peer.base_url + "/cgi-bin/webhook/send",
        "key_env": "ENVMON_TEST_WECOM_KEY", "max_per_minute": 3}))
    try:
        async with sender(url, {"robot": robot}, FAST, metrics):
            await enqueue(conn, *(sample_notification("robot", episode_id=i) for i in range(5)))
            await eventually(lambda: _count(conn, {"sent": 3, "pending": 2}), "3 sent, 2 wait")
    finally:
        await peer.stop()
    assert peer.rejected == [] and len(peer.accepted) == 3
    waiting = await outbox.list_rows(conn, "pending", 10)
    assert [(r.attempts, r.last_error) for r in waiting] == [(0, None), (0, None)]
    assert all((r.next_attempt_at - r.created_at).total_seconds() > 30 for r in waiting)
    assert count(metrics, "robot", "failed") == 0


async def test_two_senders_never_send_a_row_twice(
    url: str, conn: AsyncConnection[Any], hook: WebhookPeer, metrics: DeliveryMetrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook.delay_s = 0.01
    n = 120
    await enqueue(conn, *(sample_notification("hook", episode_id=i) for i in range(n)))
    first, second = DeliveryMetrics(CollectorRegistry()), DeliveryMetrics(CollectorRegistry())
    async with (sender(url, {"hook": webhook(hook, monkeypatch)}, FAST, first),
                sender(url, {"hook": webhook(hook, monkeypatch)}, FAST, second)):
        await eventually(lambda: _all(conn, "sent", n), f"{n} sent")
    keys = [r.headers["Idempotency-Key"] for r in hook.accepted]
    assert len(keys) == n and len(set(keys)) == n
    by_first, by_second = count(first, "hook", "sent"), count(second, "hook", "sent")
    assert by_first + by_second == n


# --- a sender killed while a row is in flight -----------------------------------------------

KILLED_SENDER = """
import asyncio, sys
from alerts.notification import Notification
from alerts.delivery import DeliverySettings, run_sender
from alerts.receivers import build, parse_receiver
url, hook = sys.argv[1], sys.argv[2]
receiver = build(parse_receiver(
    {"type": "webhook", "url": hook, "secret_env": "ENVMON_TEST_HOOK_SECRET"}))
asyncio.run(run_sender(url, {"hook": receiver}, DeliverySettings(timeout_s=3600), asyncio.Event()))
"""


async def test_sender_killed_mid_send_leaves_the_row_for_the_next(
    url: str, conn: AsyncConnection[Any], hook: WebhookPeer, metrics: DeliveryMetrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook.delay_s = 3600  # the first sender's request never gets an answer
    await enqueue(conn, sample_notification("hook"))
    env = {**os.environ, "ENVMON_TEST_HOOK_SECRET": SECRET}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED_SENDER, url, hook.base_url, cwd=REPO, env=env)
    try:
        async def in_flight() -> bool:
            return hook.arrived == 1
        await eventually(in_flight, "the first sender's request arrives")
        async with conn.transaction():
            assert await outbox.claim_due(conn, 10) == [], "locked by the first sender"
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    hook.delay_s = 0
    async with sender(url, {"hook": webhook(hook, monkeypatch)}, FAST, metrics):
        await eventually(lambda: _all(conn, "sent", 1), "sent by the second sender")
    assert len(hook.accepted) == 1
    [row] = await outbox.list_rows(conn, "sent", 10)
    assert row.attempts == 1, "the killed attempt left no trace on the row"
