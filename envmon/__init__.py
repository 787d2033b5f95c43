"""envmon: environmental monitoring telemetry, indicators and alerts.

The ground floor, shared by every step of the pipeline: settings, the database schema and
its migrations, the station registry, the parameter catalogue, the alert feed table, metrics
and health serving. It imports no component (ingest, aggregator, alerts, simulators, web);
what wires them together (the ``envmon`` command, ``envmon run``) is the ``app`` package.
"""

__version__ = "0.1.0"
