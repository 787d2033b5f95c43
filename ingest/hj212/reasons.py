"""Every rejection reason the HJ 212 path produces (dead-letter ``reason``, metric label)."""

from __future__ import annotations

REASONS: dict[str, str] = {
    "hj212_framing": "bytes outside '##…\\r\\n', a packet cut off, or not starting with '##'",
    "hj212_length": "length field not 4 digits, or packet too short",
    "hj212_crc": "CRC16 (HJ 212-2017 附录A) does not match the data segment",
    "hj212_unparseable": "header, data area or DataTime cannot be parsed (packet); a value"
                         " that is not a number, or a parameter sent twice with different values"
                         " (item)",
    "unknown_station": "no station registered for the MN (TCP) or the topic's station id",
    "hj212_mn_mismatch": "MQTT: the packet's MN is not the topic station's",
    "hj212_password": "PW differs from the station's hj212_password",
    "hj212_unknown_cn": "a command that carries no readings (not 2011/2051/2061/2031)",
    "hj212_st_mismatch": "ST of an air/water/noise system sent for a station of another kind",
    "hj212_unit": "(item) a unit override without a conversion to the canonical unit",
    "out_of_range": "(item) a value outside the parameter's plausible range (a unit problem, or"
                    " a fault placeholder such as -999)",
    "oversize": "a packet longer than max_packet_bytes (first bytes kept)",
    "hj212_incomplete": "parts of a split packet whose other parts never arrived",
    "hj212_unknown_code": "(item) unknown code, suffix or flag; the other readings were stored",
    "hj212_flood": "TCP: anonymous rejections over the dead-letter rate limit, counted in one row",
}
