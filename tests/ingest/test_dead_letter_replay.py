"""Dead letters replayed after the cause is fixed: JSON and HJ 212 over MQTT, HJ 212 over TCP.

Rows written through the real gateway and replayed: tests/ingest/hj212/test_hj212_gateway.py.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from envmon.stations import Station, StationRegistry, upsert_stations
from ingest import dead_letter
from ingest.errors import Rejection
from ingest.hj212 import encode_data_packet
from ingest.pipeline import DeadLetter, store_dead_letters
from ingest.router import Router, station_decoders
from ingest.transports import HJ212_TCP, MQTT


async def test_replay_all_transports_after_registering(db_conn: AsyncConnection[Any]) -> None:
    sid, mn = "dlr-air-1", "DLRMN0001"
    packet = encode_data_packet(mn, "123456", "2061", "22", datetime(2026, 3, 1, 8),
                                {"a34004": 35, "a34002": 60})
    doc = json.dumps({"ts": "2026-03-01T09:00:00+08:00", "interval": "hour",
                      "values": {"pm25": 40}}).encode()
    unknown = Rejection("unknown_station", "not registered", sid)
    cur = await db_conn.execute("SELECT coalesce(max(dead_letter_id), 0) FROM dead_letter")
    row = await cur.fetchone()
    before = row[0] if row else 0
    async with db_conn.transaction():
        await store_dead_letters(db_conn, [
            DeadLetter.of(MQTT, f"envmon/v1/{sid}/data", doc, unknown),
            DeadLetter.of(MQTT, f"envmon/v1/{sid}/hj212", packet, unknown),
            DeadLetter.of(HJ212_TCP, "tcp://10.0.0.9:5100", packet,
                       Rejection("unknown_station", f"no station for MN {mn}")),
        ])
    registry = StationRegistry()

    async def replay() -> dead_letter.ReplayResult:
        decoders, _ = station_decoders(registry)
        router = Router("envmon", registry, 1 << 20, decoders)
        async with db_conn.transaction():
            rows = [r for r in await dead_letter.select(db_conn, lock=True, limit=10_000)
                    if r.dead_letter_id > before]
            return await dead_letter.replay(db_conn, router, rows)

    first = await replay()  # still unknown: kept, with the reason noted
    assert (first.replayed, first.still_rejected) == (0, 3)
    async with db_conn.transaction():
        await upsert_stations(db_conn, [Station(sid, "air", "DLR", mn=mn)])
    await registry.refresh(db_conn)
    second = await replay()
    assert (second.replayed, second.still_rejected) == (3, 0)
    assert second.stats is not None
    # the TCP copy of the packet repeats the MQTT one: duplicates, not new rows
    assert (second.stats.inserted, second.stats.duplicates) == (3, 2)
    cur = await db_conn.execute(
        "SELECT count(*) FROM dead_letter WHERE dead_letter_id > %s AND replayed_at IS NULL",
        (before,))
    assert await cur.fetchone() == (0,)
