"""The product's acceptance test (issue 11): envmon run the way a city runs it, for six weeks.

The Pingliang station set, simulated with the simulators' own models and fault mix, is
delivered day by day (a month end and a year end included) through a real Mosquitto into a
real ``envmon ingest`` — JSON for most stations, HJ 212 over MQTT for some, HJ 212 over TCP
through ``envmon hj212-gateway`` for others, 5-minute data for a couple — while ``envmon
aggregate`` keeps the indicators current (two workers; one is killed and restarted). Late history
uploads, resends and revised or re-flagged values land in the previous month.

At the end every indicator table must equal, row for row, what ``envmon aggregate --once``
computes from scratch in a fresh database holding the same readings; the period reports
must be the same too; and no log may hold a traceback, an error or a failed batch.

The whole run is made on each readings layout (tests/layouts.py): plain PostgreSQL partitions,
and a real TimescaleDB hypertable, where the chunks of December are compressed before the late
data for them arrive (the compression policy compresses chunks older than
``storage.compress_after``; a logger offline longer than that, or a late lab result, writes
into compressed chunks, and this is where a stream once stopped for good in production).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from aggregator import report
from envmon import db
from envmon.beijing_time import BEIJING
from envmon.settings import MqttTarget
from envmon.stations import parse_station_file, upsert_stations
from simulators.document import Document, Message
from simulators.encode import JsonEncoder
from simulators.faults import FaultRates
from simulators.play import MqttSink, play
from simulators.publish import Publisher
from simulators.station import Cadence
from simulators.stream import Run, Scenario, documents
from simulators.tcp import Hj212TcpSink
from tests.conftest import REPO, Broker, LayoutDatabases, free_port
from tests.layouts import compress_history
from tests.system.support import (
    INDICATORS,
    Command,
    compressed_chunks,
    fresh_copy,
    readings_layout,
    row_store_readings,
    run_once,
    snapshot,
)

pytestmark = [pytest.mark.integration, pytest.mark.system, pytest.mark.layouts]

STATIONS = parse_station_file(REPO / "simulators" / "pingliang.toml")
IDS = sorted(s.station_id for s in STATIONS)
CITY = "Pingliang"
START = datetime(2025, 12, 5, tzinfo=BEIJING)
DAYS = 42  # to 2026-01-15: a month end and a year end
DAY = timedelta(days=1)
SEED = 11

MINUTE = ("pl-air-kongtong-3", "pl-noise-z2-mixed")  # 5-minute data: hours derived
HJ212_MQTT = ("pl-air-jingning", "pl-water-hulu-jingning")
HJ212_TCP = ("pl-air-jingchuan", "pl-water-jing-pingliang", "pl-noise-z4a-bypass")
LATE_AIR, LATE_WATER = "pl-air-zhuanglang", "pl-water-jing-jingchuan"  # late deliveries
JSON = tuple(s for s in IDS if s not in {*MINUTE, *HJ212_MQTT, *HJ212_TCP, LATE_AIR,
                                         LATE_WATER})

#: the simulators' fault mix, a little stronger than the demo's so six weeks show all of it
FAULTS = FaultRates(offline=0.003, resend=0.03, clock_skew=0.1, duplicate=0.01, reorder=0.01,
                    revision=0.005, calibration=0.005, maintenance=0.003,
                    instrument_fault=0.003, out_of_range=0.002, unknown_station=0.002,
                    malformed_json=0.003, bad_crc=0.003, truncated=0.002)
TCP_FAULTS = replace(FAULTS, truncated=0.0, clock_skew=0.0)  # the gateway's framer: own tests
#: TimescaleDB: once day COMPRESS_DAY (4 Jan) is computed, the chunks ending by 1 Jan (UTC)
#: are compressed; every late delivery (5-12 Jan) comes after, and those for LATE_IN_COMPRESSED
#: (the lab result, the maintenance flags, the corrections, the resend) are for their hours
COMPRESS_DAY, COMPRESS_BEFORE = 30, datetime(2026, 1, 1, tzinfo=UTC)
LATE_IN_COMPRESSED = (datetime(2025, 12, 15, tzinfo=BEIJING),
                      datetime(2025, 12, 20, 10, tzinfo=BEIJING),
                      datetime(2025, 12, 29, tzinfo=BEIJING),
                      datetime(2025, 12, 31, 23, tzinfo=BEIJING))


def bj(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=BEIJING)


def index(when: datetime) -> int:
    """The delivery day (0 … DAYS-1) of a message due at ``when``."""
    return min(max((when - START) // DAY, 0), DAYS - 1)


def scenario(ids: Iterable[str], **kwargs: Any) -> Scenario:
    chosen = [s for s in STATIONS if s.station_id in set(ids)]
    return Scenario(chosen, START, 24 * DAYS, SEED, **kwargs)


def by_day(messages: Iterable[tuple[datetime, Message]]) -> dict[int, list[Message]]:
    out: dict[int, list[Message]] = defaultdict(list)
    for when, msg in messages:
        out[index(when)].append(msg)
    return out


def late_deliveries() -> dict[int, list[Message]]:
    """Two clean loggers whose data also arrive late, as JSON: the water section is offline
    from 26 Dec to 4 Jan and uploads its history on 9 Jan; the air station resends 30-31 Dec
    on 5 Jan, corrects six hours of 29 Dec on 6 Jan and flags four hours of 20 Dec as
    maintenance on 7 Jan; on 12 Jan a lab result corrects the section's NH3-N of 15 Dec."""
    enc = JsonEncoder()
    docs = list(documents(scenario((LATE_AIR, LATE_WATER))))
    out: dict[int, list[Message]] = defaultdict(list)
    gap = (bj(date(2025, 12, 26)), bj(date(2026, 1, 4)))
    upload: list[Document] = []
    hourly: dict[tuple[str, datetime], Document] = {}
    for when, doc in docs:
        if doc.interval == "hour":
            hourly[(doc.station_id, doc.ts)] = doc
        if doc.station_id == LATE_WATER and gap[0] <= doc.ts < gap[1]:
            upload.append(doc)
        else:
            out[index(when)].append(Message(doc.station_id, "data", enc.one(doc)))

    def on(day: date, sid: str, payloads: Iterable[bytes]) -> None:
        out[(bj(day) - START) // DAY] += [Message(sid, "data", p) for p in payloads]

    def hours(sid: str, day: date, span: range) -> list[Document]:
        return [hourly[(sid, bj(day, h))] for h in span]

    on(date(2026, 1, 9), LATE_WATER, enc.buffer(upload))
    on(date(2026, 1, 5), LATE_AIR, enc.buffer(
        hours(LATE_AIR, date(2025, 12, 30), range(24)) + hours(LATE_AIR, date(2025, 12, 31),
                                                               range(24))))
    on(date(2026, 1, 6), LATE_AIR, (
        enc.one(replace(d, values={**d.values, "pm25": round(d.values["pm25"] * 1.1, 1)}))
        for d in hours(LATE_AIR, date(2025, 12, 29), range(6))))
    on(date(2026, 1, 7), LATE_AIR, (
        enc.one(replace(d, flags=dict.fromkeys(d.values, "M")))
        for d in hours(LATE_AIR, date(2025, 12, 20), range(10, 14))))
    on(date(2026, 1, 12), LATE_WATER, (
        enc.one(replace(d, values={**d.values, "nh3n": round(d.values["nh3n"] * 3, 3)}))
        for d in hours(LATE_WATER, date(2025, 12, 15), range(24))))
    return out


def merged(*plans: dict[int, list[Message]]) -> Iterator[tuple[int, list[Message]]]:
    for i in range(DAYS):
        yield i, [m for plan in plans for m in plan.get(i, [])]


def until(check: Any, what: str, timeout: float = 300) -> None:
    """Poll until ``check()`` holds (a limit against a hung system, not a timing assert)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout:.0f} s: {what}")
        time.sleep(0.1)


def scalar(url: str, query: str, *args: Any) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, args).fetchone()
        return row[0] if row else None


def settled(url: str) -> bool:
    """No station-day of the set queued or leased, no period figure waiting."""
    return bool(scalar(
        url, "SELECT (SELECT count(*) FROM dirty_days WHERE station_id = ANY(%s))"
        " + (SELECT count(*) FROM dirty_claims WHERE station_id = ANY(%s))"
        " + (SELECT count(*) FROM dirty_periods WHERE city = %s) = 0", IDS, IDS, CITY))


async def reports(url: str) -> dict[str, Any]:
    """Every period report of the city over the span (months, quarter, years)."""
    out: dict[str, Any] = {}
    periods = [report.period_of("month", "2025-12"), report.period_of("month", "2026-01"),
               report.period_of("quarter", "2025-Q4"), report.period_of("year", "2025"),
               report.period_of("year", "2026")]
    async with await db.connect(url) as conn:
        for p in periods:
            regions = [(CITY, "")]
            out[f"air {p.label}"] = await report.air_report(conn, p, regions=regions)
            out[f"water {p.label}"] = await report.water_report(conn, p, regions=regions)
            out[f"noise {p.label}"] = await report.noise_report(conn, p, regions=regions)
    return out


Deliveries = tuple[list[tuple[int, list[Message]]], dict[int, list[Message]]]


@pytest.fixture(scope="module")
def deliveries() -> Deliveries:
    """The six weeks of messages by delivery day, over MQTT and over TCP: simulated once, played
    on each layout (messages are immutable)."""
    mqtt = list(merged(by_day(Run(scenario(JSON, faults=FAULTS))),
                       by_day(Run(scenario(MINUTE, faults=FAULTS,
                                           cadence=Cadence(minute_interval=5, hourly=False)))),
                       by_day(Run(scenario(HJ212_MQTT, faults=FAULTS, encoding="hj212"))),
                       late_deliveries()))
    return mqtt, by_day(Run(scenario(HJ212_TCP, faults=TCP_FAULTS, encoding="hj212")))


@pytest.fixture
async def city_db(db_layout: str, layout_databases: LayoutDatabases) -> str:
    """A database of its own on the layout under test: what other tests leave behind (queued
    days, stations that cannot be computed) must not reach this run's logs."""
    url = await asyncio.to_thread(layout_databases.fresh, db_layout, "envmon_system")
    assert readings_layout(url) == db_layout
    return url


async def compare(kept: str, fresh: str) -> dict[str, Any]:
    """The indicator tables and views whose rows differ between the two databases (both read
    at once: on TimescaleDB the hourly views' per-hour lookups are the slow part)."""
    differing = {}
    for table, column in INDICATORS.items():
        scope = [CITY] if column == "city" else IDS
        old, new = await asyncio.gather(asyncio.to_thread(snapshot, kept, table, scope),
                                        asyncio.to_thread(snapshot, fresh, table, scope))
        assert new, f"{table}: nothing computed"
        if old != new:
            only_kept = [r for r in old if r not in new][:3]
            only_fresh = [r for r in new if r not in old][:3]
            differing[table] = (len(old), len(new), only_kept, only_fresh)
    return differing


async def test_six_weeks_of_a_city_equal_a_recompute_from_scratch(
    city_db: str, db_layout: str, layout_databases: LayoutDatabases, mqtt_broker: Broker,
    deliveries: Deliveries,
) -> None:
    database_url = city_db
    async with await db.connect(database_url) as conn:
        await upsert_stations(conn, STATIONS)
        await conn.execute("NOTIFY envmon_stations")
        await conn.commit()
    layout = {"ENVMON_STORAGE__BACKEND": db_layout}
    env = {"ENVMON_DATABASE_URL": database_url, "ENVMON_MQTT_URL": mqtt_broker.url, **layout}
    ingest = Command(["ingest"], {**env, "ENVMON_INGEST__CLIENT_ID": f"system-{time.time_ns()}"},
                     "ingest").start(ready=False)
    gateway_port = free_port()
    gateway = Command(["hj212-gateway", "--host", "127.0.0.1", "--port", str(gateway_port),
                       "--rate", "5000", "--burst", "5000"], env, "gateway").start(ready=False)
    aggregator = Command(["aggregate"], {**env, "ENVMON_AGGREGATOR__POLL_SECONDS": "1"},
                         "aggregator").start(ready=False)
    # a second worker, as a city scales out, with small batches so that the two interleave
    second = Command(["aggregate"], {**env, "ENVMON_AGGREGATOR__POLL_SECONDS": "1",
                                     "ENVMON_AGGREGATOR__BATCH_SIZE": "30"},
                     "aggregator-2").start(ready=False)
    plan, tcp_plan = deliveries
    compressed: list[tuple[str, datetime, datetime]] = []
    try:
        for proc in (ingest, gateway, aggregator, second):  # started together: less waiting
            proc.wait_ready()
        target = MqttTarget(host=mqtt_broker.host, port=mqtt_broker.port, tls=False)
        sink = Hj212TcpSink("127.0.0.1", gateway_port, answer_timeout=1.0, retries=1)
        published = 0
        async with Publisher(target, window=2000) as publisher:
            for i, messages in plan:
                await play(((START, m) for m in messages), MqttSink(publisher, "envmon"))
                await play(((START, m) for m in tcp_plan.get(i, [])), sink)
                published += len(messages)
                until(lambda n=published: ingest.metric("envmon_ingest_messages_received_total")
                      >= n and ingest.metric("envmon_ingest_unacked_messages") == 0,
                      f"ingest took day {i}")
                if i == 20:  # the aggregator dies mid-stream and is started again: the
                    aggregator.kill()  # leases it held must not wait out their 300 s
                    aggregator.start()
                if i % 3 == 0 or i == 20:  # some days computed before the next arrive
                    until(lambda: settled(database_url), f"day {i} computed", timeout=120)
                if i == COMPRESS_DAY and db_layout == "timescale":
                    async with await db.connect(database_url) as conn:
                        assert await compress_history(conn, COMPRESS_BEFORE) >= 3
                    compressed = compressed_chunks(database_url)
                    assert all(any(start <= ts < end for _, start, end in compressed)
                               for ts in LATE_IN_COMPRESSED)
                    assert row_store_readings(database_url, IDS, COMPRESS_BEFORE) == 0
                await asyncio.sleep(0)
        await sink.close()
        until(lambda: settled(database_url), "the aggregator caught up")
        assert scalar(database_url, "SELECT count(*) FROM failed_days WHERE station_id"
                      " = ANY(%s)", IDS) == 0
        for proc in (aggregator, second, gateway, ingest):
            assert proc.stop() == 0, proc.log_text()[-3000:]
            assert proc.bad_log_lines() == [], proc.name

        # the run saw what it was meant to see
        window = (bj(START.date() - DAY), bj(START.date() + DAYS * DAY))
        assert scalar(database_url, "SELECT count(DISTINCT station_id) FROM readings"
                      " WHERE ts >= %s AND ts < %s AND source = 'hj212'",
                      *window) == len(HJ212_TCP) + len(HJ212_MQTT)
        assert scalar(database_url, "SELECT count(*) FROM reading_revisions WHERE station_id"
                      " = ANY(%s) AND ts >= %s AND ts < %s", IDS, *window) > 0
        earlier_month = ("SELECT count(*) FROM indicator_revisions WHERE indicator = %s"
                         " AND key->>'station_id' = %s AND key->>%s LIKE '2025-12%%'")
        assert scalar(database_url, earlier_month, "water_station_monthly", LATE_WATER,
                      "month") > 0
        assert scalar(database_url, earlier_month, "air_station_daily", LATE_AIR, "day") > 0
        assert scalar(database_url, "SELECT count(DISTINCT station_id) FROM"
                      " water_station_monthly WHERE month IN ('2025-12-01', '2026-01-01')"
                      " AND station_id = ANY(%s)", IDS) == 5
        assert scalar(database_url, "SELECT count(DISTINCT reason) FROM dead_letter"
                      " WHERE received_at >= now() - interval '1 hour'") >= 3
        if db_layout == "timescale":  # late data went into the compressed chunks
            assert set(compressed) <= set(compressed_chunks(database_url))
            assert row_store_readings(database_url, [LATE_WATER], COMPRESS_BEFORE) > 0
            assert row_store_readings(database_url, [LATE_AIR], COMPRESS_BEFORE) > 0

        fresh = await asyncio.to_thread(layout_databases.fresh, db_layout, "envmon_system_fresh")
        assert readings_layout(fresh) == db_layout
        await fresh_copy(database_url, fresh, IDS)
        code, output = run_once(["aggregate", "--once"], {"ENVMON_DATABASE_URL": fresh, **layout})
        assert code == 0, output
        assert [line for line in output.splitlines()
                if "Traceback" in line or "ERROR" in line or "failed" in line] == []

        assert await compare(database_url, fresh) == {}
        assert await reports(database_url) == await reports(fresh)
    finally:
        for proc in (aggregator, second, gateway, ingest):
            if proc.proc is not None and proc.proc.poll() is None:
                proc.kill()
