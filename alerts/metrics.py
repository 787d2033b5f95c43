"""Prometheus metrics of the alerts engine (``envmon_alerts_*``; delivery has its own)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from envmon.metrics import Metrics


class EngineMetrics(Metrics):
    """All engine metrics on one registry (a fresh one per test; ``EngineMetrics.of()`` in
    the service)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.episodes = self.gauge(
            "envmon_alerts_episodes", "Open episodes by state and severity",
            ["state", "severity"])
        self.lag = self.histogram(
            "envmon_alerts_evaluation_lag_seconds",
            "From a batch's commit (ingest or aggregator) to its evaluation's commit",
            (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300))
        self.transitions = self.counter(
            "envmon_alerts_transitions_total", "Episode transitions", ["rule", "to"])
        self.late = self.counter(
            "envmon_alerts_late_observations_total",
            "Breaching observations older than the rule's max_age that opened no episode",
            ["rule"])
        self.notifications = self.counter(
            "envmon_alerts_enqueued_total",
            "Notifications decided and put in the outbox, by event (a decision repeated after a"
            " crash is dropped there by its idempotency key)", ["event"])
        self.errors = self.counter(
            "envmon_alerts_errors_total", "Failed evaluation cycles (retried)", ["kind"])
