"""The alerts tests' default database: migrated, of its own per test (tests that need the
stations of ``engine_kit`` define their own ``url``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from psycopg import AsyncConnection

from envmon import db
from tests.alerts.peers import migrated_database


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with migrated_database() as u:
        yield u


@pytest.fixture
async def conn(url: str) -> AsyncIterator[AsyncConnection[Any]]:
    async with await db.connect(url) as c:
        yield c
