"""How long a /metrics scrape stalls the ingest event loop, and how big it is, at 10 000
stations: the old handler (render on the loop) against HealthServer (render in a thread,
gzip on request), plus the size without the per-station series.

    python bench/metrics_render.py [--stations 10000] [--scrapes 20]

The stall is the worst delay of a 1 ms ticker on the loop while a scrape is served.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, generate_latest

from envmon.health import HealthServer
from ingest.metrics import IngestMetrics


async def worst_tick_delay(action: Callable[[], Awaitable[object]]) -> float:
    """Seconds of the longest gap between 1 ms ticks while ``action`` runs."""
    worst = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            worst = max(worst, now - last - 0.001)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    await action()
    done.set()
    await task
    return worst


async def scrape(port: int, gzip_ok: bool) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    accept = "Accept-Encoding: gzip\r\n" if gzip_ok else ""
    writer.write(f"GET /metrics HTTP/1.1\r\nHost: b\r\n{accept}\r\n".encode())
    raw = await reader.read()
    writer.close()
    return len(raw.partition(b"\r\n\r\n")[2])


async def main(stations: int, scrapes: int) -> None:
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry)
    for i in range(stations):
        metrics.last_reading.labels(f"ST{i:06d}").set(1_780_000_000 + i)
    server = HealthServer("127.0.0.1", 0, lambda: True, registry)
    port = await server.start()

    async def on_loop() -> None:  # what the handler did before: render inline
        generate_latest(registry)

    rows: dict[str, list[float]] = {"before: render on the loop": [],
                                    "after: thread, plain": [], "after: thread, gzip": []}
    sizes: dict[str, int] = {}
    for _ in range(scrapes):
        rows["before: render on the loop"].append(await worst_tick_delay(on_loop))

        async def plain() -> None:
            sizes["plain"] = await scrape(port, False)

        async def zipped() -> None:
            sizes["gzip"] = await scrape(port, True)

        rows["after: thread, plain"].append(await worst_tick_delay(plain))
        rows["after: thread, gzip"].append(await worst_tick_delay(zipped))
    metrics.export_station_series(False)
    sizes["without station series"] = await scrape(port, False)
    await server.close()

    print(f"{stations} stations, {scrapes} scrapes; worst event-loop stall per scrape (ms)")
    base = statistics.median(rows["before: render on the loop"])
    for name, values in rows.items():
        med = statistics.median(values)
        print(f"  {name:<28} median {med * 1000:6.1f}  max {max(values) * 1000:6.1f}"
              f"  ({med / base:.2f} of before)")
    print("body size (KiB): " + ", ".join(f"{k} {v / 1024:.0f}" for k, v in sizes.items()))
    print(f"  gzip ratio {sizes['plain'] / sizes['gzip']:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.stations, args.scrapes))
