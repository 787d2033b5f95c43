"""Hostile clients for the gateway's limits (issue 13 item 4) and the gateway as a real
subprocess to aim them at: a flood of ``#`` and idle connections, loopback only, bounded in
count and time. Used by tests (scaled down) and bench/hj212_gateway_attacks.py (full size).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from ingest.hj212.framing import Framer
from ingest.hj212.packet import parse_packet

HOST = "127.0.0.1"


@dataclass
class FloodStats:
    written: int = 0
    connections: int = 0


async def hash_flood(port: int, connections: int, chunk_bytes: int, seconds: float
                     ) -> FloodStats:
    """``connections`` clients writing chunks of ``#`` for ``seconds``; each reconnects when
    the gateway closes it. ``written`` counts what the kernel took, not what the gateway read
    (its ``envmon_hj212_received_bytes_total`` does)."""
    stats = FloodStats()
    chunk = b"#" * chunk_bytes
    deadline = time.monotonic() + seconds

    async def client() -> None:
        while time.monotonic() < deadline:
            try:
                _, writer = await asyncio.open_connection(HOST, port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            stats.connections += 1
            try:
                while time.monotonic() < deadline:
                    writer.write(chunk)
                    async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                        await writer.drain()
                    stats.written += len(chunk)
            except (OSError, TimeoutError):
                pass
            finally:
                writer.transport.abort()

    await asyncio.gather(*(client() for _ in range(connections)))
    return stats


async def idle_connections(port: int, n: int) -> list[asyncio.StreamWriter]:
    """Open ``n`` connections that never send anything (the caller closes them)."""
    writers = []
    for _ in range(n):
        with contextlib.suppress(OSError):
            writers.append((await asyncio.open_connection(HOST, port))[1])
    return writers


async def logger_answer_seconds(port: int, packet: bytes, seconds: float = 120.0) -> float:
    """A logger's upload: seconds from connecting until its CN 9014 answer (reconnecting
    and resending when the connection is closed or refused, as loggers do)."""
    start = time.monotonic()
    async with asyncio.timeout(seconds):
        while True:
            try:
                reader, writer = await asyncio.open_connection(HOST, port)
            except OSError:
                await asyncio.sleep(0.2)
                continue
            try:
                writer.write(packet)
                await writer.drain()
                framer = Framer()
                while chunk := await reader.read(4096):
                    for frame in framer.feed(chunk):
                        if parse_packet(frame.data).cn == "9014":
                            return time.monotonic() - start
            except OSError:
                pass
            finally:
                writer.transport.abort()
            await asyncio.sleep(0.2)


class GatewayProcess:
    """``envmon hj212-gateway`` on loopback with a given descriptor limit; stderr in a file."""

    def __init__(self, database_url: str, port: int, metrics_port: int, workdir: Path, *,
                 nofile: int = 1024, settings: Mapping[str, str] = {}) -> None:
        self.port, self.metrics_port = port, metrics_port
        self.log = workdir / "gateway.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENVMON_")}
        env.update({"ENVMON_DATABASE_URL": database_url, "ENVMON_METRICS_PORT": str(metrics_port),
                    "ENVMON_METRICS_HOST": HOST, "ENVMON_LOG_LEVEL": "INFO"})
        env.update({f"ENVMON_HJ212__{k.upper()}": v for k, v in settings.items()})

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE,
                               (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app", "hj212-gateway", "--host", HOST, "--port",
                 str(port)], env=env, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                preexec_fn=limit)
        self.ps = psutil.Process(self.proc.pid)
        self.peak_rss = 0

    async def ready(self, seconds: float = 60.0) -> None:
        async with asyncio.timeout(seconds):
            while not await self.healthy():
                assert self.proc.poll() is None, self.log.read_text()
                await asyncio.sleep(0.1)

    async def healthy(self) -> bool:
        """``/healthz`` answers (asked from a thread: the event loop stays free)."""
        def get() -> bool:
            try:
                url = f"http://{HOST}:{self.metrics_port}/healthz"
                with urllib.request.urlopen(url, timeout=5) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        return await asyncio.to_thread(get)

    async def metric(self, name: str) -> float:
        """A sample of the gateway's /metrics (0 when absent)."""
        def get() -> str:
            url = f"http://{HOST}:{self.metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                return str(response.read().decode())

        for line in (await asyncio.to_thread(get)).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def rss(self) -> int:
        rss = int(self.ps.memory_info().rss)
        self.peak_rss = max(self.peak_rss, rss)
        return rss

    async def sample_rss(self, stop: asyncio.Event) -> None:
        """Track the peak RSS until ``stop``."""
        while not stop.is_set():
            self.rss()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)

    def stop(self) -> str:
        """Stop the gateway (SIGTERM, then kill) and return its log."""
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(30)
        self.proc.kill()  # a no-op once it has exited
        self.proc.wait()
        return self.log.read_text("utf-8", "replace")
