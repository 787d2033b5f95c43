"""Prometheus metrics of the alerts engine (``envmon_alerts_*``; delivery has its own)."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram


class EngineMetrics:
    """All engine metrics on one registry (a fresh one per test; the default in service)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = registry if registry is not None else REGISTRY
        self.episodes = Gauge(
            "envmon_alerts_episodes", "Open episodes by state and severity",
            ["state", "severity"], registry=reg)
        self.lag = Histogram(
            "envmon_alerts_evaluation_lag_seconds",
            "From a batch's commit (ingest or aggregator) to its evaluation's commit",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300), registry=reg)
        self.transitions = Counter(
            "envmon_alerts_transitions_total", "Episode transitions",
            ["rule", "to"], registry=reg)
        self.late = Counter(
            "envmon_alerts_late_observations_total",
            "Breaching observations older than the rule's max_age that opened no episode",
            ["rule"], registry=reg)
        self.notifications = Counter(
            "envmon_alerts_enqueued_total",
            "Notifications decided and put in the outbox, by event (a decision repeated after a"
            " crash is dropped there by its idempotency key)",
            ["event"], registry=reg)
        self.errors = Counter(
            "envmon_alerts_errors_total", "Failed evaluation cycles (retried)", ["kind"],
            registry=reg)
