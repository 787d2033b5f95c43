"""Readings in the real database -> indicators, recomputed incrementally.

Expected values are computed here with the standards library directly from the readings
written, so the test checks the pipeline (hourly values, windows, regions, revisions), not
the arithmetic twice.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from psycopg import AsyncConnection

from aggregator import standards
from aggregator.service import drain
from envmon.stations import Station
from ingest.reading import Reading
from tests.aggregator.agg_support import (
    add_stations,
    daily_values,
    day_hours,
    fetch,
    write,
    write_and_drain,
)
from tests.layouts import compress_history

pytestmark = [pytest.mark.integration, pytest.mark.layouts]  # layouts: tests/layouts.py
DAY = date(2025, 6, 1)
POLLUTANTS = ("pm25", "pm10", "so2", "no2", "co", "o3")


def profile(base: float, i: int) -> dict[str, float]:
    """A plausible diurnal profile for hour ``i`` of the day."""
    return {"pm25": base + 3 * i, "pm10": 2 * base + 2 * i, "so2": 8 + i % 3, "no2": 30 + i,
            "co": round(0.5 + 0.05 * i, 2), "o3": 40 + 6 * i}


def air_day(sid: str, day: date, base: float, skip: dict[str, set[int]] | None = None,
            flag: str = "N") -> list[Reading]:
    out = []
    for i, ts in enumerate(day_hours(day)):
        for p, v in profile(base, i).items():
            if i not in (skip or {}).get(p, set()):
                out.append(Reading(sid, p, "hour", ts, float(v), flag, "import"))  # type: ignore[arg-type]
    return out


def expected_daily(readings: list[Reading], day: date) -> standards.AqiReport:
    series: dict[str, dict[datetime, float | None]] = {p: {} for p in POLLUTANTS}
    for r in readings:
        if r.flag == "N":
            series[r.parameter][r.ts] = r.value
    return standards.daily_aqi(daily_values(series, day), day=day)


async def daily_row(conn: AsyncConnection[Any], sid: str, day: date) -> tuple[Any, ...]:
    [row] = await fetch(
        conn, "SELECT aqi, primary_pollutants, complete, pm25, computed_at"
        " FROM air_station_daily WHERE station_id = %s AND day = %s", sid, day)
    return row


async def revisions(conn: AsyncConnection[Any], indicator: str, **key: Any
                    ) -> list[tuple[Any, ...]]:
    return await fetch(
        conn, "SELECT changes, reason FROM indicator_revisions WHERE indicator = %s"
        " AND key @> %s::jsonb ORDER BY revision_id",
        indicator, json.dumps({k: str(v) for k, v in key.items()}))


async def test_daily_indicators_equal_the_standards_result(db_conn: AsyncConnection[Any]) -> None:
    await add_stations(db_conn, [Station("agg-d1", "air", "D1", "agg-city-d", "east")])
    readings = air_day("agg-d1", DAY, 40)
    assert await write_and_drain(db_conn, readings) >= 1
    aqi, primary, complete, _, _ = await daily_row(db_conn, "agg-d1", DAY)
    expected = expected_daily(readings, DAY)
    assert expected.aqi is not None
    assert (aqi, tuple(primary), complete) == (expected.aqi, expected.primary, True)
    # the city and the county of a single station have the station's concentrations
    rows = await fetch(db_conn, "SELECT county, aqi, n_stations FROM air_region_daily"
                       " WHERE city = 'agg-city-d' AND day = %s ORDER BY county", DAY)
    assert rows == [("", expected.aqi, 1), ("east", expected.aqi, 1)]
    hourly = await fetch(db_conn, "SELECT count(*) FROM air_station_hourly"
                         " WHERE station_id = 'agg-d1'")
    assert hourly == [(24,)]


async def test_city_concentrations_are_means_of_station_values(
    db_conn: AsyncConnection[Any],
) -> None:
    await add_stations(db_conn, [Station("agg-c1", "air", "C1", "agg-city-c", "a"),
                                 Station("agg-c2", "air", "C2", "agg-city-c", "b")])
    await write_and_drain(db_conn, air_day("agg-c1", DAY, 20) + air_day("agg-c2", DAY, 100))
    got = await fetch(db_conn, "SELECT station_id, pm25 FROM air_station_daily"
                      " WHERE station_id IN ('agg-c1', 'agg-c2') ORDER BY 1")
    [(city_pm25, city_aqi, n)] = await fetch(
        db_conn, "SELECT pm25, aqi, n_stations FROM air_region_daily"
        " WHERE city = 'agg-city-c' AND county = '' AND day = %s", DAY)
    assert n == 2
    assert city_pm25 == pytest.approx(standards.city_mean(v for _, v in got))
    station_aqis = await fetch(db_conn, "SELECT aqi FROM air_station_daily"
                               " WHERE station_id IN ('agg-c1', 'agg-c2')")
    assert city_aqi not in {a for (a,) in station_aqis}  # AQI of the mean, not a station's


async def test_late_reading_updates_day_month_year_and_is_recorded(
    db_conn: AsyncConnection[Any],
) -> None:
    await add_stations(db_conn, [Station("agg-l1", "air", "L1", "agg-city-l", "")])
    late_hours = {1, 2, 3, 4, 5}
    first = air_day("agg-l1", DAY, 60, skip={"pm25": late_hours})
    await write_and_drain(db_conn, first)
    aqi0, _, complete0, pm25_0, at0 = await daily_row(db_conn, "agg-l1", DAY)
    assert (complete0, pm25_0) == (False, None)  # 19 PM2.5 hours < 20 (GB 3095 表4)
    periods0 = await fetch(db_conn, "SELECT period, valid_days FROM air_region_period"
                           " WHERE city = 'agg-city-l' ORDER BY period")
    assert periods0 == [("month", 0), ("year", 0)]
    await compress_history(db_conn)  # TimescaleDB: the late readings go into compressed chunks

    late = [r for r in air_day("agg-l1", DAY, 60) if r.parameter == "pm25"
            and (r.ts - day_hours(DAY)[0]) // timedelta(hours=1) in late_hours]
    await write_and_drain(db_conn, late)
    full = first + late
    expected = expected_daily(full, DAY)
    aqi1, primary1, complete1, pm25_1, at1 = await daily_row(db_conn, "agg-l1", DAY)
    assert (aqi1, tuple(primary1), complete1) == (expected.aqi, expected.primary, True)
    assert pm25_1 is not None and at1 > at0
    periods1 = await fetch(db_conn, "SELECT period, valid_days, good_days, good_ratio"
                           " FROM air_region_period WHERE city = 'agg-city-l' ORDER BY period")
    good = int(expected.aqi is not None and expected.aqi <= 100)
    assert periods1 == [("month", 1, good, 100.0 * good), ("year", 1, good, 100.0 * good)]
    [(changes, reason)] = await revisions(db_conn, "air_station_daily", station_id="agg-l1")
    assert changes["pm25"] == [None, pm25_1] and changes["complete"] == [False, True]
    assert changes.get("aqi", [aqi0, aqi0])[0] == aqi0
    assert reason.startswith("5 reading(s)")
    period_revs = await revisions(db_conn, "air_region_period", city="agg-city-l")
    assert {c["valid_days"][1] for c, _ in period_revs} == {1}


async def test_revised_value_is_recomputed_and_recorded(db_conn: AsyncConnection[Any]) -> None:
    await add_stations(db_conn, [Station("agg-r1", "air", "R1", "agg-city-r", "")])
    readings = air_day("agg-r1", DAY, 30)
    await write_and_drain(db_conn, readings)
    _, _, _, pm25_0, _ = await daily_row(db_conn, "agg-r1", DAY)
    await compress_history(db_conn)  # TimescaleDB: the revision updates a compressed chunk
    noon = day_hours(DAY)[12]
    audited = Reading("agg-r1", "pm25", "hour", noon, 900.0, "N", "import")
    await write_and_drain(db_conn, [audited])
    revised = [audited if r.key == audited.key else r for r in readings]
    _, _, _, pm25_1, _ = await daily_row(db_conn, "agg-r1", DAY)
    expected = standards.daily_mean(
        {r.ts: r.value for r in revised if r.parameter == "pm25"}, DAY)
    assert pm25_1 == pytest.approx(expected.value) and pm25_1 != pm25_0
    [(changes, reason)] = await revisions(db_conn, "air_station_daily", station_id="agg-r1")
    assert changes["pm25"] == [pm25_0, pm25_1]
    assert "1 of them revisions" in reason
    old_noon = next(r.value for r in readings if r.key == audited.key)
    # a station hourly value is the reading itself: its revision is audited with the reading
    audit = await fetch(db_conn, "SELECT old_value, new_value FROM reading_revisions"
                        " WHERE station_id = 'agg-r1' AND parameter = 'pm25'")
    assert audit == [(old_noon, 900.0)]
    assert await fetch(db_conn, "SELECT value, source FROM hourly_values WHERE station_id ="
                       " 'agg-r1' AND parameter = 'pm25' AND ts = %s", noon) == [(900.0, "hour")]
    # ... and the published hourly reports it enters (PM2.5 24-h moving averages from noon
    # on, HJ 633-2012 §5.1) record their revisions; the hours before noon are untouched
    cur = await db_conn.execute(
        "SELECT (key->>'ts')::timestamptz, reason FROM indicator_revisions"
        " WHERE indicator = 'air_station_hourly' AND key->>'station_id' = 'agg-r1'")
    hour_revs = await cur.fetchall()
    await db_conn.commit()
    assert hour_revs and all(ts >= noon and "1 of them revisions" in why
                             for ts, why in hour_revs)


async def test_flagged_readings_are_excluded_and_counted(db_conn: AsyncConnection[Any]) -> None:
    await add_stations(db_conn, [Station("agg-f1", "air", "F1", "agg-city-f", "")])
    readings = air_day("agg-f1", DAY, 50)
    calibrating = {r.key for r in readings if r.parameter == "so2"
                   and (r.ts - day_hours(DAY)[0]) < timedelta(hours=6)}
    flagged = [replace(r, value=r.value * 10, flag="C") if r.key in calibrating else r
               for r in readings]
    await write_and_drain(db_conn, flagged)
    counts = await fetch(db_conn, "SELECT parameter, flag, n FROM excluded_readings"
                         " WHERE station_id = 'agg-f1'")
    assert counts == [("so2", "C", 6)]
    [(so2,)] = await fetch(db_conn, "SELECT so2 FROM air_station_daily"
                           " WHERE station_id = 'agg-f1'")
    assert so2 is None  # 18 valid hours < 20 (GB 3095 表4)
    invalid = await fetch(db_conn, "SELECT count(*) FROM hourly_values WHERE station_id"
                          " = 'agg-f1' AND parameter = 'so2' AND NOT valid")
    assert invalid == [(6,)]


async def test_open_day_changes_without_revision(db_conn: AsyncConnection[Any]) -> None:
    """A day still running (provisional values) is not 'published': no revision entries."""
    await add_stations(db_conn, [Station("agg-o1", "air", "O1", "agg-city-o", "")])
    today = datetime.now(standards.BEIJING).date() + timedelta(days=1)  # surely not over
    readings = air_day("agg-o1", today, 30)
    await write_and_drain(db_conn, readings[:60])
    await write_and_drain(db_conn, readings[60:])
    assert await revisions(db_conn, "air_station_daily", station_id="agg-o1") == []
    [(complete,)] = await fetch(db_conn, "SELECT complete FROM air_station_daily"
                                " WHERE station_id = 'agg-o1'")
    assert complete is True


async def test_session_time_zone_does_not_matter(db_conn: AsyncConnection[Any]) -> None:
    """Timestamps come back in the session's zone; hours and days must not depend on it."""
    await add_stations(db_conn, [Station("agg-z1", "air", "Z1", "agg-city-z", "")])
    await db_conn.execute("SET TIME ZONE 'Asia/Kolkata'")  # UTC+05:30: hours not aligned
    readings = air_day("agg-z1", DAY, 45)
    await write_and_drain(db_conn, readings)
    aqi, primary, complete, _, _ = await daily_row(db_conn, "agg-z1", DAY)
    expected = expected_daily(readings, DAY)
    assert (aqi, tuple(primary), complete) == (expected.aqi, expected.primary, True)
    assert await fetch(db_conn, "SELECT count(*) FROM hourly_values WHERE station_id"
                       " = 'agg-z1' AND date_part('minute', ts AT TIME ZONE 'UTC') = 0"
                       ) == [(24 * 6,)]


async def test_backlog_newest_first_records_no_revisions(db_conn: AsyncConnection[Any]) -> None:
    """History drained newest day first, one day per batch: a region's real-time AQI of a
    day looks back into the previous day (2012 24-h moving averages), which is computed only
    in the next batch — the first values must already be right, not revised later."""
    await add_stations(db_conn, [Station("agg-h1", "air", "H1", "agg-city-h", "x"),
                                 Station("agg-h2", "air", "H2", "agg-city-h", "y")])
    days = [DAY + timedelta(days=i) for i in range(3)]
    await write(db_conn, [r for d in days for sid, base in (("agg-h1", 30), ("agg-h2", 70))
                          for r in air_day(sid, d, base)])
    assert await drain(db_conn, 2) >= 6
    assert await revisions(db_conn, "air_region_hourly", city="agg-city-h") == []
    assert await revisions(db_conn, "air_region_daily", city="agg-city-h") == []
    # full batches leave the period figures to the batch that empties the queue
    assert await revisions(db_conn, "air_region_period", city="agg-city-h") == []
    [(n,)] = await fetch(db_conn, "SELECT count(*) FROM air_region_hourly"
                         " WHERE city = 'agg-city-h' AND county = ''")
    assert n == 3 * 24
    month = await fetch(db_conn, "SELECT valid_days FROM air_region_period WHERE city ="
                        " 'agg-city-h' AND county = '' AND period = 'month'")
    assert month == [(3,)]
