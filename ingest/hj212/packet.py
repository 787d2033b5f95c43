"""One HJ 212 packet: frame checks (header, length, CRC) and the data-segment fields.

Layout ``##`` + 4-digit length + data segment + 4-hex CRC + CR LF (HJ 212-2017 表2,
reference/hj212.md §1); fields ``QN;ST;CN;PW;MN;Flag;[PNUM;PNO;]CP=&&…&&`` (表3, §2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.errors import Rejection
from ingest.hj212.crc import crc16_hex

_DIGITS4 = re.compile(rb"\d{4}")
_HEX4 = re.compile(rb"[0-9A-Fa-f]{4}")
_CN = re.compile(r"\d{4}")
_TRAILER = b"\r\n\t \x00"

FLAG_ACK = 0b01  # A bit: the sender wants a data answer (§2.1)
FLAG_SPLIT = 0b10  # D bit: PNUM/PNO present (§2.1)


@dataclass(frozen=True, slots=True)
class Packet:
    """A packet whose CRC matched. ``cp`` is the data area between ``CP=&&`` and ``&&``."""

    raw: bytes
    declared_length: int
    segment_length: int
    qn: str | None
    st: str | None
    cn: str
    pw: str | None
    mn: str
    flag: int
    pnum: int | None
    pno: int | None
    cp: str

    @property
    def ack_requested(self) -> bool:
        return bool(self.flag & FLAG_ACK)

    @property
    def length_matches(self) -> bool:
        """Real loggers mis-count the length; the CRC is what is trusted (§3.1 example 3, §9)."""
        return self.declared_length == self.segment_length


def parse_packet(raw: bytes) -> Packet:
    """Check the frame and parse the header fields; raise :class:`Rejection` when unusable.

    The trailing CR LF may be missing (MQTT payloads); any other ending (LF alone, padding after
    CR LF) is ``hj212_framing``, not a CRC error. A wrong declared length is accepted when
    the CRC matches (reference §9 step 3), so :attr:`Packet.length_matches` can be logged.
    """
    body = raw.rstrip(_TRAILER)
    trailer = raw[len(body):]
    if trailer not in (b"", b"\r\n"):  # else the CRC check would read the trailer as the CRC
        raise Rejection("hj212_framing", f"packet ends with {trailer[:16]!r}, not CR LF")
    if not body.startswith(b"##"):
        raise Rejection("hj212_framing", "packet does not start with '##'")
    if len(body) < 10:
        raise Rejection("hj212_length", f"packet of {len(raw)} bytes is too short")
    length_field, segment, crc_field = body[2:6], body[6:-4], body[-4:]
    if not _DIGITS4.fullmatch(length_field):
        raise Rejection("hj212_length", f"length field {length_field!r} is not 4 digits")
    expected = crc16_hex(segment)
    if not _HEX4.fullmatch(crc_field) or crc_field.decode("ascii").upper() != expected:
        raise Rejection("hj212_crc", f"CRC {crc_field!r} does not match computed {expected}")
    try:
        text = segment.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejection("hj212_unparseable", f"data segment is not UTF-8: {exc}") from None
    header, cp = _split_cp(text)
    fields = _header_fields(header)
    return _packet(raw, int(length_field), len(segment), fields, cp)


def _split_cp(text: str) -> tuple[str, str]:
    start = text.find("CP=&&")
    if start < 0 or not text.endswith("&&") or len(text) < start + 7:
        raise Rejection("hj212_unparseable", "data segment has no 'CP=&&…&&' data area")
    return text[:start], text[start + 5 : -2]


def _header_fields(header: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in header.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise Rejection("hj212_unparseable", f"header field {part!r} has no '='")
        if name in fields:
            raise Rejection("hj212_unparseable", f"header field {name} appears twice")
        fields[name] = value.strip()
    return fields


def _packet(raw: bytes, declared: int, actual: int, fields: dict[str, str], cp: str) -> Packet:
    cn = fields.get("CN", "")
    if not _CN.fullmatch(cn):
        raise Rejection("hj212_unparseable", f"CN {cn!r} is not a 4-digit command code")
    mn = fields.get("MN", "")
    if not mn:
        raise Rejection("hj212_unparseable", "packet has no MN")
    flag = _small_int(fields, "Flag", 0, 255) if "Flag" in fields else 0
    pnum = pno = None
    if flag & FLAG_SPLIT:
        pnum = _small_int(fields, "PNUM", 1, 9999)
        pno = _small_int(fields, "PNO", 1, pnum)
    return Packet(
        raw=raw,
        declared_length=declared,
        segment_length=actual,
        qn=fields.get("QN"),
        st=fields.get("ST"),
        cn=cn,
        pw=fields.get("PW"),
        mn=mn,
        flag=flag,
        pnum=pnum,
        pno=pno,
        cp=cp,
    )


def _small_int(fields: dict[str, str], name: str, low: int, high: int) -> int:
    value = fields.get(name, "")
    if not (value.isascii() and value.isdigit() and len(value) <= 4 and low <= int(value) <= high):
        raise Rejection("hj212_unparseable", f"{name}={value!r} is not an integer {low}..{high}")
    return int(value)


def cp_items(cp: str) -> list[tuple[str, str]]:
    """The ``name=value`` items of a data area, in order (§4: items by ``;``, values by ``,``).

    Parsed tolerantly as §4 advises: spaces trimmed, empty items skipped.
    """
    items: list[tuple[str, str]] = []
    for group in cp.split(";"):
        for part in group.split(","):
            if not part.strip():
                continue
            name, sep, value = part.partition("=")
            if not sep or not name.strip():
                detail = f"data item {part.strip()!r} is not name=value"
                raise Rejection("hj212_unparseable", detail)
            items.append((name.strip(), value.strip()))
    return items
