"""MQTT wire format (OASIS MQTT 3.1.1 §2-3, MQTT 5.0 §2-3): packets built and split."""

from __future__ import annotations

import random

import pytest

from ingest import mqtt_wire as wire


@pytest.mark.parametrize(
    ("n", "encoded"),
    [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"),
     (16_384, b"\x80\x80\x01"), (2_097_151, b"\xff\xff\x7f"),
     (268_435_455, b"\xff\xff\xff\x7f")],  # §2.2.3 table 2.4
)
def test_varint(n: int, encoded: bytes) -> None:
    assert wire.varint(n) == encoded


def test_connect_3_1_1_persistent_session() -> None:
    pkt = wire.connect_packet("c1", version=4, clean=False, keepalive=30,
                              username="u", password="p")
    # fixed header, "MQTT", level 4, flags user+password (no clean session), keepalive 30
    assert pkt[:2] == b"\x10" + bytes([len(pkt) - 2])
    assert pkt[2:12] == b"\x00\x04MQTT\x04\xc0\x00\x1e"
    assert pkt.endswith(b"\x00\x02c1\x00\x01u\x00\x01p")


def test_connect_5_properties() -> None:
    pkt = wire.connect_packet("c", version=5, clean=False, keepalive=60,
                              session_expiry=3600, receive_maximum=500)
    assert pkt[8] == 5 and pkt[9] == 0x00  # level 5, clean start off
    assert pkt[12:21] == b"\x08\x11\x00\x00\x0e\x10\x21\x01\xf4"


def test_publish_roundtrip_3_and_5() -> None:
    pkt = wire.publish_packet(b"envmon/v1/a/data", 513, b'{"x":1}')
    reader = wire.PacketReader()
    [(first, body, size)] = reader.feed(pkt)
    assert size == len(body)
    msg = wire.parse_publish(first, body, 4)
    assert (msg.topic, msg.packet_id, msg.qos, msg.dup, msg.payload) == (
        "envmon/v1/a/data", 513, 1, False, b'{"x":1}')
    # MQTT 5: property length (here 2 bytes of properties) between packet id and payload
    body5 = wire.string(b"t") + b"\x00\x07" + b"\x02\x01\x01" + b"payload"
    msg5 = wire.parse_publish(0x3A, body5, 5)  # DUP + QoS 1
    assert (msg5.topic, msg5.packet_id, msg5.dup, msg5.payload) == ("t", 7, True, b"payload")


def test_reader_any_chunking() -> None:
    rng = random.Random(7)
    sizes = [rng.choice([0, 5, 200, 20000]) for _ in range(50)]
    packets = [wire.publish_packet(b"t/%d" % i, i + 1, rng.randbytes(size))
               for i, size in enumerate(sizes)]
    stream = b"".join(packets)
    reader = wire.PacketReader()
    out: list[wire.Packet] = []
    pos = 0
    while pos < len(stream):
        step = rng.choice([1, 2, 3, 7, 100, 5000])
        out += reader.feed(stream[pos:pos + step])
        pos += step
    assert [wire.parse_publish(f, b, 4).packet_id for f, b, _ in out] == list(range(1, 51))


def test_reader_rejects_overlong_length() -> None:
    with pytest.raises(wire.ProtocolError):
        wire.PacketReader().feed(b"\x30\xff\xff\xff\xff\x01")
    with pytest.raises(wire.ProtocolError):
        wire.PacketReader(max_packet=10).feed(b"\x30\x0b" + b"x" * 11)


@pytest.mark.parametrize("step", [1, 7, 4096, 1 << 20])
def test_reader_keeps_only_the_first_bytes_of_an_oversized_packet(step: int) -> None:
    """A 3 MB PUBLISH between two small ones, fed in any chunking: the big one comes out cut
    to ``keep`` bytes with its real size, the reader never holds it whole, and the packets
    after it are intact."""
    big_payload = bytes(range(256)) * (3 * 4096)
    stream = (wire.publish_packet(b"t/1", 1, b"a") + wire.publish_packet(b"t/2", 2, big_payload)
              + wire.publish_packet(b"t/3", 3, b"c"))
    reader = wire.PacketReader(keep=1000)
    out: list[wire.Packet] = []
    most_buffered = 0
    for pos in range(0, len(stream), step):
        out += reader.feed(stream[pos:pos + step])
        most_buffered = max(most_buffered, reader.buffered)
    msgs = [wire.parse_publish(p.first, p.body, 4) for p in out]
    assert [m.packet_id for m in msgs] == [1, 2, 3]
    assert [m.payload for m in (msgs[0], msgs[2])] == [b"a", b"c"]
    head = len(wire.string(b"t/2")) + 2
    assert msgs[1].payload == big_payload[:1000 - head]
    assert out[1].size == head + len(big_payload) and len(out[1].body) == 1000
    assert most_buffered <= 1000 + 16


def test_suback_and_connack() -> None:
    assert wire.parse_suback(b"\x00\x01\x01\x80", 4) == [1, 0x80]
    assert wire.parse_suback(b"\x00\x01\x00\x01", 5) == [1]
    assert wire.parse_connack(b"\x01\x00") == wire.ConnAck(True, 0)
    assert wire.puback_packet(258) == b"\x40\x02\x01\x02"
