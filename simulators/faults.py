"""Fault injection: what real station networks do to a clean stream of documents.

Each fault is switched on by a rate and draws from its own random stream (seeded), so turning one
fault on or off never changes where the others strike. Faults come in three layers:

* the logger's record (what it stores and would resend): calibration / maintenance / instrument
  fault flags (HJ 212 表8 C, M, D), values out of range, a clock off by whole hours;
* delivery: offline spells followed by a history upload, resending yesterday's buffer,
  duplicates, out-of-order delivery, revised values, unregistered station ids;
* bytes: malformed JSON, wrong HJ 212 CRC, truncated packets.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from datetime import timedelta

from envmon.parameters import catalogue
from envmon.stations import Station
from simulators.document import UNREGISTERED_PREFIX, Document, Message
from simulators.encode import Encoder


@dataclass(frozen=True, slots=True)
class FaultRates:
    """Probabilities, each per the unit named in its comment (0 = off)."""

    offline: float = 0.0  # per station-hour: quiet for 1-12 h, then a history upload
    resend: float = 0.0  # per station-day: the logger resends its last 24 hourly documents
    clock_skew: float = 0.0  # per station: its clock is off by 1 or 8 hours (UTC/Beijing mix-up)
    duplicate: float = 0.0  # per message: published twice
    reorder: float = 0.0  # per message: delivered after the station's next message
    revision: float = 0.0  # per hourly document: resent with one corrected value
    calibration: float = 0.0  # per document: one analyser flagged C
    maintenance: float = 0.0  # per document: every value flagged M
    instrument_fault: float = 0.0  # per document: one analyser flagged D
    out_of_range: float = 0.0  # per document: one value outside the plausible range
    unknown_station: float = 0.0  # per document: sent under an unregistered station id
    malformed_json: float = 0.0  # per JSON message: broken syntax
    bad_crc: float = 0.0  # per HJ 212 message: wrong CRC
    truncated: float = 0.0  # per message: cut short

    def __post_init__(self) -> None:
        for f in fields(self):
            if not 0.0 <= getattr(self, f.name) <= 1.0:
                raise ValueError(f"fault rate {f.name} must be within 0..1")

    @classmethod
    def parse(cls, spec: str) -> FaultRates:
        """``"duplicate=0.01,offline=0.001"`` (names as the fields; ``-`` may replace ``_``)."""
        names = {f.name for f in fields(cls)}
        rates: dict[str, float] = {}
        for item in filter(None, (p.strip() for p in spec.split(","))):
            name, sep, value = item.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in names:
                raise ValueError(f"bad fault {item!r}; known: {', '.join(sorted(names))}")
            rates[name] = float(value)
        return cls(**rates)

    @classmethod
    def demo(cls) -> FaultRates:
        """A mild mix for demonstrations: something of everything, mostly clean data."""
        return cls(offline=0.002, resend=0.01, duplicate=0.005, reorder=0.005, revision=0.002,
                   calibration=0.005, maintenance=0.002, instrument_fault=0.002,
                   out_of_range=0.001, unknown_station=0.001, malformed_json=0.001,
                   bad_crc=0.001, truncated=0.001)


FAULTS: tuple[str, ...] = tuple(f.name for f in fields(FaultRates))
_SKEWS = (-8, -1, 1, 8)  # hours


class FaultInjector:
    """Turns documents (in due order) into wire messages with faults injected."""

    def __init__(self, rates: FaultRates, encoder: Encoder, seed: int,
                 stations: Sequence[Station]) -> None:
        self.rates = rates
        self.counts: Counter[str] = Counter()
        self._enc = encoder
        self._rng = {name: random.Random(f"{seed}/fault/{name}") for name in FAULTS}
        self._kind = {s.station_id: s.kind for s in stations}
        skew = self._rng["clock_skew"]
        self._skew: dict[str, timedelta] = {}
        for s in sorted(stations, key=lambda s: s.station_id):
            if skew.random() < rates.clock_skew:
                self._skew[s.station_id] = timedelta(hours=skew.choice(_SKEWS))
        # Buffers keep each document's record faults so an upload is labelled with them.
        self._offline: dict[str, tuple[int, list[tuple[Document, tuple[str, ...]]]]] = {}
        self._history: dict[str, deque[tuple[Document, tuple[str, ...]]]] = {}
        self._held: dict[str, Message] = {}

    def skewed_stations(self) -> dict[str, timedelta]:
        return dict(self._skew)

    def _hit(self, name: str) -> bool:
        rate: float = getattr(self.rates, name)
        return rate > 0.0 and self._rng[name].random() < rate

    def feed(self, doc: Document) -> Iterator[Message]:
        """The messages caused by one more document (possibly none while a station is offline)."""
        doc, record_faults = self._record(doc)
        sid = doc.station_id
        if doc.interval == "hour":
            self._history.setdefault(sid, deque(maxlen=24)).append((doc, record_faults))
        if sid in self._offline:
            yield from self._while_offline(doc, record_faults)
            return
        if doc.interval == "hour" and self._hit("offline"):
            self.counts["offline"] += 1
            self._offline[sid] = (self._rng["offline"].randint(1, 12), [])
            yield from self._while_offline(doc, record_faults)
            return
        yield from self._deliver(doc, record_faults)
        if doc.interval == "hour" and self._hit("revision"):
            self.counts["revision"] += 1
            yield from self._send(self._enc.one(self._revised(doc)), sid,
                                  ("revision", *record_faults))
        if doc.interval == "hour" and doc.ts.hour == 23 and self._hit("resend"):
            self.counts["resend"] += 1
            yield from self._upload(sid, list(self._history[sid]), "resend")

    def flush(self) -> Iterator[Message]:
        """Messages still held back (reordered) or buffered (offline) at the end of a run."""
        for sid in sorted(self._offline):
            _, buffered = self._offline.pop(sid)
            yield from self._upload(sid, buffered, "offline")
        for sid in sorted(self._held):
            yield self._held.pop(sid)

    def _record(self, doc: Document) -> tuple[Document, tuple[str, ...]]:
        """The logger's own record of the interval, with instrument states and a wrong clock."""
        faults: list[str] = []
        kind = self._kind[doc.station_id]
        skew = self._skew.get(doc.station_id)
        if skew is not None and doc.interval != "day":
            doc = replace(doc, ts=doc.ts + skew)
            faults.append("clock_skew")
        params = sorted(doc.values)
        if self._hit("maintenance"):
            doc = replace(doc, flags=dict.fromkeys(params, "M"))
            faults.append("maintenance")
        if self._hit("calibration"):
            doc = replace(doc, flags={**doc.flags, self._rng["calibration"].choice(params): "C"})
            faults.append("calibration")
        if self._hit("instrument_fault"):
            p = self._rng["instrument_fault"].choice(params)
            doc = replace(doc, flags={**doc.flags, p: "D"})
            faults.append("instrument_fault")
        if self._hit("out_of_range"):
            rng = self._rng["out_of_range"]
            p = rng.choice([p for p in params if self._enc.carries(kind, p)])
            spec = catalogue()[kind][p]
            bad = (spec.max * rng.uniform(1.5, 10.0) if rng.random() < 0.5 or spec.min <= -50
                   else spec.min - rng.uniform(1.0, 100.0))
            doc = replace(doc, values={**doc.values, p: round(bad, 1)})
            faults.append("out_of_range")
        for f in faults:
            self.counts[f] += 1
        return doc, tuple(faults)

    def _while_offline(self, doc: Document, faults: tuple[str, ...]) -> Iterator[Message]:
        sid = doc.station_id
        hours_left, buffered = self._offline[sid]
        if doc.interval == "rt":
            return  # loggers keep averages, not real-time samples
        buffered.append((doc, faults))
        if doc.interval == "hour":
            hours_left -= 1
        if hours_left > 0:
            self._offline[sid] = (hours_left, buffered)
            return
        del self._offline[sid]
        yield from self._upload(sid, buffered, "offline")

    def _upload(self, sid: str, entries: list[tuple[Document, tuple[str, ...]]], why: str
                ) -> Iterator[Message]:
        """A history upload; each payload is labelled with the record faults of its documents."""
        docs = [d for d, _ in entries]
        payloads = self._enc.buffer(docs)
        per_payload = -(-len(docs) // len(payloads))
        for i, payload in enumerate(payloads):
            inner = {f for _, fs in entries[i * per_payload:(i + 1) * per_payload] for f in fs}
            yield from self._send(payload, sid, (why, *sorted(inner)))

    def _deliver(self, doc: Document, faults: tuple[str, ...]) -> Iterator[Message]:
        if self._hit("unknown_station"):
            doc = replace(doc, station_id=UNREGISTERED_PREFIX + doc.station_id)
            faults += ("unknown_station",)
            self.counts["unknown_station"] += 1
        yield from self._send(self._enc.one(doc), doc.station_id, faults)

    def _send(self, payload: bytes, sid: str, faults: tuple[str, ...]) -> Iterator[Message]:
        payload, byte_faults = self._bytes(payload)
        msg = Message(sid, self._enc.channel, payload, faults + byte_faults)
        held = self._held.pop(sid, None)
        if self._hit("reorder"):
            self.counts["reorder"] += 1
            self._held[sid] = replace(msg, faults=(*msg.faults, "reorder"))
        else:
            yield msg
        if held is not None:
            yield held
        if self._hit("duplicate"):
            self.counts["duplicate"] += 1
            yield replace(msg, faults=(*msg.faults, "duplicate"))

    def _bytes(self, payload: bytes) -> tuple[bytes, tuple[str, ...]]:
        json_channel = self._enc.channel == "data"
        if json_channel and self._hit("malformed_json"):
            self.counts["malformed_json"] += 1
            how = self._rng["malformed_json"].randrange(3)
            broken = (payload[:-1], payload.replace(b":", b"=", 1), payload + b",")[how]
            return broken, ("malformed_json",)
        if not json_channel and self._hit("bad_crc"):
            self.counts["bad_crc"] += 1
            crc = int(payload[-6:-2], 16)
            wrong = b"%04X" % ((crc + 1 + self._rng["bad_crc"].randrange(0xFFFE)) % 0x10000)
            return payload[:-6] + wrong + payload[-2:], ("bad_crc",)
        if self._hit("truncated"):
            self.counts["truncated"] += 1
            cut = self._rng["truncated"].randrange(1, max(2, len(payload) - 2))
            return payload[:cut], ("truncated",)
        return payload, ()

    def _revised(self, doc: Document) -> Document:
        """The same interval with one value corrected (an audit, a late calibration factor)."""
        rng = self._rng["revision"]
        p = rng.choice(sorted(doc.values))
        v = doc.values[p]
        new = round(v * rng.uniform(1.02, 1.10) + 0.1, 3)
        spec = catalogue()[self._kind[doc.station_id]][p]
        if new > spec.max:
            new = round(v - 0.1 * (v - spec.min) - 0.01, 3)
        return replace(doc, values={**doc.values, p: new}, flags=dict(doc.flags))


def inject(docs: Iterable[Document], injector: FaultInjector) -> Iterator[Message]:
    """Every message of a run: all documents through ``injector``, then what it still holds."""
    for doc in docs:
        yield from injector.feed(doc)
    yield from injector.flush()
