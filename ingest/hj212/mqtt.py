"""HJ 212 packets wrapped in MQTT (topic ``{prefix}/v1/{station_id}/hj212``).

The topic names the station; the packet's MN must belong to it (a mismatch is a rejection,
never a silent remap).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from envmon.stations import Station
from ingest.errors import Rejection
from ingest.hj212.decode import NO_UNITS, StationLookup, UnitOverrides, check_station, decode_data
from ingest.hj212.packet import parse_packet
from ingest.hj212.reassembly import Reassembler, merge
from ingest.reading import Reading


class Hj212Readings(list[Reading]):
    """The readings of a payload; ``unknown`` reports items that were not stored.

    When ``unknown`` is set the caller dead-letters the raw payload with it (in addition to
    storing the readings), so unknown codes are kept, never silently dropped.
    """

    def __init__(self, readings: Iterable[Reading] = (), unknown: Rejection | None = None) -> None:
        super().__init__(readings)
        self.unknown = unknown


def decode_mqtt_payload(
    station_id: str,
    payload: bytes,
    registry: StationLookup,
    reassembler: Reassembler,
    *,
    units: UnitOverrides = MappingProxyType({}),
) -> Hj212Readings:
    """Readings of one MQTT payload; empty while a split packet waits for its other parts.

    Raises :class:`Rejection` (with ``station_id`` set when known).
    """
    station = registry.get(station_id)
    if station is None:
        raise Rejection("unknown_station", f"station {station_id} is not registered", station_id)
    try:
        packet = parse_packet(payload)
        check_station(packet, station, registry)
        parts = reassembler.add(packet)
        if parts is None:
            return Hj212Readings()
        station_units: Mapping[str, str] = units.get(station_id, NO_UNITS)
        decoded = decode_data(merge(parts), station, station_units)
    except Rejection as exc:
        exc.station_id = station_id
        raise
    return Hj212Readings(decoded.readings, decoded.unknown_rejection(station_id))


class Hj212MqttDecoder:
    """The ``hj212`` format of :class:`ingest.router.Router`: ``(station, payload) -> readings``.

    Holds the reassembler (split packets may span messages) and the per-station unit overrides
    (assign :attr:`units` to reload them).
    """

    def __init__(self, registry: StationLookup, reassembler: Reassembler | None = None,
                 units: UnitOverrides = MappingProxyType({})) -> None:
        self.registry = registry
        self.reassembler = reassembler if reassembler is not None else Reassembler()
        self.units = units

    def __call__(self, station: Station, payload: bytes) -> Hj212Readings:
        return decode_mqtt_payload(station.station_id, payload, self.registry, self.reassembler,
                                   units=self.units)
