"""Database access shared by all components: connections, migrations, error classes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg import AsyncConnection

from envmon import storage
from envmon.settings import StorageSettings

log = logging.getLogger(__name__)

# SQLSTATE classes/codes after which retrying the same work can succeed (Telegraf's
# PostgreSQL output makes the same split): connection exceptions, insufficient resources,
# operator intervention (admin shutdown, crash recovery), serialization/deadlock.
_TRANSIENT_CLASSES = ("08", "53", "57", "58")
_TRANSIENT_CODES = ("40001", "40P01", "55P03")


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` is a database error worth retrying after a pause."""
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | OSError):
        sqlstate = getattr(exc, "sqlstate", None)
        return sqlstate is None or sqlstate.startswith(_TRANSIENT_CLASSES) or (
            sqlstate in _TRANSIENT_CODES
        )
    if isinstance(exc, psycopg.Error) and exc.sqlstate:
        return exc.sqlstate.startswith(_TRANSIENT_CLASSES) or exc.sqlstate in _TRANSIENT_CODES
    return False


async def connect(url: str, **kwargs: Any) -> AsyncConnection[Any]:
    """An autocommit-off connection with a recognisable application name."""
    return await AsyncConnection.connect(url, application_name="envmon", **kwargs)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def sql_migrations() -> list[Migration]:
    """The numbered ``NNNN_name.sql`` files shipped in envmon/migrations, in order."""
    out = []
    for entry in resources.files("envmon.migrations").iterdir():
        if entry.name.endswith(".sql") and entry.name[:4].isdigit():
            out.append(Migration(int(entry.name[:4]), entry.name[5:-4], entry.read_text("utf-8")))
    return sorted(out, key=lambda m: m.version)


# The readings table is created between the core schema and everything that builds on it.
READINGS_STEP = 2


async def migrate(conn: AsyncConnection[Any], settings: StorageSettings) -> list[str]:
    """Apply pending migrations (idempotent; serialised by an advisory lock).

    Returns the names of the migrations applied by this call.
    """
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('envmon.migrate'))")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in await cur.fetchall()}
        steps = sql_migrations()
        for step in steps:
            if step.version > READINGS_STEP and READINGS_STEP not in done:
                await _create_readings(conn, settings)
                done.add(READINGS_STEP)
                applied.append("readings")
            if step.version in done:
                continue
            await conn.execute(step.sql.encode())
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (step.version, step.name),
            )
            applied.append(step.name)
        if READINGS_STEP not in done:
            await _create_readings(conn, settings)
            applied.append("readings")
    log.info("migrations applied: %s", applied or "none")
    return applied


async def _create_readings(conn: AsyncConnection[Any], settings: StorageSettings) -> None:
    backend = await storage.detect_backend(conn, settings)
    ddl = storage.timescale_ddl(settings) if backend == "timescale" else storage.plain_ddl()
    for stmt in ddl:
        await conn.execute(stmt.encode())
    if backend == "plain":
        await storage.ensure_partitions(conn, storage.months_around_now(settings))
    await conn.execute(
        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
        (READINGS_STEP, f"readings_{backend}"),
    )


async def wait_notify(listener: AsyncConnection[Any], stop: asyncio.Event, seconds: float) -> None:
    """Return on the first NOTIFY ``listener`` LISTENs for, on ``stop``, or after ``seconds``;
    a broken listener connection raises (the caller reconnects). The workers' one wake-up."""
    async def first_notify() -> None:
        async for _ in listener.notifies(timeout=seconds, stop_after=1):
            return

    notified = asyncio.ensure_future(first_notify())
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({notified, stopped}, return_when=asyncio.FIRST_COMPLETED)
    for task in (notified, stopped):
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if notified.done() and not notified.cancelled():
        error = notified.exception()
        if error is not None:
            raise error
