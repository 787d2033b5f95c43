"""One vs two `envmon ingest` workers on an MQTT shared subscription, side by side, with the CPU
used by the broker, the database, the workers and the publisher.

    python bench/ingest_workers.py [--messages 60000]

Each run gets its own Mosquitto (project config), a throwaway PostgreSQL cluster (so the
database's CPU is only ours) with a fresh plain-layout database, and workers started with
``ENVMON_INGEST__SHARED_GROUP``; a separate process publishes QoS 1 messages of 6 readings
as fast as it can (bench/ingest_throughput.py's load). CPU is process CPU time (user+sys,
children included) over the run divided by wall time: 100 % = one core. On a 2-core machine
two workers share the cores with the broker, the database and the publisher: read the CPU
columns before the throughput ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest_throughput import PARAMS, STATIONS, publish_in_process
from tests import layouts, pgcluster
from tests.conftest import create_database, free_port, start_mosquitto, stop_mosquitto
from tests.ingest.support import IngestProcess, register_air


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            procs = [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
    return total


def postmaster_pid(cluster: pgcluster.Cluster) -> int:
    return int((cluster.datadir / "postmaster.pid").read_text().split()[0])


def run(workers: int, n: int, cluster: pgcluster.Cluster, offset_days: int) -> None:
    broker = start_mosquitto()
    url = create_database("envmon_bench_workers", admin_url=cluster.url)
    layouts.migrate(url, "plain")
    register_air(url, STATIONS)
    group = f"bench{workers}"
    procs = [IngestProcess(url, broker.url, f"bench-w{workers}-{i}",
                           extra_env={"ENVMON_INGEST__SHARED_GROUP": group}).start()
             for i in range(workers)]
    try:
        worker_pids = [p.proc.pid for p in procs if p.proc]
        db_pid = postmaster_pid(cluster)
        before = {"broker": cpu_seconds([broker.process.pid]), "database": cpu_seconds([db_pid]),
                  "workers": cpu_seconds(worker_pids)}
        pub, t0 = publish_in_process(broker.host, broker.port, n, offset_days)
        pub_pid = pub.pid or 0
        pub_cpu = 0.0
        target = n * len(PARAMS)
        while True:  # the workers' commit counters: polling the table would load the database
            written = sum(p.metric("envmon_ingest_readings_written_total") for p in procs)
            if pub.is_alive():
                pub_cpu = cpu_seconds([pub_pid]) or pub_cpu
            if written >= target:
                break
            if time.perf_counter() - t0 > 600:
                raise RuntimeError(f"only {written} of {target} readings after 600 s")
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM readings").fetchone()
        assert row == (target,), f"{row} rows, expected {target}"
        pub.join()
        after = {"broker": cpu_seconds([broker.process.pid]), "database": cpu_seconds([db_pid]),
                 "workers": cpu_seconds(worker_pids)}
        share = [p.metric("envmon_ingest_messages_received_total") for p in procs]
        cpu = {k: 100 * (after[k] - before[k]) / elapsed for k in before}
        cpu["publisher"] = 100 * pub_cpu / elapsed
        split = "/".join(f"{s:.0f}" for s in share)
        print(f"{workers} worker(s): {target / elapsed:8.0f} readings/s  "
              f"{n / elapsed:7.0f} msg/s  {elapsed:5.1f} s  split {split}  "
              + "  ".join(f"{k} {v:4.0f}%" for k, v in cpu.items())
              + f"  total {sum(cpu.values()):4.0f}% of {100 * (psutil.cpu_count() or 1)}%")
    finally:
        for p in procs:
            p.stop()
        stop_mosquitto(broker)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=60_000)
    args = ap.parse_args()
    cluster = pgcluster.create_cluster(free_port())
    try:
        for workers, offset in ((1, -731), (2, -366)):
            run(workers, args.messages, cluster, offset)
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
