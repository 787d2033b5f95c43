"""A tiny HTTP endpoint: ``/metrics`` (Prometheus), ``/healthz`` (alive), ``/readyz`` (ready).

``/metrics`` is rendered in a worker thread and gzip-compressed when the scraper accepts it:
at 10 000 stations the text is ~840 KiB and took ~50 ms to render, which used to stall the
ingest event loop once per scrape (numbers: docs/ingest.md, bench/metrics_render.py).
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Callable

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)


def accepts_gzip(header_value: str) -> bool:
    """Whether an Accept-Encoding value allows gzip (``gzip`` or ``*``, not with q=0)."""
    for item in header_value.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip().lower().removeprefix("q=")
            return not params or q not in ("0", "0.0", "0.00", "0.000")
    return False


def render_metrics(registry: CollectorRegistry, compress: bool) -> bytes:
    """The exposition text, gzip level 1 when asked (fast; compresses it ~10x all the same)."""
    body = generate_latest(registry)
    return gzip.compress(body, compresslevel=1) if compress else body


class HealthServer:
    """Serves the three paths; ``ready`` says whether the broker and database are usable."""

    def __init__(self, host: str, port: int, ready: Callable[[], bool],
                 registry: CollectorRegistry | None = None) -> None:
        """``registry``: what ``/metrics`` serves, the default one (``Metrics.of()``) if None."""
        self.host, self.port, self._ready = host, port, ready
        self._registry = registry if registry is not None else REGISTRY
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        log.info("metrics and health on http://%s:%d/metrics", self.host, self.port)
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            gzip_ok = False
            while (line := await asyncio.wait_for(reader.readline(), 5)) not in (
                    b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "accept-encoding":
                    gzip_ok = accepts_gzip(value)
            parts = request.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else ""
            extra = ""
            if path == "/metrics":
                status, ctype = "200 OK", CONTENT_TYPE_LATEST
                body = await asyncio.to_thread(render_metrics, self._registry, gzip_ok)
                extra = "Content-Encoding: gzip\r\n" if gzip_ok else ""
            elif path == "/healthz":
                status, ctype, body = "200 OK", "text/plain", b"ok\n"
            elif path == "/readyz":
                ok = self._ready()
                status = "200 OK" if ok else "503 Service Unavailable"
                ctype, body = "text/plain", b"ready\n" if ok else b"not ready\n"
            else:
                status, ctype, body = "404 Not Found", "text/plain", b"not found\n"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                f"{extra}Connection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
