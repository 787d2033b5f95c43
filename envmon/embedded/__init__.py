"""Embedded stand-ins for the services ``envmon run`` needs when none are configured:
an in-process MQTT broker and a PostgreSQL server from a wheel, with their state under the
user's data directory."""

from envmon.embedded.broker import EmbeddedBroker, EmbeddedBrokerError
from envmon.embedded.datadir import DataDirBusy, RunLock, default_data_dir
from envmon.embedded.postgres import EmbeddedPostgres, EmbeddedPostgresError

__all__ = [
    "DataDirBusy",
    "EmbeddedBroker",
    "EmbeddedBrokerError",
    "EmbeddedPostgres",
    "EmbeddedPostgresError",
    "RunLock",
    "default_data_dir",
]
