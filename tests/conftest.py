"""Fixtures for the real services: PostgreSQL and Mosquitto on 127.0.0.1.

A missing service stops the whole run with a clear message (never a skip). Each test run gets
its own database and its own Mosquitto process started with the project's broker config
(deploy/mosquitto/envmon.conf) on a free loopback port.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import AsyncConnection

from envmon import db
from envmon.settings import StorageSettings

REPO = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("ENVMON_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _admin_connect() -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.exit(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}", returncode=3)


def create_database(prefix: str = "envmon_test") -> str:
    """A new empty database on the test server; returns its URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with _admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A freshly migrated database for the whole test session."""
    url = create_database()
    with psycopg.connect(url):
        pass

    async def _migrate() -> None:
        async with await db.connect(url) as aconn:
            await db.migrate(aconn, StorageSettings(backend="plain"))

    import asyncio

    asyncio.run(_migrate())
    yield url
    drop_database(url)


@pytest.fixture
async def db_conn(database_url: str) -> AsyncIterator[AsyncConnection[Any]]:
    async with await db.connect(database_url) as conn:
        yield conn


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    config: Path

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def start_mosquitto(extra_config: str = "", project_config: bool = True,
                    anonymous: bool = True) -> Broker:
    """Start a Mosquitto process on a free loopback port (project config unless told not to;
    ``extra_config`` may add authentication and further listeners)."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        pytest.exit("mosquitto is not installed (apt-get install mosquitto)", returncode=3)
    workdir = Path(tempfile.mkdtemp(prefix="envmon-mosq-"))
    port = free_port()
    base = (REPO / "deploy/mosquitto/envmon.conf").read_text() if project_config else ""
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"{base}\npersistence_location {workdir}/\nlistener {port} 127.0.0.1\n"
        f"allow_anonymous {str(anonymous).lower()}\nlog_dest file {workdir}/mosquitto.log\n"
        f"{extra_config}\n"
    )
    os.chmod(workdir, 0o777)
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = workdir / "mosquitto.log"
            err = log.read_text() if log.exists() else ""
            pytest.exit(f"mosquitto failed to start (exit {proc.returncode}): {err}",
                        returncode=3)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return Broker("127.0.0.1", port, proc, conf)
        except OSError:
            time.sleep(0.05)
    proc.kill()
    pytest.exit("mosquitto did not open its port within 10 s", returncode=3)


def stop_mosquitto(broker: Broker) -> None:
    broker.process.terminate()
    try:
        broker.process.wait(10)
    except subprocess.TimeoutExpired:
        broker.process.kill()
        broker.process.wait()


@pytest.fixture(scope="session")
def mqtt_broker() -> Iterator[Broker]:
    """A Mosquitto started with deploy/mosquitto/envmon.conf for this test session."""
    broker = start_mosquitto()
    yield broker
    stop_mosquitto(broker)
