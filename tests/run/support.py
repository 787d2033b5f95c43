"""Helpers for ``envmon run`` tests: a run as a real subprocess, its banner, its leftovers."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

import psutil

REPO = Path(__file__).resolve().parents[2]
ENVMON_ENV_PREFIX = "ENVMON_"
_PSQL_LINE = re.compile(r"psql '(postgresql://[^']+)'")


def clean_env(home: Path, extra: Mapping[str, str] = {}) -> dict[str, str]:
    """The environment of a newcomer: an empty HOME and no ENVMON_* configuration."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(ENVMON_ENV_PREFIX) and k not in ("XDG_DATA_HOME", "PYTHONPATH")}
    env["HOME"] = str(home)
    env.update(extra)
    return env


class RunProcess:
    """``envmon run`` in a subprocess; stderr is collected line by line as it arrives."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.err: list[str] = []
        self.out: list[str] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.err), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.out), daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream: IO[str] | None, sink: list[str]) -> None:
        assert stream is not None
        for line in stream:
            sink.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def wait_for(self, what: str | Callable[[], bool], timeout_s: float) -> None:
        """Wait until stderr contains ``what`` (or the predicate holds); fail with the log."""
        if isinstance(what, str):
            text = what

            def check() -> bool:
                return text in self.stderr
        else:
            check = what
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if check():
                return
            if self.proc.poll() is not None:
                self.join()
                raise AssertionError(f"envmon run exited with {self.proc.returncode} while "
                                     f"waiting for {what!r}:\n{self.stderr[-4000:]}")
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what!r}:\n{self.stderr[-4000:]}")

    def database_url(self) -> str:
        """The embedded database's URL as the banner prints it."""
        match = _PSQL_LINE.search(self.stderr)
        assert match, f"no psql line in the banner:\n{self.stderr[-2000:]}"
        return match.group(1)

    def terminate(self, timeout_s: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.join(timeout_s)

    def join(self, timeout_s: float = 60) -> int:
        try:
            rc = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"envmon run did not exit:\n{self.stderr[-4000:]}") from None
        for t in self._threads:
            t.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return rc

    def kill(self) -> None:
        self.proc.kill()
        self.join()


def envmon_argv(python: str = sys.executable) -> list[str]:
    """``envmon`` through the interpreter (the console script needs an installed package)."""
    return [python, "-c", "from app.cli import main; main()"]


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])


def processes_using(path: Path) -> list[psutil.Process]:
    """Live processes whose command line or working directory mentions ``path``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        cmdline = " ".join(proc.info["cmdline"] or ())
        cwd = proc.info["cwd"] or ""
        if str(path) in cmdline or cwd.startswith(str(path)):
            found.append(proc)
    return found


def still_alive(pids: Sequence[int]) -> list[int]:
    """The subset of ``pids`` still alive (zombies count as gone)."""
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            continue
    return alive


def server_family(pid: int) -> list[int]:
    """A postmaster and its child processes (checkpointer, walwriter, backends...)."""
    proc = psutil.Process(pid)
    return [pid, *(child.pid for child in proc.children(recursive=True))]


def sigkill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def reap_servers(home: Path) -> list[int]:
    """After a failed test: SIGQUIT (immediate shutdown) every server under ``home``.

    Returns their pids; an empty list is what a passing test leaves.
    """
    pids = [p.pid for p in processes_using(home) if p.info["cmdline"] and
            Path(p.info["cmdline"][0]).name == "postgres"]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)
    return pids
