"""Fault injection: each fault appears at its configured rate, the stream stays reproducible,
and the ingest decoders reject each broken message for the reason the wire contract names."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from envmon.beijing_time import BEIJING
from envmon.stations import Station, StationRegistry, parse_station_file
from ingest.errors import Rejection
from ingest.hj212 import Reassembler, decode_mqtt_payload
from ingest.reading import Reading
from ingest.router import Router
from simulators.document import Message
from simulators.faults import FaultRates
from simulators.station import Cadence
from simulators.stream import Encoding, Run, Scenario

STATIONS = parse_station_file(Path(__file__).parents[2] / "simulators" / "pingliang.toml")
START = datetime(2025, 6, 1, tzinfo=BEIJING)  # in the past: ingest rejects future timestamps
HOURS = 24 * 10
CADENCE = Cadence(realtime_seconds=1800)


def run(faults: FaultRates, encoding: Encoding = "json", seed: int = 5, hours: int = HOURS
        ) -> tuple[Run, list[Message]]:
    r = Run(Scenario(STATIONS, START, hours, seed, CADENCE, faults, encoding))
    return r, [m for _, m in r]


@pytest.fixture(scope="module")
def clean() -> list[Message]:
    return run(FaultRates())[1]


def labelled(messages: list[Message], fault: str) -> int:
    return sum(fault in m.faults for m in messages)


def within(observed: int, n: int, rate: float) -> bool:
    """Binomial count within 4.5 standard deviations of n * rate."""
    sd = (n * rate * (1 - rate)) ** 0.5
    return bool(abs(observed - n * rate) <= 4.5 * sd + 1)


# (fault, rate, what the rate is per: "doc" every document, "hour" every hourly document,
#  "msg" every message, "day" every station-day)
RATE_TABLE = [
    ("duplicate", 0.02, "msg"),
    ("reorder", 0.02, "msg"),
    ("malformed_json", 0.02, "msg"),
    ("truncated", 0.02, "msg"),
    ("calibration", 0.02, "doc"),
    ("maintenance", 0.02, "doc"),
    ("instrument_fault", 0.02, "doc"),
    ("out_of_range", 0.02, "doc"),
    ("unknown_station", 0.02, "doc"),
    ("revision", 0.02, "hour"),
    ("resend", 0.2, "day"),
]


@pytest.mark.parametrize(("fault", "rate", "per"), RATE_TABLE)
def test_each_fault_appears_at_its_configured_rate(
        clean: list[Message], fault: str, rate: float, per: str) -> None:
    r, messages = run(FaultRates(**{fault: rate}))
    docs = len(clean)  # without faults, one message per document
    hourly = HOURS * len(STATIONS)
    n = {"msg": docs, "doc": docs, "hour": hourly, "day": hourly // 24}[per]
    events = r.injector.counts[fault]
    assert within(events, n, rate), (events, n * rate)
    assert labelled(messages, fault) >= events
    assert set(r.injector.counts) == {fault}, "one fault switched on, no other appears"


def test_offline_spells_end_in_a_history_upload(clean: list[Message]) -> None:
    r, messages = run(FaultRates(offline=0.01))
    hourly = HOURS * len(STATIONS)
    assert within(r.injector.counts["offline"], hourly, 0.01)
    uploads = [m for m in messages if "offline" in m.faults]
    assert uploads, "every spell ends with an upload"
    for m in uploads:
        docs = json.loads(m.payload)
        assert isinstance(docs, list) and docs
        assert {d["interval"] for d in docs} <= {"hour", "day"}, "real-time data is not kept"
    assert len(messages) < len(clean), "real-time messages of the quiet hours are lost"


def test_clock_skew_is_a_share_of_stations_off_by_whole_hours(clean: list[Message]) -> None:
    """Day documents keep their midnight label (the logger's day statistics)."""
    r, messages = run(FaultRates(clock_skew=0.3))
    skewed = r.injector.skewed_stations()
    assert 0 < len(skewed) < len(STATIONS)
    assert {abs(d.total_seconds()) for d in skewed.values()} <= {3600, 8 * 3600}
    assert len(messages) == len(clean)
    for m, c in zip(messages, clean, strict=True):
        doc, ref = json.loads(m.payload), json.loads(c.payload)
        if m.station_id in skewed and doc["interval"] != "day":
            assert "clock_skew" in m.faults
            shift = datetime.fromisoformat(doc["ts"]) - datetime.fromisoformat(ref["ts"])
            assert shift == skewed[m.station_id]
        else:
            assert m == c


def test_same_seed_same_bytes_and_faults_do_not_shift_each_other() -> None:
    mix = FaultRates.demo()
    first, second = run(mix, hours=48)[1], run(mix, hours=48)[1]
    assert first == second
    assert run(mix, seed=6, hours=48)[1] != first
    # Switching one fault off leaves where the others strike unchanged.
    without_dup = run(FaultRates(reorder=0.05), hours=48)[1]
    with_dup = run(FaultRates(reorder=0.05, duplicate=0.05), hours=48)[1]
    assert [m for m in with_dup if "duplicate" not in m.faults] == without_dup


def _routers() -> dict[str, Router]:
    registry = StationRegistry(STATIONS)
    reassembler = Reassembler()

    def hj212(station: Station, payload: bytes) -> list[Reading]:
        return decode_mqtt_payload(station.station_id, payload, registry, reassembler)

    return {"json": Router("envmon", registry, 1_048_576),
            "hj212": Router("envmon", registry, 1_048_576, {"hj212": hj212})}


# What ingest must say about each fault (wire contract v1 and the HJ 212 issue).
EXPECTED = {
    "json": {"malformed_json": "malformed_json", "truncated": "malformed_json",
             "out_of_range": "out_of_range", "unknown_station": "unknown_station"},
    "hj212": {"bad_crc": "hj212_crc", "out_of_range": "out_of_range",
              "unknown_station": "unknown_station"},
}

# When a message carries several, the topic is checked first, then the bytes, then the values.
PRECEDENCE = ("unknown_station", "malformed_json", "truncated", "bad_crc", "out_of_range")


@pytest.mark.parametrize("encoding", ["json", "hj212"])
def test_ingest_decoders_accept_clean_and_reject_broken_messages_for_the_contract_reason(
        encoding: Encoding) -> None:
    faults = FaultRates(malformed_json=0.02, bad_crc=0.02, out_of_range=0.02,
                        unknown_station=0.02, calibration=0.02, maintenance=0.02,
                        instrument_fault=0.02, duplicate=0.02, reorder=0.02, offline=0.01)
    _, messages = run(faults, encoding, hours=48)
    router = _routers()[encoding]
    reasons: Counter[tuple[str, str]] = Counter()
    flags: Counter[str] = Counter()
    for m in messages:
        broken = [f for f in PRECEDENCE if f in m.faults and f in EXPECTED[encoding]]
        try:
            readings = router.decode(m.topic("envmon"), m.payload)
        except Rejection as exc:
            assert broken, f"clean message rejected: {exc} {m}"
            assert exc.reason == EXPECTED[encoding][broken[0]], (m.faults, exc)
            reasons[(broken[0], exc.reason)] += 1
            continue
        # HJ 212 judges items one by one: a bad value is dead-lettered beside the readings
        notes = [note.reason for _, note in getattr(readings, "dead_letters", ())]
        assert notes == [EXPECTED[encoding][f] for f in broken], (m, notes)
        reasons.update((f, EXPECTED[encoding][f]) for f in broken)
        assert all(r.station_id == m.station_id for r in readings)
        flags.update(r.flag for r in readings)
    assert {f for f, _ in reasons} == set(EXPECTED[encoding]) - {"truncated"}  # rate 0 here
    assert {"C", "M", "D"} <= set(flags), "calibration, maintenance and fault flags arrive"


def test_truncated_hj212_packets_are_rejected() -> None:
    _, messages = run(FaultRates(truncated=0.05), "hj212", hours=24)
    router = _routers()["hj212"]
    cut = [m for m in messages if "truncated" in m.faults]
    assert cut
    for m in cut:
        with pytest.raises(Rejection) as info:
            router.decode(m.topic("envmon"), m.payload)
        assert info.value.reason.startswith("hj212_")


def test_fault_spec_parses_and_validates() -> None:
    assert FaultRates.parse("duplicate=0.01, bad-crc=0.5") == FaultRates(duplicate=0.01,
                                                                         bad_crc=0.5)
    with pytest.raises(ValueError, match="bad fault"):
        FaultRates.parse("gremlins=0.1")
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        FaultRates(duplicate=1.5)
