"""/metrics: rendered off the event loop, gzip when the scraper accepts it; the per-station
series can be switched off; /healthz and /readyz unchanged."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from envmon.health import HealthServer, accepts_gzip
from ingest.metrics import IngestMetrics


@pytest.mark.parametrize(("header", "expected"), [
    ("gzip", True),
    ("gzip, deflate, br", True),
    ("deflate, gzip;q=0.5", True),
    ("*", True),
    ("identity", False),
    ("gzip;q=0", False),
    ("gzip; q=0.0", False),
    ("", False),
])
def test_accepts_gzip(header: str, expected: bool) -> None:  # RFC 9110 §12.5.3
    assert accepts_gzip(header) is expected


class ThreadRecorder(Collector):
    """Remembers which thread collected it."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def collect(self) -> Iterator[Metric]:
        self.threads.append(threading.current_thread())
        yield GaugeMetricFamily("envmon_test_value", "test", value=1)


async def get(port: int, path: str, headers: str = "") -> tuple[dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    fields["status"] = lines[0].split(" ", 1)[1]
    assert int(fields["Content-Length"]) == len(body)
    return fields, body


async def test_metrics_rendered_in_a_worker_thread_and_gzipped_on_request() -> None:
    registry = CollectorRegistry()
    recorder = ThreadRecorder()
    registry.register(recorder)
    metrics = IngestMetrics(registry)
    for i in range(100):
        metrics.last_reading.labels(f"S{i:03d}").set(1_700_000_000 + i)
    server = HealthServer("127.0.0.1", 0, lambda: False, registry)
    port = await server.start()
    try:
        plain_head, plain = await get(port, "/metrics")
        zipped_head, zipped = await get(port, "/metrics", "Accept-Encoding: gzip\r\n")
        healthz = await get(port, "/healthz")
        readyz = await get(port, "/readyz")
    finally:
        await server.close()
    assert recorder.threads and threading.current_thread() not in recorder.threads
    assert "Content-Encoding" not in plain_head
    assert zipped_head["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped) == plain
    assert b'envmon_ingest_last_reading_timestamp_seconds{station="S099"} 1.700000099e+09' in plain
    assert len(zipped) < len(plain) / 3
    assert (healthz[0]["status"], healthz[1]) == ("200 OK", b"ok\n")
    assert readyz[0]["status"] == "503 Service Unavailable"


def test_station_series_can_be_switched_off_and_on() -> None:
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry)
    metrics.last_reading.labels("S1").set(1)
    name = b"envmon_ingest_last_reading_timestamp_seconds"
    metrics.export_station_series(False)
    metrics.export_station_series(False)  # idempotent
    metrics.last_reading.labels("S2").set(2)  # the pipeline keeps recording
    assert name not in generate_latest(registry)
    assert b"envmon_ingest_db_up" in generate_latest(registry)
    metrics.export_station_series(True)
    assert b'station="S2"' in generate_latest(registry)
