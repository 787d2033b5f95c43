"""Prometheus metrics of the ingest path (names: ``envmon_ingest_*``, base units)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from envmon.metrics import Metrics


class IngestMetrics(Metrics):
    """All ingest metrics, on one registry (per test a fresh one; ``IngestMetrics.of()`` in
    the services: the MQTT consumer and the HJ 212 gateway of one process share it)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self._station_series = True
        self.messages_received = self.counter(
            "envmon_ingest_messages_received_total", "Messages/packets received", ["transport"])
        self.readings_written = self.counter(
            "envmon_ingest_readings_written_total", "New readings committed")
        self.duplicates = self.counter(
            "envmon_ingest_duplicates_total",
            "Readings received again with the same value (resends, redeliveries)")
        self.revisions = self.counter(
            "envmon_ingest_revisions_total",
            "Readings whose stored value or flag was replaced (old kept in reading_revisions)")
        self.rejected = self.counter(
            "envmon_ingest_rejected_total", "Messages dead-lettered, by reason", ["reason"])
        self.batch_messages = self.histogram(
            "envmon_ingest_batch_messages", "Messages per committed batch",
            (1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000, 20000))
        self.commit_seconds = self.histogram(
            "envmon_ingest_commit_seconds", "Time to write and commit one batch",
            (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.unacked = self.gauge(
            "envmon_ingest_unacked_messages",
            "Messages received but not yet committed and acknowledged")
        self.db_errors = self.counter(
            "envmon_ingest_db_errors_total", "Failed batch attempts (retried)", ["kind"])
        self.held_bytes = self.gauge(
            "envmon_ingest_held_bytes",
            "Estimated bytes of the messages held (payloads plus decoded readings)")
        self.held_messages_peak = self.gauge(
            "envmon_ingest_held_messages_peak",
            "Most messages held at once since start (bound: ingest.max_held_messages)")
        self.held_bytes_peak = self.gauge(
            "envmon_ingest_held_bytes_peak",
            "Most estimated bytes held at once since start (bound: ingest.max_held_bytes)")
        self.intake_paused = self.counter(
            "envmon_ingest_intake_paused_total",
            "Times the consumer stopped reading its socket because the held bound was reached")
        self.db_refused = self.counter(
            "envmon_ingest_db_refused_total",
            "Messages the database kept refusing, dead-lettered, by SQLSTATE", ["sqlstate"])
        self.db_up = self.gauge("envmon_ingest_db_up", "1 when the last batch committed")
        self.stations_registered = self.gauge(
            "envmon_ingest_stations_registered",
            "Stations this process knows (reloaded on NOTIFY envmon_stations); 0 rejects all")
        self.mqtt_connected = self.gauge(
            "envmon_ingest_mqtt_connected", "1 while connected to the broker")
        self.last_reading = self.gauge(
            "envmon_ingest_last_reading_timestamp_seconds",
            "Interval start of the newest committed reading, per station", ["station"])

    def export_station_series(self, enabled: bool) -> None:
        """Export ``last_reading`` or not (``ENVMON_INGEST__STATION_METRICS``). It is one
        series per station per ingest instance: at 10 000 stations 90 % of a scrape. The
        stations' silent alerts (deploy/prometheus) need it; without it, station freshness
        comes from the database (status page). Recording continues either way."""
        if enabled and not self._station_series:
            self.registry.register(self.last_reading)
        elif not enabled and self._station_series:
            self.registry.unregister(self.last_reading)
        self._station_series = enabled
