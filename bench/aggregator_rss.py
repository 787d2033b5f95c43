"""Aggregator memory: recompute the same day of dense real-time data again and again and print
the worker's RSS after each drain. Flat means no leak; the level is what one day of samples
costs (the soak's aggregator grew with the day's data: docs/capacity.md).

    python bench/aggregator_rss.py [--stations 50] [--samples 7200] [--cycles 16]

Writes ``stations x 6 parameters x samples`` ``rt`` readings (12 s apart, yesterday in Beijing)
straight into a fresh plain database, starts ``envmon aggregate``, and re-marks the same
station-days dirty after each drain. Run on demand, not in CI.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregator.store import batch_readings
from tests import layouts
from tests.conftest import create_database, drop_database, free_port

READINGS = (
    "INSERT INTO readings (station_id, parameter, interval, ts, value, flag, source)"
    " SELECT 'rss-' || s, p, 'rt', ((now() AT TIME ZONE 'Asia/Shanghai')::date - 1)::timestamp"
    "  AT TIME ZONE 'Asia/Shanghai' + k * interval '12 s',"
    "  CASE WHEN p = 'co' THEN 0.5 ELSE 10 + (k %% 50) END, 'N', 'bench'"
    " FROM generate_series(1, %(stations)s) s,"
    "  unnest(array['pm25', 'pm10', 'so2', 'no2', 'o3', 'co']) p,"
    "  generate_series(0, %(samples)s - 1) k"
)
MARK = (
    "INSERT INTO dirty_days (station_id, day)"
    " SELECT 'rss-' || i, (now() AT TIME ZONE 'Asia/Shanghai')::date - 1"
    " FROM generate_series(1, %(stations)s) i ON CONFLICT (station_id, day)"
    " DO UPDATE SET seq = nextval('dirty_days_seq'), marked_at = now()"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stations", type=int, default=50)
    ap.add_argument("--samples", type=int, default=7200, help="rt samples per station-parameter")
    ap.add_argument("--cycles", type=int, default=16)
    args = ap.parse_args()
    size = {"stations": args.stations, "samples": args.samples}
    url = create_database("envmon_bench_rss")
    try:
        layouts.migrate(url, "plain")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO stations (station_id, kind, name) SELECT 'rss-' || i,"
                         " 'air', 'rss-' || i FROM generate_series(1, %(stations)s) i", size)
            conn.execute(READINGS, size)
            conn.execute(batch_readings.RECOUNT_SAMPLES)  # as the ingest writer keeps them
            conn.execute(MARK, size)
            print(f"{args.stations * 6 * args.samples} rt readings in one day of "
                  f"{args.stations} stations", flush=True)
            env = {**os.environ, "ENVMON_DATABASE_URL": url,
                   "ENVMON_METRICS_PORT": str(free_port())}
            env.pop("ENVMON_CONFIG", None)
            worker = subprocess.Popen([sys.executable, "-m", "app", "aggregate"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                proc = psutil.Process(worker.pid)
                for cycle in range(args.cycles):
                    t0 = time.monotonic()
                    while conn.execute("SELECT count(*) FROM dirty_days").fetchone() != (0,):
                        time.sleep(0.2)
                    drained = time.monotonic() - t0
                    time.sleep(0.5)
                    print(f"cycle {cycle:2d}: drained in {drained:5.1f} s, "
                          f"RSS {proc.memory_info().rss / 2**20:6.1f} MB", flush=True)
                    conn.execute(MARK, size)
                    conn.execute("NOTIFY envmon_dirty")
            finally:
                worker.terminate()
                worker.wait(30)
    finally:
        drop_database(url)


if __name__ == "__main__":
    main()
