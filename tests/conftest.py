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
from tests import layouts, pgcluster

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


def create_database(prefix: str = "envmon_test", admin_url: str = ADMIN_URL) -> str:
    """A new empty database on the test server (or the server of ``admin_url``); its URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    conn = _admin_connect() if admin_url == ADMIN_URL else psycopg.connect(
        admin_url, autocommit=True)
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str, admin_url: str = ADMIN_URL) -> None:
    name = url.rsplit("/", 1)[1]
    conn = _admin_connect() if admin_url == ADMIN_URL else psycopg.connect(
        admin_url, autocommit=True)
    with conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{layouts.MARKER}: run the test's database fixtures on each readings layout "
        "(plain and TimescaleDB with compression, tests/layouts.py)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if (metafunc.definition.get_closest_marker(layouts.MARKER)
            and "db_layout" in metafunc.fixturenames):
        metafunc.parametrize("db_layout", layouts.LAYOUTS, indirect=True, scope="session")


@pytest.fixture(scope="session")
def db_layout(request: pytest.FixtureRequest) -> str:
    """``plain``, or each of ``layouts.LAYOUTS`` in turn for tests marked ``layouts``."""
    return str(getattr(request, "param", "plain"))


class LayoutDatabases:
    """One migrated database per layout, created on first use, for the whole session (the
    TimescaleDB cluster too), so switching layouts between tests costs nothing."""

    def __init__(self) -> None:
        self._urls: dict[str, tuple[str, str]] = {}
        self._extra: list[tuple[str, str]] = []
        self._cluster: pgcluster.Cluster | None = None

    def url(self, layout: str) -> str:
        if layout not in self._urls:
            self._urls[layout] = self._create(layout, "envmon_test")
        return self._urls[layout][0]

    def fresh(self, layout: str, prefix: str) -> str:
        """Another migrated database of ``layout``, of its own (for tests that need to know
        every row in it, e.g. lists of all stations); dropped with the session's."""
        url, admin = self._create(layout, prefix)
        self._extra.append((url, admin))
        return url

    def _create(self, layout: str, prefix: str) -> tuple[str, str]:
        admin = ADMIN_URL
        if layout == "timescale":
            if self._cluster is None:
                self._cluster = layouts.start_timescale_cluster(free_port)
            admin = self._cluster.url
        url = create_database(prefix, admin_url=admin)
        layouts.migrate(url, layout)
        return url, admin

    def close(self) -> None:
        """Drop the databases on the shared server; the throwaway cluster goes as a whole (each
        DROP DATABASE there would cost a checkpoint for nothing)."""
        for url, admin in [*self._urls.values(), *self._extra]:
            if admin == ADMIN_URL:
                drop_database(url, admin)
        if self._cluster is not None:
            self._cluster.destroy()


@pytest.fixture(scope="session")
def layout_databases() -> Iterator[LayoutDatabases]:
    dbs = LayoutDatabases()
    yield dbs
    dbs.close()


@pytest.fixture(scope="session")
def database_url(db_layout: str, layout_databases: LayoutDatabases) -> str:
    """A freshly migrated database for the whole test session (per layout, see db_layout)."""
    return layout_databases.url(db_layout)


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


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, and SIGKILL if it has not exited within 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stop_mosquitto(broker: Broker) -> None:
    stop_process(broker.process)


@pytest.fixture(scope="session")
def mqtt_broker() -> Iterator[Broker]:
    """A Mosquitto started with deploy/mosquitto/envmon.conf for this test session."""
    broker = start_mosquitto()
    yield broker
    stop_mosquitto(broker)
