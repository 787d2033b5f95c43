"""MQTT 3.1.1 / 5.0 wire format: the few packets a QoS 1 consumer (and a publisher) needs.

Sans-I/O: functions build packets as bytes and :class:`PacketReader` splits a byte stream into
(first byte, body) pairs. Layouts follow OASIS MQTT 3.1.1 §2–3 and MQTT 5.0 §2–3.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

CONNECT, CONNACK, PUBLISH, PUBACK = 0x10, 0x20, 0x30, 0x40
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 0x82, 0x90, 0xC0, 0xD0, 0xE0
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"
# MQTT 5 property identifiers (§2.2.2.2)
_SESSION_EXPIRY, _RECEIVE_MAXIMUM = 0x11, 0x21
MAX_REMAINING_LENGTH = 268_435_455


class ProtocolError(ValueError):
    """The peer sent something that is not MQTT as we speak it."""


def varint(n: int) -> bytes:
    """Variable byte integer, e.g. the remaining length (§2.2.3 / §1.5.5)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string(s: bytes) -> bytes:
    """UTF-8 string / binary data: two-byte length prefix (§1.5.3)."""
    return struct.pack("!H", len(s)) + s


def connect_packet(client_id: str, *, version: int, clean: bool, keepalive: int,
                   username: str | None = None, password: str | None = None,
                   session_expiry: int | None = None, receive_maximum: int | None = None
                   ) -> bytes:
    """CONNECT (§3.1). ``version`` 4 = 3.1.1, 5 = 5.0 (with session expiry and receive maximum
    properties); ``clean`` is Clean Session (3.1.1) / Clean Start (5.0)."""
    flags = (0x02 if clean else 0) | (0x80 if username is not None else 0) | (
        0x40 if password is not None else 0)
    body = string(b"MQTT") + bytes([version, flags]) + struct.pack("!H", keepalive)
    if version == 5:
        props = b""
        if session_expiry is not None:
            props += bytes([_SESSION_EXPIRY]) + struct.pack("!I", session_expiry)
        if receive_maximum is not None:
            props += bytes([_RECEIVE_MAXIMUM]) + struct.pack("!H", receive_maximum)
        body += varint(len(props)) + props
    body += string(client_id.encode())
    if username is not None:
        body += string(username.encode())
    if password is not None:
        body += string(password.encode())
    return bytes([CONNECT]) + varint(len(body)) + body


def subscribe_packet(packet_id: int, topics: list[str], *, version: int, qos: int = 1) -> bytes:
    """SUBSCRIBE (§3.8): every filter at ``qos``."""
    body = struct.pack("!H", packet_id) + (b"\x00" if version == 5 else b"")
    for topic in topics:
        body += string(topic.encode()) + bytes([qos])
    return bytes([SUBSCRIBE]) + varint(len(body)) + body


def publish_packet(topic: bytes, packet_id: int, payload: bytes) -> bytes:
    """PUBLISH, QoS 1, not retained, MQTT 3.1.1 (§3.3)."""
    head = string(topic) + struct.pack("!H", packet_id)
    return b"\x32" + varint(len(head) + len(payload)) + head + payload


def puback_packet(packet_id: int) -> bytes:
    """PUBACK (§3.4); in MQTT 5 the two-byte form means reason Success."""
    return struct.pack("!BBH", PUBACK, 2, packet_id)


@dataclass(frozen=True, slots=True)
class ConnAck:
    session_present: bool
    code: int  # 0 = accepted (3.1.1 return code / 5.0 reason code)


def parse_connack(body: bytes) -> ConnAck:
    if len(body) < 2:
        raise ProtocolError("CONNACK too short")
    return ConnAck(bool(body[0] & 1), body[1])


def parse_suback(body: bytes, version: int) -> list[int]:
    """Granted QoS / reason codes of a SUBACK (>= 0x80 is a refusal)."""
    pos = 2
    if version == 5:
        plen, pos = _read_varint(body, pos)
        pos += plen
    return list(body[pos:])


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    packet_id: int
    qos: int
    dup: bool
    payload: bytes


def parse_publish(first: int, body: bytes, version: int) -> Publish:
    """PUBLISH (§3.3). Properties (5.0) are skipped: we announce no topic aliases."""
    qos = (first >> 1) & 3
    if qos == 3 or len(body) < 2:
        raise ProtocolError("malformed PUBLISH")
    tlen = (body[0] << 8) | body[1]
    pos = 2 + tlen
    try:
        topic = body[2:pos].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("PUBLISH topic is not UTF-8") from exc
    packet_id = 0
    if qos:
        packet_id = (body[pos] << 8) | body[pos + 1]
        pos += 2
    if version == 5:
        plen, pos = _read_varint(body, pos)
        pos += plen
    return Publish(topic, packet_id, qos, bool(first & 0x08), body[pos:])


def _read_varint(buf: bytes | bytearray, pos: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(4):
        if pos >= len(buf):
            raise ProtocolError("truncated variable byte integer")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
    raise ProtocolError("variable byte integer longer than 4 bytes")


class Packet(NamedTuple):
    """One packet: first byte, body, and the body's full length on the wire (larger than
    ``len(body)`` when the reader kept only the first bytes of an oversized packet)."""

    first: int
    body: bytes
    size: int


class PacketReader:
    """Push bytes in any chunking; pop complete packets one at a time.

    Popping one at a time lets the consumer stop mid-chunk: what it has not popped stays
    here as raw bytes (one socket read at most), cheaper than decoded messages.
    A packet longer than ``keep`` bytes is not buffered whole: its first ``keep`` bytes are
    returned (``size`` tells the real length) and the rest is skipped as it arrives, so a
    hostile 10 MB PUBLISH costs ``keep`` bytes of memory, not 10 MB.
    """

    def __init__(self, max_packet: int = MAX_REMAINING_LENGTH, keep: int | None = None) -> None:
        self._buf = bytearray()
        self._pos = 0  # start of the first packet not popped yet
        self._max = max_packet
        self._keep = max_packet if keep is None else keep
        self._skip = 0  # bytes of an oversized packet still to discard

    def push(self, data: bytes) -> None:
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return
            data = data[self._skip:]
            self._skip = 0
        if self._pos:
            del self._buf[:self._pos]
            self._pos = 0
        if not self._buf and len(data) > 65536:
            self._buf = bytearray()  # do not keep a large allocation alive
        self._buf += data

    def pop(self) -> Packet | None:
        """The next complete packet, or None until more bytes are pushed."""
        buf, pos = self._buf, self._pos
        n = len(buf)
        if n - pos < 2:
            return None
        try:
            length, start = _read_varint(buf, pos + 1)
        except ProtocolError:
            if n - pos - 1 < 4:
                return None  # the length itself is not complete yet
            raise
        if length > self._max:
            raise ProtocolError(f"packet of {length} bytes exceeds {self._max}")
        end = start + length
        if length > self._keep:
            if n - start < self._keep:
                return None  # not even the kept part is here yet
            packet = Packet(buf[pos], bytes(buf[start:start + self._keep]), length)
            if end > n:
                self._skip = end - n
                end = n
        elif end > n:
            return None
        else:
            packet = Packet(buf[pos], bytes(buf[start:end]), length)
        self._pos = end
        return packet

    @property
    def buffered(self) -> int:
        """Bytes received and not popped yet."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes) -> list[Packet]:
        """Push ``data`` and pop every complete packet."""
        self.push(data)
        return list(iter(self.pop, None))
