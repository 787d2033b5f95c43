"""The dead-letter store: list rejected inputs and replay them (e.g. after registering a
station). A replay decodes the stored bytes again with today's registry and rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import class_row

from ingest.errors import Rejection
from ingest.hj212.intake import replay_packets
from ingest.hj212.overrides import load_unit_overrides
from ingest.router import Router
from ingest.transports import HJ212_TCP
from ingest.writer import WriteStats, write_readings


@dataclass(frozen=True)
class DeadLetterRow:
    dead_letter_id: int
    received_at: datetime
    transport: str
    topic: str
    station_id: str | None
    reason: str
    detail: str
    payload: bytes
    replayed_at: datetime | None
    replay_result: str | None
    repeats: int = 1  # received this many times (migration 0024)


@dataclass
class ReplayResult:
    replayed: int = 0
    still_rejected: int = 0
    stats: WriteStats | None = None


async def select(conn: AsyncConnection[Any], *, reason: str | None = None,
                 station_id: str | None = None, ids: list[int] | None = None,
                 include_replayed: bool = False, limit: int = 100,
                 lock: bool = False) -> list[DeadLetterRow]:
    where = [sql.SQL("TRUE")]
    params: list[Any] = []
    if not include_replayed:
        where.append(sql.SQL("replayed_at IS NULL"))
    if reason:
        where.append(sql.SQL("reason = %s"))
        params.append(reason)
    if station_id:
        where.append(sql.SQL("station_id = %s"))
        params.append(station_id)
    if ids:
        where.append(sql.SQL("dead_letter_id = ANY(%s)"))
        params.append(ids)
    query = sql.SQL(
        "SELECT dead_letter_id, received_at, transport, topic, station_id, reason, detail,"
        " payload, replayed_at, replay_result, repeats FROM dead_letter WHERE {}"
        " ORDER BY dead_letter_id"
        " LIMIT %s{}"
    ).format(sql.SQL(" AND ").join(where), sql.SQL(" FOR UPDATE SKIP LOCKED" if lock else ""))
    params.append(limit)
    async with conn.cursor(row_factory=class_row(DeadLetterRow)) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def replay(conn: AsyncConnection[Any], router: Router, rows: list[DeadLetterRow]
                 ) -> ReplayResult:
    """Decode each row again (MQTT rows by topic, TCP rows as HJ 212 packets by MN); store
    what now decodes, note why the rest still fails. Runs in the caller's transaction.
    """
    result = ReplayResult(stats=WriteStats())
    units = await load_unit_overrides(conn)
    for row in rows:
        try:
            if row.transport == HJ212_TCP:
                readings = replay_packets(bytes(row.payload), router.registry, units)
            else:
                readings = router.decode(row.topic, bytes(row.payload))
        except Rejection as rej:
            result.still_rejected += 1
            await conn.execute(
                "UPDATE dead_letter SET replay_result = %s WHERE dead_letter_id = %s",
                (f"{rej.reason}: {rej.detail}", row.dead_letter_id),
            )
            continue
        stats = await write_readings(conn, readings)
        assert result.stats is not None
        result.stats += stats
        result.replayed += 1
        await conn.execute(
            "UPDATE dead_letter SET replayed_at = now(), replay_result = %s"
            " WHERE dead_letter_id = %s",
            (f"ok: {stats.inserted} new, {stats.duplicates} duplicate, {stats.revised} revised",
             row.dead_letter_id),
        )
    return result
