"""Alerts overhead: ingest throughput with the alerts engine running vs not, in the same run,
and commit -> notification queued latency at that load.

    python bench/alerts_overhead.py [--messages 20000] [--rounds 3]

One Mosquitto and one database for the whole run; ``envmon ingest`` as a subprocess, a
separate publisher process (the simulators' QoS 1 publisher), 100 air stations, 6 readings
per message (minute data). Runs in the order A B B A A B ... of
(A) no alerts process and (B) ``envmon alerts run`` with the Pingliang starter rules plus one
rule that fires and resolves all the time at one station (minute PM2.5 above 98, clear at 50:
the load's PM2.5 sweeps 10..99); ratio = median(B) / median(A), since single runs on a shared
machine vary a lot and get slower as the table grows. Before each A run the engines' heartbeat
rows are deleted, so the ingest writer writes no feed rows then: B pays for the whole feature
(the writer's feed row per batch and the engine), as a deployment without alerts would not.

Latency: per firing notification of the busy rule, the reading's ``received_at`` (ingest
transaction start) to the outbox row's ``created_at`` (engine transaction start), and the
engine's own ``envmon_alerts_evaluation_lag_seconds`` histogram (feed commit -> evaluation
commit), read from its /metrics endpoint (p99 as the bucket bound).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest_throughput import PARAMS, STATIONS, publish_and_wait
from tests.conftest import (
    create_database,
    drop_database,
    free_port,
    start_mosquitto,
    stop_mosquitto,
)
from tests.ingest.support import IngestProcess, register_air

REPO = Path(__file__).resolve().parents[1]
BUSY_RULE = """
[receivers.bench]
type = "webhook"
url = "http://127.0.0.1:9/bench"
secret_env = "ENVMON_BENCH_SECRET"

[[rules]]
name = "bench-pm25-min"
kind = "threshold"
parameter = "pm25"
interval = "min"
above = 98
clear = 50
max_age = "30d"
scope = { stations = ["bench-007"] }  # its PM2.5 reaches 99 and falls to 10
receivers = ["bench"]
"""
BENCH_EPOCH = date(2025, 1, 1)  # bench.ingest_throughput.messages counts days from here


def ingest_run(broker_url: str, host: str, port: int, url: str, n: int, days_ago: int
               ) -> float:
    """Readings/s through ``envmon ingest`` (publish start -> last row committed)."""
    offset = (datetime.now(UTC).date() - BENCH_EPOCH).days - days_ago
    lo = datetime.combine(BENCH_EPOCH, datetime.min.time(), UTC) + timedelta(days=offset)
    ingest = IngestProcess(url, broker_url, f"bench-alerts-{days_ago}").start()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            def count() -> int:
                row = conn.execute("SELECT count(*) FROM readings WHERE ts >= %s AND ts < %s",
                                   (lo, lo + timedelta(days=1))).fetchone()
                return int(row[0]) if row else 0

            return publish_and_wait(host, port, n, offset, count)
    finally:
        ingest.stop()


def start_alerts(url: str, rules: Path, metrics_port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ENVMON_DATABASE_URL": url, "ENVMON_METRICS_PORT": str(metrics_port),
           "ENVMON_BENCH_SECRET": "bench", "ENVMON_LOG_LEVEL": "WARNING"}
    env.pop("ENVMON_CONFIG", None)
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "app", "alerts", "run", "--rules",
                                 str(rules)], env=env, stdout=out, stderr=out, cwd=REPO)


def _cpu(proc: subprocess.Popen[bytes] | None) -> float:
    if proc is None:
        return 0.0
    t = psutil.Process(proc.pid).cpu_times()
    return float(t.user + t.system)


def wait_started(metrics_port: int, timeout_s: float = 60) -> None:
    """Until the alerts process serves /metrics (imports done, engine running), and a
    moment more: its start-up must not be charged to the run."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=1):
                time.sleep(1.0)
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the alerts process did not start")


def wait_drained(url: str, timeout_s: float = 120) -> None:
    """Until the engine has evaluated every committed batch."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM alert_reading_feed").fetchone()
            if row and row[0] == 0:
                return
            time.sleep(0.1)
    raise RuntimeError("the alerts engine did not catch up")


def histogram_p99(metrics_port: int, name: str) -> tuple[float | str, int]:
    """(upper bound of the bucket holding the 99th percentile, count) from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    buckets = []
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le),
                            float(line.rsplit(" ", 1)[1])))
    total = int(buckets[-1][1]) if buckets else 0
    for le, n in buckets:
        if total and n >= 0.99 * total:
            return le, total
    return "n/a", total


def queued_latency(url: str) -> tuple[int, float | None, float | None]:
    """(n, p50, p99) seconds from a breaching reading's commit to its firing row's creation."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY s), percentile_cont(0.99)"
            " WITHIN GROUP (ORDER BY s) FROM ("
            " SELECT extract(epoch FROM o.created_at - r.received_at) AS s"
            " FROM alert_outbox o JOIN readings r"
            "  ON r.station_id = o.payload->>'subject_id' AND r.parameter = 'pm25'"
            "  AND r.interval = 'min'"
            "  AND r.ts = (o.payload->>'observed_at')::timestamptz - interval '1 minute'"
            " WHERE o.event = 'firing' AND o.payload->>'rule' = 'bench-pm25-min') x"
        ).fetchone()
    assert row is not None
    return int(row[0]), row[1], row[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3, help="A/B pairs (medians are compared)")
    args = ap.parse_args()
    broker = start_mosquitto()
    url = create_database("envmon_bench_alerts")
    workdir = Path(tempfile.mkdtemp(prefix="envmon-bench-alerts-"))
    rules = workdir / "rules.toml"
    rules.write_text((REPO / "deploy/alerts/pingliang.toml").read_text("utf-8") + BUSY_RULE)
    alerts: subprocess.Popen[bytes] | None = None
    try:
        from envmon import db
        from envmon.settings import StorageSettings

        async def migrate() -> None:
            async with await db.connect(url) as conn:
                await db.migrate(conn, StorageSettings(backend="plain"))
                await conn.commit()

        asyncio.run(migrate())
        register_air(url, STATIONS)
        n = args.messages
        without: list[float] = []
        with_alerts: list[float] = []
        cpu: list[tuple[float, float]] = []  # alerts process CPU s, wall s of the B runs
        p99_bucket: float | str = "n/a"
        evaluations = 0
        days_ago = 2 * args.rounds
        for i in range(2 * args.rounds):
            alerts_on = i % 4 in (1, 2)  # A B B A A B ...: no order favours either side
            if not alerts_on:  # no engine seen: the writer writes no feed rows, as without alerts
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("DELETE FROM alert_engines")
            else:
                port = free_port()
                alerts = start_alerts(url, rules, port, workdir / "alerts.log")
                wait_started(port)
            cpu0 = _cpu(alerts)
            wall0 = time.perf_counter()
            rate = ingest_run(broker.url, broker.host, broker.port, url, n, days_ago)
            if alerts is not None:
                wait_drained(url)
                cpu.append((_cpu(alerts) - cpu0, time.perf_counter() - wall0))
            days_ago -= 1
            (with_alerts if alerts_on else without).append(rate)
            print(f"({'B) alerts running' if alerts_on else 'A) no alerts     '} :"
                  f" {rate:10.0f} readings/s")
            if alerts is not None:
                p99_bucket, evaluations = histogram_p99(
                    port, "envmon_alerts_evaluation_lag_seconds")
                alerts.terminate()
                alerts.wait(30)
                alerts = None
        ratio = statistics.median(with_alerts) / statistics.median(without)
        print(f"ratio median(B) / median(A)           : {ratio:5.2f}  (goal >= 0.9)")
        used, wall = sum(c for c, _ in cpu), sum(w for _, w in cpu)
        print(f"alerts process CPU in the B runs      : {used:.2f} s in {wall:.1f} s"
              f" ({100 * used / wall:.1f} % of one core;"
              f" {1e6 * used / (len(cpu) * n * len(PARAMS)):.2f} ms per 1000 readings)")
        count, p50, p99 = queued_latency(url)
        print(f"firing notifications of the busy rule : {count}")
        if p50 is not None and p99 is not None:
            print(f"reading commit -> firing row queued   : p50 {p50:.3f} s, p99 {p99:.3f} s"
                  "  (goal p99 <= 2 s)")
        print(f"engine lag histogram (feed commit -> evaluation commit), last B run,"
              f" {evaluations} batches: p99 <= {p99_bucket} s")
    except Exception:
        print(f"alerts process log: {workdir / 'alerts.log'}", file=sys.stderr)
        raise
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    finally:
        if alerts is not None:
            alerts.kill()
            alerts.wait()
        stop_mosquitto(broker)
        drop_database(url)


if __name__ == "__main__":
    main()
