"""Prometheus metrics of the ingest path (names: ``envmon_ingest_*``, base units)."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram


class IngestMetrics:
    """All ingest metrics, on one registry (per test a fresh one; the default in service)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = registry if registry is not None else REGISTRY
        self._registry, self._station_series = reg, True
        self.messages_received = Counter(
            "envmon_ingest_messages_received_total",
            "Messages/packets received",
            ["transport"],
            registry=reg,
        )
        self.readings_written = Counter(
            "envmon_ingest_readings_written_total", "New readings committed", registry=reg
        )
        self.duplicates = Counter(
            "envmon_ingest_duplicates_total",
            "Readings received again with the same value (resends, redeliveries)",
            registry=reg,
        )
        self.revisions = Counter(
            "envmon_ingest_revisions_total",
            "Readings whose stored value or flag was replaced (old kept in reading_revisions)",
            registry=reg,
        )
        self.rejected = Counter(
            "envmon_ingest_rejected_total",
            "Messages dead-lettered, by reason",
            ["reason"],
            registry=reg,
        )
        self.batch_messages = Histogram(
            "envmon_ingest_batch_messages",
            "Messages per committed batch",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000, 20000),
            registry=reg,
        )
        self.commit_seconds = Histogram(
            "envmon_ingest_commit_seconds",
            "Time to write and commit one batch",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=reg,
        )
        self.unacked = Gauge(
            "envmon_ingest_unacked_messages",
            "Messages received but not yet committed and acknowledged",
            registry=reg,
        )
        self.db_errors = Counter(
            "envmon_ingest_db_errors_total",
            "Failed batch attempts (retried)",
            ["kind"],
            registry=reg,
        )
        self.held_bytes = Gauge(
            "envmon_ingest_held_bytes",
            "Estimated bytes of the messages held (payloads plus decoded readings)",
            registry=reg,
        )
        self.held_messages_peak = Gauge(
            "envmon_ingest_held_messages_peak",
            "Most messages held at once since start (bound: ingest.max_held_messages)",
            registry=reg,
        )
        self.held_bytes_peak = Gauge(
            "envmon_ingest_held_bytes_peak",
            "Most estimated bytes held at once since start (bound: ingest.max_held_bytes)",
            registry=reg,
        )
        self.intake_paused = Counter(
            "envmon_ingest_intake_paused_total",
            "Times the consumer stopped reading its socket because the held bound was reached",
            registry=reg,
        )
        self.db_refused = Counter(
            "envmon_ingest_db_refused_total",
            "Messages the database kept refusing, dead-lettered, by SQLSTATE",
            ["sqlstate"],
            registry=reg,
        )
        self.db_up = Gauge("envmon_ingest_db_up", "1 when the last batch committed", registry=reg)
        self.stations_registered = Gauge(
            "envmon_ingest_stations_registered",
            "Stations this process knows (reloaded on NOTIFY envmon_stations); 0 rejects all",
            registry=reg,
        )
        self.mqtt_connected = Gauge(
            "envmon_ingest_mqtt_connected", "1 while connected to the broker", registry=reg
        )
        self.last_reading = Gauge(
            "envmon_ingest_last_reading_timestamp_seconds",
            "Interval start of the newest committed reading, per station",
            ["station"],
            registry=reg,
        )

    def export_station_series(self, enabled: bool) -> None:
        """Export ``last_reading`` or not (``ENVMON_INGEST__STATION_METRICS``). It is one
        series per station per ingest instance: at 10 000 stations 90 % of a scrape. The
        stations' silent alerts (deploy/prometheus) need it; without it, station freshness
        comes from the database (status page). Recording continues either way."""
        if enabled and not self._station_series:
            self._registry.register(self.last_reading)
        elif not enabled and self._station_series:
            self._registry.unregister(self.last_reading)
        self._station_series = enabled
