"""Reassembly of split packets (Flag D bit, PNUM/PNO; HJ 212-2017 表3, reference/hj212.md §6.2).

Each part has its own QN and CRC. Parts are grouped by (MN, ST, CN, PNUM); a retransmitted part
replaces the earlier copy. A byte-identical retransmit of a part of a group completed within the
timeout (the logger missed its answer) comes back as that part alone, with the group's DataTime
prepended, so it decodes to its own readings (duplicates) and gets its own answer. A group not
completed within the timeout is handed back by :meth:`Reassembler.expired` so its parts can be
dead-lettered, never dropped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ingest.errors import Rejection
from ingest.hj212.packet import Packet

GroupKey = tuple[str, str | None, str, int]
_DATA_TIME = re.compile(r"DataTime=([^;,&]*)")


@dataclass
class _Group:
    started: float
    parts: dict[int, Packet] = field(default_factory=dict)


class Reassembler:
    """Buffers the parts of split packets until every PNO of the group has arrived."""

    def __init__(
        self,
        timeout_seconds: float = 300.0,
        max_parts: int = 20_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timeout = timeout_seconds
        self._max_parts = max_parts  # memory bound: parts held, and completed parts remembered
        self._held = 0
        self._clock = clock
        self._groups: dict[GroupKey, _Group] = {}
        self._evicted: list[Packet] = []
        self._done: dict[bytes, tuple[float, Packet]] = {}

    def add(self, packet: Packet) -> tuple[Packet, ...] | None:
        """The complete parts in PNO order once the group is whole, else ``None``.

        An unsplit packet is returned at once as a group of one, and so is a retransmitted part
        of a recently completed group (made standalone).
        """
        if packet.pnum is None or packet.pno is None:
            return (packet,)
        done = self._done.get(packet.raw)
        if done is not None:
            return (done[1],)
        key = (packet.mn, packet.st, packet.cn, packet.pnum)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(self._clock())
        self._held += packet.pno not in group.parts
        group.parts[packet.pno] = packet
        if len(group.parts) < packet.pnum:
            while self._held > self._max_parts:  # evict the oldest groups (never this one)
                oldest = next(iter(self._groups))
                if oldest == key:
                    break
                self._drop(oldest, self._evicted)
            return None
        self._drop(key, [])
        parts = tuple(group.parts[n] for n in sorted(group.parts))
        now = self._clock()
        self._done.update((p.raw, (now, p)) for p in _standalone(parts))
        while len(self._done) > self._max_parts:
            del self._done[next(iter(self._done))]
        return parts

    def _drop(self, key: GroupKey, into: list[Packet]) -> None:
        group = self._groups.pop(key)
        self._held -= len(group.parts)
        into.extend(group.parts.values())

    def expired(self) -> list[Packet]:
        """Parts of groups older than the timeout (or evicted for space), now out of the buffer."""
        now = self._clock()
        stale = [k for k, g in self._groups.items() if now - g.started >= self._timeout]
        out, self._evicted = self._evicted, []
        self._done = {raw: d for raw, d in self._done.items() if now - d[0] < self._timeout}
        for key in stale:
            self._drop(key, out)
        return out

    def __len__(self) -> int:
        """Number of incomplete groups held."""
        return len(self._groups)

    @property
    def timeout_seconds(self) -> float:
        return self._timeout


def incomplete(part: Packet, timeout_seconds: float, station_id: str | None) -> Rejection:
    """The dead-letter reason of a part handed back by :meth:`Reassembler.expired`."""
    return Rejection(
        "hj212_incomplete",
        f"part {part.pno}/{part.pnum} of a split packet from MN {part.mn}: the other parts did "
        f"not arrive within {timeout_seconds:g} s",
        station_id,
    )


def _standalone(parts: tuple[Packet, ...]) -> list[Packet]:
    """Each part as an unsplit packet whose data area starts with the DataTime in force."""
    out, context = [], None
    for part in parts:
        cp = f"DataTime={context};{part.cp}" if context is not None else part.cp
        out.append(replace(part, cp=cp, pnum=None, pno=None))
        times = _DATA_TIME.findall(part.cp)
        context = times[-1] if times else context
    return out


def merge(parts: tuple[Packet, ...]) -> Packet:
    """One packet whose data area is the parts' data areas in order (``;``-joined); its raw
    bytes are the parts, each ending in CR LF (MQTT parts may come without), so a stored group
    can be framed into its parts again."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    return replace(
        first,
        raw=b"".join(p.raw if p.raw.endswith(b"\r\n") else p.raw + b"\r\n" for p in parts),
        cp=";".join(p.cp for p in parts),
        pnum=None,
        pno=None,
    )
