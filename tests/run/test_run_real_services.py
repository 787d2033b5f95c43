"""The same ``envmon run`` pointed at the real services (issue 7): Mosquitto (MQTT 5) and
PostgreSQL from ENVMON_MQTT_URL / ENVMON_DATABASE_URL; nothing embedded is started."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.conftest import Broker, create_database, drop_database, free_port
from tests.run.support import REPO, RunProcess, clean_env, envmon_argv, processes_using

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture
def run_database() -> Iterator[str]:
    """An empty database of its own: ``envmon run`` migrates it, as on a first deployment."""
    url = create_database("envmon_run")
    yield url
    drop_database(url)


def test_run_demo_against_mosquitto_and_postgresql(
    run_database: str, mqtt_broker: Broker, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    tag = secrets.token_hex(3)
    env = clean_env(home, {
        "ENVMON_DATABASE_URL": run_database,
        "ENVMON_MQTT_URL": mqtt_broker.url,
        "ENVMON_METRICS_PORT": str(free_port()),
        # Own topics and session on the shared test broker.
        "ENVMON_TOPIC_PREFIX": f"runtest{tag}",
        "ENVMON_INGEST__CLIENT_ID": f"envmon-run-{tag}",
    })
    yesterday = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(days=1)).date()
    run = RunProcess([*envmon_argv(), "run", "--demo"], env, cwd=REPO)
    try:
        run.wait_for("(Ctrl-C to stop)", timeout_s=60)
        assert "(ENVMON_DATABASE_URL)" in run.stderr and "(ENVMON_MQTT_URL)" in run.stderr
        assert "embedded" not in run.stderr

        def stored() -> int:
            with psycopg.connect(run_database) as conn:
                row = conn.execute("SELECT count(*) FROM readings").fetchone()
                return int(row[0]) if row else 0

        run.wait_for(lambda: stored() > 0, timeout_s=60)

        def valid_days() -> int:
            out = subprocess.run(
                [*envmon_argv(), "report", "air", "--city", "Pingliang", "--day", str(yesterday),
                 "--format", "json"],
                env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
            )
            assert out.returncode == 0, out.stderr
            return int(json.loads(out.stdout)["valid_days"])

        run.wait_for(lambda: valid_days() >= 1, timeout_s=90)
    except BaseException:
        run.kill()
        raise
    assert run.terminate() == 0, run.stderr[-4000:]
    assert not (home / ".local").exists()  # no embedded data directory was created
    assert processes_using(home) == []
