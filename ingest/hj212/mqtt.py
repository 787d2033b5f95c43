"""HJ 212 packets wrapped in MQTT (topic ``{prefix}/v1/{station_id}/hj212``).

The topic names the station; the packet's MN must belong to it (a mismatch is a rejection,
never a silent remap).
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

from envmon.stations import Station
from ingest.errors import Rejection
from ingest.hj212.decode import StationLookup, UnitOverrides
from ingest.hj212.intake import expired_parts, take_payload
from ingest.hj212.reassembly import Reassembler
from ingest.reading import Reading


class Hj212Readings(list[Reading]):
    """The readings of a payload, plus ``dead_letters`` the caller must store beside them.

    ``dead_letters`` holds (raw bytes, rejection) pairs: the payload with each reason some of
    its items were not stored, and parts of split packets that never completed
    (``hj212_incomplete``). Nothing is silently dropped.
    """

    def __init__(self, readings: Iterable[Reading] = (),
                 dead_letters: Iterable[tuple[bytes, Rejection]] = ()) -> None:
        super().__init__(readings)
        self.dead_letters = list(dead_letters)


def decode_mqtt_payload(
    station_id: str,
    payload: bytes,
    registry: StationLookup,
    reassembler: Reassembler,
    *,
    units: UnitOverrides = MappingProxyType({}),
) -> Hj212Readings:
    """Readings of one MQTT payload; empty while a split packet waits for its other parts.

    A payload is one packet, or the parts of one split packet one after the other (how the
    dead-letter table keeps a reassembled group, so a replay can decode it).

    Raises :class:`Rejection` (with ``station_id`` set). The caller stores the returned
    :attr:`Hj212Readings.dead_letters` in the dead-letter table with the readings.
    """
    intake = take_payload(payload, registry, reassembler, units, station_id=station_id)
    expired = [(raw, rejection) for _, raw, rejection in expired_parts(reassembler, registry)]
    return Hj212Readings(intake.readings, intake.dead_letters + expired)


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
