"""A scenario: stations, a time span, a seed, cadences, faults and an encoding → the exact
sequence of messages (same inputs, same bytes), each with the wall time it is due."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from envmon.beijing_time import BEIJING, DAY, HOUR
from envmon.stations import Station
from simulators.document import Document, Message
from simulators.encode import Encoder, Hj212Encoder, JsonEncoder
from simulators.faults import FaultInjector, FaultRates
from simulators.models import Region
from simulators.station import Cadence, SimStation

Encoding = Literal["json", "hj212"]
_LENGTH = {"rt": timedelta(0), "min": timedelta(0), "hour": HOUR, "day": DAY}


def due(doc: Document, cadence: Cadence) -> datetime:
    """When a logger sends a document: at its instant (rt), at the end of its interval otherwise."""
    if doc.interval == "min" and cadence.minute_interval is not None:
        return doc.ts + timedelta(minutes=cadence.minute_interval)
    return doc.ts + _LENGTH[doc.interval]


@dataclass(frozen=True, slots=True)
class Scenario:
    stations: Sequence[Station]
    start: datetime
    hours: int
    seed: int = 0
    cadence: Cadence = field(default_factory=Cadence)
    faults: FaultRates = field(default_factory=FaultRates)
    encoding: Encoding = "json"
    # Real-time documents only for hours ending after this instant: a logger coming back keeps
    # its averages, not its real-time samples (history uploads, demo backfill).
    realtime_from: datetime | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("scenario start must be timezone-aware")

    def encoder(self) -> Encoder:
        return JsonEncoder() if self.encoding == "json" else Hj212Encoder(self.stations)


def floor_hour(ts: datetime) -> datetime:
    return ts.astimezone(BEIJING).replace(minute=0, second=0, microsecond=0)


def documents(scenario: Scenario) -> Iterator[tuple[datetime, Document]]:
    """Every clean document of the scenario with its due time, in due order."""
    regions = {city: Region(random.Random(f"{scenario.seed}/region/{city}"))
               for city in sorted({s.city for s in scenario.stations})}
    sims = [SimStation(s, scenario.seed, scenario.cadence, regions[s.city])
            for s in scenario.stations]
    first = floor_hour(scenario.start)
    for i in range(scenario.hours):
        hour = first + i * HOUR
        realtime = scenario.realtime_from is None or hour + HOUR > scenario.realtime_from
        batch = [(due(d, scenario.cadence), n, d)
                 for n, sim in enumerate(sims) for d in sim.documents(hour, realtime)]
        batch.sort(key=lambda t: (t[0], t[1]))
        for when, _, doc in batch:
            yield when, doc


class Run:
    """The messages of a scenario, each with its due time; ``injector.counts`` counts faults."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.injector = FaultInjector(scenario.faults, scenario.encoder(), scenario.seed,
                                      scenario.stations)

    def __iter__(self) -> Iterator[tuple[datetime, Message]]:
        last = floor_hour(self.scenario.start)
        for when, doc in documents(self.scenario):
            last = when
            for msg in self.injector.feed(doc):
                yield when, msg
        for msg in self.injector.flush():
            yield last, msg
