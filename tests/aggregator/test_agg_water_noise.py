"""Water and noise station indicators from readings in the real database, compared with the
standards library applied to the same values (GB 3838-2002 single factor, GB 3096-2008)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from psycopg import AsyncConnection

from aggregator import standards
from aggregator.report import noise_report, period_of, water_report
from envmon.stations import Station
from ingest.reading import Reading
from tests.aggregator.agg_support import add_stations, day_hours, fetch, write_and_drain

pytestmark = [pytest.mark.integration, pytest.mark.layouts]  # layouts: tests/layouts.py
DAY = date(2025, 7, 1)


async def test_water_daily_and_monthly_class(db_conn: AsyncConnection[Any]) -> None:
    await add_stations(db_conn, [Station("agg-w1", "water", "W1", "agg-city-w",
                                         water_target_class=3, water_body="river")])
    values = {"ph": 7.4, "do": 5.5, "codmn": 4.5, "nh3n": 1.2, "tp": 0.15, "temp": 24.0}
    readings = [
        Reading("agg-w1", p, "hour", ts, v + (0.01 * i if p != "ph" else 0), "N", "import")
        for i, ts in enumerate(day_hours(DAY)[::4]) for p, v in values.items()
    ]
    await write_and_drain(db_conn, readings)
    means = {p: standards.period_mean(r.value for r in readings if r.parameter == p)
             for p in values}
    gradable = {p: v for p, v in means.items() if p in standards.EVALUATION_PARAMETERS}
    grade = standards.section_grade(gradable, body="river")
    compliance = standards.target_compliance(gradable, standards.WaterClass(3), body="river")
    [(cls, compliant, exceeding)] = await fetch(
        db_conn, "SELECT water_class, compliant, exceeding FROM water_station_daily"
        " WHERE station_id = 'agg-w1' AND day = %s", DAY)
    assert (cls, compliant) == (int(grade.water_class), compliance.compliant)
    assert exceeding == pytest.approx(dict(compliance.exceeding))
    assert compliant is False and "nh3n" in exceeding  # NH3-N 1.2 > 1.0 (class III)
    [(monthly_cls, n_days)] = await fetch(
        db_conn, "SELECT water_class, n_days FROM water_station_monthly"
        " WHERE station_id = 'agg-w1' AND month = %s", DAY.replace(day=1))
    assert (monthly_cls, n_days) == (cls, 1)
    hourly = await fetch(db_conn, "SELECT count(*) FROM water_station_hourly"
                         " WHERE station_id = 'agg-w1'")
    assert hourly == [(6,)]
    region = await fetch(db_conn, "SELECT county, sections, sections_i_iii, sections_meeting_target"
                         " FROM water_region_monthly WHERE city = 'agg-city-w'")
    assert region == [("", 1, int(cls <= 3), 0)]


async def test_noise_day_night_levels_and_compliance(db_conn: AsyncConnection[Any]) -> None:
    await add_stations(db_conn, [Station("agg-n1", "noise", "N1", "agg-city-n",
                                         noise_zone="2")])
    hours = day_hours(DAY)
    leq = {ts: (52.0 + i % 5 if 6 <= i < 22 else 47.0 + i % 3) for i, ts in enumerate(hours)}
    lmax = {ts: (70.0 if i == 23 else 60.0) for i, ts in enumerate(hours)}
    readings = [Reading("agg-n1", "leq", "hour", ts, v, "N", "import") for ts, v in leq.items()]
    readings += [Reading("agg-n1", "lmax", "hour", ts, v, "N", "import")
                 for ts, v in lmax.items()]
    await write_and_drain(db_conn, readings)
    levels = standards.day_night_levels(leq, DAY)
    point = standards.point_day_compliance(levels, "2", night_lmax=70.0)
    [row] = await fetch(
        db_conn, "SELECT ld, ln, day_ok, night_ok, night_lmax, night_lmax_ok"
        " FROM noise_station_daily WHERE station_id = 'agg-n1' AND day = %s", DAY)
    assert row == (levels.ld, levels.ln, point.day_ok, point.night_ok, 70.0,
                   point.night_lmax_ok)
    assert point.night_lmax_ok is False  # 70 > night limit 50 + 15 (GB 3096 表1)
    hourly = await fetch(db_conn, "SELECT count(*), max(lmax) FROM noise_station_hourly"
                         " WHERE station_id = 'agg-n1' AND leq_valid")
    assert hourly == [(24, 70.0)]
    region = await fetch(db_conn, "SELECT day_points, day_compliant, night_points,"
                         " night_compliant FROM noise_region_daily WHERE city = 'agg-city-n'")
    assert region == [(1, int(bool(point.day_ok)), 1, int(bool(point.night_ok)))]


async def test_water_and_noise_reports(db_conn: AsyncConnection[Any]) -> None:
    """Reports over the stations written above (order-independent: each test adds its own)."""
    await add_stations(db_conn, [
        Station("agg-w2", "water", "W2", "agg-city-wr", water_target_class=2,
                water_body="lake"),
        Station("agg-n2", "noise", "N2", "agg-city-wr", noise_zone="1"),
    ])
    readings = [Reading("agg-w2", p, "hour", ts, v, "N", "import")
                for ts in day_hours(DAY) for p, v in (("ph", 7.0), ("do", 8.0), ("tp", 0.02))]
    readings += [Reading("agg-n2", "leq", "hour", ts, 50.0, "N", "import")
                 for ts in day_hours(DAY)]
    await write_and_drain(db_conn, readings)
    period = period_of("month", "2025-07")
    water_doc = await water_report(db_conn, period, regions=[("agg-city-wr", "")])
    [section] = water_doc["sections"]
    grade = standards.section_grade({"ph": 7.0, "do": 8.0, "tp": 0.02}, body="lake")
    assert section["water_class"] == int(grade.water_class)
    shares = standards.class_shares([grade.water_class])
    assert water_doc["share_i_iii"] == shares.share_i_iii
    target = standards.plan_target("water_class_i_iii_share", 2025)
    assert shares.share_i_iii is not None and target is not None
    assert water_doc["margin"] == pytest.approx(shares.share_i_iii - target)
    noise_doc = await noise_report(db_conn, period, stations=["agg-n2"])
    levels = standards.day_night_levels({ts: 50.0 for ts in day_hours(DAY)}, DAY)
    point = standards.point_day_compliance(levels, "1")
    rates = standards.compliance_rates([point])
    assert noise_doc["zones"]["1"]["night_rate"] == rates["1"].night_rate
    assert noise_doc["zones"]["all"]["day_rate"] == rates["all"].day_rate


async def test_water_means_on_a_class_limit_are_graded_exactly(
    db_conn: AsyncConnection[Any],
) -> None:
    """Issue 11 through the aggregator: GB 3838 表1 limits are decimals; TP 0.26 and 0.34 ->
    0.30 is class Ⅳ (river), NH3-N 0.14 and 0.16 -> 0.15 is class Ⅰ, whether the two results
    fall in one day (daily mean) or on two days (monthly mean of daily means, the report)."""
    await add_stations(db_conn, [Station("agg-w3", "water", "W3", "agg-city-wx",
                                         water_target_class=4, water_body="river")])
    one, two = date(2025, 8, 1), date(2025, 8, 2)
    samples = (("tp", (0.26, 0.34)), ("nh3n", (0.14, 0.16)), ("ph", (7.0, 7.0)))
    same_day = [Reading("agg-w3", p, "hour", day_hours(one)[i], v, "N", "import")
                for p, vs in samples for i, v in enumerate(vs)]
    two_days = [Reading("agg-w3", p, "hour", day_hours(d)[3], v, "N", "import")
                for p, vs in samples for d, v in zip((two, two + timedelta(days=1)), vs,
                                                     strict=True)]
    await write_and_drain(db_conn, same_day + two_days)
    daily = dict(await fetch(
        db_conn, "SELECT day, water_class FROM water_station_daily WHERE station_id = 'agg-w3'"))
    assert daily == {one: 4, two: 4, two + timedelta(days=1): 5}  # 0.30, 0.26, 0.34
    [(monthly, compliant)] = await fetch(
        db_conn, "SELECT water_class, compliant FROM water_station_monthly"
        " WHERE station_id = 'agg-w3'")
    assert (monthly, compliant) == (4, True)  # TP mean of 0.30, 0.26, 0.34 meets Ⅳ
    for kind, text in (("day", "2025-08-01"), ("month", "2025-08")):
        doc = await water_report(db_conn, period_of(kind, text), stations=["agg-w3"])  # type: ignore[arg-type]
        [section] = doc["sections"]
        assert section["water_class"] == 4 and section["compliant"] is True
        assert section["means"]["tp"] == 0.3 and section["means"]["nh3n"] == 0.15
