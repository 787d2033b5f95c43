"""Topic → station and format: ``{prefix}/v1/{station_id}/{data|hj212}``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from envmon.stations import STATION_ID_RE, Station, StationRegistry
from ingest.errors import Rejection
from ingest.hj212.mqtt import Hj212MqttDecoder
from ingest.hj212.reassembly import Reassembler
from ingest.json_decoder import decode_json
from ingest.reading import Reading

Decoder = Callable[[Station, bytes], list[Reading]]


class Router:
    """Decodes one MQTT message into readings for a registered station, or raises Rejection."""

    def __init__(self, prefix: str, registry: StationRegistry, max_payload_bytes: int,
                 decoders: dict[str, Decoder] | None = None) -> None:
        self.prefix = prefix
        self.registry = registry
        self.max_payload_bytes = max_payload_bytes
        self.decoders: dict[str, Decoder] = decoders or {"data": decode_json_now}
        self._head = [*prefix.split("/"), "v1"]

    def subscriptions(self, shared_group: str | None = None) -> list[str]:
        share = f"$share/{shared_group}/" if shared_group else ""
        return [f"{share}{self.prefix}/v1/+/{suffix}" for suffix in sorted(self.decoders)]

    def decode(self, topic: str, payload: bytes) -> list[Reading]:
        levels = topic.split("/")
        n = len(self._head)
        if len(levels) != n + 2 or levels[:n] != self._head:
            raise Rejection("bad_topic", f"topic {topic!r} is not {self.prefix}/v1/<id>/<format>")
        station_id, fmt = levels[n], levels[n + 1]
        if not STATION_ID_RE.match(station_id):
            raise Rejection("invalid_station_id",
                            f"station id {station_id[:80]!r} is not 1-64 of [A-Za-z0-9_.-]")
        if len(payload) > self.max_payload_bytes:
            raise Rejection("oversize", f"payload of {len(payload)} bytes exceeds "
                            f"{self.max_payload_bytes}", station_id)
        decoder = self.decoders.get(fmt)
        if decoder is None:
            raise Rejection("bad_topic", f"unknown format {fmt!r} (expected "
                            f"{' or '.join(sorted(self.decoders))})", station_id)
        station = self.registry.get(station_id)
        if station is None:
            raise Rejection("unknown_station", f"station {station_id!r} is not registered",
                            station_id)
        return decoder(station, payload)


def station_decoders(registry: StationRegistry, *, reassembly_timeout: float = 300.0
                     ) -> tuple[dict[str, Decoder], Hj212MqttDecoder]:
    """The formats of wire contract v1: JSON on ``…/data``, HJ 212 on ``…/hj212``.

    The HJ 212 decoder is returned too: its unit overrides are reloaded by the caller.
    """
    hj212 = Hj212MqttDecoder(registry, Reassembler(reassembly_timeout))
    return {"data": decode_json_now, "hj212": hj212}, hj212


def decode_json_now(station: Station, payload: bytes) -> list[Reading]:
    """The JSON decoder judged against the current time (``future_timestamp``)."""
    return decode_json(station, payload, now=datetime.now(UTC))
