"""Benchmark: the API's station list (latest values, learned state, AQI) at scale, against a
naive "latest value of every series" query over the same readings.

    python bench/web_stations.py [--stations 1000] [--page 100] [--repeat 5]

Creates (and drops) a scratch database on the local PostgreSQL (ENVMON_TEST_PG_URL or
postgresql://postgres@127.0.0.1:5432/postgres) with ``--stations`` air stations: two days of
hourly pollutant values and the last 15 minutes of real-time values every minute, aggregated
(so the hourly AQI exists). Measures, best of ``--repeat``: fetching the whole list page by
page through the ASGI application (HTTP handling and JSON included), and the baseline
``SELECT DISTINCT ON (station_id, parameter) ... ORDER BY ts DESC`` over the look-back window
(no state, no AQI, no HTTP). Prints both and their ratio. Run on demand, not in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregator.service import drain
from envmon import db
from envmon.settings import StorageSettings
from envmon.stations import Station, upsert_stations
from ingest.reading import Reading
from ingest.writer import PartitionCache, write_readings
from tests.conftest import create_database, drop_database
from web import state
from web.app import create_app

POLLUTANTS = {"pm25": 45.0, "pm10": 80.0, "so2": 9.0, "no2": 35.0, "co": 0.8, "o3": 70.0}
BASELINE = (
    "SELECT count(*) FROM (SELECT DISTINCT ON (station_id, parameter) station_id, parameter,"
    " ts, value FROM readings WHERE ts >= %s ORDER BY station_id, parameter, ts DESC) latest"
)


async def load(url: str, stations: int, now: datetime) -> int:
    hour = now.replace(minute=0, second=0, microsecond=0)
    minute = now.replace(second=0, microsecond=0)
    async with await db.connect(url) as conn:
        await db.migrate(conn, StorageSettings(backend="plain"))
        await upsert_stations(conn, [
            Station(f"bench-{i:04d}", "air", f"Bench {i}", "Bench", f"district-{i % 10}")
            for i in range(stations)])
        await conn.commit()
        total = 0
        cache = PartitionCache()
        for i in range(stations):
            sid = f"bench-{i:04d}"
            rows = [Reading(sid, p, "hour", hour - timedelta(hours=h), base * (1 + h % 5 / 10),
                            "N", "sim")
                    for h in range(1, 49) for p, base in POLLUTANTS.items()]
            rows += [Reading(sid, p, "rt", minute - timedelta(minutes=m), base, "N", "sim")
                     for m in range(15) for p, base in POLLUTANTS.items()]
            async with conn.transaction():
                await write_readings(conn, rows, cache)
            total += len(rows)
        await drain(conn, batch_size=500)
        await conn.commit()
        return total


async def best(repeat: int, fn: Callable[[], Awaitable[None]]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t0)
    return min(times)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    url = create_database("envmon_bench_web")
    try:
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        n = await load(url, args.stations, now)
        print(f"loaded {n:,} readings of {args.stations} stations in "
              f"{time.perf_counter() - t0:.1f} s")
        app = create_app(url, None)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:

            async def api_list() -> None:
                offset: int | None = 0
                seen = 0
                while offset is not None:
                    resp = await client.get("/api/v1/stations",
                                            params={"limit": args.page, "offset": offset})
                    page = resp.json()
                    seen += len(page["items"])
                    offset = page["next_offset"]
                assert seen == args.stations, seen

            async with await db.connect(url, autocommit=True) as conn:
                async def baseline() -> None:
                    await conn.execute(BASELINE, (now - state.LOOKBACK,))

                api_s = await best(args.repeat, api_list)
                base_s = await best(args.repeat, baseline)
        pages = -(-args.stations // args.page)
        print(f"API station list: {api_s * 1000:.0f} ms for {args.stations} stations "
              f"({pages} pages of {args.page}, {api_s / pages * 1000:.0f} ms per page)")
        print(f"baseline DISTINCT ON latest values: {base_s * 1000:.0f} ms")
        print(f"ratio API / baseline: {api_s / base_s:.2f}")
    finally:
        drop_database(url)


if __name__ == "__main__":
    asyncio.run(main())
