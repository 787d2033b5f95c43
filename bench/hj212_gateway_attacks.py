"""Benchmark: the HJ 212 gateway under the two attacks of issue 13 item 4, full size.

    python bench/hj212_gateway_attacks.py [--flood-connections 300] [--flood-seconds 60]
                                          [--idle 1100] [--nofile 1024]

`envmon hj212-gateway` runs as a subprocess (loopback, a scratch database on the local
PostgreSQL) while (1) ``--flood-connections`` clients write 64 KiB chunks of ``#`` for
``--flood-seconds``, reconnecting whenever the gateway closes them, and (2) ``--idle`` idle
connections are opened against a descriptor limit of ``--nofile``. During each, a registered
logger uploads one hour packet. Prints what the gateway read, the logger's time to its CN 9014
answer, the gateway's peak RSS, the dead-letter rows by reason, /healthz, and the log size.
Run on demand, not in CI; scaled down: tests/ingest/hj212/test_hj212_gateway_attacks.py.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import secrets
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envmon import db
from envmon.settings import StorageSettings
from envmon.stations import Station, upsert_stations
from ingest.hj212 import encode_data_packet
from tests.conftest import create_database, drop_database, free_port
from tests.ingest.hj212.attacks import (
    GatewayProcess,
    hash_flood,
    idle_connections,
    logger_answer_seconds,
)

MB = 1 << 20


async def scalar(url: str, sql: str) -> Any:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(sql)
        row = await cur.fetchone()
        return row[0] if row else None


async def packet_of_new_logger(url: str, hour: int) -> bytes:
    mn = secrets.token_hex(12).upper()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await upsert_stations(conn, [Station(f"bench-{mn[:10].lower()}", "air", "bench", mn=mn,
                                             hj212_password="123456")])
    return encode_data_packet(mn, "123456", "2061", "22", datetime(2026, 3, 1, hour),
                              {"pm25": 35.0})


async def report(url: str, gateway: GatewayProcess, since: int, what: str, answer: float,
                 healthy: bool, extra: str) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT reason, count(*), coalesce(sum(octet_length(payload)), 0)"
                                 " FROM dead_letter WHERE dead_letter_id > %s GROUP BY 1", (since,))
        letters = {r: f"{n} rows/{b // 1024} KiB" for r, n, b in await cur.fetchall()}
    log = gateway.stop()
    print(f"{what}: {extra}; logger answered after {answer:.2f} s (the slowest); /healthz "
          f"{'answered' if healthy else 'SILENT'}; peak RSS {gateway.peak_rss / MB:.0f} MB; "
          f"dead letters {letters}; log {len(log) // 1024} KiB, "
          f"{log.count('Too many open files')} 'Too many open files', "
          f"{log.count('Traceback')} tracebacks")


async def flood(url: str, workdir: Path, connections: int, seconds: float) -> None:
    packets = [await packet_of_new_logger(url, 8) for _ in range(5)]
    since = await scalar(url, "SELECT coalesce(max(dead_letter_id), 0) FROM dead_letter")
    gateway = GatewayProcess(url, free_port(), free_port(), workdir)
    await gateway.ready()
    stop = asyncio.Event()
    sampler = asyncio.create_task(gateway.sample_rss(stop))
    attack = asyncio.create_task(hash_flood(gateway.port, connections, 65_536, seconds))
    answers = []
    for packet in packets:  # five loggers, one after the other, while the flood goes on
        await asyncio.sleep(seconds / 8)
        answers.append(await logger_answer_seconds(gateway.port, packet))
    answer = max(answers)
    print(f"loggers answered after {', '.join(f'{a:.2f}' for a in answers)} s")
    healthy = await gateway.healthy()
    stats = await attack
    received = await gateway.metric("envmon_hj212_received_bytes_total")
    stop.set()
    await sampler
    await report(url, gateway, since, f"'#' flood, {connections} connections x {seconds:g} s",
                 answer, healthy, f"gateway read {received / MB:.1f} MB over "
                 f"{stats.connections} connections")


async def idle(url: str, workdir: Path, n: int, nofile: int) -> None:
    packet = await packet_of_new_logger(url, 9)
    since = await scalar(url, "SELECT coalesce(max(dead_letter_id), 0) FROM dead_letter")
    gateway = GatewayProcess(url, free_port(), free_port(), workdir, nofile=nofile)
    await gateway.ready()
    t0 = time.monotonic()
    writers = await idle_connections(gateway.port, n)
    opened = time.monotonic() - t0
    answer = await logger_answer_seconds(gateway.port, packet)
    healthy = await gateway.healthy()
    gateway.rss()
    cap = await gateway.metric("envmon_hj212_connections")
    for writer in writers:
        writer.transport.abort()
    await report(url, gateway, since, f"{n} idle connections, RLIMIT_NOFILE {nofile}", answer,
                 healthy, f"{len(writers)} opened in {opened:.1f} s, {cap:.0f} held by the gateway")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--flood-connections", type=int, default=300)
    ap.add_argument("--flood-seconds", type=float, default=60.0)
    ap.add_argument("--idle", type=int, default=1100)
    ap.add_argument("--nofile", type=int, default=1024)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.idle + 1024)), hard))
    url = create_database("envmon_bench")
    try:
        async with await db.connect(url) as conn:
            await db.migrate(conn, StorageSettings(backend="plain"))
        with tempfile.TemporaryDirectory() as tmp:
            await flood(url, Path(tmp), args.flood_connections, args.flood_seconds)
            await idle(url, Path(tmp), args.idle, args.nofile)
    finally:
        drop_database(url)


if __name__ == "__main__":
    asyncio.run(main())
