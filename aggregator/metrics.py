"""Prometheus metrics of the aggregator (``envmon_aggregator_*``, base units)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from envmon.metrics import Metrics


class AggregatorMetrics(Metrics):
    """All aggregator metrics on one registry (a fresh one per test;
    ``AggregatorMetrics.of()`` in the service)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.backlog = self.gauge(
            "envmon_aggregator_backlog_station_days",
            "Dirty (station, Beijing day) pairs waiting for recomputation")
        self.oldest = self.gauge(
            "envmon_aggregator_backlog_oldest_seconds",
            "Age of the oldest dirty mark waiting for recomputation")
        self.lag = self.histogram(
            "envmon_aggregator_lag_seconds",
            "From the commit that marked a station-day dirty to the commit of its indicators",
            (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800))
        self.duration = self.histogram(
            "envmon_aggregator_recompute_seconds",
            "Duration of one recomputation batch (claim, station days, regions, periods, commit)",
            (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
        self.station_days = self.counter(
            "envmon_aggregator_station_days_total", "Station-days recomputed")
        self.rows = self.counter(
            "envmon_aggregator_indicator_rows_total",
            "Indicator rows written, by what happened to them", ["change"])
        self.revisions = self.counter(
            "envmon_aggregator_revisions_total",
            "Published indicator values that changed (rows added to indicator_revisions)")
        self.errors = self.counter(
            "envmon_aggregator_errors_total", "Recomputation batches that failed", ["kind"])
