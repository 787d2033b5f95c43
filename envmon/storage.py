"""The readings table: TimescaleDB hypertable when the extension exists, plain PostgreSQL
declarative range partitions (one per month, created ahead and on demand) otherwise.

Both layouts have the same columns and primary key, so every query gives the same answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, Literal

import psycopg
from psycopg import AsyncConnection, sql

from envmon.beijing_time import month_start, next_month
from envmon.settings import StorageSettings

Backend = Literal["timescale", "plain"]

log = logging.getLogger(__name__)

READINGS_COLUMNS = """
    station_id   text NOT NULL,
    parameter    text NOT NULL,
    interval     text NOT NULL CHECK (interval IN ('rt', 'min', 'hour', 'day')),
    ts           timestamptz NOT NULL,
    value        double precision NOT NULL,
    flag         text NOT NULL DEFAULT 'N' CHECK (flag IN ('N','F','M','S','D','C','T','B')),
    source       text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, parameter, interval, ts)
"""


def plain_ddl() -> list[str]:
    """DDL of the plain-PostgreSQL layout (partitions are added by :func:`ensure_partitions`)."""
    return [
        f"CREATE TABLE IF NOT EXISTS readings ({READINGS_COLUMNS}) PARTITION BY RANGE (ts)",
        # Time-range scans across stations (Grafana, reports): BRIN is nearly free to keep
        # up on append-mostly data; a B-tree on ts cost 11 % of write throughput (measured).
        "CREATE INDEX IF NOT EXISTS readings_ts_brin ON readings USING brin (ts)",
    ]


def timescale_ddl(settings: StorageSettings) -> list[str]:
    """DDL of the TimescaleDB layout: hypertable, compression and retention policies."""
    stmts = [
        "CREATE EXTENSION IF NOT EXISTS timescaledb",
        f"CREATE TABLE IF NOT EXISTS readings ({READINGS_COLUMNS})",
        "SELECT create_hypertable('readings', 'ts', chunk_time_interval => "
        f"{sql.quote(settings.chunk_interval)}::interval, if_not_exists => true)",
    ]
    if settings.compress_after:
        stmts += [
            "ALTER TABLE readings SET (timescaledb.compress, "
            "timescaledb.compress_segmentby = 'station_id, parameter', "
            "timescaledb.compress_orderby = 'interval, ts DESC')",
            "SELECT add_compression_policy('readings', "
            f"{sql.quote(settings.compress_after)}::interval, if_not_exists => true)",
        ]
    if settings.retention:
        stmts.append(
            "SELECT add_retention_policy('readings', "
            f"{sql.quote(settings.retention)}::interval, if_not_exists => true)"
        )
    return stmts


async def detect_backend(conn: AsyncConnection[Any], settings: StorageSettings) -> Backend:
    """The layout: the setting if explicit; for ``auto``, Timescale only when the extension
    is usable in this database, else plain with a warning.

    Installed extension files are not enough: without ``shared_preload_libraries=timescaledb``
    ``CREATE EXTENSION`` ends the connection with a FATAL error, so the preload is checked
    first and the extension is then created in a savepoint (it stays, ``migrate`` needs it).
    """
    if settings.backend != "auto":
        return settings.backend
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'),"
        " EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
    )
    installed, available = await cur.fetchone() or (False, False)
    if installed:
        return "timescale"
    if not available:
        return "plain"
    try:
        async with conn.transaction():
            cur = await conn.execute("SELECT current_setting('shared_preload_libraries')")
            row = await cur.fetchone()
            if not _preloads_timescale(str(row[0]) if row else ""):
                log.warning("TimescaleDB files are installed but the server does not preload "
                            "them (shared_preload_libraries): using the plain layout")
                return "plain"
            await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:
        log.warning("TimescaleDB is installed but cannot be used here (%s): using the plain "
                    "layout; set storage.backend=timescale to insist", exc)
        return "plain"
    return "timescale"


def _preloads_timescale(shared_preload_libraries: str) -> bool:
    """True when the server setting lists the TimescaleDB loader."""
    names = (n.strip().strip('"') for n in shared_preload_libraries.split(","))
    return "timescaledb" in names


def partition_name(month: date) -> str:
    return f"readings_y{month.year:04d}m{month.month:02d}"


async def is_partitioned(conn: AsyncConnection[Any]) -> bool:
    """True when readings uses plain declarative partitioning (not a hypertable)."""
    cur = await conn.execute(
        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
        " WHERE c.relname = 'readings'"
        " AND c.relnamespace = current_schema()::regnamespace"
    )
    return await cur.fetchone() is not None


async def ensure_partitions(conn: AsyncConnection[Any], months: Iterable[date]) -> list[str]:
    """Create the monthly partitions (UTC month boundaries) that do not exist yet.

    Returns the names created. Safe to call concurrently: ``IF NOT EXISTS`` plus an advisory
    lock per month.
    """
    created = []
    for month in sorted({month_start(m) for m in months}):
        name = partition_name(month)
        cur = await conn.execute("SELECT to_regclass(%s)", (name,))
        row = await cur.fetchone()
        if row and row[0] is not None:
            continue
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))
        lower = datetime(month.year, month.month, 1).isoformat() + "+00"
        upper_m = next_month(month)
        upper = datetime(upper_m.year, upper_m.month, 1).isoformat() + "+00"
        await conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF readings"
                " FOR VALUES FROM ({}) TO ({})"
            ).format(sql.Identifier(name), sql.Literal(lower), sql.Literal(upper))
        )
        created.append(name)
    return created


def months_around_now(settings: StorageSettings, today: date | None = None) -> list[date]:
    """This month and ``partitions_ahead_months`` after it: the partitions kept ready."""
    month = month_start(today or datetime.now(UTC).date())
    out = [month]
    for _ in range(settings.partitions_ahead_months):
        month = next_month(month)
        out.append(month)
    return out
