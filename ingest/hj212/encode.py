"""Building HJ 212 packets with a correct length and CRC (for the gateway's answers,
simulators and tests). Layout and fields: HJ 212-2017 表2/表3, reference/hj212.md §1-§2.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from envmon.beijing_time import BEIJING
from ingest.hj212.codes import code_table
from ingest.hj212.crc import crc16_hex
from ingest.hj212.decode import DATA_COMMANDS, ST_KINDS
from ingest.hj212.packet import FLAG_ACK, FLAG_SPLIT

FLAG_2017 = 0b100  # version bits V5..V0 = 000001: HJ 212-2017 (§2.1)


def encode_frame(segment: str) -> bytes:
    """``##`` + length + segment + CRC + CR LF around a data segment."""
    data = segment.encode("utf-8")
    if len(data) > 9999:
        raise ValueError(f"data segment of {len(data)} bytes does not fit the 4-digit length")
    return b"##%04d%s%s\r\n" % (len(data), data, crc16_hex(data).encode("ascii"))


def encode_segment(
    *,
    qn: str | None,
    st: str,
    cn: str,
    pw: str | None,
    mn: str,
    flag: int,
    cp: str,
    pnum: int | None = None,
    pno: int | None = None,
) -> str:
    """The data segment ``QN=…;ST=…;CN=…;PW=…;MN=…;Flag=…;[PNUM=…;PNO=…;]CP=&&cp&&``."""
    fields = [f"QN={qn}"] if qn is not None else []
    fields += [f"ST={st}", f"CN={cn}"]
    fields += [f"PW={pw}"] if pw is not None else []
    fields += [f"MN={mn}", f"Flag={flag}"]
    if pnum is not None and pno is not None:
        fields += [f"PNUM={pnum}", f"PNO={pno}"]
    return ";".join([*fields, f"CP=&&{cp}&&"])


def new_qn(at: datetime) -> str:
    """A request number ``YYYYMMDDhhmmsszzz`` in Beijing time (表3)."""
    local = at.astimezone(BEIJING)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"


def encode_data_packet(
    mn: str,
    pw: str,
    cn: str,
    st: str,
    data_time_local: datetime,
    values: Mapping[str, float],
    flags: Mapping[str, str] | None = None,
    ack: bool = True,
    qn: str | None = None,
    pnum: int | None = None,
    pno: int | None = None,
) -> bytes:
    """A data upload (CN 2011/2051/2061/2031) from a station of system ``st`` (21/22/23).

    ``values`` keys are wire codes (value sent as given) or canonical parameters (value in the
    canonical unit, converted to the code's default unit). ``data_time_local`` is Beijing local
    time (naive, or aware and converted). ``flags`` maps the same keys to data flags (表8).
    """
    kind = ST_KINDS[st]
    table = code_table()
    interval = DATA_COMMANDS[cn][0]
    local = data_time_local.astimezone(BEIJING) if data_time_local.tzinfo else data_time_local
    items = [f"DataTime={local:%Y%m%d%H%M%S}"]
    for key, value in values.items():
        number = Decimal(repr(float(value)))
        code = table.lookup(kind, key)
        if code is not None:
            wire, param = key, code.parameter
        else:
            primary = table.primary(kind, key)
            if primary is None:
                raise KeyError(f"{key!r} is neither a {kind} code nor a canonical parameter")
            wire, param = primary.code, key
            number /= table.factor(kind, param, primary.unit)
        suffix = _suffix(kind, interval, wire, param)
        flag = (flags or {}).get(key, "N")
        items.append(f"{wire}-{suffix}={_plain(number)},{wire}-Flag={flag}")
    flag_bits = FLAG_2017 | (FLAG_ACK if ack else 0) | (FLAG_SPLIT if pnum is not None else 0)
    segment = encode_segment(qn=qn or new_qn(datetime.now(BEIJING)), st=st, cn=cn, pw=pw, mn=mn,
                             flag=flag_bits, cp=";".join(items), pnum=pnum, pno=pno)
    return encode_frame(segment)


def _suffix(kind: str, interval: str, wire: str, param: str) -> str:
    if interval == "rt":
        return "Rtd"
    if kind != "noise":
        return "Avg"
    if interval == "day" and param == "ld":
        return "DayData"
    if interval == "day" and param == "ln":
        return "NightData"
    return "Data"


def _plain(number: Decimal) -> str:
    """Fixed-point text without exponent or trailing zeros (HJ 212 N-types have no exponent)."""
    return format(number.normalize(), "f")


def encode_ack_9014(qn: str | None, mn: str, pw: str | None) -> bytes:
    """The host's data answer (CN 9014, ST 91, Flag 4, same QN; reference §6.2)."""
    return encode_frame(
        encode_segment(qn=qn, st="91", cn="9014", pw=pw, mn=mn, flag=FLAG_2017, cp="")
    )
