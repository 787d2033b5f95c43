"""Soak: simulated stations -> two `envmon ingest` workers (shared subscription) -> aggregator,
for a set time, with faults injected on a schedule, then the exact account.

    python bench/soak.py --minutes 30 [--rate 200] [--stations 50] [--layout timescale]
                         [--extra-command "python -m app alerts"]

Starts its own PostgreSQL cluster (TimescaleDB preloaded for ``--layout timescale``, the
default), Mosquitto (project config, persistence on) and the processes. A publisher sends QoS 1
``rt`` readings (6 parameters; ``ts`` = publish time, so ``received_at - ts`` is the latency)
at ``--rate`` messages/s, and one malformed message in 500 (must be dead-lettered).

Faults, at 1/5, 2/5, 3/5 and 4/5 of the run: kill -9 of worker 0 (restarted 5 s later under
the same client id), database restart, broker restart, kill -9 of worker 1.
``--extra-command`` starts one more long-running process under the same environment (the hook
for the alerts worker); it gets the same RSS sampling.

Printed: throughput, latency percentiles, RSS of each process over time, and the account:
published & acknowledged good messages x 6 = readings stored (distinct keys, each once),
published & acknowledged malformed messages = distinct dead-lettered payloads.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import layouts, pgcluster
from tests.conftest import Broker, create_database, free_port, start_mosquitto, stop_mosquitto
from tests.ingest.support import AIR_PARAMS, IngestProcess, register_air

REPO = Path(__file__).resolve().parents[1]
BAD_EVERY = 500


@dataclass
class Account:
    """Acknowledged messages by kind. The lock is never held while calling paho: paho runs
    ``on_publish`` under its own locks (holding ours around ``publish`` deadlocks)."""

    good: int = 0
    bad: int = 0
    pending: dict[int, bool] = field(default_factory=dict)  # mid -> is_bad, not yet acked
    early: set[int] = field(default_factory=set)  # acked before ``pending`` knew the mid
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, bad: bool) -> None:
        if bad:
            self.bad += 1
        else:
            self.good += 1


class Load:
    """QoS 1 publisher at a fixed rate; counts what the broker acknowledged."""

    def __init__(self, broker: Broker, stations: list[str], rate: float) -> None:
        self.account = Account()
        self._stations, self._rate = stations, rate
        self._stop = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="soak-publisher",
                                   clean_session=False)
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(1, 2)
        self._client.on_publish = self._acked
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _acked(self, c: mqtt.Client, u: object, mid: int, rc: object, p: object) -> None:
        with self.account.lock:
            bad = self.account.pending.pop(mid, None)
            if bad is None:
                self.account.early.add(mid)
            else:
                self.account.count(bad)

    def _run(self) -> None:
        seq, t0 = 0, time.monotonic()
        while not self._stop.is_set():
            seq += 1
            sid = self._stations[seq % len(self._stations)]
            if seq % BAD_EVERY == 0:
                payload = f'{{"not json": {seq}'.encode()
            else:
                values = {p: round(20 + (seq * 7 + k) % 60 + 0.1 * k, 1)
                          for k, p in enumerate(AIR_PARAMS)}
                values["co"] = 0.6
                payload = json.dumps({"ts": datetime.now(UTC).isoformat(), "interval": "rt",
                                      "values": values}).encode()
            info = self._client.publish(f"envmon/v1/{sid}/data", payload, qos=1)
            bad = seq % BAD_EVERY == 0
            with self.account.lock:
                if info.mid in self.account.early:
                    self.account.early.discard(info.mid)
                    self.account.count(bad)
                else:
                    self.account.pending[info.mid] = bad
            delay = t0 + seq / self._rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 120) -> None:
        self._stop.set()
        self._thread.join()
        deadline = time.monotonic() + timeout
        while self.account.pending and time.monotonic() < deadline:
            time.sleep(0.1)
        self._client.disconnect()
        self._client.loop_stop()


def restart_broker(broker: Broker) -> Broker:
    broker.process.send_signal(signal.SIGTERM)  # Mosquitto saves its persistence file
    broker.process.wait(30)
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([exe, "-c", str(broker.config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return Broker(broker.host, broker.port, proc, broker.config)


def rss_mb(pid: int) -> float:
    try:
        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except psutil.NoSuchProcess:
        return float("nan")


def scalar(url: str, sql: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(sql).fetchone()
        return int(row[0]) if row and row[0] is not None else 0


def run(args: argparse.Namespace) -> None:
    cluster = (layouts.start_timescale_cluster(free_port) if args.layout == "timescale"
               else pgcluster.create_cluster(free_port()))
    broker = start_mosquitto()
    procs: dict[str, IngestProcess] = {}
    others: dict[str, subprocess.Popen[bytes]] = {}
    try:
        url = create_database("envmon_soak", admin_url=cluster.url)
        layouts.migrate(url, args.layout)
        stations = [f"soak-{i:03d}" for i in range(args.stations)]
        register_air(url, stations)
        env = {"ENVMON_INGEST__SHARED_GROUP": "soak"}
        for i in range(2):
            procs[f"worker{i}"] = IngestProcess(url, broker.url, f"soak-w{i}", env).start()
        base_env = {**os.environ, "ENVMON_DATABASE_URL": url, "ENVMON_MQTT_URL": broker.url}
        base_env.pop("ENVMON_CONFIG", None)
        commands = {"aggregator": [sys.executable, "-m", "app", "aggregate"]}
        if args.extra_command:
            commands["extra"] = shlex.split(args.extra_command)
        for name, cmd in commands.items():
            with Path(f"/tmp/envmon-soak-{name}.log").open("ab") as log:
                others[name] = subprocess.Popen(
                    cmd, env={**base_env, "ENVMON_METRICS_PORT": str(free_port())},
                    stdout=log, stderr=log, cwd=REPO)
        load = Load(broker, stations, args.rate)
        duration = args.minutes * 60
        faults = [(duration * k / 5, name) for k, name in
                  enumerate(("kill -9 worker0", "database restart", "broker restart",
                             "kill -9 worker1"), start=1)]
        rss: list[tuple[float, dict[str, float]]] = []
        t0 = time.monotonic()
        load.start()
        print(f"soak: {args.minutes} min, {args.rate:.0f} msg/s, {args.stations} stations, "
              f"layout {args.layout}; faults at {', '.join(f'{t:.0f} s {n}' for t, n in faults)}")
        next_rss = 0.0
        while (now := time.monotonic() - t0) < duration:
            if faults and now >= faults[0][0]:
                _, fault = faults.pop(0)
                print(f"  {now:6.0f} s  {fault}", flush=True)
                if fault.startswith("kill -9"):
                    name = fault.split()[-1]
                    procs[name].kill()
                    time.sleep(5)
                    procs[name].start(timeout=120)
                elif fault == "database restart":
                    cluster.stop()
                    time.sleep(3)
                    cluster.start()
                else:
                    broker = restart_broker(broker)
            if now >= next_rss:
                pids = {n: p.proc.pid for n, p in procs.items() if p.proc}
                pids |= {n: p.pid for n, p in others.items()}
                rss.append((now, {n: rss_mb(pid) for n, pid in pids.items()}))
                next_rss += max(10.0, duration / 20)
            time.sleep(0.2)
        load.stop()
        sent_for = time.monotonic() - t0
        good, bad = load.account.good, load.account.bad
        expected = good * len(AIR_PARAMS)
        deadline = time.monotonic() + 300
        while scalar(url, "SELECT count(*) FROM readings") < expected:
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        drained_after = time.monotonic() - t0 - sent_for
        while scalar(url, "SELECT count(*) FROM dirty_days") and time.monotonic() < deadline:
            time.sleep(1)  # the aggregator catches up once the load stops
        aggregated_after = time.monotonic() - t0 - sent_for
        rows = scalar(url, "SELECT count(*) FROM readings")
        keys = scalar(url, "SELECT count(DISTINCT (station_id, parameter, interval, ts))"
                           " FROM readings")
        dead = scalar(url, "SELECT count(DISTINCT payload) FROM dead_letter")
        dead_rows = scalar(url, "SELECT count(*) FROM dead_letter")
        with psycopg.connect(url) as conn:
            lat = conn.execute(
                "SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY"
                " extract(epoch FROM received_at - ts)), max(extract(epoch FROM"
                " received_at - ts)) FROM readings WHERE interval = 'rt'").fetchone()
            dirty = conn.execute(
                "SELECT count(*), extract(epoch FROM now() - min(marked_at))::int"
                " FROM dirty_days").fetchone()
        print(f"published & acked: {good} good messages ({expected} readings), {bad} malformed;"
              f" drained {drained_after:.0f} s after the load stopped")
        print(f"throughput: {good / sent_for:.0f} msg/s, {expected / sent_for:.0f} readings/s")
        if lat and lat[0]:
            p50, p95, p99 = lat[0]
            print(f"latency publish -> committed: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f}"
                  f" ms, p99 {p99 * 1000:.0f} ms, max {lat[1]:.1f} s (includes the faults)")
        print(f"account: readings stored {rows} (distinct keys {keys}) vs expected {expected}:"
              f" {'EXACT' if rows == keys == expected else 'MISMATCH'}; dead-lettered "
              f"{dead} distinct malformed payloads ({dead_rows} rows) vs {bad}: "
              f"{'EXACT' if dead == bad else 'MISMATCH'}")
        if dirty and dirty[0]:
            print(f"aggregator: NOT caught up {aggregated_after:.0f} s after the load stopped:"
                  f" {dirty[0]} dirty station-days, oldest marked {dirty[1]} s ago")
        else:
            print(f"aggregator: queue empty {aggregated_after:.0f} s after the load stopped")
        names = sorted(rss[0][1]) if rss else []
        print("RSS MB  " + "".join(f"{n:>12}" for n in names))
        for at, sample in rss:
            print(f"{at:6.0f} s" + "".join(f"{sample.get(n, float('nan')):12.1f}"
                                           for n in names))
    finally:
        for p in procs.values():
            if p.proc and p.proc.poll() is None:
                p.stop()
        for o in others.values():
            o.terminate()
            o.wait(30)
        stop_mosquitto(broker)
        cluster.destroy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--stations", type=int, default=50)
    ap.add_argument("--layout", choices=layouts.LAYOUTS, default="timescale")
    ap.add_argument("--extra-command", default="")
    run(ap.parse_args())


if __name__ == "__main__":
    main()
