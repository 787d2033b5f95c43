"""Benchmark: alert outbox and sender against a local signed-webhook receiver.

    python bench/alerts_delivery.py [--rows 2000] [--latency-samples 200]

Creates (and drops) a scratch database on the local PostgreSQL (ENVMON_TEST_PG_URL or
postgresql://postgres@127.0.0.1:5432/postgres). Measures (1) the cost of enqueueing in the
caller's transaction (per notification, batches of 1 and 100), (2) sender throughput to a
loopback webhook that verifies every signature (1 and 2 senders at once), (3) commit -> received
latency with an idle sender woken by NOTIFY. The receiver runs in the same process and event
loop as the sender, so its cost is included. Run on demand, not in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import CollectorRegistry

from alerts import outbox
from alerts.delivery import DeliveryMetrics, DeliverySettings, run_sender
from alerts.receivers import Receiver, build, parse_receiver
from envmon import db
from tests.alerts.peers import WebhookPeer, migrated_database, sample_notification

SECRET = "bench-secret"
SETTINGS = DeliverySettings(poll_s=5)


async def commit_cost(url: str, total: int) -> float:
    """Microseconds per committed transaction inserting one int into a plain table (the
    floor any enqueue in its own transaction pays: the WAL flush at commit)."""
    async with await db.connect(url) as conn:
        await conn.execute("CREATE TABLE bench_baseline (x int)")
        await conn.commit()
        start = time.perf_counter()
        for i in range(total):
            async with conn.transaction():
                await conn.execute("INSERT INTO bench_baseline VALUES (%s)", (i,))
        return (time.perf_counter() - start) / total * 1e6


async def enqueue_cost(url: str, per_tx: int, total: int) -> float:
    """Microseconds per enqueued notification (building it, enqueue and commit)."""
    async with await db.connect(url) as conn:
        start = time.perf_counter()
        for tx in range(total // per_tx):
            async with conn.transaction():
                await outbox.enqueue(conn, [
                    sample_notification("hook", episode_id=10_000_000 + tx * per_tx + i)
                    for i in range(per_tx)
                ])
        elapsed = time.perf_counter() - start
        await conn.execute("DELETE FROM alert_outbox")
        await conn.commit()
    return elapsed / total * 1e6


async def drain(url: str, peer: WebhookPeer, rows: int, senders: int) -> float:
    """Notifications per second from ``rows`` queued rows to ``peer`` with ``senders`` loops."""
    async with await db.connect(url) as conn:
        async with conn.transaction():
            await outbox.enqueue(conn, [
                sample_notification("hook", episode_id=senders * 1_000_000 + i)
                for i in range(rows)
            ])
        before = len(peer.accepted)
        stop = asyncio.Event()
        start = time.perf_counter()
        tasks = [
            asyncio.create_task(run_sender(url, {"hook": _receiver(peer)}, SETTINGS, stop,
                                           metrics=DeliveryMetrics(CollectorRegistry())))
            for _ in range(senders)
        ]
        await peer.wait_accepted(before + rows)
        elapsed = time.perf_counter() - start
        stop.set()
        await asyncio.gather(*tasks)
        keys = [r.headers["Idempotency-Key"] for r in peer.accepted[before:]]
        assert len(set(keys)) == rows, "a row was sent twice"
    return rows / elapsed


async def latency(url: str, peer: WebhookPeer, samples: int) -> list[float]:
    """Seconds from the enqueueing commit to the signed request arriving, one at a time."""
    out: list[float] = []
    stop = asyncio.Event()
    task = asyncio.create_task(run_sender(url, {"hook": _receiver(peer)}, SETTINGS, stop,
                                          metrics=DeliveryMetrics(CollectorRegistry())))
    async with await db.connect(url) as conn:
        await asyncio.sleep(0.5)  # let the sender reach its LISTEN wait
        for i in range(samples):
            before = len(peer.accepted)
            async with conn.transaction():
                await outbox.enqueue(conn, [sample_notification("hook", episode_id=50_000_000 + i)])
            committed = time.perf_counter()
            await peer.wait_accepted(before + 1)
            out.append(time.perf_counter() - committed)
            await asyncio.sleep(0.02)
    stop.set()
    await task
    return out


def percentile_ms(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _receiver(peer: WebhookPeer) -> Receiver:
    return build(parse_receiver({"type": "webhook", "url": peer.base_url + "/hook",
                                 "secret_env": "ENVMON_BENCH_HOOK_SECRET"}))


async def main(args: argparse.Namespace) -> None:
    os.environ["ENVMON_BENCH_HOOK_SECRET"] = SECRET
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(migrated_database())
        peer = WebhookPeer(SECRET)
        await peer.start()
        stack.push_async_callback(peer.stop)
        base = await commit_cost(url, 1000)
        print(f"baseline, one-int insert per transaction: {base:8.1f} µs per transaction")
        for per_tx in (1, 100):
            cost = await enqueue_cost(url, per_tx, 1000)
            print(f"enqueue, {per_tx:>3} per transaction: {cost:8.1f} µs per notification")
        for senders in (1, 2):
            rate = await drain(url, peer, args.rows, senders)
            print(f"sender throughput, {senders} loop(s): {rate:8.0f} notifications/s "
                  f"({args.rows} rows, signed webhook on loopback)")
        lat = sorted(await latency(url, peer, args.latency_samples))
        print(f"commit -> received (NOTIFY wake-up), {len(lat)} samples: "
              f"p50 {percentile_ms(lat, 0.5):.1f} ms, p99 {percentile_ms(lat, 0.99):.1f} ms, "
              f"max {lat[-1] * 1000:.1f} ms, "
              f"mean {statistics.mean(lat) * 1000:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--latency-samples", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
