"""The web tests' database: the shared migrated test database with demo-like data in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from envmon import db
from tests.web.support import seed_demo


@pytest.fixture(scope="module")
async def demo_url(database_url: str) -> AsyncIterator[str]:
    """``database_url`` holding the Pingliang demo stations' last two days and today so far
    (writes are idempotent by key, so modules may seed the same database again)."""
    async with await db.connect(database_url) as conn:
        await seed_demo(conn, datetime.now(UTC))
    yield database_url
