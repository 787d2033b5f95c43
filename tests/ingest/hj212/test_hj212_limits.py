"""The gateway's budgets (ingest/hj212/limits.py): token buckets, the dead-letter rate limit
with its flood summary, the log limit and the connection cap (issue 13 item 4)."""

from __future__ import annotations

import asyncio
import logging
import resource

import pytest

from ingest.errors import Rejection
from ingest.hj212.limits import Budget, DeadLetterLimiter, LogLimiter, anonymous, connection_cap


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_budget_refills_at_its_rate_up_to_its_burst() -> None:
    clock = Clock()
    budget = Budget(rate=10, burst=3, clock=clock)
    assert [budget.try_take() for _ in range(4)] == [True, True, True, False]
    clock.now = 0.1  # one token back
    assert [budget.try_take(), budget.try_take()] == [True, False]
    clock.now = 100.0  # never more than the burst
    assert [budget.try_take() for _ in range(4)] == [True, True, True, False]


async def test_budget_take_goes_into_debt_and_waits_it_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Concurrent takers queue: each waits for the debt in front of it, not a fixed nap."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    budget = Budget(rate=1000, burst=10, clock=Clock())
    await budget.take(10)  # the burst: no wait
    await budget.take(20)  # 20 in debt
    await budget.take(30)  # 50 in debt
    assert slept == [pytest.approx(0.02), pytest.approx(0.05)]


@pytest.mark.parametrize(
    ("rejection", "limited"),
    [  # anyone can send these: rate-limited
        (Rejection("hj212_framing", "x"), True),
        (Rejection("hj212_crc", "x"), True),
        (Rejection("unknown_station", "x"), True),
        (Rejection("hj212_password", "x", "st1"), True),
        # the sender proved it knows a station's MN and PW: always stored
        (Rejection("out_of_range", "x", "st1"), False),
        (Rejection("hj212_unknown_code", "x", "st1"), False),
        (Rejection("hj212_st_mismatch", "x", "st1"), False),
    ],
)
def test_which_rejections_are_anonymous(rejection: Rejection, limited: bool) -> None:
    assert anonymous(rejection) is limited


def test_dead_letter_limiter_admits_burst_then_rate_and_sums_up_the_rest() -> None:
    clock = Clock()
    limiter = DeadLetterLimiter(rate=2, burst=3, sample_bytes=8, clock=clock)
    garbage = Rejection("hj212_framing", "junk")
    admitted = [limiter.admit(f"tcp://a:{i}", b"#" * 100, garbage) for i in range(10)]
    assert admitted == [True] * 3 + [False] * 7
    assert limiter.admit("tcp://b:1", b"pkt", Rejection("out_of_range", "x", "st1"))
    assert not limiter.admit("tcp://b:1", b"crc", Rejection("hj212_crc", "x"))
    clock.now = 1.0  # two more per second
    assert [limiter.admit("tcp://c:1", b"#", garbage) for _ in range(3)] == [True, True, False]
    summary = limiter.summary()
    assert summary is not None
    payload, rejection = summary
    assert payload == b"#" * 8 and rejection.reason == "hj212_flood"
    assert "9 rejections" in rejection.detail and "hj212_framing x8" in rejection.detail
    assert "hj212_crc x1" in rejection.detail and "from 9 connections" in rejection.detail
    assert limiter.summary() is None  # counted once


def test_log_limiter(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limiter = LogLimiter(logging.getLogger("limits-test"), lines=2, seconds=60, clock=clock)
    with caplog.at_level(logging.INFO, "limits-test"):
        for i in range(5):
            limiter.log("k", logging.INFO, "line %d", i)
        limiter.log("other", logging.INFO, "other kind")
        clock.now = 61
        limiter.log("k", logging.INFO, "after")
    assert [r.getMessage() for r in caplog.records] == [
        "line 0", "line 1", "other kind", "after (3 similar lines left out)"]


@pytest.mark.parametrize(
    ("soft", "configured", "cap"),
    [
        (1024, 5000, 1024 - 64 - 128),  # the default descriptor limit: 832
        (16384, 5000, 5000),  # LimitNOFILE in the systemd unit
        (256, 5000, 64),
        (100, 5000, 1),
    ],
)
def test_connection_cap_stays_below_the_descriptor_limit(
        monkeypatch: pytest.MonkeyPatch, soft: int, configured: int, cap: int) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _: (soft, 1 << 20))
    assert connection_cap(configured, backlog=64) == cap
