"""The HJ 212 CRC (HJ 212-2017 附录A; reference/hj212.md §3)."""

from __future__ import annotations

import random

import pytest

from ingest.hj212 import crc16, crc16_hex
from tests.ingest.hj212.hj212_support import REFERENCE_PACKETS, RefPacket


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # reference §3 test-vector table
        (b"", "FFFF"),
        (b"A", "7080"),
        (b"123456789", "2F80"),
        (b"QN=", "7200"),
        (b"CP=&&&&", "F781"),
    ],
)
def test_crc_test_vectors(text: bytes, expected: str) -> None:
    assert crc16_hex(text) == expected


@pytest.mark.parametrize("packet", REFERENCE_PACKETS, ids=lambda p: p.name)
def test_crc_reproduces_every_worked_packet(packet: RefPacket) -> None:
    """§3.1/§3.2: each stated CRC is the CRC of the data segment only."""
    assert packet.raw[-6:-2].decode() == packet.crc
    assert crc16_hex(packet.segment) == packet.crc


def test_crc_is_not_modbus() -> None:
    """§3: the standard's example gives 1C80; CRC-16/MODBUS would give 0759."""
    segment = REFERENCE_PACKETS[0].segment
    assert crc16_hex(segment) == "1C80"
    assert crc16_hex(segment) != "0759"


def test_crc_low_byte_is_one_of_eight_values() -> None:
    """§3 property: the result is an entry of the 0xA001 table, low byte in a fixed set of 8."""
    rng = random.Random(212)
    lows = {crc16(rng.randbytes(rng.randrange(1, 64))) & 0xFF for _ in range(2000)}
    assert lows <= {0x00, 0x01, 0x40, 0x41, 0x80, 0x81, 0xC0, 0xC1}
