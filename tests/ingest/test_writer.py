"""The writer against the real database: new, duplicate, revised, partitions, dirty days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from ingest.reading import Reading
from ingest.writer import PartitionCache, write_readings

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
    db_conn: AsyncConnection[Any],
) -> None:
    old = datetime(2013, 3, 1, 16, 30, tzinfo=UTC)  # 2013-03-02 00:30 Beijing
    async with db_conn.transaction():
        s = await write_readings(db_conn, [r("w-4", "pm10", old, 50.0),
                                           r("w-4", "pm10", T0, 60.0)])
    assert s.inserted == 2
    assert await count(db_conn, "SELECT count(*) FROM pg_class WHERE relname = %s",
                       "readings_y2013m03") == 1
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
