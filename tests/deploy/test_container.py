"""The container path of deploy/: compose.yaml is valid Compose (the specification's JSON
schema, vendored in compose-spec/), everything it mounts exists, every envmon service runs a
real envmon command; the Dockerfile is multi-stage, runs as non-root, and its HEALTHCHECK
command passes against a live /healthz and fails without one; the broker config of the
compose file starts a real Mosquitto that refuses anonymous clients."""

from __future__ import annotations

import asyncio
import copy
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from app.cli import COMMANDS
from envmon.health import HealthServer
from tests.conftest import free_port, start_mosquitto, stop_mosquitto

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
REPO = DEPLOY.parent
SCHEMA = json.loads((Path(__file__).parent / "compose-spec/compose-spec.json").read_text())
COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
DOCKERFILE = (DEPLOY / "Dockerfile").read_text()


def test_compose_file_validates_against_the_compose_schema() -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(COMPOSE)


def test_schema_rejects_a_broken_compose_file() -> None:
    """The validator is not vacuous: a misspelt key and a wrong type are caught."""
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["aggregate"]["restart_policy"] = "always"
    assert list(jsonschema.Draft7Validator(SCHEMA).iter_errors(broken))
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["ingest-1"]["ports"] = "1883"
    assert list(jsonschema.Draft7Validator(SCHEMA).iter_errors(broken))


def bind_sources() -> list[str]:
    return sorted({v.split(":", 1)[0] for s in COMPOSE["services"].values()
                   for v in s.get("volumes", []) if v.startswith(".")})


@pytest.mark.parametrize("source", bind_sources())
def test_bind_mounted_files_exist(source: str) -> None:
    if source.startswith("./secrets"):  # made by the operator (README), never in git
        assert "deploy/secrets/" in (REPO / ".gitignore").read_text()
    else:
        assert (DEPLOY / source).exists(), source


def test_the_expected_services_are_there() -> None:
    services = set(COMPOSE["services"])
    assert {"timescaledb", "mosquitto", "migrate", "ingest-1", "ingest-2", "aggregate",
            "hj212-gateway", "alerts", "api", "prometheus", "alertmanager",
            "grafana"} <= services
    assert COMPOSE["services"]["timescaledb"]["image"].startswith("timescale/timescaledb:")
    assert "/etc/grafana/provisioning" in " ".join(COMPOSE["services"]["grafana"]["volumes"])


def test_envmon_services_run_real_commands_with_distinct_client_ids() -> None:
    envmon = {n: s for n, s in COMPOSE["services"].items() if s.get("image") == "envmon:latest"}
    assert len(envmon) == 7
    for name, service in envmon.items():
        assert service["command"][0] in COMMANDS, f"{name}: {service['command']}"
        assert service["read_only"] and service["cap_drop"] == ["ALL"]
    ids = [s["environment"]["ENVMON_INGEST__CLIENT_ID"] for n, s in envmon.items()
           if s["command"] == ["ingest"]]
    assert len(ids) == 2 and len(set(ids)) == 2


def test_prometheus_of_compose_scrapes_every_envmon_service() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus/compose.yml").read_text())
    targets = {t.split(":")[0] for job in config["scrape_configs"]
               for sc in job.get("static_configs", []) for t in sc["targets"]}
    long_running = {n for n, s in COMPOSE["services"].items()
                    if s.get("image") == "envmon:latest" and n not in ("migrate", "api")}
    assert long_running <= targets


def test_dockerfile_is_multi_stage_and_non_root() -> None:
    stages = re.findall(r"^FROM (\S+)(?: AS (\S+))?", DOCKERFILE, re.M)
    assert len(stages) >= 2
    final = DOCKERFILE.split(f"FROM {stages[-1][0]}")[-1]
    assert "COPY --from=build" in final
    user = re.findall(r"^USER (\S+)", final, re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")


def test_dockerignore_keeps_what_pip_install_needs() -> None:
    ignored = {line.strip() for line in (DEPLOY / "Dockerfile.dockerignore").read_text()
               .splitlines() if line.strip() and not line.startswith("#")}
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = meta["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.name for p in REPO.iterdir() if (p / "__init__.py").exists()
                and any(fnmatch.fnmatch(p.name, pattern) for pattern in patterns)}
    assert {"envmon", "ingest", "aggregator"} <= packages
    needed = {"pyproject.toml", meta["project"]["readme"], *packages}
    assert not needed & ignored
    assert not any(fnmatch.fnmatch(n, pattern) for n in needed for pattern in ignored)


def healthcheck_command() -> list[str]:
    match = re.search(r"^\s*CMD (\[.*\])$", DOCKERFILE.split("HEALTHCHECK", 1)[1], re.M)
    assert match, "HEALTHCHECK has no exec-form CMD"
    command: list[str] = json.loads(match[1])
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def run_healthcheck(port: int) -> int:
    env = {**os.environ, "ENVMON_METRICS_PORT": str(port)}
    return subprocess.run(healthcheck_command(), env=env, capture_output=True,
                          timeout=30).returncode


async def test_healthcheck_passes_on_live_healthz_and_fails_without() -> None:
    server = HealthServer("127.0.0.1", 0, lambda: True)
    port = await server.start()
    try:
        assert await asyncio.to_thread(run_healthcheck, port) == 0
    finally:
        await server.close()
    assert await asyncio.to_thread(run_healthcheck, free_port()) != 0


@pytest.fixture
def broker_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="envmon-compose-mosq-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.integration
@pytest.mark.parametrize(("config", "paths"), [
    ("compose.conf", {"/mosquitto/secrets/passwd": "passwd", "/mosquitto/secrets/envmon.acl":
                      "envmon.acl", "/mosquitto/data/": "", "/mosquitto/config/conf.d": "conf.d"}),
    ("envmon-auth.conf", {"/etc/mosquitto/envmon.passwd": "passwd",
                          "/etc/mosquitto/envmon.acl": "envmon.acl"}),
])
def test_broker_config_starts_and_refuses_anonymous(broker_dir: Path, config: str,
                                                     paths: dict[str, str]) -> None:
    """The broker configs of both install paths, their absolute paths mapped to a temporary
    directory (with envmon.conf as the Debian/compose setups include it)."""
    (broker_dir / "conf.d").mkdir()
    shutil.copy(DEPLOY / "mosquitto/envmon.conf", broker_dir / "conf.d/envmon.conf")
    passwd = broker_dir / "passwd"
    passwd.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "envmon-ingest", "pw"], check=True)
    passwd.chmod(0o644)
    (broker_dir / "envmon.acl").write_text("user envmon-ingest\ntopic read envmon/#\n")
    port = free_port()
    conf = (DEPLOY / "mosquitto" / config).read_text()
    for container_path, name in paths.items():
        assert container_path in conf
        conf = conf.replace(container_path, f"{broker_dir}/{name}")
    assert "listener 1883\n" in conf
    conf = conf.replace("listener 1883\n", f"listener {port} 127.0.0.1\n")
    # start_mosquitto sets its own persistence_location (Mosquitto refuses a second one)
    conf = re.sub(r"^persistence_location .*$", "", conf, flags=re.M)
    if "include_dir" not in conf:  # Debian's mosquitto.conf includes conf.d
        conf += f"include_dir {broker_dir}/conf.d\n"
    broker = start_mosquitto(conf, project_config=False, anonymous=False)
    try:
        for user, ok in ((None, False), ("envmon-ingest", True)):
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}")
            if user:
                c.username_pw_set(user, "pw")
            result: list[bool] = []
            c.on_connect = lambda _c, _u, _f, rc, _p, out=result: out.append(not rc.is_failure)
            c.connect("127.0.0.1", port)
            for _ in range(100):
                if result:
                    break
                c.loop(timeout=0.1)
            assert result == [ok], user
            c.disconnect()
    finally:
        stop_mosquitto(broker)
