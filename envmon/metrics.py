"""The one way a component holds its Prometheus metrics (names ``envmon_*``, base units).

Each component has one :class:`Metrics` subclass that builds all its metrics on the registry
it is given: a test passes a fresh ``CollectorRegistry``, a service takes ``Cls.of()``, the
instance of the default registry (the one ``/metrics`` serves). ``of`` makes one instance per
class and registry, so components that share a process (``envmon run``, or ingest and the
HJ 212 gateway) share their metrics instead of registering the same names twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self
from weakref import WeakKeyDictionary

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

_instances: WeakKeyDictionary[CollectorRegistry, dict[type[Metrics], Metrics]] = (
    WeakKeyDictionary())


class Metrics:
    """Base of a component's metrics: ``registry`` None is the default registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else REGISTRY

    @classmethod
    def of(cls, registry: CollectorRegistry | None = None) -> Self:
        """The one instance of this class on ``registry`` (the default one if None)."""
        made = _instances.setdefault(registry if registry is not None else REGISTRY, {})
        instance = made.get(cls)
        if not isinstance(instance, cls):
            instance = made[cls] = cls(registry)
        return instance

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, documentation, labels, registry=self.registry)

    def histogram(self, name: str, documentation: str, buckets: Sequence[float],
                  labels: Sequence[str] = ()) -> Histogram:
        return Histogram(name, documentation, labels, buckets=buckets, registry=self.registry)
