"""The two readings layouts (envmon/storage.py): generated DDL and the plain path for real."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pytest
from psycopg import AsyncConnection

from envmon import db, storage
from envmon.settings import StorageSettings
from tests import layouts
from tests.conftest import create_database, drop_database


def test_timescale_ddl_has_hypertable_compression_and_retention() -> None:
    ddl = storage.timescale_ddl(StorageSettings(chunk_interval="1 day", compress_after="7 days",
                                                retention="5 years"))
    text = "\n".join(ddl)
    assert ddl[0] == "CREATE EXTENSION IF NOT EXISTS timescaledb"
    assert "PARTITION BY" not in text
    assert "PRIMARY KEY (station_id, parameter, interval, ts)" in text  # includes the time column
    assert "create_hypertable('readings', 'ts', chunk_time_interval => '1 day'::interval" in text
    assert "timescaledb.compress_segmentby = 'station_id, parameter'" in text
    assert "add_compression_policy('readings', '7 days'::interval" in text
    assert "add_retention_policy('readings', '5 years'::interval" in text


def test_timescale_ddl_without_optional_policies_and_with_quoting() -> None:
    ddl = storage.timescale_ddl(StorageSettings(compress_after=None, retention=None,
                                                chunk_interval="7 days'; DROP TABLE x; --"))
    text = "\n".join(ddl)
    assert "compress" not in text and "retention" not in text
    assert "'7 days''; DROP TABLE x; --'::interval" in text  # a literal, not SQL


def test_months_around_now() -> None:
    got = storage.months_around_now(StorageSettings(partitions_ahead_months=3), date(2026, 11, 28))
    assert got == [date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)]


async def test_plain_layout_is_partitioned_and_partitions_are_idempotent(
    db_conn: AsyncConnection[Any],
) -> None:
    assert await storage.is_partitioned(db_conn)
    assert await storage.detect_backend(db_conn, StorageSettings(backend="plain")) == "plain"
    first = await storage.ensure_partitions(db_conn, [date(2019, 5, 17)])
    again = await storage.ensure_partitions(db_conn, [date(2019, 5, 1)])
    await db_conn.commit()
    assert first == ["readings_y2019m05"] and again == []
    cur = await db_conn.execute(
        "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE relname = %s",
        ("readings_y2019m05",))
    row = await cur.fetchone()
    assert row is not None and "2019-05-01" in row[0] and "2019-06-01" in row[0]


@pytest.mark.layouts
async def test_auto_backend_uses_timescale_only_where_the_server_can(
    database_url: str, db_layout: str, caplog: pytest.LogCaptureFixture,
) -> None:
    """``storage.backend=auto`` on a fresh database: the shared server has the extension files
    (installed by .ci/run) but does not preload them -> plain with a warning, and the same
    connection goes on to migrate; the TimescaleDB cluster preloads them -> hypertable."""
    assert layouts.timescale_installed()
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    url = create_database("envmon_auto", admin_url=admin)
    try:
        async with await db.connect(url) as conn:
            with caplog.at_level(logging.WARNING, logger="envmon.storage"):
                applied = await db.migrate(conn, StorageSettings())
            assert "readings" in applied
            cur = await conn.execute("SELECT name FROM schema_migrations WHERE version = %s",
                                     (db.READINGS_STEP,))
            assert await cur.fetchone() == (f"readings_{db_layout}",)
            assert await storage.is_partitioned(conn) == (db_layout == "plain")
        warned = [r for r in caplog.records if "shared_preload_libraries" in r.getMessage()]
        assert len(warned) == (1 if db_layout == "plain" else 0)
    finally:
        drop_database(url, admin)


def test_preload_setting_is_parsed_as_a_list() -> None:
    cases = {"timescaledb": True, "pg_stat_statements, timescaledb": True,
             '"timescaledb",auto_explain': True, "": False, "timescaledb_toolkit": False,
             "pg_stat_statements": False}
    for setting, expected in cases.items():
        assert storage._preloads_timescale(setting) is expected, setting
