"""Fuzzing the decoder and the gateway: no crash, no hang, every input decoded or rejected with
a known reason (issue 4 "done when": at least 100 000 mutated packets).

Mutants of the reference's worked packets and of encoded packets: byte flips, insertions of
protocol tokens, deletions, duplications, truncations, splices; half of them get their length
and CRC recomputed so they reach the header, data-area and value parsers instead of stopping
at the CRC check.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Sequence
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from envmon.parameters import parameter
from envmon.settings import GatewaySettings
from envmon.stations import Station, StationRegistry
from ingest.errors import Rejection
from ingest.hj212 import (
    REASONS,
    Reassembler,
    encode_data_packet,
    encode_frame,
    parse_packet,
    take_payload,
)
from ingest.hj212.framing import Framer
from ingest.hj212.gateway import Gateway, GatewayMetrics
from ingest.metrics import IngestMetrics
from ingest.pipeline import Origin
from ingest.reading import DATA_FLAGS, Reading
from tests.ingest.hj212.hj212_support import REFERENCE_PACKETS, station_for

SEEDS = [p.raw for p in REFERENCE_PACKETS] + [
    encode_data_packet("MNSPLIT", "123456", cn, "22", datetime(2026, 3, 1, 8),
                       {"pm25": 35.0, "so2": 8.0, "pres": 1013.2}, qn=f"2026030109000000{i}",
                       pnum=2 if i % 2 else None, pno=1 + i % 2 if i % 2 else None)
    for i, cn in enumerate(["2011", "2051", "2061", "2031"])
]
REGISTRY = StationRegistry([
    *{p.mn: station_for(p, f"st-{p.mn}") for p in REFERENCE_PACKETS}.values(),
    Station("split", "air", "split", mn="MNSPLIT", hj212_password="123456"),
])
TOKENS = [b";", b",", b"=", b"&&", b"##", b"\r\n", b"-", b"DataTime=", b"Flag=7;PNUM=2;PNO=1;",
          b"DataTime=00010101000000;", b"DataTime=99991231235959;",
          b"CP=&&", b"-Rtd=", b"-Flag=X", b"9" * 20, b"1e999", b"NaN", b"\xff", "浓度".encode()]


def mutate(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(6)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[pos:pos] = rng.choice(TOKENS)
        elif op == 2:
            del data[pos:pos + rng.randrange(1, 30)]
        elif op == 3:
            data[pos:pos] = data[pos:pos + rng.randrange(1, 60)]
        elif op == 4:
            del data[pos:]
        else:
            other = rng.choice(SEEDS)
            data[pos:] = other[rng.randrange(len(other)):]
    if rng.random() < 0.5 and len(data) > 12:  # re-frame: valid length and CRC
        segment = bytes(data[6:-6]).decode("utf-8", "replace")
        return encode_frame(segment)
    return bytes(data)


def check_reading(reading: Reading) -> None:
    spec = REGISTRY.get(reading.station_id)
    assert spec is not None
    param = parameter(spec.kind, reading.parameter)
    assert param is not None and param.min <= reading.value <= param.max
    assert math.isfinite(reading.value) and reading.flag in DATA_FLAGS
    assert reading.ts.utcoffset() is not None and reading.source == "hj212"


def decode_frame(raw: bytes, reassembler: Reassembler) -> str:
    """What the gateway does with one frame; returns 'decoded', 'buffered' or the reason."""
    try:
        intake = take_payload(raw, REGISTRY, reassembler)
    except Rejection as rejection:
        assert rejection.reason in REASONS, rejection.reason
        assert rejection.detail
        return rejection.reason
    if not intake.parts:
        return "buffered"
    for reading in intake.readings:
        check_reading(reading)
    for _, note in intake.dead_letters:
        assert note.reason in REASONS and note.detail, note
    return "decoded"


def test_100k_mutated_packets_through_framer_and_decoder() -> None:
    rng = random.Random(20170501)
    reassembler = Reassembler()
    outcomes: dict[str, int] = {}
    total = 0
    while total < 100_000:
        batch = [mutate(rng, rng.choice(SEEDS)) for _ in range(rng.randrange(1, 20))]
        total += len(batch)
        stream = b"".join(batch)
        framer = Framer(max_packet_bytes=2048)
        cuts = sorted(rng.sample(range(len(stream)), min(len(stream), rng.randrange(0, 8))))
        for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
            for frame in framer.feed(stream[a:b]):
                if frame.error is not None:
                    assert frame.error.reason in REASONS
                    outcome = frame.error.reason
                else:
                    outcome = decode_frame(frame.data, reassembler)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        for frame in framer.close():
            assert frame.error is not None and frame.error.reason in REASONS
        for packet in batch:  # each mutant on its own too (MQTT: one payload, no framer)
            outcome = decode_frame(packet, reassembler)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert total >= 100_000
    # The mutants reach every stage: CRC failures, parser rejections and decoded readings.
    for expected in ("decoded", "hj212_crc", "hj212_unparseable", "hj212_framing"):
        assert outcomes.get(expected, 0) > 100, outcomes


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_are_rejected_with_a_reason(data: bytes) -> None:
    framer = Framer(max_packet_bytes=256)
    for frame in [*framer.feed(data), *framer.close()]:
        if frame.error is None:
            decode_frame(frame.data, Reassembler())
        else:
            assert frame.error.reason in REASONS
    decode_frame(data, Reassembler())


ITEM = st.tuples(
    st.sampled_from(["a34004", "a21026", "a01006", "PM25", "w01001", "Leq", "LA", "x", "02"]),
    st.sampled_from(["Rtd", "Avg", "Min", "Data", "DayData", "Flag", "Cou", ""]),
    st.one_of(st.from_regex(r"-?[0-9]{0,6}(\.[0-9]{0,4})?", fullmatch=True),
              st.sampled_from(["N", "M", "n", "X", "", "1e5", "inf"])),
)


@settings(max_examples=1500, deadline=None)
@given(cn=st.sampled_from(["2011", "2051", "2061", "2031", "9014", "2081"]),
       flag=st.integers(0, 300), time=st.from_regex(r"[0-9]{14}", fullmatch=True),
       items=st.lists(ITEM, max_size=12))
def test_well_framed_packets_with_arbitrary_data_areas(
    cn: str, flag: int, time: str, items: Sequence[tuple[str, str, str]]
) -> None:
    cp = ";".join([f"DataTime={time}", *(f"{c}-{s}={v}" if s else f"{c}={v}"
                                          for c, s, v in items)])
    raw = encode_frame(f"QN=1;ST=22;CN={cn};PW=123456;MN=MNSPLIT;Flag={flag};CP=&&{cp}&&")
    decode_frame(raw, Reassembler())


class CountingPipeline:
    """Behind the gateway's pipeline seam: counts, and 'commits' at once."""

    def __init__(self) -> None:
        self.accepted = 0
        self.rejected: dict[str, int] = {}

    async def accept(self, readings: Sequence[Reading],
                     on_commit: Callable[[], None] | None = None,
                     origin: Origin | None = None) -> None:
        for reading in readings:
            check_reading(reading)
        self.accepted += 1
        if on_commit is not None:
            on_commit()

    async def reject(self, transport: str, topic: str, payload: bytes, rejection: Rejection,
                     on_commit: Callable[[], None] | None = None) -> None:
        assert rejection.reason in REASONS and payload
        self.rejected[rejection.reason] = self.rejected.get(rejection.reason, 0) + 1


async def test_mutated_stream_through_a_live_gateway() -> None:
    """100 000 mutants over 20 real TCP connections in random chunks: the gateway survives,
    answers, and every frame is accepted, rejected or waiting for its other parts."""
    pipeline = CountingPipeline()
    reg = CollectorRegistry()
    metrics = IngestMetrics(reg)
    unlimited = {"max_packets_per_second": 1e6, "burst_packets": 10**6,
                 "total_packets_per_second": 1e6, "max_bytes_per_second": 1e9,
                 "burst_bytes": 10**9, "total_bytes_per_second": 1e9, "max_garbage_bytes": 10**9}
    gateway = Gateway(GatewaySettings(host="127.0.0.1", port=0, max_packet_bytes=2048,
                                      **unlimited),
                      REGISTRY, pipeline, GatewayMetrics(reg), metrics)
    await gateway.start()
    rng = random.Random(212)
    try:
        for _ in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
            stream = b"".join(mutate(rng, rng.choice(SEEDS)) for _ in range(5000))
            i = 0
            while i < len(stream):
                n = rng.choice([1, 13, 500, 4096, 20000])
                writer.write(stream[i:i + n])
                i += n
                await writer.drain()
            writer.write_eof()
            answers = await reader.read()  # until the gateway closes after EOF
            writer.close()
            await writer.wait_closed()
            assert answers.startswith(b"##") and answers.endswith(b"\r\n")
            assert {parse_packet(a).cn for a in answers.split(b"\r\n")[:-1]} == {"9014"}
    finally:
        await gateway.close()
    received = reg.get_sample_value("envmon_ingest_messages_received_total",
                                    {"transport": "hj212-tcp"})
    assert received is not None and received > 80_000
    # Each frame is accepted, rejected once, or held as a part of a split packet; rejections
    # are dead-lettered or, over the rate limit for anonymous garbage, counted as suppressed.
    suppressed = sum(s.value for m in reg.collect() if m.name ==
                     "envmon_hj212_dead_letters_suppressed" for s in m.samples
                     if s.name.endswith("_total"))
    assert pipeline.accepted > 1000 and sum(pipeline.rejected.values()) > 100
    assert suppressed > 1000
