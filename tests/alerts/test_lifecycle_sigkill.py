"""The alerts process SIGKILLed between "firing decided" and "sent": after a restart the
notification is delivered exactly once (the engine's decision and the outbox row were
committed together; delivery's sender retries the row; nothing is decided twice)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.alerts import engine_kit as kit
from tests.alerts.peers import WebhookPeer, migrated_database

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SECRET = "sigkill-test-secret"


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with migrated_database() as u:
        await kit.add_stations(u)
        yield u


def _start(url: str, rules: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ENVMON_DATABASE_URL": url, "ENVMON_METRICS_PORT": "0",
           "ENVMON_ALERTS__TICK_SECONDS": "0.5", "ENVMON_TEST_HOOK_SECRET": SECRET}
    return subprocess.Popen([sys.executable, "-m", "app", "alerts", "run", "--rules",
                             str(rules)], env=env, cwd=kit.REPO)


async def _until(what: str, check: object, timeout_s: float = 60.0) -> None:
    """Poll ``check`` (an async callable) until true; a clear failure after the timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():  # type: ignore[operator]
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def _rows(url: str) -> list[tuple[str, str, int]]:
    async with await kit.db.connect(url) as conn:
        cur = await conn.execute("SELECT idempotency_key, status, attempts FROM alert_outbox")
        return list(await cur.fetchall())


async def test_sigkill_between_decided_and_sent_delivers_exactly_once(
    url: str, tmp_path: Path,
) -> None:
    peer = WebhookPeer(SECRET)
    peer.delay_s = 120.0  # the receiver takes the request and does not answer (yet)
    await peer.start()
    rules = tmp_path / "rules.toml"
    rules.write_text(f"""
[receivers.hook]
type = "webhook"
url = "{peer.base_url}/hook"
secret_env = "ENVMON_TEST_HOOK_SECRET"

[delivery]
timeout_s = 120
base_backoff_s = 0.5
max_backoff_s = 1

[[rules]]
name = "pm25-now"
kind = "threshold"
parameter = "pm25"
above = 115
receivers = ["hook"]
""")
    proc = _start(url, rules)
    try:
        await kit.write(url, *kit.hourly("t-air-1", "pm25", kit.NOW - kit.HOUR, [300]))

        async def in_flight() -> bool:
            return peer.arrived >= 1

        await _until("the firing notification to reach the receiver", in_flight)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        (row,) = await _rows(url)
        assert row[1] == "pending"  # decided and queued, not sent
        peer.delay_s = 0.0
        proc = _start(url, rules)

        async def sent() -> bool:
            return [r[1] for r in await _rows(url)] == ["sent"]

        await _until("the notification to be sent after the restart", sent)
        await asyncio.sleep(1.0)  # give a wrong second decision the chance to show up
        rows = await _rows(url)
        assert [(r[0], r[1]) for r in rows] == [(row[0], "sent")]
        assert row[0].endswith(":firing:0:hook")
        keys = {r.headers["Idempotency-Key"] for r in peer.accepted}
        assert keys == {row[0]}  # every accepted request is the one notification
        assert len(peer.accepted) == 1  # the request cut off by the kill never completed
        assert [e[3] for e in await kit.episodes(url)] == ["firing"]
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
        await peer.stop()
