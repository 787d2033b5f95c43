"""The aggregator's file-level call graph while it recomputes: which files call which, and
whether any pure computation calls into the store (issue 16: a batch goes down the layers and
back once).

    python bench/aggregator_call_graph.py [--edges]

Writes two days of hourly and minute air data, water and noise data for four stations of one
county into a scratch database (ENVMON_TEST_PG_URL or the local PostgreSQL), drains the queue
with ``recompute.run_batch`` under a tracer, and prints the files, the edges (caller file ->
callee file, standards excluded) by layer, and the pairs of files that call each other.
Generator expressions run in their defining file, so a caller's genexp consumed by a callee
shows as a call back. Run on demand, not in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregator import recompute
from envmon import db
from envmon.settings import StorageSettings
from envmon.stations import Station, upsert_stations
from ingest.reading import Reading
from ingest.writer import write_readings
from tests.conftest import create_database, drop_database

ROOT = Path(__file__).resolve().parents[1] / "aggregator"
AIR = {"pm25": 40.0, "pm10": 70.0, "so2": 8.0, "no2": 30.0, "co": 0.7, "o3": 60.0}
WATER = {"ph": 7.5, "do": 6.0, "codmn": 3.0, "nh3n": 0.4, "tp": 0.1}


def readings() -> list[Reading]:
    out = []
    start = datetime(2025, 3, 1, tzinfo=UTC) - timedelta(hours=8)  # 00:00 Beijing
    for h in range(48):
        ts = start + timedelta(hours=h)
        for p, v in AIR.items():
            out.append(Reading("cg-air-1", p, "hour", ts, v, "N", "sim"))
            out += [Reading("cg-air-2", p, "min", ts + timedelta(minutes=m), v, "N", "sim")
                    for m in range(0, 60, 5)]
        out += [Reading("cg-water", p, "hour", ts, v, "N", "sim") for p, v in WATER.items()]
        out.append(Reading("cg-noise", "leq", "hour", ts, 52.0, "N", "sim"))
    return out


def file_of(frame: FrameType) -> str | None:
    """The aggregator file (relative) a frame runs in; None outside it or in the standards."""
    path = Path(frame.f_code.co_filename)
    if ROOT not in path.parents or (ROOT / "standards") in path.parents:
        return None
    return str(path.relative_to(ROOT))


def layer(name: str) -> str:
    return name.split("/")[0] if "/" in name else "orchestration"


async def traced_drain(url: str) -> set[tuple[str, str]]:
    edges: set[tuple[str, str]] = set()

    def tracer(frame: FrameType, event: str, arg: Any) -> None:
        me = file_of(frame)
        if event != "call" or me is None:
            return
        up = frame.f_back
        while up is not None and file_of(up) is None:
            up = up.f_back
        caller = None if up is None else file_of(up)
        if caller is not None and caller != me:
            edges.add((caller, me))

    async with await db.connect(url) as conn:
        await db.migrate(conn, StorageSettings(backend="plain"))
        await upsert_stations(conn, [
            Station("cg-air-1", "air", "A1", "Pingliang", "Kongtong"),
            Station("cg-air-2", "air", "A2", "Pingliang", "Kongtong"),
            Station("cg-water", "water", "W", "Pingliang", "Kongtong",
                    water_target_class=3, water_body="river"),
            Station("cg-noise", "noise", "N", "Pingliang", "Kongtong", noise_zone="1"),
        ])
        async with conn.transaction():
            await write_readings(conn, readings())
        sys.settrace(tracer)
        try:
            while await recompute.run_batch(conn, limit=100) is not None:
                pass
        finally:
            sys.settrace(None)
    return edges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", action="store_true", help="print every edge too")
    args = parser.parse_args()
    url = create_database("envmon_bench_callgraph")
    try:
        edges = asyncio.run(traced_drain(url))
    finally:
        drop_database(url)
    files = {f for edge in edges for f in edge}
    print(f"{len(files)} files, {len(edges)} file-to-file call edges")
    for (a, b), n in sorted(Counter((layer(a), layer(b)) for a, b in edges).items()):
        print(f"  {a} -> {b}: {n}")
    both = sorted({tuple(sorted(e)) for e in edges if (e[1], e[0]) in edges})
    print(f"files calling each other: {both or 'none'}")
    if args.edges:
        for a, b in sorted(edges):
            print(f"  {a} -> {b}")


if __name__ == "__main__":
    main()
