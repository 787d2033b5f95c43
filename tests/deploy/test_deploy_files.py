"""deploy/ files refer to what the code really exports: metric names and database views."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, CollectorRegistry
from psycopg import AsyncConnection

import aggregator.metrics  # noqa: F401 - registers the aggregator metrics on the default registry
from ingest.hj212.gateway import GatewayMetrics
from ingest.metrics import IngestMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = json.loads((DEPLOY / "grafana/envmon-pipeline.json").read_text())
METRIC = re.compile(r"\benvmon_[a-z0-9_]+")


def exported_names() -> set[str]:
    reg = CollectorRegistry()
    IngestMetrics(reg)
    GatewayMetrics(reg)
    names: set[str] = set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
                "gauge": ("",)}
    for registry in (reg, REGISTRY):
        for family in registry.collect():
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
