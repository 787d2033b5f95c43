"""The HJ 212 CRC16 (HJ 212-2017 附录A; reference/hj212.md §3).

It is *not* CRC-16/MODBUS: each byte is XORed into the register's **high** byte and the result
replaces the whole register (``reg = (reg >> 8) ^ b``), then eight reflected-0xA001 shifts.
"""

from __future__ import annotations


def _table() -> tuple[int, ...]:
    """After ``reg = (reg >> 8) ^ b`` the register is < 0x100, so 256 outcomes cover every step."""
    out = []
    for value in range(256):
        reg = value
        for _ in range(8):
            reg = (reg >> 1) ^ 0xA001 if reg & 1 else reg >> 1
        out.append(reg)
    return tuple(out)


_TABLE = _table()


def crc16(segment: bytes) -> int:
    """CRC of an HJ 212 data segment (from ``QN=`` to the final ``&&``), register 0xFFFF."""
    reg = 0xFFFF
    for byte in segment:
        reg = _TABLE[(reg >> 8) ^ byte]
    return reg


def crc16_hex(segment: bytes) -> str:
    """The CRC as transmitted: four upper-case hex digits, high byte first."""
    return f"{crc16(segment):04X}"
