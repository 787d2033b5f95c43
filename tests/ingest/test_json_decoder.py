"""Wire contract v1 (README "Wire contract"): JSON payloads → readings or specific rejections."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from envmon.stations import Station, StationRegistry
from ingest.errors import Rejection
from ingest.json_decoder import decode_json
from ingest.router import Router

AIR = Station("air-1", "air", "Air 1")
WATER = Station("wat-1", "water", "Water 1", water_target_class=3, water_body="river")
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def doc(**kw: object) -> bytes:
    base: dict[str, object] = {"ts": "2026-03-01T08:00:00+08:00", "values": {"pm25": 35}}
    base.update(kw)
    return json.dumps(base).encode()


def test_single_document() -> None:
    rs = decode_json(AIR, doc(interval="hour", values={"pm25": 35, "co": 0.6},
                              flags={"co": "C"}), NOW)
    assert [(r.parameter, r.value, r.flag, r.interval) for r in rs] == [
        ("pm25", 35.0, "N", "hour"), ("co", 0.6, "C", "hour")]
    assert rs[0].ts == datetime(2026, 3, 1, 0, tzinfo=UTC)  # offset applied, stored in UTC
    assert rs[0].source == "json"


def test_array_of_documents_is_a_buffer_resend() -> None:
    payload = json.dumps([{"ts": f"2026-03-01T0{h}:00:00Z", "values": {"pm10": h}}
                          for h in range(5)]).encode()
    assert [r.value for r in decode_json(AIR, payload, NOW)] == [0, 1, 2, 3, 4]


def test_default_interval_is_rt() -> None:
    assert decode_json(AIR, doc(), NOW)[0].interval == "rt"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe{", "invalid_utf8"),
        (b"{not json", "malformed_json"),
        (b"[" * 100_000 + b"]" * 100_000, "malformed_json"),  # nesting bomb
        (b'{"ts":"2026-03-01T08:00:00+08:00","values":{"pm25":NaN}}', "non_finite_value"),
        (doc(values={"pm25": 1e400}), "non_finite_value"),  # json.dumps writes Infinity
        (doc(ts="2026-03-01T08:00:00"), "schema"),  # no offset
        (doc(values={}), "schema"),
        (doc(values={"pm25": "high"}), "schema"),
        (doc(extra=1), "schema"),
        (doc(interval="week"), "schema"),
        (doc(flags={"pm25": "X"}), "schema"),
        (doc(flags={"pm10": "N"}), "schema"),  # flag for a value that is not there
        (doc(values={"do": 7.5}), "wrong_kind_parameter"),
        (doc(values={"pm1": 7.5}), "unknown_parameter"),
        (doc(values={"pm25": -1}), "out_of_range"),
        (doc(values={"pm25": 6000}), "out_of_range"),
        (doc(ts="2026-03-02T08:00:00+08:00"), "future_timestamp"),
        (doc(ts="2026-03-01T08:30:00+08:00", interval="hour"), "misaligned_interval"),
        (doc(ts="2026-03-01T08:00:00+08:00", interval="day"), "misaligned_interval"),
        (b"[]", "schema"),
        (b"null", "schema"),
    ],
)
def test_rejections(payload: bytes, reason: str) -> None:
    with pytest.raises(Rejection) as exc:
        decode_json(AIR, payload, NOW)
    assert exc.value.reason == reason
    assert exc.value.detail
    assert exc.value.station_id == "air-1"


def test_day_interval_starts_at_beijing_midnight() -> None:
    rs = decode_json(WATER, json.dumps({"ts": "2026-02-28T16:00:00Z", "interval": "day",
                                        "values": {"do": 7.1}}).encode(), NOW)
    assert rs[0].ts == datetime(2026, 2, 28, 16, tzinfo=UTC)


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("envmon/v1/air-1/data/x", "bad_topic"),
        ("other/v1/air-1/data", "bad_topic"),
        ("envmon/v1/air-1/xml", "bad_topic"),
        ("envmon/v1/'; DROP TABLE readings; --/data", "invalid_station_id"),
        ("envmon/v1/" + "a" * 65 + "/data", "invalid_station_id"),
        ("envmon/v1/nobody/data", "unknown_station"),
    ],
)
def test_router_rejections(topic: str, reason: str) -> None:
    router = Router("envmon", StationRegistry([AIR]), 1024)
    with pytest.raises(Rejection) as exc:
        router.decode(topic, doc())
    assert exc.value.reason == reason


def test_router_oversize_and_prefix() -> None:
    router = Router("city/pl", StationRegistry([AIR]), 64)
    assert router.subscriptions("g1") == ["$share/g1/city/pl/v1/+/data"]
    with pytest.raises(Rejection) as exc:
        router.decode("city/pl/v1/air-1/data", b" " * 65)
    assert exc.value.reason == "oversize"
