"""Transport names, defined once: the ``transport`` column of ``dead_letter`` and the label of
``envmon_ingest_messages_received_total``. Replay picks its decoder by this name, so a writer
and the replay that spell it differently lose the rows for good (issue 11)."""

from __future__ import annotations

MQTT = "mqtt"  # the MQTT consumer: the topic names the station and the format
HJ212_TCP = "hj212-tcp"  # the HJ 212 TCP gateway: the packet's MN names the station
DB = "db"  # readings the database refused when the batch was isolated
