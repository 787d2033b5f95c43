"""Benchmark: full recompute of one year of air indicators vs a plain PostgreSQL
scan-and-group of the same hourly rows, and the commit -> indicator latency of late readings.

    python bench/aggregator_recompute.py [--stations 100] [--days 365] [--workers 1]
                                         [--batch 10000] [--repeat 3]

Creates (and drops) a scratch database on the local PostgreSQL (ENVMON_TEST_PG_URL or
postgresql://postgres@127.0.0.1:5432/postgres). The hourly readings (6 pollutants per station
and hour) are loaded with COPY straight into ``readings``: the benchmark measures the
aggregator, not ingest. Each measurement runs ``--repeat`` times (the indicator tables emptied
before each recompute) and the best counts; prints all runs, both times and their ratio
(target <= 3), then the latency of late readings picked up by the running worker
(LISTEN/NOTIFY). Run on demand, not in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregator import service
from envmon import db, storage
from envmon.settings import AggregatorSettings, Settings, StorageSettings
from envmon.stations import Station, upsert_stations
from ingest.reading import Reading
from ingest.writer import PartitionCache, write_readings
from tests.conftest import create_database, drop_database

YEAR = 2025
POLLUTANTS = {"pm25": 45.0, "pm10": 80.0, "so2": 9.0, "no2": 35.0, "co": 0.8, "o3": 70.0}
SCAN_AND_GROUP = (
    "SELECT count(*) FROM (SELECT station_id, parameter,"
    " (ts AT TIME ZONE 'Asia/Shanghai')::date AS day, avg(value), count(*)"
    " FROM readings WHERE interval = 'hour' GROUP BY 1, 2, 3) g"
)


def value(base: float, station: int, hour: int, rng: random.Random) -> float:
    """A diurnal, seasonal, noisy concentration (rounded like station data)."""
    seasonal = 1 + 0.5 * math.cos(2 * math.pi * hour / 8760)
    diurnal = 1 + 0.3 * math.sin(2 * math.pi * (hour % 24) / 24 + station)
    v = base * seasonal * diurnal * rng.lognormvariate(0, 0.35)
    return round(v, 1) if base < 5 else float(round(v))


async def load(url: str, stations: int, days: int) -> int:
    start = datetime(YEAR, 1, 1, tzinfo=UTC) - timedelta(hours=8)  # 00:00 Beijing
    hours = days * 24
    async with await db.connect(url) as conn:
        await db.migrate(conn, StorageSettings(backend="plain"))
        await upsert_stations(conn, [
            Station(f"bench-{i:04d}", "air", f"Bench {i}", "Bench", f"district-{i % 10}")
            for i in range(stations)
        ])
        months = {(start + timedelta(hours=h)).date().replace(day=1) for h in range(hours)}
        await storage.ensure_partitions(conn, months)
        rng = random.Random(20150101)
        rows = 0
        async with conn.cursor() as cur, cur.copy(
            "COPY readings (station_id, parameter, interval, ts, value, flag, source)"
            " FROM STDIN"
        ) as copy:
            for i in range(stations):
                sid = f"bench-{i:04d}"
                for h in range(hours):
                    ts = start + timedelta(hours=h)
                    for p, base in POLLUTANTS.items():
                        await copy.write_row(
                            (sid, p, "hour", ts, value(base, i, h, rng), "N", "sim"))
                        rows += 1
        await conn.execute("ANALYZE readings")
        await conn.commit()
    return rows


async def scan_and_group(url: str, query: str) -> float:
    async with await db.connect(url) as conn:
        await conn.execute(query)  # warm the cache like the recompute will be
        started = time.perf_counter()
        await conn.execute(query)
        return time.perf_counter() - started


#: what a full recompute writes: emptied before each repeat so every run does the same work
INDICATOR_TABLES = (
    "air_station_hours", "air_region_hours", "air_station_daily", "air_region_daily",
    "air_region_period", "indicator_revisions", "excluded_readings", "hourly_rollup",
    "dirty_periods",
)


async def mark_all(url: str, stations: int, days: int) -> None:
    """Empty the indicator tables and mark every station-day dirty."""
    async with await db.connect(url) as conn:
        await conn.execute(f"TRUNCATE {', '.join(INDICATOR_TABLES)}")
        await conn.execute(
            "INSERT INTO dirty_days (station_id, day) SELECT s.station_id, d::date"
            " FROM stations s, generate_series(%s::date, %s::date, '1 day') d"
            " WHERE s.station_id LIKE 'bench-%%' ON CONFLICT DO NOTHING",
            (date(YEAR, 1, 1), date(YEAR, 1, 1) + timedelta(days=days - 1)),
        )
        await conn.commit()


def _drain(url: str, batch: int) -> int:
    async def go() -> int:
        async with await db.connect(url) as conn, await db.connect(url) as reader:
            return await service.drain(conn, batch, reader=reader)

    return asyncio.run(go())


def recompute(url: str, workers: int, batch: int) -> tuple[float, int]:
    started = time.perf_counter()
    if workers == 1:
        done = _drain(url, batch)
    else:
        with ProcessPoolExecutor(workers) as pool:
            done = sum(pool.map(_drain, [url] * workers, [batch] * workers))
    return time.perf_counter() - started, done


async def latency(url: str, samples: int) -> list[float]:
    """Seconds from the commit of a late reading to the commit of its updated daily value."""
    stop = asyncio.Event()
    worker = asyncio.create_task(service.run(Settings(database_url=url), stop))
    out = []
    try:
        async with await db.connect(url) as conn:
            await asyncio.sleep(1)
            for n in range(samples):
                day = date(YEAR, 1, 2 + n)
                ts = datetime(day.year, day.month, day.day, 3, tzinfo=UTC)
                late = Reading("bench-0000", "pm25", "hour", ts, 500.0 + n, "N", "sim")
                async with conn.transaction():
                    await write_readings(conn, [late], PartitionCache())
                committed = datetime.now(UTC)
                while True:
                    cur = await conn.execute(
                        "SELECT computed_at FROM air_station_daily"
                        " WHERE station_id = 'bench-0000' AND day = %s", (day,))
                    row: Any = await cur.fetchone()
                    await conn.commit()
                    if row and row[0] > committed:  # computed after the commit: observed now
                        out.append((datetime.now(UTC) - committed).total_seconds())
                        break
                    await asyncio.sleep(0.01)
    finally:
        stop.set()
        await worker
    return out


def compare(url: str, stations: int, days: int, *, workers: int, batch: int, repeat: int,
            query: str, rows: str) -> None:
    """Best of ``repeat`` runs, in turns, of the scan-and-group ``query`` (of the ``rows``
    readings) and of a full recompute of every station-day; prints both and their ratio."""
    scans, runs = [], []
    for _ in range(repeat):
        scans.append(asyncio.run(scan_and_group(url, query)))
        asyncio.run(mark_all(url, stations, days))
        runs.append(recompute(url, workers, batch))
    baseline, (seconds, done) = min(scans), min(runs)

    def listed(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    print(f"plain scan-and-group of the {rows} rows: {baseline:.2f} s"
          f" (best of {listed(scans)})")
    print(f"full recompute ({done} station-days, {workers} worker(s), batch"
          f" {batch}): {seconds:.2f} s (best of {listed([r[0] for r in runs])})"
          f" = {1000 * seconds / max(done, 1):.2f} ms per station-day")
    print(f"ratio recompute / scan-and-group: {seconds / baseline:.1f}x (target <= 3x)")


def load_and_compare(url: str, load: Callable[[str, int, int], Coroutine[Any, Any, int]],
                     stations: int, days: int, *, workers: int, batch: int, repeat: int,
                     query: str, rows: str) -> None:
    """``load`` the ``rows`` readings (timed, printed), then ``compare``: the part both
    aggregator benchmarks run alike."""
    t = time.perf_counter()
    loaded = asyncio.run(load(url, stations, days))
    print(f"loaded {loaded} {rows} readings ({stations} stations x {days} days)"
          f" in {time.perf_counter() - t:.1f} s")
    compare(url, stations, days, workers=workers, batch=batch, repeat=repeat, query=query,
            rows=rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=AggregatorSettings().batch_size)
    parser.add_argument("--latency-samples", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each measurement; the best counts (shared machine)")
    args = parser.parse_args()
    url = create_database("envmon_bench")
    try:
        load_and_compare(url, load, args.stations, args.days, workers=args.workers,
                         batch=args.batch, repeat=args.repeat, query=SCAN_AND_GROUP,
                         rows="hourly")
        lags = asyncio.run(latency(url, args.latency_samples))
        print(f"late reading commit -> updated daily indicator: median"
              f" {statistics.median(lags):.3f} s, max {max(lags):.3f} s ({len(lags)} samples)")
    finally:
        drop_database(url)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
