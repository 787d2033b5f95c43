"""Recovery of the embedded database (issue 7): a second ``envmon run`` after a ``kill -9`` of
the first one starts without manual steps, with the data of the first one; a stale lock file
whose pid now belongs to another process does not block a start; one run per data dir."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from envmon.embedded import postgres
from tests.conftest import free_port
from tests.run.support import (
    REPO,
    RunProcess,
    clean_env,
    envmon_argv,
    postmaster_pid,
    reap_servers,
    server_family,
    sigkill,
    still_alive,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration]
READY = "(Ctrl-C to stop)"


def start_run(home: Path, runs: list[RunProcess]) -> RunProcess:
    env = clean_env(home, {"ENVMON_METRICS_PORT": str(free_port())})
    runs.append(RunProcess([*envmon_argv(), "run"], env, cwd=REPO))
    return runs[-1]


def test_second_start_after_kill_9_recovers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    pgdata = home / ".local" / "share" / "envmon" / "postgres"
    runs: list[RunProcess] = []
    try:
        first = start_run(home, runs)
        first.wait_for(READY, timeout_s=60)
        url = first.database_url()
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE recovery_marker (n integer)")
            conn.execute("INSERT INTO recovery_marker VALUES (42)")
        orphan = postmaster_pid(pgdata)
        sigkill(first.proc.pid)
        first.join()
        # What must be recovered: the server outlives the run that started it.
        assert still_alive([orphan]) == [orphan]

        second = start_run(home, runs)
        second.wait_for(READY, timeout_s=60)
        assert f"left running by an earlier run (pid {orphan})" in second.stderr
        assert still_alive([orphan]) == []
        with psycopg.connect(second.database_url()) as conn:
            row = conn.execute("SELECT n FROM recovery_marker").fetchone()
        assert row == (42,)

        third = start_run(home, runs)
        assert third.join(60) == 1
        assert "another envmon run" in third.stderr
        assert postmaster_pid(pgdata) != orphan

        family = server_family(postmaster_pid(pgdata))
        assert second.terminate() == 0, second.stderr[-4000:]
        assert still_alive(family) == []
    finally:
        for run in runs:
            if run.proc.poll() is None:
                run.kill()
        leftovers = reap_servers(home)
    assert leftovers == []


def test_stale_pid_file_of_another_process_does_not_block_start(tmp_path: Path) -> None:
    """PostgreSQL refuses a lock file whose pid is alive; after a reboot that pid is often
    some unrelated process (here: this test)."""
    pgdata = tmp_path / "pg"
    server = postgres.start(pgdata)
    lock_lines = (pgdata / "postmaster.pid").read_text().split("\n")
    server.stop()
    assert not (pgdata / "postmaster.pid").exists()
    (pgdata / "postmaster.pid").write_text("\n".join([str(os.getpid()), *lock_lines[1:]]))
    again = postgres.start(pgdata)
    try:
        assert again.pid != os.getpid()
        with psycopg.connect(again.url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("envmon",)
    finally:
        again.stop()
    assert still_alive([again.pid]) == []
