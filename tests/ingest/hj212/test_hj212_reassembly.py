"""Split packets: Flag D bit with PNUM/PNO (HJ 212-2017 表3 and §2.1; reference/hj212.md §6.2)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from envmon.stations import Station
from ingest.hj212 import (
    Reassembler,
    decode_data,
    encode_data_packet,
    encode_frame,
    merge,
    parse_packet,
)
from ingest.hj212.packet import Packet

AIR = Station("air1", "air", "Air 1", mn="MNAIR", hj212_password="123456")
VALUES = [{"pm25": 35.0, "pm10": 62.0}, {"so2": 8.0, "no2": 31.0}, {"co": 0.6, "o3": 72.0}]


def parts(pnum: int = 3, mn: str = "MNAIR") -> list[Packet]:
    """Each part carries its own QN and CRC; only the first has DataTime (worst case)."""
    out = []
    for pno in range(1, pnum + 1):
        raw = encode_data_packet(mn, "123456", "2061", "22", _time(), VALUES[pno - 1],
                                 qn=f"2026030109000012{pno}", pnum=pnum, pno=pno)
        if pno > 1:  # drop DataTime from later parts, re-framing with a valid CRC
            segment = raw[6:-6].decode().replace("DataTime=20260301080000;", "")
            raw = encode_frame(segment)
        out.append(parse_packet(raw))
    return out


def _time() -> datetime:
    return datetime(2026, 3, 1, 8)


def test_unsplit_packet_passes_through() -> None:
    packet = parse_packet(encode_data_packet("MNAIR", "123456", "2061", "22", _time(),
                                             {"pm25": 1.0}))
    assert Reassembler().add(packet) == (packet,)


def test_parts_in_any_order_with_retransmits_reassemble_once() -> None:
    rng = random.Random(7)
    for _ in range(20):
        pieces = parts()
        arrivals = [*pieces, *rng.sample(pieces[:2], 1)]  # a retransmit of an early part
        rng.shuffle(arrivals)
        reassembler = Reassembler()
        results = [reassembler.add(p) for p in arrivals]
        complete = [r for r in results if r is not None and len(r) == 3]
        assert len(complete) == 1 and len(reassembler) == 0
        late = results[results.index(complete[0]) + 1:]  # retransmits after completion
        assert all(r is not None and len(r) == 1 and r[0].pnum is None for r in late)
        assert [p.pno for p in complete[0]] == [1, 2, 3]
        readings = decode_data(merge(complete[0]), AIR).readings
        expected = {k: v for part in VALUES for k, v in part.items()}
        assert {r.parameter: r.value for r in readings} == expected
        assert all(r.interval == "hour" for r in readings)


def test_incomplete_groups_expire_and_are_handed_back() -> None:
    now = [0.0]
    reassembler = Reassembler(timeout_seconds=60, clock=lambda: now[0])
    first, second, _ = parts()
    assert reassembler.add(first) is None and reassembler.add(second) is None
    now[0] = 59.0
    assert reassembler.expired() == []
    now[0] = 60.0
    assert sorted(p.pno or 0 for p in reassembler.expired()) == [1, 2]
    assert len(reassembler) == 0 and reassembler.expired() == []


def test_oldest_groups_are_evicted_when_too_many_parts_are_held() -> None:
    reassembler = Reassembler(max_parts=4)
    for mn in ("A", "B", "C"):
        assert reassembler.add(parts(mn=mn)[0]) is None
        assert reassembler.add(parts(mn=mn)[1]) is None
    assert len(reassembler) == 2
    assert [(p.mn, p.pno) for p in reassembler.expired()] == [("A", 1), ("A", 2)]
    assert reassembler.add(parts(mn="B")[2]) is not None  # B completes: not evicted


def test_late_retransmit_of_a_completed_group_is_recognised_until_timeout() -> None:
    now = [0.0]
    reassembler = Reassembler(timeout_seconds=60, clock=lambda: now[0])
    pieces = parts()
    assert [reassembler.add(p) is None for p in pieces] == [True, True, False]
    again = reassembler.add(pieces[1])  # the logger missed the answer to part 2
    assert again is not None and len(again) == 1 and again[0].qn == pieces[1].qn
    readings = decode_data(merge(again), AIR).readings  # DataTime of part 1 carried over
    assert {(r.parameter, r.value) for r in readings} == set(VALUES[1].items())
    assert {r.ts for r in readings} == {datetime(2026, 3, 1, 0, tzinfo=UTC)}
    now[0] = 61.0
    assert reassembler.expired() == []
    assert reassembler.add(pieces[0]) is None  # after the timeout it starts a new group
