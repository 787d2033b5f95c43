"""Framing a TCP stream on ``##…\\r\\n`` (HJ 212-2017 表2; reference/hj212.md §1, §9 step 1)."""

from __future__ import annotations

import random

import pytest

from ingest.hj212.framing import Frame, Framer
from tests.ingest.hj212.hj212_support import REFERENCE_PACKETS

PACKETS = [p.raw for p in REFERENCE_PACKETS]
STREAM = b"".join(PACKETS)


def feed_all(framer: Framer, chunks: list[bytes]) -> list[Frame]:
    return [frame for chunk in chunks for frame in framer.feed(chunk)] + framer.close()


def random_chunks(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(data)), rng.randrange(0, 40)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def test_any_chunking_gives_the_same_packets() -> None:
    rng = random.Random(212)
    for _ in range(300):
        frames = feed_all(Framer(), random_chunks(STREAM, rng))
        assert [f.data for f in frames] == PACKETS
        assert all(f.error is None for f in frames)


def test_byte_by_byte() -> None:
    frames = feed_all(Framer(), [bytes([b]) for b in STREAM])
    assert [f.data for f in frames] == PACKETS


def test_whitespace_between_packets_is_ignored_and_garbage_is_rejected() -> None:
    frames = feed_all(Framer(), [b"\r\n  " + PACKETS[0] + b"\x00\nGET / HTTP/1.0\r\n" +
                                 PACKETS[1]])
    assert [f.error.reason if f.error else f.data for f in frames] == [
        PACKETS[0], "hj212_framing", PACKETS[1]]
    assert frames[1].data == b"\x00\nGET / HTTP/1.0\r\n"


def test_truncated_packet_is_rejected_and_the_next_one_kept() -> None:
    frames = feed_all(Framer(), [PACKETS[1][:50] + PACKETS[2]])
    assert [(f.data, f.error.reason if f.error else None) for f in frames] == [
        (PACKETS[1][:50], "hj212_framing"), (PACKETS[2], None)]


@pytest.mark.parametrize("chunk", [1, 7, 4096, 100_000])
def test_oversize_packet_is_rejected_and_the_stream_resynchronises(chunk: int) -> None:
    big = b"##9999QN=" + b"A" * 5000 + b"&&0000\r\n"
    data = PACKETS[0] + big + PACKETS[3]
    frames = feed_all(Framer(max_packet_bytes=1100),
                      [data[i:i + chunk] for i in range(0, len(data), chunk)])
    assert [f.error.reason if f.error else f.data for f in frames] == [
        PACKETS[0], "oversize", PACKETS[3]]
    assert len(frames[1].data) == 1100 and frames[1].data == big[:1100]


def test_connection_closed_mid_packet() -> None:
    framer = Framer()
    assert framer.feed(PACKETS[0][:30]) == []
    [frame] = framer.close()
    assert frame.data == PACKETS[0][:30] and frame.error is not None
    assert frame.error.reason == "hj212_framing"


@pytest.mark.parametrize("chunk", [1, 3, 4096, 65_536])
def test_a_flood_of_hashes_is_one_rejection_per_chunk_not_one_per_pair(chunk: int) -> None:
    """Issue 13 item 4: 64 KiB of '#' used to come out as 32 768 frames ('##' each)."""
    flood = b"#" * 65_536
    framer = Framer(max_packet_bytes=1100)
    frames = [f for i in range(0, len(flood), chunk) for f in framer.feed(flood[i:i + chunk])]
    frames += framer.feed(PACKETS[0]) + framer.close()
    assert frames[-1].data == PACKETS[0] and frames[-1].error is None
    garbage = frames[:-1]
    assert all(f.error is not None and f.error.reason == "hj212_framing" for f in garbage)
    assert len(garbage) <= len(flood) // chunk + 2  # one per read, and the "##" at each end
    assert all(len(f.data) <= 1100 for f in garbage)


def test_garbage_pieces_between_two_packets_are_one_rejection() -> None:
    junk = b"GET / HTTP/1.0\r\n" + PACKETS[1][:40] + b"xyz" + PACKETS[2][:50]
    frames = feed_all(Framer(), [PACKETS[0] + junk + PACKETS[3]])
    assert [f.error.reason if f.error else f.data for f in frames] == [
        PACKETS[0], "hj212_framing", PACKETS[3]]
    assert frames[1].data == junk and str(len(junk)) in frames[1].error.detail  # type: ignore[union-attr]


def test_partial_means_a_packet_has_started() -> None:
    framer = Framer()
    assert not framer.partial
    framer.feed(b"\r\n  junk ")
    assert not framer.partial
    framer.feed(PACKETS[0][:20])
    assert framer.partial
    framer.feed(PACKETS[0][20:])
    assert not framer.partial
