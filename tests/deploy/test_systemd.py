"""deploy/systemd: each unit, with the shared hardening drop-in as it is installed, is rated
OK (not EXPOSED) by `systemd-analyze security --offline`, runs as a transient non-root user,
and no two envmon processes (ingest@1..99 included) share a metrics port; Prometheus scrapes
exactly those ports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

SYSTEMD = Path(__file__).resolve().parents[2] / "deploy/systemd"
PROMETHEUS = SYSTEMD.parent / "prometheus/envmon.yml"
UNITS = ["envmon-ingest@1.service", "envmon-ingest@10.service", "envmon-aggregate.service",
         "envmon-hj212-gateway.service", "envmon-alerts.service", "envmon-api.service"]
NO_METRICS = {"envmon-api.service"}  # its /healthz is on the API port; it has no metrics
RATING = re.compile(r"Overall exposure level for (\S+): (\d+\.\d) (\w+)")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file system root with deploy/systemd installed as the README says."""
    root = tmp_path_factory.mktemp("root")
    shutil.copytree(SYSTEMD, root / "etc/systemd/system")
    return root


def analyze(root: Path, unit: str, *extra: str) -> str:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.fail("systemd-analyze is not installed (apt-get install systemd)")
    done = subprocess.run([exe, "security", "--offline=true", f"--root={root}", *extra, unit],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("unit", UNITS)
def test_unit_is_rated_ok(root: Path, unit: str) -> None:
    match = RATING.search(analyze(root, unit))
    assert match and match[1] == unit, "no overall rating printed"
    assert match[3] in ("PERFECT", "SAFE", "OK"), f"{unit}: {match[2]} {match[3]}"
    assert float(match[2]) < 2.0  # measured 1.1; the OK band ends at 4.9


@pytest.mark.parametrize("unit", UNITS)
def test_unit_runs_as_transient_non_root_user(root: Path, unit: str) -> None:
    checks = {c["name"]: c for c in json.loads(analyze(root, unit, "--json=short"))}
    assert checks["User=/DynamicUser="]["set"]
    assert checks["NoNewPrivileges="]["set"]


def metrics_ports() -> dict[str, set[int]]:
    """Each unit's metrics port(s); ingest@N for N = 1..99 by the unit's own shell arithmetic."""
    ports: dict[str, set[int]] = {}
    for unit in sorted(SYSTEMD.glob("*.service")):
        if unit.name in NO_METRICS:
            continue
        text = unit.read_text()
        fixed = re.search(r"^Environment=ENVMON_METRICS_PORT=(\d+)$", text, re.M)
        computed = re.search(r"ENVMON_METRICS_PORT=(\$\$\(\([^)]*%i\)\))", text)
        if fixed:
            ports[unit.name] = {int(fixed[1])}
        else:
            assert computed and "@" in unit.name, f"{unit.name} sets no metrics port"
            script = "; ".join(f"echo {computed[1].replace('$$', '$').replace('%i', str(n))}"
                               for n in range(1, 100))
            out = subprocess.run(["sh", "-c", script], capture_output=True, text=True,
                                 check=True).stdout.split()
            ports[unit.name] = {int(p) for p in out}
            assert len(ports[unit.name]) == 99
    return ports


def test_metrics_ports_never_collide() -> None:
    ports = metrics_ports()
    assert len(ports) == 4
    every = [p for unit_ports in ports.values() for p in unit_ports]
    assert len(every) == len(set(every)), ports
    assert all(1024 <= p <= 65535 and p != 9212 for p in every)  # 9212: HJ 212 loggers


def test_prometheus_scrapes_the_units_ports() -> None:
    every = {p for unit_ports in metrics_ports().values() for p in unit_ports}
    config = yaml.safe_load(PROMETHEUS.read_text())
    targets = {int(t.rsplit(":", 1)[1]) for job in config["scrape_configs"]
               if job["job_name"].startswith("envmon")
               for sc in job["static_configs"] for t in sc["targets"]}
    assert targets and targets <= every
