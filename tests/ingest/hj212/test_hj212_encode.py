"""Building packets (HJ 212-2017 表2/表3, §6.5 data answer; reference/hj212.md §1-§3, §6.2)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from envmon.stations import Station
from ingest.hj212 import (
    decode_data,
    encode_ack_9014,
    encode_data_packet,
    encode_frame,
    new_qn,
    parse_packet,
)
from tests.ingest.hj212.hj212_support import REFERENCE_PACKETS

AIR = Station("air1", "air", "Air 1", mn="MNAIR")
WATER = Station("w1", "water", "W 1", water_target_class=3, water_body="river", mn="MNW")
NOISE = Station("n1", "noise", "N 1", noise_zone="1", mn="MNN")


def test_ack_9014_reproduces_the_reference_answer() -> None:
    """§3.2: the host's answer to the air hour packet, byte for byte (CRC 1040)."""
    expected = next(p for p in REFERENCE_PACKETS if p.name == "ack_9014").raw
    assert encode_ack_9014("20260301090000123", "010000A8900016F000169DC1", "123456") == expected


def test_frame_reproduces_worked_packets() -> None:
    for ref in REFERENCE_PACKETS:
        if ref.length_matches:
            assert encode_frame(ref.segment.decode()) == ref.raw, ref.name


@pytest.mark.parametrize(
    ("station", "st", "cn", "values", "interval"),
    [
        (AIR, "22", "2061", {"pm25": 35.0, "co": 0.6, "pres": 1013.2, "temp": -3.5}, "hour"),
        (AIR, "22", "2011", {"a34004": 35.5, "o3": 160.0}, "rt"),
        (WATER, "21", "2051", {"ph": 7.62, "nh3n": 0.312, "cond": 412.0}, "min"),
        (NOISE, "23", "2061", {"leq": 55.3, "lmax": 68.4, "l90": 50.2}, "hour"),
        (NOISE, "23", "2031", {"ld": 56.2, "ln": 49.8}, "day"),
    ],
)
def test_encoded_data_decodes_back(station: Station, st: str, cn: str,
                                   values: dict[str, float], interval: str) -> None:
    raw = encode_data_packet(station.mn or "", "123456", cn, st, datetime(2026, 3, 1, 8),
                             values, flags={next(iter(values)): "M"}, qn="20260301090000001")
    packet = parse_packet(raw)
    assert packet.length_matches and packet.ack_requested and packet.flag == 5
    decoded = decode_data(packet, station)
    assert decoded.skipped == []
    by_param = {r.parameter: r for r in decoded.readings}
    assert {p: r.value for p, r in by_param.items()} == pytest.approx(
        {("pm25" if k == "a34004" else k): v for k, v in values.items()})
    assert {r.interval for r in decoded.readings} == {interval}
    assert sorted(r.flag for r in decoded.readings) == ["M"] + ["N"] * (len(values) - 1)


def test_pressure_is_sent_in_the_code_unit() -> None:
    """表B.2: a01006 is in kPa; the canonical pres is hPa."""
    raw = encode_data_packet("MNAIR", "1", "2061", "22", datetime(2026, 3, 1, 8), {"pres": 1013.2})
    assert b"a01006-Avg=101.32," in raw


def test_noise_day_uses_day_and_night_suffixes() -> None:
    raw = encode_data_packet("MNN", "1", "2031", "23", datetime(2026, 3, 1), {"ld": 56, "ln": 49})
    assert b"Ld-DayData=56," in raw and b"Ln-NightData=49," in raw


def test_unknown_key_is_an_error() -> None:
    with pytest.raises(KeyError):
        encode_data_packet("MNAIR", "1", "2061", "22", datetime(2026, 3, 1), {"ph": 7.0})


def test_qn_is_beijing_time_to_the_millisecond() -> None:
    assert new_qn(datetime(2026, 3, 1, 1, 0, 0, 123456, tzinfo=UTC)) == "20260301090000123"


def test_aware_data_time_is_converted_to_beijing() -> None:
    raw = encode_data_packet("MNAIR", "1", "2061", "22", datetime(2026, 3, 1, 0, tzinfo=UTC),
                             {"pm25": 1.0})
    assert b"DataTime=20260301080000;" in raw
