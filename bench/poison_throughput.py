"""Legit throughput with poison in the stream, against a clean run in the same run (issue 13.2).

    python bench/poison_throughput.py [--messages 30000] [--poison-per-second 5]
                                      [--kind json|db|both] [--rounds 3]

Phase 1 publishes ``--messages`` legit messages (6 readings each, 100 stations) as fast as a
separate publisher process can, and measures publish start → last reading committed.
Phase 2 publishes as many legit messages plus poison at ``--poison-per-second`` (spread
evenly, at the rate phase 1 reached) and measures the same for the legit readings:
``json`` poison has a NUL in a JSON key (the outside campaign's), ``db`` poison is valid JSON
for a station whose rows the database refuses (a trigger raising SQLSTATE 23514), so every one
costs a bisection of its batch. Clean and poisoned phases alternate ``--rounds`` times;
prints each pair and the median ratio (target >= 0.8).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest_throughput import PARAMS, STATIONS, broker_and_database, messages, publish
from tests.ingest.support import IngestProcess, refuse_station

REFUSED = "bench-refused"


def poison(kind: str, k: int, t0: datetime) -> tuple[str, bytes]:
    """Poison message ``k``, timed among the legit ones (so in partitions that exist)."""
    ts = (t0 + timedelta(seconds=k)).isoformat()
    if kind == "json":
        doc = {"ts": ts, "values": {"pm25": 1}, f"x\u0000{k}": 1}
        return f"envmon/v1/{STATIONS[k % len(STATIONS)]}/data", json.dumps(doc).encode()
    return f"envmon/v1/{REFUSED}/data", json.dumps({"ts": ts, "values": {"pm25": 1}}).encode()


def run_phase(url: str, host: str, port: int, msgs: list[tuple[str, bytes]], legit: int,
              since: datetime, until: datetime) -> float:
    """Legit messages/s: publish start → all ``legit`` messages' readings committed."""
    started = mp.Event()
    proc = mp.Process(target=publish, args=(host, port, msgs, started))
    proc.start()
    started.wait()
    t0 = time.perf_counter()
    target = legit * len(PARAMS)
    with psycopg.connect(url, autocommit=True) as conn:
        deadline = time.monotonic() + 600
        while True:
            row = conn.execute("SELECT count(*) FROM readings WHERE ts >= %s AND ts < %s",
                               (since, until)).fetchone()
            if row is not None and row[0] >= target:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {row} of {target} readings after 600 s")
            time.sleep(0.02)
    elapsed = time.perf_counter() - t0
    proc.join()
    return legit / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=30_000)
    ap.add_argument("--poison-per-second", type=float, default=5.0)
    ap.add_argument("--kind", choices=["json", "db", "both"], default="both")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with broker_and_database([*STATIONS, REFUSED]) as (broker, url):
        n = args.messages
        kinds = ["json", "db"] if args.kind == "both" else [args.kind]
        clean: list[float] = []
        dirty: list[float] = []
        sent = 0
        ingest = IngestProcess(url, broker.url, "bench-poison").start()
        try:
            with refuse_station(url, REFUSED, "23514"):
                # Clean and poisoned phases alternate (the machine's load drifts), each in
                # its own days so that every reading is new.
                for r in range(args.rounds):
                    days = -1000 + 200 * r
                    t_clean = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=days)
                    clean.append(run_phase(url, broker.host, broker.port, messages(n, days),
                                           n, t_clean, t_clean + timedelta(days=50)))
                    # 0 poison/s: a control run (how much the phases differ anyway)
                    every = max(1, round(clean[-1] / args.poison_per_second)) if (
                        args.poison_per_second) else n + 1
                    t_mixed = t_clean + timedelta(days=100)
                    mixed = []
                    for i, msg in enumerate(messages(n, days + 100)):
                        mixed.append(msg)
                        if i % every == every - 1:
                            mixed.append(poison(kinds[(i // every) % len(kinds)], i, t_mixed))
                    sent += len(mixed) - n
                    dirty.append(run_phase(url, broker.host, broker.port, mixed, n, t_mixed,
                                           t_mixed + timedelta(days=50)))
                with psycopg.connect(url) as conn:
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline:
                        row = conn.execute("SELECT count(*) FROM dead_letter").fetchone()
                        if row is not None and row[0] >= sent:
                            break
                        time.sleep(0.1)
                dead = row[0] if row else 0
        finally:
            ingest.stop()
        for c, d in zip(clean, dirty, strict=True):
            print(f"round: clean {c:7.0f} legit msg/s, with poison {d:7.0f} legit msg/s"
                  f"  ratio {d / c:4.2f}")
        ratio = statistics.median(d / c for c, d in zip(clean, dirty, strict=True))
        print(f"{args.poison_per_second:g} poison msg/s ({args.kind}): {sent} poison sent, "
              f"{dead} dead-lettered")
        print(f"median ratio poisoned / clean : {ratio:5.2f}  (target >= 0.8)")


if __name__ == "__main__":
    main()
