"""The two layouts of ``readings`` in one test session, chosen deliberately.

``plain``: declarative monthly partitions on the shared server (ENVMON_TEST_PG_URL).
``timescale``: the real TimescaleDB extension (../shared/timescaledb, installed by .ci/run) in a
throwaway cluster started with ``shared_preload_libraries=timescaledb``, hypertable with
compression on. Background jobs are off there: tests compress chunks themselves with
:func:`compress_history` where compressed data matters, so nothing compresses under a test
at a moment of the scheduler's choosing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, LiteralString

import pytest
from psycopg import AsyncConnection

from envmon import db, storage
from envmon.settings import StorageSettings
from tests import pgcluster

LAYOUTS = ("plain", "timescale")
MARKER = "layouts"
TIMESCALE_SETTINGS = (
    "shared_preload_libraries=timescaledb",
    "timescaledb.telemetry_level=off",
    "timescaledb.max_background_workers=0",
)


def timescale_installed() -> bool:
    bindir = pgcluster._bindir()
    version = bindir.parent.name
    return Path(f"/usr/share/postgresql/{version}/extension/timescaledb.control").exists()


def start_timescale_cluster(free_port: Callable[[], int]) -> pgcluster.Cluster:
    """A cluster that preloads TimescaleDB; a missing extension stops the run (no skip)."""
    if not timescale_installed():
        pytest.exit("TimescaleDB is not installed for this PostgreSQL: run "
                    "../shared/timescaledb/install.sh (as .ci/run does)", returncode=3)
    return pgcluster.create_cluster(free_port(), TIMESCALE_SETTINGS)


def storage_settings(layout: str) -> StorageSettings:
    """Each layout set explicitly, never by what happens to be installed."""
    return StorageSettings(backend="timescale" if layout == "timescale" else "plain")


def migrate(url: str, layout: str) -> None:
    async def _run() -> None:
        async with await db.connect(url) as conn:
            await db.migrate(conn, storage_settings(layout))

    asyncio.run(_run())


async def _chunk_count(conn: AsyncConnection[Any], query: LiteralString,
                       params: tuple[Any, ...] = ()) -> int:
    """The count a TimescaleDB-only ``query`` returns (plain layout: 0); commits."""
    if await storage.is_partitioned(conn):
        await conn.commit()
        return 0
    cur = await conn.execute(query, params)
    row = await cur.fetchone()
    await conn.commit()
    return int(row[0]) if row else 0


async def compress_history(conn: AsyncConnection[Any], before: datetime | None = None) -> int:
    """Compress every chunk of ``readings`` that ends before ``before`` (default now), as the
    compression policy would once they are old enough; commits. Returns the chunks compressed
    (plain: 0)."""
    return await _chunk_count(
        conn, "SELECT count(compress_chunk(c, if_not_compressed => true))"
              " FROM show_chunks('readings', older_than => coalesce(%s, now())) c", (before,))


async def compressed_chunks(conn: AsyncConnection[Any]) -> int:
    """Chunks of ``readings`` currently compressed (plain layout: 0); commits."""
    return await _chunk_count(
        conn, "SELECT count(*) FROM timescaledb_information.chunks"
              " WHERE hypertable_name = 'readings' AND is_compressed")


def compress_database(url: str) -> int:
    """:func:`compress_history` for synchronous tests (CLI runs)."""
    async def _run() -> int:
        async with await db.connect(url) as conn:
            return await compress_history(conn)

    return asyncio.run(_run())
