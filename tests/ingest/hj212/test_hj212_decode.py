"""Data packets into readings (HJ 212-2017 §6.3.3, 表4, 表8, 附录B; reference/hj212.md §4-§7)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from envmon.stations import Station
from ingest.errors import Rejection
from ingest.hj212 import decode_data, encode_frame, encode_segment, parse_packet
from tests.ingest.hj212.hj212_support import DATA_PACKETS, REFERENCE_PACKETS, RefPacket, station_for

AIR = Station("air1", "air", "Air 1", mn="MNAIR", hj212_password="123456")
WATER = Station("w1", "water", "W 1", water_target_class=3, water_body="river", mn="MNW")
NOISE = Station("n1", "noise", "N 1", noise_zone="1", mn="MNN")


def packet(cp: str, cn: str = "2061", st: str = "22", mn: str = "MNAIR") -> bytes:
    return encode_frame(encode_segment(qn="20260301090000123", st=st, cn=cn, pw="123456", mn=mn,
                                       flag=5, cp=cp))


@pytest.mark.parametrize("ref", DATA_PACKETS, ids=lambda p: p.name)
def test_worked_packets_decode_to_the_expected_readings(ref: RefPacket) -> None:
    station = station_for(ref)
    decoded = decode_data(parse_packet(ref.raw), station)
    assert set(decoded.readings) == ref.expected(station.station_id)
    assert len(decoded.readings) == len(ref.readings)
    assert [s.item.split("-")[0] for s in decoded.skipped] == ref.unknown


@pytest.mark.parametrize("ref", [p for p in REFERENCE_PACKETS if p.reject],
                         ids=lambda p: p.name)
def test_worked_non_data_packets_are_rejected(ref: RefPacket) -> None:
    with pytest.raises(Rejection) as caught:
        decode_data(parse_packet(ref.raw), station_for(ref))
    assert caught.value.reason == ref.reject


def test_unknown_codes_are_reported_for_the_dead_letter() -> None:
    """Codes without a canonical parameter (metals, Ldn) are kept as a hj212_unknown_code record."""
    ref = next(p for p in DATA_PACKETS if p.name == "water_real_world_hour")
    decoded = decode_data(parse_packet(ref.raw), station_for(ref, "w9"))
    [rejection] = decoded.rejections("w9")
    assert rejection.reason == "hj212_unknown_code"
    assert "w20120-Avg=0.00011" in rejection.detail and rejection.station_id == "w9"
    assert decode_data(parse_packet(ref.raw), station_for(ref)).readings


@pytest.mark.parametrize(
    ("cn", "data_time", "interval", "ts"),
    [  # §4.2: DataTime is Beijing local time and the start of the period; UTC = local - 8 h
        ("2011", "20260301083015", "rt", datetime(2026, 3, 1, 0, 30, 15, tzinfo=UTC)),
        ("2051", "20260301084012", "min", datetime(2026, 3, 1, 0, 40, tzinfo=UTC)),
        ("2061", "20260301080001", "hour", datetime(2026, 3, 1, 0, 0, tzinfo=UTC)),
        ("2061", "20260301003000", "hour", datetime(2026, 2, 28, 16, 0, tzinfo=UTC)),
        ("2031", "20260301000000", "day", datetime(2026, 2, 28, 16, 0, tzinfo=UTC)),
    ],
)
def test_data_time_is_the_interval_start_in_utc(cn: str, data_time: str, interval: str,
                                                ts: datetime) -> None:
    suffix = "Rtd" if cn == "2011" else "Avg"
    decoded = decode_data(parse_packet(packet(f"DataTime={data_time};a34004-{suffix}=40", cn)),
                          AIR)
    [reading] = decoded.readings
    assert (reading.interval, reading.ts, reading.value) == (interval, ts, 40.0)


@pytest.mark.parametrize("flag", ["N", "F", "M", "S", "D", "C", "T", "B"])
def test_data_flags_are_carried(flag: str) -> None:
    """表8: every flag of the table is stored with the reading."""
    decoded = decode_data(parse_packet(packet(
        f"DataTime=20260301080000;a34004-Avg=40,a34004-Flag={flag};a34002-Avg=50")), AIR)
    flags = {r.parameter: r.flag for r in decoded.readings}
    assert flags == {"pm25": flag, "pm10": "N"}


def test_an_unknown_flag_is_reported_not_stored() -> None:
    decoded = decode_data(parse_packet(packet(
        "DataTime=20260301080000;a34004-Avg=40,a34004-Flag=X;a34002-Avg=50")), AIR)
    assert [r.parameter for r in decoded.readings] == ["pm10"]
    [skipped] = decoded.skipped
    assert (skipped.item, skipped.reason) == ("a34004-Avg=40", "hj212_unknown_code")
    assert "a34004-Flag=X" in skipped.why


def test_unit_override_converts_ng_per_m3() -> None:
    """§7.1: 表B.2 prints PM in ng/m3 and real loggers send it (a34004-Rtd=75600 = 75.6 ug/m3)."""
    raw = parse_packet(packet("DataTime=20260301080000;a34004-Rtd=75600.000", "2011"))
    [reading] = decode_data(raw, AIR, {"a34004": "ng/m3"}).readings
    assert reading.value == pytest.approx(75.6)
    [skipped] = decode_data(raw, AIR).skipped
    assert skipped.reason == "out_of_range" and "unit override" in skipped.why


def test_override_with_an_unconvertible_unit_costs_that_item() -> None:
    raw = parse_packet(packet("DataTime=20260301080000;a34004-Avg=1;a34002-Avg=2"))
    decoded = decode_data(raw, AIR, {"a34004": "furlongs"})
    assert [r.parameter for r in decoded.readings] == ["pm10"]
    assert [(s.item, s.reason) for s in decoded.skipped] == [("a34004-Avg=1", "hj212_unit")]


@pytest.mark.parametrize(
    ("station", "st", "cp", "expected"),
    [  # 附录B old codes (§7, §8) and the real-world names of §7.1 map like the 2017 codes
        (AIR, "22", "02-Avg=8;04-Avg=0.6", {"so2": 8.0, "co": 0.6}),
        (WATER, "21", "001-Avg=7.1;011-Avg=12;060-Avg=0.5;101-Avg=0.1;065-Avg=1.2;010-Avg=3",
         {"ph": 7.1, "cod": 12.0, "nh3n": 0.5, "tp": 0.1, "tn": 1.2, "bod5": 3.0}),
        (AIR, "22", "TEM-Avg=-3.5;RH-Avg=40;WS-Avg=1;WD-Avg=350",
         {"temp": -3.5, "rh": 40.0, "ws": 1.0, "wd": 350.0}),
        # -Min/-Max are other statistics of the period: only the average is a reading
        (AIR, "22", "a34004-Min=1,a34004-Avg=5,a34004-Max=9", {"pm25": 5.0}),
        # 表B.3: Leq-DayData / Leq-NightData are Ld / Ln
        (NOISE, "23", "Leq-DayData=55;Leq-NightData=45", {"ld": 55.0, "ln": 45.0}),
    ],
)
def test_code_mapping(station: Station, st: str, cp: str, expected: dict[str, float]) -> None:
    cn = "2031" if station.kind == "noise" else "2061"
    decoded = decode_data(parse_packet(
        packet(f"DataTime=20260301000000;{cp}", cn, st, station.mn or "")), station)
    assert {r.parameter: r.value for r in decoded.readings} == expected
    assert decoded.skipped == []


def test_noise_real_time_la_is_real_time_leq_only() -> None:
    rt = decode_data(parse_packet(packet("DataTime=20260301080000;LA-Rtd=50.1", "2011", "23",
                                         "MNN")), NOISE)
    assert [(r.parameter, r.interval, r.value) for r in rt.readings] == [("leq", "rt", 50.1)]
    hour = decode_data(parse_packet(packet("DataTime=20260301080000;LA-Data=50.1", "2061", "23",
                                           "MNN")), NOISE)
    assert hour.readings == [] and [s.item for s in hour.skipped] == ["LA-Data=50.1"]


@pytest.mark.parametrize(
    ("st", "cp", "reason"),
    [  # what spoils every item of the packet
        ("21", "DataTime=20260301080000;a34004-Avg=1", "hj212_st_mismatch"),
        ("22", "a34004-Avg=1", "hj212_unparseable"),  # no DataTime
        ("22", "DataTime=2026030108;a34004-Avg=1", "hj212_unparseable"),
        ("22", "DataTime=20261301080000;a34004-Avg=1", "hj212_unparseable"),
        ("22", "DataTime=00010101000000;a34004-Avg=1", "hj212_unparseable"),
        ("22", "DataTime=99991231235959;a34004-Avg=1", "hj212_unparseable"),
    ],
)
def test_packet_level_faults_reject_the_packet(st: str, cp: str, reason: str) -> None:
    with pytest.raises(Rejection) as caught:
        decode_data(parse_packet(packet(cp, "2061", st)), AIR)
    assert caught.value.reason == reason and caught.value.station_id == AIR.station_id


# Issue 13 item 6: each item is judged on its own. An item that cannot be stored is reported
# (for the dead-letter table, with its reason) and costs only itself; the good item beside it
# (a34002 = pm10 50) is stored. Suffixes: 表4 (reference §4.1); values: N14.2 (§4); flags: 表8.
ITEM_CASES = [
    # unrecognised or mismatched suffixes (were dropped silently and the packet acknowledged)
    ("2061", "a34004-AVG=35", "hj212_unknown_code"),  # names are case-sensitive (§4)
    ("2061", "a34004-avg=35", "hj212_unknown_code"),
    ("2061", "a34004-Rtd=35", "hj212_unknown_code"),  # a real-time value in an hour packet
    ("2051", "a34004-Rtd=35", "hj212_unknown_code"),  # ... in a minute packet
    ("2011", "a34004-Avg=35", "hj212_unknown_code"),  # a period value in a real-time packet
    ("2011", "a21004- Rtd=20.9", "hj212_unknown_code"),  # a space inside the name
    ("2061", "a99999-Avg=1", "hj212_unknown_code"),  # a code no table knows
    # one bad value (used to reject the whole packet)
    ("2061", "a21026-Avg=", "hj212_unparseable"),  # empty value
    ("2061", "a21026-Avg=abc", "hj212_unparseable"),
    ("2061", "a21026-Avg=NaN", "hj212_unparseable"),
    ("2061", "a21026-Avg=-00999.000", "out_of_range"),  # a logger's fault placeholder
    ("2011", "a21026-Rtd=-00999.000", "out_of_range"),
    ("2061", "a21026-Avg=1e999", "out_of_range"),
    ("2061", "a21026-Avg=-5", "out_of_range"),
]


@pytest.mark.parametrize(("cn", "item", "reason"), ITEM_CASES)
def test_items_are_judged_one_by_one(cn: str, item: str, reason: str) -> None:
    suffix = "Rtd" if cn == "2011" else "Avg"
    decoded = decode_data(parse_packet(packet(
        f"DataTime=20260301080000;{item};a34002-{suffix}=50", cn)), AIR)
    assert [(r.parameter, r.value) for r in decoded.readings] == [("pm10", 50.0)]
    assert [(s.item, s.reason) for s in decoded.skipped] == [(item, reason)]
    [rejection] = decoded.rejections(AIR.station_id)
    assert rejection.reason == reason and item in rejection.detail


@pytest.mark.parametrize("suffix", ["Min", "Max", "Cou", "ZsAvg", "EFlag", "SampleTime"])
def test_other_statistics_of_the_period_are_known_and_not_stored(suffix: str) -> None:
    """表4: -Min/-Max/-Cou/-Zs*/-EFlag/-SampleTime are parsed; a reading carries the average."""
    decoded = decode_data(parse_packet(packet(
        f"DataTime=20260301080000;a34004-{suffix}=1,a34004-Avg=5")), AIR)
    assert [(r.parameter, r.value) for r in decoded.readings] == [("pm25", 5.0)]
    assert decoded.skipped == []


def test_conflicting_values_for_one_parameter_store_neither() -> None:
    decoded = decode_data(parse_packet(packet(
        "DataTime=20260301080000;a34004-Avg=1;PM25-Avg=2;a34002-Avg=50")), AIR)
    assert [(r.parameter, r.value) for r in decoded.readings] == [("pm10", 50.0)]
    assert [(s.item, s.reason) for s in decoded.skipped] == [
        ("a34004-Avg=1", "hj212_unparseable"), ("PM25-Avg=2", "hj212_unparseable")]


def test_several_reasons_give_one_record_each() -> None:
    decoded = decode_data(parse_packet(packet(
        "DataTime=20260301080000;a34004-AVG=1;a21026-Avg=-999;a99999-Avg=3;a34002-Avg=50")), AIR)
    by_reason = {r.reason: r.detail for r in decoded.rejections("air1")}
    assert set(by_reason) == {"hj212_unknown_code", "out_of_range"}
    assert "a34004-AVG=1" in by_reason["hj212_unknown_code"]
    assert "a99999-Avg=3" in by_reason["hj212_unknown_code"]
    assert "a21026-Avg=-999" in by_reason["out_of_range"]


def test_same_value_sent_under_two_names_is_one_reading() -> None:
    decoded = decode_data(parse_packet(packet(
        "DataTime=20260301080000;a34004-Avg=7;PM25-Avg=7.0")), AIR)
    assert [(r.parameter, r.value) for r in decoded.readings] == [("pm25", 7.0)]


def test_header_item_without_code_is_reported() -> None:
    decoded = decode_data(parse_packet(packet(
        "DataTime=20260301080000;SystemTime=20260301080500;a34004-Avg=7")), AIR)
    assert [s.item for s in decoded.skipped] == ["SystemTime=20260301080500"]
