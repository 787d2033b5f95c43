"""The one metrics pattern (envmon/metrics.py): built on the registry given, one instance per
class and registry through ``of`` so components sharing a process do not register twice."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from envmon.metrics import Metrics


class Sample(Metrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.seen = self.counter("envmon_test_seen_total", "Things seen", ["kind"])
        self.size = self.histogram("envmon_test_size", "Sizes", (1, 10))


def test_metrics_land_on_the_registry_given() -> None:
    registry = CollectorRegistry()
    Sample(registry).seen.labels("a").inc(2)
    assert registry.get_sample_value("envmon_test_seen_total", {"kind": "a"}) == 2
    assert CollectorRegistry().get_sample_value("envmon_test_seen_total", {"kind": "a"}) is None


def test_of_shares_one_instance_per_registry() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    assert Sample.of(first) is Sample.of(first)
    assert Sample.of(first) is not Sample.of(second)
    assert Sample.of(first).registry is first


def test_building_twice_on_one_registry_is_what_of_prevents() -> None:
    registry = CollectorRegistry()
    Sample.of(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Sample(registry)
