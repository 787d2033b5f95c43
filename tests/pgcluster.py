"""A throwaway PostgreSQL cluster (initdb in a temp dir) for tests that stop the database."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest


def _bindir() -> Path:
    env = os.environ.get("ENVMON_TEST_PG_BINDIR")
    if env:
        return Path(env)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    exe = shutil.which("initdb")
    if exe:
        return Path(exe).parent
    pytest.exit("initdb not found (set ENVMON_TEST_PG_BINDIR)", returncode=3)


def _as_owner(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run as the 'postgres' user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class Cluster:
    datadir: Path
    port: int
    bindir: Path
    settings: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(_as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                       timeout=120)

    def start(self) -> None:
        extra = "".join(f" -c {setting}" for setting in self.settings)
        self._ctl("-w", "-l", str(self.datadir / "server.log"), "-o",
                  f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.datadir}{extra}",
                  "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` (clients disconnected, clean shutdown) or ``immediate`` (no shutdown
        checkpoint: crash recovery at the next start)."""
        self._ctl("-w", "-m", mode, "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("-w", "-m", "immediate", "stop")
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def create_cluster(port: int, settings: tuple[str, ...] = ()) -> Cluster:
    """initdb and start; ``settings`` are server ``name=value`` options (e.g. preloads)."""
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="envmon-pg-"))
    os.chmod(root, 0o777)
    datadir = root / "data"
    subprocess.run(_as_owner([str(bindir / "initdb"), "-D", str(datadir), "-A", "trust",
                              "-U", "postgres", "--no-sync"]),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=120)
    cluster = Cluster(datadir, port, bindir, settings)
    cluster.start()
    return cluster
