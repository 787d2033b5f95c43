"""Every rejection reason the HJ 212 path produces (dead-letter ``reason``, metric label)."""

from __future__ import annotations

REASONS: dict[str, str] = {
    "hj212_framing": "bytes outside '##…\\r\\n', a packet cut off, or not starting with '##'",
    "hj212_length": "length field not 4 digits, or packet too short",
    "hj212_crc": "CRC16 (HJ 212-2017 附录A) does not match the data segment",
    "hj212_unparseable": "header, data area, DataTime or a value cannot be parsed",
    "unknown_station": "no station registered for the MN (TCP) or the topic's station id",
    "hj212_mn_mismatch": "MQTT: the packet's MN is not the topic station's",
    "hj212_password": "PW differs from the station's hj212_password",
    "hj212_unknown_cn": "a command that carries no readings (not 2011/2051/2061/2031)",
    "hj212_st_mismatch": "ST of an air/water/noise system sent for a station of another kind",
    "hj212_unit": "a unit override without a conversion to the canonical unit",
    "out_of_range": "a value outside the parameter's plausible range (often a unit problem)",
    "oversize": "a packet longer than max_packet_bytes (first bytes kept)",
    "hj212_incomplete": "parts of a split packet whose other parts never arrived",
    "hj212_unknown_code": "items not stored (unknown code or flag); the readings were stored",
}
