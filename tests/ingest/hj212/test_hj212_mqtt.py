"""HJ 212 over MQTT: topic station, MN and PW checks, split packets, unknown codes (issue 4)."""

from __future__ import annotations

from datetime import datetime

import pytest

from envmon.stations import Station, StationRegistry
from ingest.errors import Rejection
from ingest.hj212 import Reassembler, decode_mqtt_payload, encode_data_packet
from tests.ingest.hj212.hj212_support import DATA_PACKETS, RefPacket, registry_for

AIR = Station("air1", "air", "Air 1", mn="010000A8900016F000169DC1", hj212_password="123456")
OTHER = Station("air2", "air", "Air 2", mn="010000A8900016F000169DC9", hj212_password="654321")
REGISTRY = StationRegistry([AIR, OTHER])


def payload(mn: str = AIR.mn or "", pw: str = "123456", pnum: int | None = None,
            pno: int | None = None) -> bytes:
    return encode_data_packet(mn, pw, "2061", "22", datetime(2026, 3, 1, 8),
                              {"pm25": 35.0, "pm10": 62.0}, qn="20260301090000123",
                              pnum=pnum, pno=pno)


@pytest.mark.parametrize("ref", DATA_PACKETS, ids=lambda p: p.name)
def test_worked_packets_over_mqtt(ref: RefPacket) -> None:
    registry = registry_for(DATA_PACKETS)
    sid = f"st-{ref.mn}"
    readings = decode_mqtt_payload(sid, ref.raw, registry, Reassembler())
    assert set(readings) == ref.expected(sid)
    assert [r.reason for _, r in readings.dead_letters] == (
        ["hj212_unknown_code"] if ref.unknown else [])
    assert all(raw == ref.raw for raw, _ in readings.dead_letters)


def test_readings_of_a_good_payload() -> None:
    readings = decode_mqtt_payload("air1", payload(), REGISTRY, Reassembler())
    assert {(r.station_id, r.parameter, r.value, r.source) for r in readings} == {
        ("air1", "pm25", 35.0, "hj212"), ("air1", "pm10", 62.0, "hj212")}
    assert readings.dead_letters == []


@pytest.mark.parametrize(
    ("station_id", "raw", "reason"),
    [
        ("nope", payload(), "unknown_station"),
        ("air2", payload(), "hj212_mn_mismatch"),  # MN of air1 on air2's topic: no remap
        ("air1", payload(mn="FFFFFFFFFFFFFFFFFFFFFFFF"), "hj212_mn_mismatch"),
        ("air1", payload(pw="000000"), "hj212_password"),
        ("air1", payload()[:-7] + b"0\r\n", "hj212_crc"),
    ],
)
def test_rejections_name_the_topic_station(station_id: str, raw: bytes, reason: str) -> None:
    with pytest.raises(Rejection) as caught:
        decode_mqtt_payload(station_id, raw, REGISTRY, Reassembler())
    assert caught.value.reason == reason and caught.value.station_id == station_id


def test_registry_may_map_mn_to_the_station_id() -> None:
    """A station without its own MN is addressed by MN == station id (StationRegistry.by_mn)."""
    bare = Station("010000A8900016F000169DCA", "air", "bare")
    readings = decode_mqtt_payload(bare.station_id, payload(mn=bare.station_id),
                                   StationRegistry([bare]), Reassembler())
    assert len(readings) == 2


def test_split_packet_over_mqtt() -> None:
    reassembler = Reassembler()
    first = decode_mqtt_payload("air1", payload(pnum=2, pno=1), REGISTRY, reassembler)
    assert list(first) == [] and len(reassembler) == 1
    second = decode_mqtt_payload("air1", payload(pnum=2, pno=2), REGISTRY, reassembler)
    assert {r.parameter for r in second} == {"pm25", "pm10"} and len(reassembler) == 0


def test_unit_overrides_apply_per_station() -> None:
    raw = encode_data_packet(AIR.mn or "", "123456", "2011", "22", datetime(2026, 3, 1, 8),
                             {"a34004": 75600.0})
    [reading] = decode_mqtt_payload("air1", raw, REGISTRY, Reassembler(),
                                    units={"air1": {"a34004": "ng/m3"}})
    assert reading.value == pytest.approx(75.6)


def test_expired_parts_come_back_as_dead_letters() -> None:
    now = [0.0]
    reassembler = Reassembler(timeout_seconds=60, clock=lambda: now[0])
    part = payload(pnum=2, pno=1)
    assert decode_mqtt_payload("air1", part, REGISTRY, reassembler) == []
    now[0] = 61.0
    later = decode_mqtt_payload("air1", payload(), REGISTRY, reassembler)
    assert len(later) == 2
    [(raw, rejection)] = later.dead_letters
    assert (raw, rejection.reason, rejection.station_id) == (part, "hj212_incomplete", "air1")


def test_a_stored_split_packet_decodes_again() -> None:
    """The dead-letter row of a reassembled group holds its parts one after the other (each
    ending in CR LF, though MQTT parts may come without); replayed by topic it decodes to the
    group's readings, and a missing part is said."""
    parts = [encode_data_packet(AIR.mn or "", "123456", "2061", "22", datetime(2026, 3, 1, 8),
                                values, qn=f"2026030109000000{pno}", pnum=2, pno=pno)
             for pno, values in ((1, {"pm25": 35.0}), (2, {"a34002": 2_000_000.0}))]
    reassembler = Reassembler()
    assert decode_mqtt_payload("air1", parts[0].removesuffix(b"\r\n"), REGISTRY,
                               reassembler) == []
    second = decode_mqtt_payload("air1", parts[1].removesuffix(b"\r\n"), REGISTRY, reassembler)
    assert [(r.parameter, r.value) for r in second] == [("pm25", 35.0)]
    [(stored, note)] = second.dead_letters  # pm10 in ng/m3 without the unit override
    assert note.reason == "out_of_range" and stored == b"".join(parts)
    fixed = decode_mqtt_payload("air1", stored, REGISTRY, Reassembler(),
                                units={"air1": {"a34002": "ng/m3"}})
    assert {(r.parameter, r.value) for r in fixed} == {("pm25", 35.0), ("pm10", 2000.0)}
    with pytest.raises(Rejection) as caught:
        decode_mqtt_payload("air1", parts[0] + parts[0], REGISTRY, Reassembler())
    assert caught.value.reason == "hj212_incomplete"
