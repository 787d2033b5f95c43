"""Frame checks and header fields (HJ 212-2017 表2/表3; reference/hj212.md §1, §2, §9)."""

from __future__ import annotations

import pytest

from ingest.errors import Rejection
from ingest.hj212 import cp_items, encode_frame, parse_packet
from tests.ingest.hj212.hj212_support import REFERENCE_PACKETS, RefPacket

AIR_HOUR = next(p for p in REFERENCE_PACKETS if p.name == "air_hour")


def test_header_fields_of_the_air_hour_packet() -> None:
    packet = parse_packet(AIR_HOUR.raw)
    assert (packet.qn, packet.st, packet.cn, packet.pw, packet.mn) == (
        "20260301090000123", "22", "2061", "123456", "010000A8900016F000169DC1")
    assert packet.flag == 5 and packet.ack_requested  # §2.1: 5 = 2017 + answer required
    assert packet.pnum is None and packet.length_matches
    assert packet.cp.startswith("DataTime=20260301080000;a34004-Avg=35")


@pytest.mark.parametrize("packet", REFERENCE_PACKETS, ids=lambda p: p.name)
def test_worked_packets_parse_and_flag_bits(packet: RefPacket) -> None:
    parsed = parse_packet(packet.raw)
    assert parsed.length_matches is packet.length_matches  # §3.1 no. 3 mis-counts its length
    if packet.reject is None:
        assert parsed.ack_requested is packet.ack


@pytest.mark.parametrize("packet", REFERENCE_PACKETS, ids=lambda p: p.name)
def test_flipped_byte_in_segment_or_crc_is_a_crc_rejection(packet: RefPacket) -> None:
    """§3: the CRC covers the data segment; any changed byte there or in the CRC is caught
    (except a CRC letter changing case: CRCs compare case-insensitively, §3 step 3)."""
    crc_start = len(packet.raw) - 6
    for pos in range(6, len(packet.raw) - 2):
        for mask in (0x01, 0x20, 0x80):
            raw = bytearray(packet.raw)
            raw[pos] ^= mask
            if pos >= crc_start and mask == 0x20 and chr(packet.raw[pos]) in "ABCDEF":
                assert parse_packet(bytes(raw)).mn == packet.mn
                continue
            with pytest.raises(Rejection) as caught:
                parse_packet(bytes(raw))
            assert caught.value.reason == "hj212_crc", (pos, mask)


def test_flips_outside_crc_coverage() -> None:
    """Header and length are outside the CRC (§1): bad header -> framing; a length digit
    changed into another digit is accepted and flagged, as real loggers mis-count (§9 step 3)."""
    for pos in range(6):
        raw = bytearray(AIR_HOUR.raw)
        raw[pos] ^= 0x01
        try:
            packet = parse_packet(bytes(raw))
        except Rejection as exc:
            assert exc.reason == ("hj212_framing" if pos < 2 else "hj212_length")
        else:
            assert pos >= 2 and not packet.length_matches


def test_lower_case_crc_and_missing_crlf_are_accepted() -> None:
    """§3 step 3: some devices send lower-case CRCs; MQTT payloads may lack CR LF."""
    raw = AIR_HOUR.raw[:-6] + AIR_HOUR.raw[-6:-2].lower()
    assert parse_packet(raw).cn == "2061"


@pytest.mark.parametrize(
    ("ending", "reason"),
    [  # 表2: the trailer is CR LF; issue 13 item 6: a wrong ending is framing, not a CRC error
        (b"\r\n", None),
        (b"", None),  # MQTT payloads may leave it out
        (b"\n", "hj212_framing"),  # LF only
        (b"\r", "hj212_framing"),
        (b"\r\n\r\n", "hj212_framing"),  # padded after CR LF
        (b"\r\n  ", "hj212_framing"),
        (b"\r\n\x00\x00", "hj212_framing"),
        (b" \r\n", "hj212_framing"),
    ],
)
def test_packet_ending(ending: bytes, reason: str | None) -> None:
    raw = AIR_HOUR.raw[:-2] + ending  # the CRC itself is right
    if reason is None:
        assert parse_packet(raw).cn == "2061"
        return
    with pytest.raises(Rejection) as caught:
        parse_packet(raw)
    assert caught.value.reason == reason


def _frame(segment: str) -> bytes:
    return encode_frame(segment)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"#0428QN=1;CN=2011", "hj212_framing"),
        (b"##12", "hj212_length"),
        (b"##04x8QN=1;CP=&&&&F781\r\n", "hj212_length"),
        (_frame("QN=1;ST=22;CN=2011;PW=1;MN=A;Flag=4"), "hj212_unparseable"),  # no CP
        (_frame("QN=1;ST=22;CN=20x1;PW=1;MN=A;Flag=4;CP=&&&&"), "hj212_unparseable"),
        (_frame("QN=1;ST=22;CN=2011;PW=1;Flag=4;CP=&&&&"), "hj212_unparseable"),  # no MN
        (_frame("QN=1;ST=22;CN=2011;PW=1;MN=A;Flag=256;CP=&&&&"), "hj212_unparseable"),
        (_frame("QN=1;ST=22;CN=2011;PW=1;MN=A;Flag=6;CP=&&&&"), "hj212_unparseable"),  # D, no PNUM
        (_frame("QN=1;ST=22;CN=2011;PW=1;MN=A;Flag=6;PNUM=2;PNO=3;CP=&&&&"), "hj212_unparseable"),
        (_frame("QN=1;ST=22;CN=2011;CN=2061;MN=A;CP=&&&&"), "hj212_unparseable"),  # twice
        (_frame("QN=1;ST=22;CN=2011;PW;MN=A;CP=&&&&"), "hj212_unparseable"),  # no '='
        (b"##0005\xff\xfeABC" + b"0000\r\n", "hj212_crc"),
    ],
)
def test_malformed_packets_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(Rejection) as caught:
        parse_packet(raw)
    assert caught.value.reason == reason


def test_non_utf8_segment_with_correct_crc_is_unparseable() -> None:
    segment = b"QN=1;ST=22;CN=2011;MN=\xff;CP=&&&&"
    from ingest.hj212 import crc16_hex

    raw = b"##%04d" % len(segment) + segment + crc16_hex(segment).encode() + b"\r\n"
    with pytest.raises(Rejection) as caught:
        parse_packet(raw)
    assert caught.value.reason == "hj212_unparseable"


@pytest.mark.parametrize(
    ("cp", "items"),
    [  # §4: items by ';', values by ','; parse tolerantly (spaces, empty items)
        ("DataTime=20260301080000;a34004-Avg=35,a34004-Flag=N",
         [("DataTime", "20260301080000"), ("a34004-Avg", "35"), ("a34004-Flag", "N")]),
        (" BeginTime=20160801000000, EndTime=20160802000000 ;;",
         [("BeginTime", "20160801000000"), ("EndTime", "20160802000000")]),
        ("", []),
        ("a=b=c", [("a", "b=c")]),
    ],
)
def test_cp_items(cp: str, items: list[tuple[str, str]]) -> None:
    assert cp_items(cp) == items


@pytest.mark.parametrize("cp", ["novalue", "=5", "a=1,junk"])
def test_cp_items_without_name_value_are_unparseable(cp: str) -> None:
    with pytest.raises(Rejection) as caught:
        cp_items(cp)
    assert caught.value.reason == "hj212_unparseable"
