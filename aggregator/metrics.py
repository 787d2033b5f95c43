"""Prometheus metrics of the aggregator (default registry, ``envmon_`` prefix, base units)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BACKLOG = Gauge(
    "envmon_aggregator_backlog_station_days",
    "Dirty (station, Beijing day) pairs waiting for recomputation",
)
OLDEST = Gauge(
    "envmon_aggregator_backlog_oldest_seconds",
    "Age of the oldest dirty mark waiting for recomputation",
)
LAG = Histogram(
    "envmon_aggregator_lag_seconds",
    "From the commit that marked a station-day dirty to the commit of its indicators",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
)
DURATION = Histogram(
    "envmon_aggregator_recompute_seconds",
    "Duration of one recomputation batch (claim, station days, regions, periods, commit)",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
STATION_DAYS = Counter(
    "envmon_aggregator_station_days_total", "Station-days recomputed"
)
ROWS = Counter(
    "envmon_aggregator_indicator_rows_total",
    "Indicator rows written, by what happened to them",
    ["change"],
)
REVISIONS = Counter(
    "envmon_aggregator_revisions_total",
    "Published indicator values that changed (rows added to indicator_revisions)",
)
ERRORS = Counter(
    "envmon_aggregator_errors_total", "Recomputation batches that failed", ["kind"]
)
