"""HJ 212 data packets into :class:`~ingest.reading.Reading` for a registered station.

Data commands (HJ 212-2017 表9, reference/hj212.md §6.2): 2011 real-time, 2051 minute, 2061
hour, 2031 day. ``DataTime`` is Beijing local time and, for period data, the *start* of the
period (§4.2); it is stored as the interval start in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Protocol

from envmon.beijing_time import BEIJING
from envmon.parameters import StationKind, parameter
from envmon.stations import Station
from ingest.errors import Rejection
from ingest.hj212.codes import code_table
from ingest.hj212.packet import Packet, cp_items
from ingest.reading import DATA_FLAGS, Interval, Reading

# CN -> (interval, value suffixes that carry the period value). 表4's other statistics of the same
# period (-Min, -Max, -Cou, -Zs*) and per-item metadata (-EFlag, -SampleTime) are known and not
# stored: a reading carries one value, the period value. Any other suffix (``-AVG``, ``-Rtd`` in a
# CN 2061 packet, ``- Rtd``) is an item we cannot place: it is kept in the dead-letter table.
DATA_COMMANDS: dict[str, tuple[Interval, frozenset[str]]] = {
    "2011": ("rt", frozenset({"Rtd"})),
    "2051": ("min", frozenset({"Avg", "Data"})),
    "2061": ("hour", frozenset({"Avg", "Data"})),
    "2031": ("day", frozenset({"Avg", "Data", "DayData", "NightData"})),
}
_NOT_STORED = frozenset({"EFlag", "SampleTime"})
_PERIOD_STATISTICS = frozenset({"Min", "Max", "Cou", "ZsMin", "ZsAvg", "ZsMax"})
OTHER_SUFFIXES: dict[Interval, frozenset[str]] = {
    "rt": _NOT_STORED | {"ZsRtd"},
    "min": _NOT_STORED | _PERIOD_STATISTICS,
    "hour": _NOT_STORED | _PERIOD_STATISTICS,
    "day": _NOT_STORED | _PERIOD_STATISTICS,
}
# System codes of the environmental-quality systems we serve (表5, reference §6.1).
ST_KINDS: dict[str, StationKind] = {"21": "water", "22": "air", "23": "noise"}
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?")
_DATATIME = re.compile(r"\d{14}")

UnitOverrides = Mapping[str, Mapping[str, str]]
"""station_id -> wire code -> unit the logger sends (table ``hj212_unit_overrides``)."""
NO_UNITS: Mapping[str, str] = MappingProxyType({})


class StationLookup(Protocol):
    def get(self, station_id: str) -> Station | None: ...
    def by_mn(self, mn: str) -> Station | None: ...


@dataclass(frozen=True, slots=True)
class Skipped:
    """One data item that gave no reading, and why (a dead-letter reason)."""

    item: str
    reason: str
    why: str


@dataclass(frozen=True, slots=True)
class Decoded:
    """Readings of one (reassembled) packet plus the items that were judged and not stored."""

    readings: list[Reading]
    skipped: list[Skipped] = field(default_factory=list)

    def rejections(self, station_id: str) -> list[Rejection]:
        """One dead-letter record per reason, naming every item not stored and why."""
        by_reason: dict[str, list[str]] = {}
        for s in self.skipped:
            by_reason.setdefault(s.reason, []).append(f"{s.item} ({s.why})")
        return [Rejection(reason, "not stored: " + "; ".join(items), station_id)
                for reason, items in by_reason.items()]


def station_for_mn(packet: Packet, registry: StationLookup) -> Station:
    """The station a TCP packet belongs to, by its MN."""
    station = registry.by_mn(packet.mn)
    if station is None:
        raise Rejection("unknown_station", f"no station registered for MN {packet.mn}")
    return station


def check_station(packet: Packet, station: Station, registry: StationLookup) -> None:
    """MN must belong to ``station`` (never a silent remap); PW must match when one is set."""
    owner = registry.by_mn(packet.mn)
    if owner is None or owner.station_id != station.station_id:
        raise Rejection(
            "hj212_mn_mismatch",
            f"MN {packet.mn} is not registered to station {station.station_id}",
            station.station_id,
        )
    if station.hj212_password is not None and packet.pw != station.hj212_password:
        raise Rejection("hj212_password", f"wrong PW for MN {packet.mn}", station.station_id)


def decode_data(packet: Packet, station: Station, units: Mapping[str, str] = NO_UNITS) -> Decoded:
    """Readings of a data packet; ``units`` maps wire codes to the unit this logger sends.

    Items are judged one by one (an empty value, a fault placeholder such as ``-00999.000``, an
    unknown code or suffix costs that item, not the packet): they come back in
    :attr:`Decoded.skipped`. Raises :class:`Rejection` only for what spoils every item: a command
    that carries no readings, a system code of another station kind, a missing/invalid DataTime.
    """
    sid = station.station_id
    command = DATA_COMMANDS.get(packet.cn)
    if command is None:
        raise Rejection("hj212_unknown_cn", f"CN {packet.cn} carries no readings", sid)
    interval, value_suffixes = command
    st_kind = ST_KINDS.get(packet.st or "")
    if st_kind is not None and st_kind != station.kind:
        raise Rejection("hj212_st_mismatch",
                        f"ST={packet.st} ({st_kind}) sent for {station.kind} station", sid)
    values: list[tuple[str, str, str, datetime]] = []
    flags: dict[str, str] = {}
    skipped: list[Skipped] = []
    ts: datetime | None = None
    for name, value in cp_items(packet.cp):
        code, dash, suffix = name.partition("-")
        if name == "DataTime":
            ts = _data_time(value, interval, sid)
        elif not dash:
            skipped.append(Skipped(f"{name}={value}", "hj212_unknown_code", "no factor code"))
        elif suffix == "Flag":
            flags[code] = value.upper()
        elif suffix in value_suffixes:
            if ts is None:
                raise Rejection("hj212_unparseable", f"{name} before any DataTime", sid)
            values.append((code, suffix, value, ts))
        elif suffix not in OTHER_SUFFIXES[interval]:
            skipped.append(Skipped(f"{name}={value}", "hj212_unknown_code",
                                   f"suffix {suffix!r} is not a value of CN {packet.cn}"))
    return _readings(station, interval, values, flags, skipped, units)


def _readings(
    station: Station,
    interval: Interval,
    values: list[tuple[str, str, str, datetime]],
    flags: dict[str, str],
    skipped: list[Skipped],
    units: Mapping[str, str],
) -> Decoded:
    out: dict[tuple[str, datetime], tuple[str, Reading]] = {}
    conflicts: dict[tuple[str, datetime], list[str]] = {}
    for wire, suffix, text, ts in values:
        item = f"{wire}-{suffix}={text}"
        try:
            reading = _reading(station, interval, wire, suffix, text, ts, flags, units)
        except Rejection as rejection:
            skipped.append(Skipped(item, rejection.reason, rejection.detail))
            continue
        key = (reading.parameter, ts)
        first = out.setdefault(key, (item, reading))
        if first[1].value != reading.value or first[1].flag != reading.flag:
            conflicts.setdefault(key, [first[0]]).append(item)
    for key, items in conflicts.items():  # which one is right? neither is stored
        del out[key]
        skipped += [Skipped(i, "hj212_unparseable", f"{key[0]} sent twice with different values")
                    for i in items]
    return Decoded([reading for _, reading in out.values()], skipped)


def _reading(station: Station, interval: Interval, wire: str, suffix: str, text: str,
             ts: datetime, flags: dict[str, str], units: Mapping[str, str]) -> Reading:
    """One value item as a reading, or :class:`Rejection` naming why this item is not stored."""
    table = code_table()
    sid, kind = station.station_id, station.kind
    code = table.lookup(kind, wire)
    param = _parameter(code.parameter, code.day, code.night, suffix) if code else None
    if code is None or param is None:
        raise Rejection("hj212_unknown_code", f"no {kind} parameter for {wire}-{suffix}", sid)
    if code.only is not None and suffix not in code.only:
        raise Rejection("hj212_unknown_code", f"{wire} is only sent as -{'/-'.join(code.only)}",
                        sid)
    flag = flags.get(wire, "N")
    if flag not in DATA_FLAGS:
        raise Rejection("hj212_unknown_code", f"{wire}-Flag={flag} is not a 表8 flag", sid)
    unit = units.get(wire) or units.get(code.code) or code.unit
    try:
        factor = table.factor(kind, param, unit)
    except KeyError:
        raise Rejection("hj212_unit", f"no conversion {unit} -> {param}", sid) from None
    value = float(_number(text, wire, sid) * factor)
    _check_range(kind, param, value, wire, unit, sid)
    return Reading(sid, param, interval, ts, value, flag, "hj212")


def _parameter(param: str, day: str | None, night: str | None, suffix: str) -> str | None:
    if suffix == "DayData":
        return day
    if suffix == "NightData":
        return night
    return param


def _number(text: str, wire: str, sid: str) -> Decimal:
    if not _NUMBER.fullmatch(text):
        raise Rejection("hj212_unparseable", f"{wire} value {text!r} is not a number", sid)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise Rejection("hj212_unparseable", f"{wire} value {text!r} is not a number",
                        sid) from None


def _check_range(kind: StationKind, param: str, value: float, wire: str, unit: str,
                 sid: str) -> None:
    spec = parameter(kind, param)
    if spec is not None and not spec.min <= value <= spec.max:
        raise Rejection(
            "out_of_range",
            f"{wire} = {value:g} {spec.unit} (sent as {unit}) outside {spec.min:g}..{spec.max:g}; "
            "does this logger need a unit override?",
            sid,
        )


def _data_time(text: str, interval: Interval, sid: str) -> datetime:
    """Beijing-local ``YYYYMMDDhhmmss`` floored to the interval start, in UTC (§4.2, §5).

    Real loggers stamp an hour ``210001`` (reference §3.1 example 2): period data is floored to
    its minute/hour/day so a resend keys to the same reading.
    """
    if not _DATATIME.fullmatch(text):
        raise Rejection("hj212_unparseable", f"DataTime {text!r} is not YYYYMMDDhhmmss", sid)
    if not "1970" <= text[:4] <= "2099":  # a logger's reset clock, not data to key readings by
        raise Rejection("hj212_unparseable", f"DataTime {text!r} is outside 1970-2099", sid)
    try:
        local = datetime.strptime(text, "%Y%m%d%H%M%S")
    except ValueError:
        raise Rejection("hj212_unparseable", f"DataTime {text!r} is not a valid time",
                        sid) from None
    if interval == "min":
        local = local.replace(second=0)
    elif interval == "hour":
        local = local.replace(minute=0, second=0)
    elif interval == "day":
        local = local.replace(hour=0, minute=0, second=0)
    return local.replace(tzinfo=BEIJING).astimezone(UTC)
