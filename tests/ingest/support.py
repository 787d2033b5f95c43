"""Helpers for end-to-end ingest tests: stations, a QoS 1 publisher, an ingest process."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from psycopg import sql

from tests.conftest import Broker, free_port

REPO = Path(__file__).resolve().parents[2]
AIR_PARAMS = ("pm25", "pm10", "so2", "no2", "o3", "co")


def register_air(url: str, ids: Iterable[str]) -> None:
    with psycopg.connect(url) as conn:
        for sid in ids:
            conn.execute(
                "INSERT INTO stations (station_id, kind, name) VALUES (%s, 'air', %s)"
                " ON CONFLICT DO NOTHING", (sid, sid))
        conn.execute("NOTIFY envmon_stations")


def station_and_client(url: str, ids: Iterator[str]) -> tuple[str, str]:
    """A new registered air station, and a client id for an ingest process that a test stops
    and restarts under the same id (so that its broker session carries over)."""
    sid, client = next(ids), next(ids)
    register_air(url, [sid])
    return sid, client


def wait_registered(proc: IngestProcess, url: str) -> None:
    """Wait until ``proc`` has reloaded its registry with every station now in ``url`` (after
    a registration's NOTIFY; a message that arrives before that is an unknown station)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM stations").fetchone()
    want = int(row[0]) if row else 0
    deadline = time.monotonic() + 30
    while proc.metric("envmon_ingest_stations_registered") < want:
        assert time.monotonic() < deadline, f"ingest did not reload its {want} stations"
        time.sleep(0.05)


def air_messages(station: str, n: int, start: datetime | None = None,
                 interval: str = "min") -> list[tuple[str, bytes]]:
    """``n`` messages of 6 readings each, one per minute from ``start``."""
    t0 = start or datetime(2025, 6, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        ts = (t0 + timedelta(minutes=i)).isoformat()
        values = {p: round(10 + (i % 50) + k * 0.5, 1) for k, p in enumerate(AIR_PARAMS)}
        values["co"] = 0.5
        doc = {"ts": ts, "interval": interval, "values": values}
        out.append((f"envmon/v1/{station}/data", json.dumps(doc).encode()))
    return out


class Publisher:
    """QoS 1 publisher with a bounded window of unacknowledged messages."""

    def __init__(self, host: str, port: int, window: int = 500,
                 username: str | None = None, password: str | None = None) -> None:
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                   client_id=f"test-pub-{os.getpid()}-{time.monotonic_ns()}")
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.max_inflight_messages_set(window)
        self._client.max_queued_messages_set(0)
        self._sem = threading.Semaphore(window)
        self._client.on_publish = lambda *a: self._sem.release()
        self._client.connect(host, port)
        self._client.loop_start()

    def publish(self, messages: Iterable[tuple[str, bytes]], qos: int = 1) -> int:
        n = 0
        for topic, payload in messages:
            self._sem.acquire()
            info = self._client.publish(topic, payload, qos=qos)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"publish failed: {info.rc}")
            n += 1
        return n

    def close(self) -> None:
        deadline = time.monotonic() + 30
        while self._client.want_write() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        self._client.disconnect()
        self._client.loop_stop()


def publish_all(broker: Broker, messages: Iterable[tuple[str, bytes]],
                username: str | None = None, password: str | None = None) -> None:
    """Publish ``messages`` at QoS 1 on a connection of their own, closed once all are sent."""
    pub = Publisher(broker.host, broker.port, username=username, password=password)
    pub.publish(messages)
    pub.close()


def local_http(port: int, path: str) -> tuple[int, str]:
    """Status and body of GET ``path`` on a loopback port (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def local_metric(port: int, name: str, labels: str = "") -> float:
    """Sum of a metric's samples on a loopback ``/metrics`` (optionally only those whose
    labels contain ``labels``)."""
    total = 0.0
    for line in local_http(port, "/metrics")[1].splitlines():
        if line.startswith(name) and (line[len(name)] in " {") and labels in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


@dataclass
class IngestProcess:
    """``envmon ingest`` as a real subprocess (what an operator runs)."""

    database_url: str
    mqtt_url: str
    client_id: str
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def env(self) -> dict[str, str]:
        """The environment the process runs with."""
        env = {**os.environ, "ENVMON_DATABASE_URL": self.database_url,
               "ENVMON_MQTT_URL": self.mqtt_url, "ENVMON_INGEST__CLIENT_ID": self.client_id,
               "ENVMON_METRICS_PORT": str(self.port), **self.extra_env}
        env.pop("ENVMON_CONFIG", None)
        return env

    def start(self, timeout: float = 30) -> IngestProcess:
        env = self.env()
        self.log_path = Path(f"/tmp/envmon-test-ingest-{self.client_id}.log")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "app", "ingest"], env=env,
                                         stdout=log, stderr=log, cwd=REPO)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc.wait()
                raise RuntimeError(f"ingest exited: {self.log_path.read_text()[-3000:]}")
            if self.http("/readyz")[0] == 200:
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"ingest not ready: {self.log_path.read_text()[-3000:]}")

    def http(self, path: str) -> tuple[int, str]:
        return local_http(self.port, path)

    def metric(self, name: str, labels: str = "") -> float:
        """Sum of a metric's samples (optionally only those whose labels contain ``labels``)."""
        return local_metric(self.port, name, labels)

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(60)

    def kill_no_wait(self, sig: int) -> None:
        """Send ``sig`` (e.g. SIGSTOP/SIGCONT) without waiting for an exit."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> int:
        return self.kill(signal.SIGTERM)


@dataclass
class Waiter:
    database_url: str

    def scalar(self, sql: str, *args: Any) -> Any:
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(sql, args).fetchone()
            return row[0] if row else None

    def until(self, sql: str, expected: Any, *args: Any, timeout: float = 60) -> Any:
        """Poll ``sql`` until it returns ``expected`` (or the timeout); returns the last value."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.scalar(sql, *args)
            if value == expected:
                return value
            time.sleep(0.2)
        return value


def eventually(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll ``check`` until it holds; fail with ``what`` if it never does (a generous limit
    against a hung system, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout:.0f} s: {what}")
        time.sleep(0.05)


def unique(prefix: str) -> Iterator[str]:
    i = 0
    while True:
        i += 1
        yield f"{prefix}-{os.getpid()}-{i}"


@contextlib.contextmanager
def refuse_station(url: str, station: str, sqlstate: str) -> Iterator[str]:
    """A trigger that makes PostgreSQL refuse every reading of ``station`` with ``sqlstate``
    (what TimescaleDB does with SQLSTATE 53400 for a late row into a compressed chunk)."""
    name = f"envmon_test_refuse_{secrets.token_hex(4)}"
    message = f"test refusal {sqlstate} for {station}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL(
            "CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.station_id = {sid} THEN"
            "  RAISE EXCEPTION USING ERRCODE = {code}, MESSAGE = {msg};"
            " END IF; RETURN NEW; END $$").format(
                fn=sql.Identifier(name), sid=sql.Literal(station), code=sql.Literal(sqlstate),
                msg=sql.Literal(message)))
        conn.execute(sql.SQL(
            "CREATE TRIGGER {t} BEFORE INSERT ON readings FOR EACH ROW EXECUTE FUNCTION {fn}()"
        ).format(t=sql.Identifier(name), fn=sql.Identifier(name)))
    try:
        yield message
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TRIGGER {t} ON readings").format(t=sql.Identifier(name)))
            conn.execute(sql.SQL("DROP FUNCTION {fn}()").format(fn=sql.Identifier(name)))
