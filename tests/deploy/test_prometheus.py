"""deploy/prometheus and deploy/alertmanager pass Prometheus' own checkers (Debian packages
`prometheus` and `prometheus-alertmanager`, installed by .ci/run); the rules' unit tests
(deploy/prometheus/tests) cover every alert; the dashboard's recording rules exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

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
