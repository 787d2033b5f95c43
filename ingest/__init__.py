"""Ingest: bytes from stations (MQTT JSON, HJ 212 over MQTT or TCP) into stored readings."""
