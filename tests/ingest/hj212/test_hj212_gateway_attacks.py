"""Issue 13 item 4: the two attacks that took the gateway down, scaled down but the same shape,
against `envmon hj212-gateway` as a real process (loopback, real PostgreSQL).

* 30 connections writing 64 KiB chunks of ``#`` for 10 s (the report: 300 connections and
  5.26 GB RSS, 2.57 M dead-letter rows, /healthz silent, a logger unanswered for 200 s);
* 300 idle connections against a descriptor limit of 256 (the report: 1 100 against 1 024,
  116 783 "Too many open files" tracebacks, loggers locked out).

During each, a logger must still be answered (CN 9014) and its reading stored; RSS, dead-letter
rows and the log stay bounded. The numbers measured are printed (`pytest -s`); full-size runs:
bench/hj212_gateway_attacks.py.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from envmon.stations import Station, upsert_stations
from ingest.hj212 import encode_data_packet
from tests.conftest import free_port
from tests.ingest.hj212.attacks import (
    GatewayProcess,
    hash_flood,
    idle_connections,
    logger_answer_seconds,
)

pytestmark = pytest.mark.integration

MB = 1 << 20


async def new_logger(url: str) -> tuple[Station, bytes]:
    """A registered air station and one hour packet of it (answer requested)."""
    mn = secrets.token_hex(12).upper()
    station = Station(f"atk-{mn[:10].lower()}", "air", "attack test", mn=mn,
                      hj212_password="123456")
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await upsert_stations(conn, [station])
    return station, encode_data_packet(mn, "123456", "2061", "22", datetime(2026, 3, 1, 8),
                                       {"pm25": 35.0})


async def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


async def dead_letters_since(url: str, last_id: int) -> dict[str, int]:
    rows = await query(url, "SELECT reason, count(*) FROM dead_letter WHERE dead_letter_id > %s"
                       " GROUP BY reason", last_id)
    return {reason: n for reason, n in rows}


async def last_dead_letter(url: str) -> int:
    [(last,)] = await query(url, "SELECT coalesce(max(dead_letter_id), 0) FROM dead_letter")
    return int(last)


async def test_hash_flood(database_url: str, tmp_path: Path) -> None:
    station, packet = await new_logger(database_url)
    burst, rate = 20, 5.0
    gateway = GatewayProcess(database_url, free_port(), free_port(), tmp_path, settings={
        "dead_letter_burst": str(burst), "dead_letters_per_second": str(rate),
        "flood_summary_seconds": "2"})
    first_id = await last_dead_letter(database_url)
    loop = asyncio.get_running_loop()
    try:
        await gateway.ready()
        started = loop.time()
        base_rss = gateway.rss()
        stop = asyncio.Event()
        sampler = asyncio.create_task(gateway.sample_rss(stop))
        flood = asyncio.create_task(hash_flood(gateway.port, connections=30, chunk_bytes=65_536,
                                               seconds=10))
        await asyncio.sleep(1.0)  # the flood is under way
        answer_seconds = await logger_answer_seconds(gateway.port, packet)
        healthy = await gateway.healthy()
        stats = await flood
        stop.set()
        await sampler
        received = await gateway.metric("envmon_hj212_received_bytes_total")
    finally:
        log = gateway.stop()
    elapsed = loop.time() - started
    letters = await dead_letters_since(database_url, first_id)
    print(f"\n# flood: {received / MB:.1f} MB read of {stats.written / MB:.1f} MB sent over "
          f"{stats.connections} connections in "
          f"{elapsed:.1f} s; logger answered after {answer_seconds:.2f} s; RSS "
          f"{base_rss / MB:.0f} -> peak {gateway.peak_rss / MB:.0f} MB; dead letters "
          f"{letters}; log {len(log)} bytes")
    assert received >= 4 * MB, "the flood did not reach the gateway"
    assert healthy, "/healthz did not answer during the flood"
    assert await query(database_url, "SELECT parameter, value FROM readings WHERE station_id"
                       " = %s", station.station_id) == [("pm25", 35.0)]
    assert gateway.peak_rss - base_rss < 100 * MB
    # one row per admitted rejection (burst, then the rate), the rest summed in hj212_flood rows
    assert letters.get("hj212_framing", 0) <= burst + rate * elapsed + 1
    assert 1 <= letters.get("hj212_flood", 0) <= elapsed / 2 + 2
    assert set(letters) <= {"hj212_framing", "hj212_flood"}
    assert "Traceback" not in log and len(log) < 200_000


async def test_idle_connections_beyond_the_descriptor_limit(database_url: str,
                                                            tmp_path: Path) -> None:
    station, packet = await new_logger(database_url)
    gateway = GatewayProcess(database_url, free_port(), free_port(), tmp_path, nofile=256)
    writers: list[asyncio.StreamWriter] = []
    try:
        await gateway.ready()
        writers = await idle_connections(gateway.port, 300)
        answer_seconds = await logger_answer_seconds(gateway.port, packet)
        healthy = await gateway.healthy()
        rss = gateway.rss()
    finally:
        for writer in writers:
            writer.transport.abort()
        log = gateway.stop()
    print(f"\n# idle: {len(writers)} idle connections opened, descriptor limit 256; logger "
          f"answered after {answer_seconds:.2f} s; RSS {rss / MB:.0f} MB; log {len(log)} bytes")
    assert "at most 64 connections" in log  # 256 - 64 - 2 x backlog 64 in reserve
    assert "Too many open files" not in log and "Traceback" not in log
    assert healthy
    assert await query(database_url, "SELECT parameter, value FROM readings WHERE station_id"
                       " = %s", station.station_id) == [("pm25", 35.0)]
