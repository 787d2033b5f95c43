"""Counting how often a test's code path calls a real coroutine function (which still runs:
no mocks), e.g. to bound the attempts a bisection needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class Calls:
    """How many times the wrapped function has been called so far."""

    n: int = 0


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> Calls:
    """Replace the coroutine function ``owner.name`` by one that counts, then awaits it."""
    real = getattr(owner, name)
    calls = Calls()

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.n += 1
        return await real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls
