"""Shared test data: the reference's worked packets and a small station registry."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from envmon.parameters import StationKind
from envmon.stations import Station, StationRegistry
from ingest.reading import Reading

TESTDATA = Path(__file__).parent / "testdata"


@dataclass(frozen=True)
class RefPacket:
    name: str
    source: str
    kind: StationKind
    raw: bytes
    crc: str
    reject: str | None = None
    ack: bool = False
    length_matches: bool = True
    readings: list[tuple[str, str, datetime, float, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def segment(self) -> bytes:
        return self.raw[6:-6]

    @property
    def mn(self) -> str:
        return self.raw.decode().split("MN=", 1)[1].split(";", 1)[0]

    def expected(self, station_id: str) -> set[Reading]:
        return {Reading(station_id, p, i, ts, v, f, "hj212")  # type: ignore[arg-type]
                for p, i, ts, v, f in self.readings}


def _packet(spec: dict[str, Any]) -> RefPacket:
    readings = [(p, i, datetime.fromisoformat(ts), float(v), f)
                for p, i, ts, v, f in spec.get("readings", [])]
    return RefPacket(spec["name"], spec["source"], spec["kind"],
                     spec["raw"].encode("utf-8") + b"\r\n", spec["crc"], spec.get("reject"),
                     spec.get("ack", False), spec.get("length_matches", True), readings,
                     spec.get("unknown", []))


REFERENCE_PACKETS = [_packet(p) for p in tomllib.loads(
    (TESTDATA / "reference_packets.toml").read_text("utf-8"))["packet"]]
DATA_PACKETS = [p for p in REFERENCE_PACKETS if p.reject is None]


def station_for(packet: RefPacket, station_id: str = "st1", password: str | None = "123456"
                ) -> Station:
    """A station of the packet's kind whose MN is the packet's MN."""
    extra: dict[str, Any] = {}
    if packet.kind == "water":
        extra = {"water_target_class": 3, "water_body": "river"}
    if packet.kind == "noise":
        extra = {"noise_zone": "1"}
    return Station(station_id, packet.kind, station_id, mn=packet.mn, hj212_password=password,
                   **extra)


def registry_for(packets: list[RefPacket]) -> StationRegistry:
    """One station per distinct MN, ids ``st-<MN>``."""
    stations = {p.mn: station_for(p, f"st-{p.mn}") for p in packets}
    return StationRegistry(list(stations.values()))
