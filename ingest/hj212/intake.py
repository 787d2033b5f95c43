"""The HJ 212 decode sequence, written once for every way a packet arrives (TCP gateway, MQTT,
dead-letter replay): parse → station → MN/PW check → reassemble split packets → decode → items
not stored.

Only the station lookup differs: over TCP the packet's MN names the station, over MQTT the topic
does and the MN must belong to it (reference/hj212.md §2, §9).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from envmon.stations import Station
from ingest.errors import Rejection
from ingest.hj212.decode import (
    NO_UNITS,
    StationLookup,
    UnitOverrides,
    check_station,
    decode_data,
    station_for_mn,
)
from ingest.hj212.framing import Framer
from ingest.hj212.packet import Packet, parse_packet
from ingest.hj212.reassembly import Reassembler, incomplete, merge
from ingest.reading import Reading

DeadLetters = list[tuple[bytes, Rejection]]


@dataclass(frozen=True, slots=True)
class Intake:
    """What one packet gave.

    ``parts`` are the packets the readings came from (the parts of a split packet once the last
    one arrived; empty while waiting for the others): the ones whose Flag asks for an answer are
    answered after ``readings`` and ``dead_letters`` are committed. ``dead_letters`` hold the
    packet with each reason some of its items were not stored (the readings are stored anyway).
    ``raw`` is the packet as a dead letter keeps it (a split packet's parts one after the other),
    so that readings the database refuses are dead-lettered as the bytes that carried them.
    """

    station: Station
    parts: tuple[Packet, ...]
    readings: list[Reading]
    dead_letters: DeadLetters
    raw: bytes = b""


def take_packet(payload: bytes, registry: StationLookup, reassembler: Reassembler,
                units: UnitOverrides = MappingProxyType({}), *,
                station_id: str | None = None) -> Intake:
    """Run one packet through the sequence; raises :class:`Rejection` for the whole packet.

    ``station_id``: the station the transport names (MQTT topic); ``None`` (TCP) looks the
    station up by the packet's MN. A rejection carries the station id whenever it is known.
    """
    station: Station | None = None
    try:
        if station_id is not None:
            station = registry.get(station_id)
            if station is None:
                raise Rejection("unknown_station", f"station {station_id} is not registered")
        packet = parse_packet(payload)
        if station is None:
            station = station_for_mn(packet, registry)
        check_station(packet, station, registry)
        parts = reassembler.add(packet)
        if parts is None:  # waiting for the other parts of a split packet
            return Intake(station, (), [], [])
        merged = merge(parts)
        station_units: Mapping[str, str] = units.get(station.station_id, NO_UNITS)
        decoded = decode_data(merged, station, station_units)
    except Rejection as rejection:
        if rejection.station_id is None:
            rejection.station_id = station.station_id if station is not None else station_id
        raise
    notes = [(merged.raw, r) for r in decoded.rejections(station.station_id)]
    return Intake(station, parts, decoded.readings, notes, merged.raw)


def expired_parts(reassembler: Reassembler, registry: StationLookup
                  ) -> list[tuple[str, bytes, Rejection]]:
    """Parts of split packets whose group did not complete in time: (topic, raw, rejection)."""
    out = []
    for part in reassembler.expired():
        owner = registry.by_mn(part.mn)
        out.append((f"mn:{part.mn}", part.raw, incomplete(
            part, reassembler.timeout_seconds, owner.station_id if owner else None)))
    return out


async def expire_forever(reassembler: Reassembler, registry: StationLookup,
                         reject: Callable[[str, bytes, Rejection], Awaitable[None]]) -> None:
    """Dead-letter expired parts on a timer (run as a task; cancel it to stop): waiting for the
    next packet to notice them could take forever on a quiet link."""
    period = min(10.0, reassembler.timeout_seconds / 2)
    while True:
        await asyncio.sleep(period)
        for topic, raw, rejection in expired_parts(reassembler, registry):
            await reject(topic, raw, rejection)


def take_payload(payload: bytes, registry: StationLookup, reassembler: Reassembler,
                 units: UnitOverrides = MappingProxyType({}), *,
                 station_id: str | None = None) -> Intake:
    """:func:`take_packet` for a payload that is one packet or the parts of one split packet
    one after the other (how a reassembled group is kept in the dead-letter table, so that
    such a row replays); the parts are reassembled on their own and must all be there."""
    packets = _packets(payload)
    if len(packets) == 1:
        return take_packet(payload, registry, reassembler, units, station_id=station_id)
    group = Reassembler()
    taken = [take_packet(p, registry, group, units, station_id=station_id) for p in packets]
    if len(group):
        raise Rejection("hj212_incomplete", "the parts of a split packet are not all there",
                        taken[0].station.station_id)
    return Intake(taken[0].station, tuple(p for t in taken for p in t.parts),
                  [r for t in taken for r in t.readings],
                  [d for t in taken for d in t.dead_letters])


def replay_packets(payload: bytes, registry: StationLookup, units: UnitOverrides
                   ) -> list[Reading]:
    """Readings of a stored TCP dead letter, decoded again with today's registry and rules
    (a part of a split packet cannot be replayed without the others)."""
    reassembler = Reassembler()
    readings = take_payload(payload, registry, reassembler, units).readings
    if len(reassembler):
        raise Rejection("hj212_incomplete",
                        "a part of a split packet cannot be replayed without the others")
    return readings


def _packets(payload: bytes) -> list[bytes]:
    """The packets of a payload: itself, unless it holds several (``##`` more than once)."""
    if payload.count(b"##") < 2:
        return [payload]
    framer = Framer(max(len(payload) + 2, 16))
    frames = framer.feed(payload if payload.endswith(b"\r\n") else payload + b"\r\n")
    for frame in frames:
        if frame.error is not None:
            raise frame.error
    return [frame.data for frame in frames]
