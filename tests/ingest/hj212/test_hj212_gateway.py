"""The TCP gateway against the real PostgreSQL (and Mosquitto for the MQTT comparison).

Issue 4 "done when": packets split at random byte boundaries and several packets per chunk are
stored once; CN 9014 answers arrive only after the commit; the same packets over MQTT give the
same rows; a replay counts duplicates and adds no rows; rejected packets reach the dead-letter
table with their reason and no answer.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from envmon.parameters import StationKind
from envmon.settings import GatewaySettings, IngestSettings, Settings
from envmon.stations import Station, StationRegistry, upsert_stations
from ingest import dead_letter
from ingest.hj212 import (
    Hj212MqttDecoder,
    encode_data_packet,
    encode_frame,
    parse_packet,
)
from ingest.hj212.framing import Framer
from ingest.hj212.gateway import Gateway, GatewayMetrics
from ingest.hj212.overrides import load_unit_overrides
from ingest.metrics import IngestMetrics
from ingest.mqtt_consumer import MqttConsumer
from ingest.pipeline import Pipeline
from ingest.router import Router, station_decoders
from ingest.transports import HJ212_TCP
from tests.conftest import Broker
from tests.ingest.support import Publisher, refuse_station

pytestmark = pytest.mark.integration

PW = "123456"
ST = {"air": "22", "water": "21", "noise": "23"}
T0 = datetime(2026, 3, 1, 8)  # Beijing local


def new_station(kind: StationKind) -> Station:
    extra: dict[str, Any] = {}
    if kind == "water":
        extra = {"water_target_class": 3, "water_body": "river"}
    if kind == "noise":
        extra = {"noise_zone": "1"}
    mn = secrets.token_hex(12).upper()  # 24 hex characters (表3 MN)
    return Station(f"gw-{kind}-{mn[:10].lower()}", kind, "gateway test", mn=mn,
                   hj212_password=PW, **extra)


async def register(url: str, stations: list[Station]) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await upsert_stations(conn, stations)


VALUES: dict[StationKind, list[dict[str, float]]] = {
    "air": [{"pm25": 35.0, "pm10": 62.0, "so2": 8.0}, {"no2": 31.0, "co": 0.6, "o3": 72.0},
            {"pres": 1013.2, "temp": -3.5}],
    "water": [{"ph": 7.62, "do": 8.35}, {"nh3n": 0.312, "tp": 0.085}, {"codmn": 3.1}],
    "noise": [{"leq": 55.3, "l10": 57.8}, {"l50": 53.9, "l90": 50.2}, {"lmax": 68.4}],
}


@dataclass
class Traffic:
    """Packets of some stations and the rows they must produce."""

    packets: list[bytes] = field(default_factory=list)
    rows: set[tuple[Any, ...]] = field(default_factory=set)
    qns: set[str] = field(default_factory=set)


def traffic(stations: list[Station], hours: int, seed: int) -> Traffic:
    """Hourly packets (ack requested); every third hour split into 3 parts (PNUM/PNO)."""
    rng = random.Random(seed)
    out = Traffic()
    for station in stations:
        for h in range(hours):
            local = T0 + timedelta(hours=h)
            groups = VALUES[station.kind]
            values = [{k: v + rng.randrange(5) for k, v in g.items()} for g in groups]
            split = h % 3 == 0
            chunks = values if split else [{k: v for g in values for k, v in g.items()}]
            for pno, chunk in enumerate(chunks, start=1):
                qn = f"{local:%Y%m%d%H%M%S}{pno:03d}"
                out.packets.append(encode_data_packet(
                    station.mn or "", PW, "2061", ST[station.kind], local, chunk, qn=qn,
                    pnum=len(chunks) if split else None, pno=pno if split else None))
                out.qns.add(qn + station.mn)  # type: ignore[operator]
                ts = (local - timedelta(hours=8)).replace(tzinfo=UTC).isoformat()
                out.rows |= {(station.station_id, p, "hour", ts, round(v, 6))
                             for p, v in chunk.items()}
    return out


def chunked(data: bytes, rng: random.Random) -> list[bytes]:
    """Arbitrary TCP chunking: 1-byte pieces, mid-packet cuts and many packets per chunk."""
    out, i = list[bytes](), 0
    while i < len(data):
        n = rng.choice([1, 2, 7, 50, 333, 1500, 6000])
        out.append(data[i:i + n])
        i += n
    return out


@dataclass
class Rig:
    url: str
    registry: StationRegistry
    metrics_registry: CollectorRegistry
    metrics: IngestMetrics
    pipeline: Pipeline
    gateway: Gateway
    stop: asyncio.Event
    task: asyncio.Task[None] | None = None

    def start_pipeline(self) -> None:
        self.task = asyncio.create_task(self.pipeline.run(self.stop))

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics_registry.get_sample_value(name, labels or None) or 0.0


async def make_rig(url: str, **settings: Any) -> Rig:
    registry = StationRegistry()
    reg = CollectorRegistry()
    metrics = IngestMetrics(reg)
    pipeline = Pipeline(url, metrics, batch_max_seconds=0.02)
    gateway = Gateway(GatewaySettings(host="127.0.0.1", port=0, **settings), registry, pipeline,
                      GatewayMetrics(reg), metrics)
    await gateway.start()
    return Rig(url, registry, reg, metrics, pipeline, gateway, asyncio.Event())


@pytest.fixture
async def rig(database_url: str) -> AsyncIterator[Rig]:
    rig = await make_rig(database_url)
    yield rig
    await rig.gateway.close()
    rig.stop.set()
    if rig.task is None:
        rig.start_pipeline()
    assert rig.task is not None
    await rig.task


async def read_answers(reader: asyncio.StreamReader, expected: int) -> list[bytes]:
    framer, answers = Framer(), list[bytes]()
    async with asyncio.timeout(60):
        while len(answers) < expected:
            chunk = await reader.read(4096)
            assert chunk, "gateway closed the connection"
            answers += [f.data for f in framer.feed(chunk)]
    return answers


async def stored(url: str, station_ids: list[str]) -> set[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT station_id, parameter, interval, ts, value FROM readings"
            " WHERE station_id = ANY(%s)", (station_ids,))
        return {(s, p, i, ts.isoformat(), round(v, 6)) for s, p, i, ts, v in
                await cur.fetchall()}


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll state owned by other tasks (pipeline queue, metrics) that offer no event to wait on."""
    async with asyncio.timeout(60):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert condition(), what


async def test_chunked_stream_is_stored_once_and_answered_after_commit(rig: Rig) -> None:
    stations = [new_station("air"), new_station("water"), new_station("noise")]
    await register(rig.url, stations)
    rig.registry.replace(stations)
    data = traffic(stations, hours=12, seed=1)
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.gateway.port)
    for chunk in chunked(b"".join(data.packets), random.Random(4)):
        writer.write(chunk)
        await writer.drain()
    groups = 3 * 12  # one pipeline item per (reassembled) packet
    await wait_for(lambda: rig.pipeline.pending == groups, "all packets queued")
    # Nothing is committed yet, so nothing may have been answered.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await reader.read(1)
    rig.start_pipeline()
    answers = await read_answers(reader, len(data.packets))
    # Answers come after the commit: the rows are there the moment the answers are.
    assert await stored(rig.url, [s.station_id for s in stations]) == data.rows
    parsed = [parse_packet(a) for a in answers]
    assert {(p.cn, p.st, p.flag) for p in parsed} == {("9014", "91", 4)}
    assert {f"{p.qn}{p.mn}" for p in parsed} == data.qns
    assert rig.metric("envmon_ingest_readings_written_total") == len(data.rows)
    assert rig.metric("envmon_ingest_messages_received_total", transport="hj212-tcp") == len(
        data.packets)

    # The same packets again (a logger that missed its answers): duplicates, no new rows.
    for chunk in chunked(b"".join(data.packets), random.Random(5)):
        writer.write(chunk)
    await writer.drain()
    assert len(await read_answers(reader, len(data.packets))) == len(data.packets)
    assert rig.metric("envmon_ingest_duplicates_total") == len(data.rows)
    assert rig.metric("envmon_ingest_readings_written_total") == len(data.rows)
    assert rig.metric("envmon_ingest_revisions_total") == 0
    assert await stored(rig.url, [s.station_id for s in stations]) == data.rows
    writer.close()
    await writer.wait_closed()


async def test_many_connections_at_once(database_url: str) -> None:
    """Eight loggers at once, each throttled to 200 packets/s with a burst of 2: the rate
    limit slows reading (TCP backpressure) and loses nothing."""
    rig = await make_rig(database_url, max_packets_per_second=200.0, burst_packets=2)
    try:
        await _many_connections(rig)
    finally:
        await rig.gateway.close()
        rig.stop.set()
        assert rig.task is not None
        await rig.task


async def _many_connections(rig: Rig) -> None:
    stations = [new_station("air") for _ in range(8)]
    await register(rig.url, stations)
    rig.registry.replace(stations)
    rig.start_pipeline()

    async def logger(station: Station, seed: int) -> None:
        data = traffic([station], hours=6, seed=seed)
        reader, writer = await asyncio.open_connection("127.0.0.1", rig.gateway.port)
        for chunk in chunked(b"".join(data.packets), random.Random(seed)):
            writer.write(chunk)
            await writer.drain()
        assert len(await read_answers(reader, len(data.packets))) == len(data.packets)
        writer.close()
        await writer.wait_closed()
        assert await stored(rig.url, [station.station_id]) == data.rows

    await asyncio.gather(*(logger(s, i) for i, s in enumerate(stations)))


async def dead_letters(url: str, topic: str) -> list[tuple[str, str | None, bytes]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT reason, station_id, payload FROM dead_letter"
                                 " WHERE topic = %s ORDER BY dead_letter_id", (topic,))
        return [(r, s, bytes(p)) for r, s, p in await cur.fetchall()]


def with_unknown_code(raw: bytes) -> bytes:
    """The packet with one more item of a code no table knows (CRC recomputed)."""
    segment = raw[6:-6].decode()
    return encode_frame(segment[:-2] + ";a99999-Avg=1,a99999-Flag=N&&")


async def test_rejected_packets_are_dead_lettered_and_not_answered(rig: Rig) -> None:
    """A packet is answered when everything in it was stored or kept (items not stored are
    dead-lettered beside the readings); a packet rejected as a whole is not answered."""
    air = new_station("air")
    await register(rig.url, [air])
    rig.registry.replace([air])
    rig.start_pipeline()

    def pkt(h: int, **kw: Any) -> bytes:
        args: dict[str, Any] = {"mn": air.mn, "pw": PW, "values": {"pm25": 10.0 + h}}
        args.update(kw)
        return encode_data_packet(args["mn"], args["pw"], "2061", "22", T0 + timedelta(hours=h),
                                  args["values"], qn=f"2026030100000{h:04d}")

    good = pkt(0)
    bad_crc = pkt(1)[:-6] + b"0000\r\n"
    cases = [
        (bad_crc, "hj212_crc"),
        (pkt(2, mn="FFFFFFFFFFFFFFFFFFFFFFFF"), "unknown_station"),
        (pkt(3, pw="999999"), "hj212_password"),
        (pkt(4, values={"pm25": 99999.0}), "out_of_range"),  # item-level: answered
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "hj212_framing"),
        (with_unknown_code(pkt(5)), "hj212_unknown_code"),  # item-level: answered
    ]
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.gateway.port)
    local = writer.get_extra_info("sockname")
    for raw, _ in cases:
        writer.write(raw)
    writer.write(good)
    await writer.drain()
    answers = await read_answers(reader, 3)
    assert sorted(parse_packet(a).qn or "" for a in answers) == [
        "20260301000000000", "20260301000000004", "20260301000000005"]
    topic = f"tcp://{local[0]}:{local[1]}"
    await wait_for(lambda: rig.pipeline.idle, "committed")
    letters = await dead_letters(rig.url, topic)
    assert [r for r, _, _ in letters] == [reason for _, reason in cases]
    assert [p for _, _, p in letters] == [raw for raw, _ in cases]
    assert [s for _, s, _ in letters] == [None, None, air.station_id, air.station_id, None,
                                         air.station_id]
    for _, reason in cases:
        assert rig.metric("envmon_ingest_rejected_total", reason=reason) == 1
    rows = await stored(rig.url, [air.station_id])
    assert {(p, v) for _, p, _, _, v in rows} == {("pm25", 10.0), ("pm25", 10.0 + 5)}
    writer.close()
    await writer.wait_closed()


async def closed_by_gateway(reader: asyncio.StreamReader) -> None:
    async with asyncio.timeout(30):
        assert await reader.read() == b""


async def with_rig(database_url: str, test: Callable[[Rig, Station], Any], **settings: Any
                   ) -> None:
    rig = await make_rig(database_url, **settings)
    air = new_station("air")
    await register(rig.url, [air])
    rig.registry.replace([air])
    rig.start_pipeline()
    try:
        await test(rig, air)
    finally:
        await rig.gateway.close()
        rig.stop.set()
        assert rig.task is not None
        await rig.task


async def logger(rig: Rig, air: Station, hour: int
                 ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A logger's connection that sent one good packet and got its answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.gateway.port)
    writer.write(encode_data_packet(air.mn or "", PW, "2061", "22", T0 + timedelta(hours=hour),
                                    {"pm25": 20.0}))
    await writer.drain()
    await read_answers(reader, 1)
    return reader, writer


def closed(rig: Rig, cause: str) -> float:
    return rig.metric("envmon_hj212_connections_closed_total", cause=cause)


async def test_full_gateway_evicts_silent_connections_not_loggers(database_url: str) -> None:
    """Issue 13 item 4: idle connections cannot lock loggers out. At the cap the oldest
    connection that never sent a packet passing the MN/PW check makes room; loggers'
    connections (also one that only sent a status packet, CN 2021) are never evicted: a new
    connection is refused instead."""

    async def test(rig: Rig, air: Station) -> None:
        writers = []
        writers.append((await logger(rig, air, 0))[1])
        silent, writer = await asyncio.open_connection("127.0.0.1", rig.gateway.port)
        writers.append(writer)
        _, writer = await asyncio.open_connection("127.0.0.1", rig.gateway.port)
        writers.append(writer)
        writer.write(encode_frame(f"QN=1;ST=22;CN=2021;PW={PW};MN={air.mn};Flag=5;"
                                  "CP=&&DataTime=20260301080000;SB1-RS=1&&"))
        await wait_for(lambda: rig.metric("envmon_ingest_rejected_total",
                                          reason="hj212_unknown_cn") == 1, "status packet")
        assert rig.metric("envmon_hj212_connections") == 3
        writers.append((await logger(rig, air, 1))[1])  # full: the silent one makes room
        await closed_by_gateway(silent)
        assert closed(rig, "evicted") == 1
        late, writer = await asyncio.open_connection("127.0.0.1", rig.gateway.port)
        writers.append(writer)
        await closed_by_gateway(late)  # full of loggers
        assert rig.metric("envmon_hj212_connections_refused_total") == 1
        assert closed(rig, "evicted") == 1
        for writer in writers:
            writer.close()

    await with_rig(database_url, test, max_connections=3)


async def test_time_limits(database_url: str) -> None:
    """No good packet within first_packet_timeout, a packet not finished within
    packet_timeout (slow loris), no good packet for idle_timeout: closed, each counted."""

    async def test(rig: Rig, air: Station) -> None:
        reader, writer = await logger(rig, air, 0)
        await closed_by_gateway(reader)
        writer.close()
        assert closed(rig, "idle") == 1
        silent, writer = await asyncio.open_connection("127.0.0.1", rig.gateway.port)
        await closed_by_gateway(silent)
        writer.close()
        assert closed(rig, "first_packet") == 1
        slow, writer = await asyncio.open_connection("127.0.0.1", rig.gateway.port)
        local = writer.get_extra_info("sockname")
        writer.write(b"##0428QN=2026030109000")  # and then nothing
        await writer.drain()
        await closed_by_gateway(slow)
        writer.close()
        assert closed(rig, "packet_timeout") == 1
        await wait_for(lambda: rig.pipeline.idle, "committed")
        letters = await dead_letters(rig.url, f"tcp://{local[0]}:{local[1]}")
        assert [(r, p) for r, _, p in letters] == [("hj212_framing", b"##0428QN=2026030109000")]

    await with_rig(database_url, test, first_packet_timeout_seconds=2.0,
                   packet_timeout_seconds=0.3, idle_timeout_seconds=0.5)


async def test_a_steady_upload_cut_mid_packet_is_not_a_slow_packet(database_url: str) -> None:
    """Each chunk ends inside a packet, for longer than packet_timeout in all: the timeout is
    per packet, so the logger's connection stays open and every packet is answered."""

    async def test(rig: Rig, air: Station) -> None:
        packets = [encode_data_packet(air.mn or "", PW, "2061", "22", T0 + timedelta(hours=h),
                                      {"pm25": 20.0 + h}, qn=f"2026030109{h:05d}00")
                   for h in range(12)]
        stream = b"".join(packets)
        reader, writer = await asyncio.open_connection("127.0.0.1", rig.gateway.port)
        step = len(packets[0]) - 7  # (all the same length) no cut lands between two packets
        for i in range(0, len(stream), step):
            writer.write(stream[i:i + step])
            await writer.drain()
            await asyncio.sleep(0.1)  # 12 packets over ~1.3 s > packet_timeout 0.3 s
        assert len(await read_answers(reader, len(packets))) == len(packets)
        assert closed(rig, "packet_timeout") == 0
        writer.close()

    await with_rig(database_url, test, packet_timeout_seconds=0.3)


async def test_unit_overrides_from_the_database(rig: Rig) -> None:
    air = new_station("air")
    await register(rig.url, [air])
    rig.registry.replace([air])
    async with await psycopg.AsyncConnection.connect(rig.url) as conn:
        await conn.execute("INSERT INTO hj212_unit_overrides (station_id, code, unit)"
                           " VALUES (%s, 'a34004', 'ng/m3')", (air.station_id,))
        await conn.commit()
        rig.gateway.units = await load_unit_overrides(conn)
    rig.start_pipeline()
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.gateway.port)
    writer.write(encode_data_packet(air.mn or "", PW, "2011", "22", T0, {"a34004": 75600.0}))
    await writer.drain()
    await read_answers(reader, 1)
    [(_, param, interval, _, value)] = await stored(rig.url, [air.station_id])
    assert (param, interval, value) == ("pm25", "rt", 75.6)
    writer.close()
    await writer.wait_closed()


async def test_same_packets_over_mqtt_give_the_same_rows(rig: Rig, mqtt_broker: Broker) -> None:
    tcp_station, mqtt_station = new_station("air"), new_station("air")
    await register(rig.url, [tcp_station, mqtt_station])
    rig.registry.replace([tcp_station, mqtt_station])
    rig.start_pipeline()
    tcp = traffic([tcp_station], hours=9, seed=7)
    via_mqtt = traffic([mqtt_station], hours=9, seed=7)  # same content, other MN
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.gateway.port)
    writer.write(b"".join(tcp.packets))
    await writer.drain()
    await read_answers(reader, len(tcp.packets))
    writer.close()
    await writer.wait_closed()

    settings = Settings(database_url=rig.url, mqtt_url=mqtt_broker.url,
                        ingest=IngestSettings(client_id=f"hj212-{secrets.token_hex(4)}"))
    router = Router("envmon", rig.registry, 1_000_000,
                    decoders={"hj212": Hj212MqttDecoder(rig.registry)})
    consumer = MqttConsumer(settings, router, rig.pipeline, rig.metrics)
    consumer_stop = asyncio.Event()
    consumer_task = asyncio.create_task(consumer.run(consumer_stop))
    async with asyncio.timeout(30):
        await consumer.connected.wait()
    messages = [(f"envmon/v1/{mqtt_station.station_id}/hj212", p) for p in via_mqtt.packets]
    replay = [(f"envmon/v1/{tcp_station.station_id}/hj212", p) for p in tcp.packets]
    duplicates_before = rig.metric("envmon_ingest_duplicates_total")
    publisher = Publisher(mqtt_broker.host, mqtt_broker.port)
    await asyncio.to_thread(publisher.publish, messages + replay)
    await asyncio.to_thread(publisher.close)
    await wait_for(lambda: rig.metric("envmon_ingest_duplicates_total")
                   == duplicates_before + len(tcp.rows), "replay counted as duplicates")
    consumer_stop.set()
    await consumer_task

    def strip(rows: set[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
        return {row[1:] for row in rows}

    tcp_rows = await stored(rig.url, [tcp_station.station_id])
    mqtt_rows = await stored(rig.url, [mqtt_station.station_id])
    assert tcp_rows == tcp.rows and strip(mqtt_rows) == strip(tcp_rows)
    assert rig.metric("envmon_ingest_revisions_total") == 0


async def test_gateway_dead_letters_replay(rig: Rig) -> None:
    """Issue 11: rows the gateway writes (transport hj212-tcp) replay as HJ 212 packets. An
    unregistered logger's packets, and a split packet with an item not stored (its row holds
    both parts), are stored once the cause is fixed."""
    air, stranger = new_station("air"), new_station("air")
    await register(rig.url, [air])
    rig.registry.replace([air])
    rig.start_pipeline()
    unknown_mn = encode_data_packet(stranger.mn or "", PW, "2061", "22", T0, {"pm25": 41.0})
    split = [encode_data_packet(air.mn or "", PW, "2061", "22", T0, values, pnum=2, pno=pno,
                                qn=f"2026030109000000{pno}")
             for pno, values in ((1, {"pm25": 33.0}), (2, {"a34002": 2_000_000.0}))]
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.gateway.port)
    local = writer.get_extra_info("sockname")
    writer.write(unknown_mn + b"".join(split))
    await writer.drain()
    await read_answers(reader, 2)  # the split packet's parts (pm10 kept in a dead letter)
    writer.close()
    await writer.wait_closed()
    await wait_for(lambda: rig.pipeline.idle, "committed")
    topic = f"tcp://{local[0]}:{local[1]}"
    assert [(r, p) for r, _, p in await dead_letters(rig.url, topic)] == [
        ("unknown_station", unknown_mn), ("out_of_range", b"".join(split))]

    async with await psycopg.AsyncConnection.connect(rig.url) as conn:
        await upsert_stations(conn, [stranger])  # the cause of the first is fixed
        await conn.execute("INSERT INTO hj212_unit_overrides (station_id, code, unit)"
                           " VALUES (%s, 'a34002', 'ng/m3')", (air.station_id,))  # and the second
        await conn.commit()
        registry = StationRegistry()
        await registry.refresh(conn)
        decoders, _ = station_decoders(registry)
        router = Router("envmon", registry, 1 << 20, decoders)
        async with conn.transaction():
            rows = [r for r in await dead_letter.select(conn, lock=True, limit=10_000)
                    if r.topic == topic]
            assert {r.transport for r in rows} == {HJ212_TCP}
            result = await dead_letter.replay(conn, router, rows)
    assert (result.replayed, result.still_rejected) == (2, 0)
    assert await stored(rig.url, [stranger.station_id]) == {
        (stranger.station_id, "pm25", "hour", "2026-03-01T00:00:00+00:00", 41.0)}
    assert {(p, v) for _, p, _, _, v in await stored(rig.url, [air.station_id])} == {
        ("pm25", 33.0), ("pm10", 2000.0)}


async def test_readings_the_database_refuses_are_dead_lettered_as_the_packet(rig: Rig) -> None:
    """A packet whose readings PostgreSQL refuses is kept as the bytes the logger sent
    (transport hj212-tcp, replayable), not as a dump of the decoded readings."""
    air = new_station("air")
    await register(rig.url, [air])
    rig.registry.replace([air])
    rig.start_pipeline()
    packet = encode_data_packet(air.mn or "", PW, "2061", "22", T0, {"pm25": 12.0},
                                qn="20260301000000001")
    with refuse_station(rig.url, air.station_id, "23514") as message:
        _reader, writer = await asyncio.open_connection("127.0.0.1", rig.gateway.port)
        writer.write(packet)
        await writer.drain()
        async with await psycopg.AsyncConnection.connect(rig.url, autocommit=True) as conn:
            async with asyncio.timeout(60):
                while True:
                    cur = await conn.execute(
                        "SELECT transport, reason, detail, payload FROM dead_letter"
                        " WHERE station_id = %s", (air.station_id,))
                    rows = await cur.fetchall()
                    if rows:
                        break
                    await asyncio.sleep(0.05)
        writer.close()
    [(transport, reason, detail, payload)] = rows
    assert (transport, reason) == (HJ212_TCP, "db_rejected")
    assert message in detail
    assert bytes(payload) == packet
