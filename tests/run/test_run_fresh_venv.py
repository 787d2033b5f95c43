"""The newcomer's path (issue 7): a fresh virtualenv, ``pip install``, ``envmon run --demo``
with no broker, no database and an empty HOME; readings are stored and a daily indicator is
computed; SIGTERM stops everything, the embedded database included."""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import sys
import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.conftest import free_port
from tests.run.support import (
    REPO,
    RunProcess,
    clean_env,
    postmaster_pid,
    processes_using,
    reap_servers,
    server_family,
    still_alive,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration]

def project_files() -> list[Path]:
    """What ``pip install .`` reads: pyproject, README, and the packages it declares."""
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = meta["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [p for p in REPO.iterdir() if p.is_dir() and (p / "__init__.py").exists()
                and any(fnmatch.fnmatch(p.name, pattern) for pattern in patterns)]
    return [REPO / "pyproject.toml", REPO / meta["project"]["readme"], *packages]


def copy_project(dest: Path) -> Path:
    """A clean copy, so that pip's in-tree build leaves nothing in the repository."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    dest.mkdir()
    for src in project_files():
        if src.is_dir():
            shutil.copytree(src, dest / src.name, ignore=ignore)
        else:
            shutil.copy2(src, dest / src.name)
    return dest


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv with the project installed by plain ``pip install`` (pip cache reused)."""
    root = tmp_path_factory.mktemp("fresh")
    source = copy_project(root / "src")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", str(source)],
        capture_output=True, text=True, timeout=150,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return venv


def test_demo_on_a_fresh_machine(fresh_venv: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    envmon = str(fresh_venv / "bin" / "envmon")
    yesterday = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(days=1)).date()
    env = clean_env(home, {"ENVMON_METRICS_PORT": str(free_port())})
    run = RunProcess([envmon, "run", "--demo"], env, cwd=tmp_path)
    try:
        run.wait_for("(Ctrl-C to stop)", timeout_s=60)
        assert "embedded PostgreSQL" in run.stderr and "embedded MQTT 3.1.1 broker" in run.stderr
        url = run.database_url()
        pgdata = home / ".local" / "share" / "envmon" / "postgres"
        assert (pgdata / "PG_VERSION").exists()
        family = server_family(postmaster_pid(pgdata))

        def stored() -> int:
            with psycopg.connect(url) as conn:
                row = conn.execute("SELECT count(*) FROM readings").fetchone()
                return int(row[0]) if row else 0

        run.wait_for(lambda: stored() > 0, timeout_s=60)

        def report() -> dict[str, object]:
            out = subprocess.run(
                [envmon, "report", "air", "--city", "Pingliang", "--day", str(yesterday),
                 "--format", "json"],
                env={**env, "ENVMON_DATABASE_URL": url}, capture_output=True, text=True,
                timeout=60,
            )
            assert out.returncode == 0, out.stderr
            doc: dict[str, object] = json.loads(out.stdout)
            return doc

        # The demo backfills yesterday; the aggregator turns it into daily AQI.
        run.wait_for(lambda: int(str(report()["valid_days"])) >= 1, timeout_s=90)
    except BaseException:
        run.kill()
        reap_servers(home)
        raise
    rc = run.terminate()
    assert rc == 0, run.stderr[-4000:]
    assert "envmon run: stopped" in run.stderr
    assert still_alive(family) == []
    assert not (pgdata / "postmaster.pid").exists()  # removed by a clean shutdown only
    assert processes_using(home) == []
