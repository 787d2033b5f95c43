"""The web tests' database: a migrated database of its own with demo-like data in it (the
API lists every station, so rows other tests leave in the session database would show)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from envmon import db
from tests.conftest import LayoutDatabases
from tests.web.support import seed_demo


@pytest.fixture(scope="module")
async def demo_url(db_layout: str, layout_databases: LayoutDatabases) -> AsyncIterator[str]:
    """A database of the test's layout holding the Pingliang demo stations' last two days and
    today so far, and nothing else."""
    url = await asyncio.to_thread(layout_databases.fresh, db_layout, "envmon_web")
    async with await db.connect(url) as conn:
        await seed_demo(conn, datetime.now(UTC))
    yield url
