"""The hourly indicator views before (migration 0021) and after (0033), on both layouts.

    python bench/hourly_views.py [--stations 20] [--days 30] [--repeat 3]

Builds one city (``--stations`` air stations, half with hourly readings and half with minute
readings rolled up, 4 noise stations) on plain PostgreSQL (the shared server) and on
TimescaleDB (its own throwaway cluster, tests/layouts.py), then reads each view over the whole
city, one station's day (web API) and the city's last two days (Grafana), with the 0021
definition (temporary views ``before_*``) and with the current one, checks the rows are the
same, and prints the best of ``--repeat`` times and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, LiteralString

from psycopg import AsyncConnection

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envmon import db
from tests import layouts
from tests.aggregator.hourly_views_support import create_before_views, fill_city
from tests.conftest import create_database, drop_database, free_port

PREFIX = "bv"
START = "2026-02-10"
# (label, view, filter): whole city, one station's day (web API), the city's last two days.
READS: list[tuple[str, LiteralString, LiteralString]] = [
    ("city, all", "air_station_hourly",
     "station_id IN (SELECT station_id FROM stations WHERE city = 'bvcity')"),
    ("station, 1 day", "air_station_hourly",
     "station_id = 'bva02' AND ts >= '2026-02-20 00:00+08' AND ts < '2026-02-21 00:00+08'"),
    ("city, 2 days", "air_station_hourly",
     "station_id IN (SELECT station_id FROM stations WHERE city = 'bvcity')"
     " AND ts >= %(last)s::timestamptz - interval '2 days'"),
    ("city, Grafana", "air_station_hourly",  # envmon-environment.json, $__timeFilter
     "station_id IN (SELECT station_id FROM stations WHERE city = 'bvcity')"
     " AND ts BETWEEN %(last)s::timestamptz - interval '2 days' AND %(last)s"),
    ("city, all", "air_region_hourly", "city = 'bvcity'"),
    ("city, all", "noise_station_hourly",
     "station_id IN (SELECT station_id FROM stations WHERE city = 'bvcity')"),
    ("station, 1 day", "noise_station_hourly",
     "station_id = 'bvn04' AND ts >= '2026-02-20 00:00+08' AND ts < '2026-02-21 00:00+08'"),
]


async def timed(conn: AsyncConnection[Any], query: LiteralString, params: dict[str, Any],
                repeat: int) -> tuple[float, list[tuple[Any, ...]]]:
    best, rows = float("inf"), []
    for _ in range(repeat):
        t0 = time.perf_counter()
        cur = await conn.execute(query, params)
        rows = await cur.fetchall()
        best = min(best, time.perf_counter() - t0)
    return best, rows


async def measure(url: str, layout: str, args: argparse.Namespace) -> None:
    async with await db.connect(url) as conn:
        await db.migrate(conn, layouts.storage_settings(layout))
        t0 = time.perf_counter()
        await fill_city(conn, PREFIX, args.stations, 4, START, args.days)
        n = await (await conn.execute("SELECT count(*) FROM readings")).fetchone()
        print(f"{layout}: filled {n[0] if n else 0} readings in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        if layout == "timescale":
            await layouts.compress_history(conn, datetime_last_week(args))
        await create_before_views(conn)
        cur = await conn.execute("SELECT max(ts) FROM air_station_hourly")
        row = await cur.fetchone()
        params = {"last": row[0] if row else None}
        for label, view, where in READS:
            new, old = (f"SELECT * FROM {name} WHERE {where} ORDER BY 1, 2, 3"  # noqa: S608
                        for name in (view, "before_" + view))  # (constants)
            new_t, new_rows = await timed(conn, new, params, args.repeat)
            old_t, old_rows = await timed(conn, old, params, args.repeat)
            same = "same rows" if new_rows == old_rows else "ROWS DIFFER"
            print(f"{layout:9} {view:21} {label:15} {len(new_rows):6} rows  0021 {old_t:7.3f} s"
                  f"  0033 {new_t:7.3f} s  x{old_t / new_t:5.1f}  {same}", flush=True)


def datetime_last_week(args: argparse.Namespace) -> datetime:
    """Chunks ending a week before the data's end are compressed, as the policy would."""
    end = date.fromisoformat(START) + timedelta(days=args.days - 7)
    return datetime(end.year, end.month, end.day, tzinfo=UTC)


async def run(args: argparse.Namespace) -> None:
    plain = create_database("envmon_bench_views")
    cluster = layouts.start_timescale_cluster(free_port)
    ts_url = ""
    try:
        ts_url = create_database("envmon_bench_views", admin_url=cluster.url)
        await measure(plain, "plain", args)
        await measure(ts_url, "timescale", args)
    finally:
        if args.keep:
            print(f"kept: {plain} {ts_url} (cluster {cluster.datadir}, pg_ctl stop to end it)")
        else:
            drop_database(plain)
            cluster.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true",
                        help="leave both databases (and the cluster) for EXPLAIN ANALYZE")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
