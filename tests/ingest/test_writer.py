"""The writer against the real database: new, duplicate, revised, partitions, dirty days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg import AsyncConnection

from ingest.reading import Reading
from ingest.writer import PartitionCache, write_readings
from tests.layouts import compress_history, compressed_chunks

pytestmark = pytest.mark.layouts  # plain and TimescaleDB (tests/layouts.py)

T0 = datetime(2024, 1, 31, 15, 0, tzinfo=UTC)  # 23:00 Beijing: day 2024-01-31


def r(sid: str, param: str, ts: datetime, value: float, flag: str = "N") -> Reading:
    return Reading(sid, param, "hour", ts, value, flag, "json")  # type: ignore[arg-type]


async def count(conn: AsyncConnection[Any], sql: str, *args: Any) -> int:
    cur = await conn.execute(sql, args)
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_new_then_duplicate_then_revision(db_conn: AsyncConnection[Any]) -> None:
    batch = [r("w-1", "pm25", T0 + timedelta(hours=h), 10.0 + h) for h in range(3)]
    async with db_conn.transaction():
        s1 = await write_readings(db_conn, batch, PartitionCache())
    assert (s1.inserted, s1.duplicates, s1.revised) == (3, 0, 0)
    async with db_conn.transaction():
        s2 = await write_readings(db_conn, batch, PartitionCache())
    assert (s2.inserted, s2.duplicates, s2.revised) == (0, 3, 0)
    changed = [batch[0], r("w-1", "pm25", batch[1].ts, 99.0), batch[2]]
    async with db_conn.transaction():
        s3 = await write_readings(db_conn, changed, PartitionCache())
    assert (s3.inserted, s3.duplicates, s3.revised) == (0, 2, 1)
    assert await count(db_conn, "SELECT count(*) FROM readings WHERE station_id = 'w-1'") == 3
    cur = await db_conn.execute(
        "SELECT old_value, new_value FROM reading_revisions WHERE station_id = 'w-1'")
    assert await cur.fetchall() == [(11.0, 99.0)]
    cur = await db_conn.execute("SELECT value FROM readings WHERE station_id = 'w-1' AND ts = %s",
                                (batch[1].ts,))
    assert await cur.fetchone() == (99.0,)


async def test_flag_change_is_a_revision(db_conn: AsyncConnection[Any]) -> None:
    a = r("w-2", "so2", T0, 5.0)
    async with db_conn.transaction():
        await write_readings(db_conn, [a])
    async with db_conn.transaction():
        s = await write_readings(db_conn, [r("w-2", "so2", T0, 5.0, "C")])
    assert s.revised == 1


async def test_within_batch_repeats(db_conn: AsyncConnection[Any]) -> None:
    a, b = r("w-3", "o3", T0, 1.0), r("w-3", "o3", T0, 2.0)
    async with db_conn.transaction():
        s = await write_readings(db_conn, [a, a, b])
    assert (s.inserted, s.duplicates, s.revised) == (1, 1, 1)
    cur = await db_conn.execute("SELECT value FROM readings WHERE station_id = 'w-3'")
    assert await cur.fetchall() == [(2.0,)]
    n = await count(db_conn, "SELECT count(*) FROM reading_revisions WHERE station_id = 'w-3'")
    assert n == 1


async def test_old_data_gets_a_partition_and_marks_beijing_day(
    db_conn: AsyncConnection[Any], db_layout: str,
) -> None:
    old = datetime(2013, 3, 1, 16, 30, tzinfo=UTC)  # 2013-03-02 00:30 Beijing
    async with db_conn.transaction():
        s = await write_readings(db_conn, [r("w-4", "pm10", old, 50.0),
                                           r("w-4", "pm10", T0, 60.0)])
    assert s.inserted == 2
    if db_layout == "plain":
        assert await count(db_conn, "SELECT count(*) FROM pg_class WHERE relname = %s",
                           "readings_y2013m03") == 1
    else:  # the hypertable made a chunk for it
        assert await count(db_conn, "SELECT count(*) FROM timescaledb_information.chunks"
                           " WHERE hypertable_name = 'readings' AND range_start <= %s"
                           " AND range_end > %s", old, old) == 1
    cur = await db_conn.execute(
        "SELECT day::text FROM dirty_days WHERE station_id = 'w-4' ORDER BY day")
    assert [row[0] for row in await cur.fetchall()] == ["2013-03-02", "2024-01-31"]


async def test_duplicates_do_not_mark_dirty(db_conn: AsyncConnection[Any]) -> None:
    a = r("w-5", "co", T0, 0.5)
    async with db_conn.transaction():
        await write_readings(db_conn, [a])
    cur = await db_conn.execute("SELECT seq FROM dirty_days WHERE station_id = 'w-5'")
    seq1 = await cur.fetchone()
    async with db_conn.transaction():
        await write_readings(db_conn, [a])
    cur = await db_conn.execute("SELECT seq FROM dirty_days WHERE station_id = 'w-5'")
    assert await cur.fetchone() == seq1
    async with db_conn.transaction():
        await write_readings(db_conn, [r("w-5", "co", T0, 0.7)])
    cur = await db_conn.execute("SELECT seq FROM dirty_days WHERE station_id = 'w-5'")
    seq3 = await cur.fetchone()
    assert seq3 is not None and seq1 is not None and seq3[0] > seq1[0]


async def uncompressed_rows(conn: AsyncConnection[Any], sid: str) -> int:
    """Rows of ``sid`` stored uncompressed (TimescaleDB: the columnar scan switched off)."""
    async with conn.transaction():
        await conn.execute("SET LOCAL timescaledb.enable_columnarscan = off")
        return await count(conn, "SELECT count(*) FROM readings WHERE station_id = %s", sid)


async def test_month_resend_into_compressed_history(
    db_conn: AsyncConnection[Any], db_layout: str,
) -> None:
    """A logger resends a month of corrected history that is already compressed: revisions,
    duplicates and a late new key are stored; another station's compressed data in the same
    chunks stays compressed (the statements are bounded, no hypertable decompression)."""
    hours = [datetime(2023, 3, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(31 * 24)]
    params = ("pm25", "so2")
    history = [r(sid, p, ts, float(i % 97)) for sid in ("w-c1", "w-c2") for p in params
               for i, ts in enumerate(hours)]
    async with db_conn.transaction():
        await write_readings(db_conn, history, PartitionCache())
    compressed = await compress_history(db_conn)
    if db_layout == "timescale":
        assert compressed >= 5 and await uncompressed_rows(db_conn, "w-c2") == 0
    resend = [r("w-c1", p, ts, float(i % 97) + (0.5 if i % 10 == 0 else 0.0))
              for p in params for i, ts in enumerate(hours)]
    late = r("w-c1", "no2", hours[100], 7.0)
    async with db_conn.transaction():
        s = await write_readings(db_conn, [*resend, late], PartitionCache())
    revised = 2 * len(range(0, len(hours), 10))
    assert (s.inserted, s.revised, s.duplicates) == (1, revised, 2 * len(hours) - revised)
    assert await count(db_conn, "SELECT count(*) FROM reading_revisions"
                       " WHERE station_id = 'w-c1' AND new_value - old_value = 0.5") == revised
    cur = await db_conn.execute(
        "SELECT sum(value) FROM readings"
        " WHERE station_id = 'w-c1' AND parameter IN ('pm25', 'so2')")
    assert await cur.fetchone() == (sum(x.value for x in resend),)
    cur = await db_conn.execute(
        "SELECT count(*), sum(value) FROM readings WHERE station_id = 'w-c2'")
    untouched = history[len(history) // 2:]
    assert await cur.fetchone() == (len(untouched), sum(x.value for x in untouched))
    if db_layout == "timescale":
        assert await uncompressed_rows(db_conn, "w-c2") == 0
        assert await compressed_chunks(db_conn) >= 5
