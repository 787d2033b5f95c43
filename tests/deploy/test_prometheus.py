"""deploy/prometheus and deploy/alertmanager pass Prometheus' own checkers (Debian packages
`prometheus` and `prometheus-alertmanager`, installed by .ci/run); the rules' unit tests
(deploy/prometheus/tests) cover every alert; the dashboard's recording rules exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROM = DEPLOY / "prometheus"
RULES = yaml.safe_load((PROM / "envmon-rules.yml").read_text())
RULE_TESTS = PROM / "tests/envmon-rules.test.yml"


def tool(name: str, *args: str) -> str:
    exe = shutil.which(name)
    if exe is None:  # a missing checker is a failure, never a skip
        pytest.fail(f"{name} is not installed (apt-get install prometheus prometheus-alertmanager)")
    done = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{name} {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.mark.parametrize("config", ["envmon.yml", "compose.yml"])
def test_promtool_accepts_the_complete_config(config: str) -> None:
    out = tool("promtool", "check", "config", str(PROM / config))
    assert "SUCCESS" in out and "envmon-rules.yml" in out  # the rules file was loaded too


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    assert "SUCCESS" in tool("promtool", "check", "rules", str(PROM / "envmon-rules.yml"))
    assert "SUCCESS" in tool("promtool", "test", "rules", str(RULE_TESTS))


def test_every_alert_has_a_rule_test() -> None:
    alerts = {r["alert"] for g in RULES["groups"] for r in g["rules"] if "alert" in r}
    tested = {case["alertname"] for t in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for case in t.get("alert_rule_test", [])
              if case.get("exp_alerts")}  # a case where the alert really fires
    assert alerts - tested == set()


def test_alertmanager_example_is_valid_and_inhibits_the_per_station_alerts() -> None:
    config = DEPLOY / "alertmanager/alertmanager.yml"
    assert "SUCCESS" in tool("amtool", "check-config", str(config))
    alerts = {r["alert"] for g in RULES["groups"] for r in g["rules"] if "alert" in r}
    inhibited: set[str] = set()
    for rule in yaml.safe_load(config.read_text())["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            names = re.fullmatch(r'alertname=~?"([^"]+)"', matcher)
            assert names, matcher
            assert set(names[1].split("|")) <= alerts, f"{matcher} names an unknown alert"
        inhibited.update(m.split('"')[1] for m in rule["target_matchers"])
    assert "EnvmonStationSilent" in inhibited


def test_dashboard_recording_rules_exist() -> None:
    recorded = {r["record"] for g in RULES["groups"] for r in g["rules"] if "record" in r}
    dashboard = json.loads((DEPLOY / "grafana/envmon-pipeline.json").read_text())
    used = {name for p in dashboard["panels"] for t in p["targets"] if "expr" in t
            for name in re.findall(r"\benvmon:[a-z0-9_:]+", t["expr"])}
    assert used and used <= recorded


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """A real Alertmanager (Debian prometheus-alertmanager) with the example config."""
    exe = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if exe is None:
        pytest.fail("Alertmanager is not installed (apt-get install prometheus-alertmanager)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, f"--config.file={DEPLOY / 'alertmanager/alertmanager.yml'}",
         f"--storage.path={tmp_path}", f"--web.listen-address=127.0.0.1:{port}",
         "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/v2"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/status", timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, "alertmanager exited"
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def alert_states(url: str) -> dict[str, tuple[str, list[str]]]:
    with urllib.request.urlopen(f"{url}/alerts", timeout=5) as response:
        alerts = json.load(response)
    return {a["labels"].get("station", a["labels"]["alertname"]):
            (a["status"]["state"], a["status"]["inhibitedBy"]) for a in alerts}


def test_a_broker_outage_notifies_once_not_per_station(alertmanager: str) -> None:
    """Alertmanager with deploy/alertmanager/alertmanager.yml: while EnvmonBrokerUnreachable
    fires, the per-station silent alerts are suppressed (inhibited), not sent."""
    def alert(name: str, **labels: str) -> dict[str, Any]:
        return {"labels": {"alertname": name, **labels}, "annotations": {"summary": name}}

    stations = [alert("EnvmonStationSilent", station=f"S{i}", severity="warning")
                for i in range(3)]
    body = [alert("EnvmonBrokerUnreachable", severity="critical"), *stations]
    request = urllib.request.Request(f"{alertmanager}/alerts", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()
    states: dict[str, tuple[str, list[str]]] = {}
    for _ in range(200):  # the inhibitor runs asynchronously after the alerts are stored
        states = alert_states(alertmanager)
        if len(states) == 4 and all(states[f"S{i}"][0] == "suppressed" for i in range(3)):
            break
        time.sleep(0.05)
    assert states["EnvmonBrokerUnreachable"] == ("active", [])
    for i in range(3):
        state, inhibited_by = states[f"S{i}"]
        assert state == "suppressed" and len(inhibited_by) == 1
