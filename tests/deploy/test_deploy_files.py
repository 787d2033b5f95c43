"""deploy/ files refer to what the code really exports: metric names and database views."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from psycopg import AsyncConnection

from aggregator import standards
from aggregator.metrics import AggregatorMetrics
from alerts.delivery import DeliveryMetrics
from alerts.metrics import EngineMetrics
from envmon import db
from ingest.hj212.gateway import GatewayMetrics
from ingest.metrics import IngestMetrics
from tests.conftest import REPO
from tests.web.support import on_every_layout, seed_demo
from web.colours import aqi_bands

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = json.loads((DEPLOY / "grafana/envmon-pipeline.json").read_text())
METRIC = re.compile(r"\benvmon_[a-z0-9_]+")


def exported_names() -> set[str]:
    reg = CollectorRegistry()
    for metrics in (IngestMetrics, GatewayMetrics, AggregatorMetrics, EngineMetrics,
                    DeliveryMetrics):
        metrics(reg)
    names: set[str] = set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
                "gauge": ("",)}
    for family in reg.collect():
        names.update(family.name + sfx for sfx in suffixes.get(family.type, ("",)))
    return names


def expressions(path: str) -> list[str]:
    """The PromQL expressions of a dashboard (targets' expr) or a rules file."""
    text = (DEPLOY / path).read_text()
    if path.endswith(".json"):
        return [t["expr"] for p in json.loads(text)["panels"] for t in p["targets"]
                if "expr" in t]
    return [str(rule["expr"]) for group in yaml.safe_load(text)["groups"]
            for rule in group["rules"]]


@pytest.mark.parametrize("path", ["grafana/envmon-pipeline.json",
                                  "prometheus/envmon-rules.yml"])
def test_every_referenced_metric_exists(path: str) -> None:
    used = {m for expr in expressions(path) for m in METRIC.findall(expr)}
    assert used, f"{path} references no envmon metric"
    missing = used - exported_names()
    assert not missing, f"{path} uses metrics the code does not export: {sorted(missing)}"


@pytest.mark.integration
async def test_dashboard_sql_runs_on_the_schema(db_conn: AsyncConnection[Any]) -> None:
    queries = [t["rawSql"] for p in DASHBOARD["panels"] for t in p["targets"] if "rawSql" in t]
    assert queries
    for sql in queries:
        await db_conn.execute(sql)
    await db_conn.rollback()


# --- Grafana: provisioning and the environment dashboard (issue 15) ---------------------------

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted(GRAFANA.glob("*.json"))
LOADED = {p.name: json.loads(p.read_text()) for p in DASHBOARDS}
GRAFANA_MACRO = re.compile(r"\$__timeFilter\(([^)]+)\)")
GRAFANA_VARIABLE = re.compile(r"\$\{(\w+):sqlstring\}")


def dashboard_sql(dashboard: dict[str, Any]) -> list[str]:
    """Every SQL text of a dashboard: panel targets and query variables."""
    out = [t["rawSql"] for p in dashboard["panels"] for t in p.get("targets", [])
           if "rawSql" in t]
    out += [v["query"] for v in dashboard.get("templating", {}).get("list", [])
            if v.get("type") == "query"]
    return out


def expand(sql: str, variables: dict[str, str], start: datetime, end: datetime) -> str:
    """What Grafana sends for ``$__timeFilter(col)`` and ``${var:sqlstring}``; any other
    macro or variable left in the text fails the test (it would not be tested)."""
    text = GRAFANA_MACRO.sub(
        lambda m: f"{m.group(1)} BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'", sql)
    text = GRAFANA_VARIABLE.sub(lambda m: "'" + variables[m.group(1)].replace("'", "''") + "'",
                                text)
    assert "$" not in text, f"unexpanded Grafana macro or variable in: {text}"
    return text


def test_provisioning_points_at_the_dashboards() -> None:
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/envmon.yaml").read_text())
    types = {d["type"] for d in sources["datasources"]}
    assert {"grafana-postgresql-datasource", "prometheus"} <= types
    assert all("password" not in d.get("jsonData", {}) for d in sources["datasources"])
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/envmon.yaml").read_text())
    assert provider["providers"][0]["options"]["path"]
    uids = [d["uid"] for d in LOADED.values()]
    assert len(uids) == len(set(uids)) >= 2
    for name, dashboard in LOADED.items():
        used = {v["query"] for v in dashboard["templating"]["list"] if v["type"] == "datasource"}
        assert used <= types, f"{name} needs a data source type nobody provisions"


def test_environment_dashboard_uses_the_standards_figures() -> None:
    """AQI thresholds are HJ 633 表2 colours; the embedded plan targets are targets.toml."""
    dashboard = LOADED["envmon-environment.json"]
    bands = [(b["lower"], b["hex"]) for b in aqi_bands()]
    steps = [[(s["value"] or 0, s["color"]) for s in
              p["fieldConfig"]["defaults"]["thresholds"]["steps"]]
             for p in dashboard["panels"]
             if "thresholds" in p.get("fieldConfig", {}).get("defaults", {})]
    assert steps and all(s == bands for s in steps)
    sql = " ".join(dashboard_sql(dashboard))
    targets = tomllib.loads((REPO / "aggregator/standards/targets.toml").read_text())
    for indicator in ("air_good_day_ratio", "noise_night_compliance"):
        values = ", ".join(f"({y}, {v})" for y, v in targets[indicator].items())
        assert f"(VALUES {values})" in sql, indicator


@pytest.fixture(scope="module")
async def grafana_db(database_url: str) -> str:
    async with await db.connect(database_url) as conn:
        await seed_demo(conn, datetime.now(UTC))
    return database_url


@on_every_layout
@pytest.mark.integration
@pytest.mark.parametrize("name", [p.name for p in DASHBOARDS])
async def test_every_dashboard_query_runs_on_demo_data(grafana_db: str, name: str) -> None:
    dashboard = LOADED[name]
    end = datetime.now(UTC)
    start = end - timedelta(days=2)
    today = datetime.now(standards.BEIJING).date()
    queries = dashboard_sql(dashboard)
    assert queries
    async with await db.connect(grafana_db) as conn:
        for sql in queries:
            cur = await conn.execute(expand(sql, {"city": "Pingliang"}, start, end).encode())
            rows = await cur.fetchall()
            # every environment panel has data from the demo's two days (a panel of the
            # current month or year may be empty on its first Beijing day)
            if name == "envmon-environment.json" and (
                    today.day > 1 or "date_trunc" not in sql):
                assert rows, f"no rows from {name}: {sql}"
        await conn.rollback()
