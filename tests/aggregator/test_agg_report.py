"""``envmon report``: periods, air figures against the plan target, output formats."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result
from psycopg import AsyncConnection

from aggregator import standards
from aggregator.report import Period, PeriodKind, air_report, period_of
from aggregator.report_cli import flatten
from app.cli import main
from envmon.stations import Station
from ingest.reading import Reading
from tests.aggregator.agg_support import add_stations, day_hours, write_and_drain

pytestmark = pytest.mark.layouts  # plain and TimescaleDB (tests/layouts.py)


@pytest.mark.parametrize(
    ("kind", "text", "start", "end"),
    [
        ("day", "2015-03-01", date(2015, 3, 1), date(2015, 3, 2)),
        ("month", "2015-12", date(2015, 12, 1), date(2016, 1, 1)),
        ("quarter", "2016-Q1", date(2016, 1, 1), date(2016, 4, 1)),
        ("quarter", "2016-q4", date(2016, 10, 1), date(2017, 1, 1)),
        ("year", "2014", date(2014, 1, 1), date(2015, 1, 1)),
        ("ytd", "2016-02-29", date(2016, 1, 1), date(2016, 3, 1)),
    ],
)
def test_periods(kind: PeriodKind, text: str, start: date, end: date) -> None:
    assert period_of(kind, text) == Period(kind, start, end)


def test_bad_quarter() -> None:
    with pytest.raises(ValueError, match="quarter"):
        period_of("quarter", "2016-Q5")


def test_flatten_names_nested_statistics() -> None:
    row = {"scope": "X", "statistics": {"pm25": {"mean": 35.0, "p95": 75.0}}}
    assert flatten(row) == {"scope": "X", "statistics_pm25_mean": 35.0,
                            "statistics_pm25_p95": 75.0}


async def invoke(args: list[str]) -> Result:
    """Run the CLI in a thread: it starts its own event loop."""
    return await asyncio.to_thread(CliRunner().invoke, main, args)


def day_readings(sid: str, day: date, pm25: float) -> list[Reading]:
    values = {"pm25": pm25, "pm10": 60.0, "so2": 10.0, "no2": 30.0, "co": 0.6, "o3": 80.0}
    return [Reading(sid, p, "hour", ts, v, "N", "import")
            for ts in day_hours(day) for p, v in values.items()]


@pytest.mark.integration
async def test_air_report_json(db_conn: AsyncConnection[Any], database_url: str,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    await add_stations(db_conn, [Station("agg-p1", "air", "P1", "agg-city-p", "north")])
    first = date(2025, 3, 1)
    pm25 = [30.0, 90.0, 200.0, 20.0]  # good, light, heavy, good (HJ 633-2012 PM2.5 24-h)
    readings = [r for i, v in enumerate(pm25)
                for r in day_readings("agg-p1", first + timedelta(days=i), v)]
    await write_and_drain(db_conn, readings)
    monkeypatch.setenv("ENVMON_DATABASE_URL", database_url)
    result = await invoke(["report", "air", "--month", "2025-03", "--city", "agg-city-p",
                           "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    expected = standards.day_counts(
        [standards.daily_aqi({"pm25": v, "pm10": 60.0, "so2": 10.0, "no2": 30.0, "co": 0.6,
                              "o3_8h": 80.0, "o3_1h": 80.0}, day=first) for v in pm25])
    assert (doc["valid_days"], doc["good_days"], doc["heavy_days"]) == (
        expected.valid_days, expected.good_days, expected.heavy_days) == (4, 2, 1)
    assert doc["good_ratio"] == pytest.approx(50.0)
    target = standards.plan_target("air_good_day_ratio", 2025)
    assert doc["target_good_ratio"] == target
    assert doc["margin"] == pytest.approx(50.0 - (target or 0))
    assert doc["statistics"]["pm25"]["mean"] == pytest.approx(sum(pm25) / 4, abs=0.5)
    assert doc["statistics"]["pm25"]["valid"] is False  # 4 days: not a valid annual value
    csv_out = await invoke(["report", "air", "--month", "2025-03", "--station", "agg-p1",
                            "--format", "csv"])
    header, line = csv_out.output.splitlines()
    assert dict(zip(header.split(","), line.split(","), strict=True))["good_days"] == "2"


@pytest.mark.integration
async def test_2012_days_without_o3_1h_max_are_good_days(db_conn: AsyncConnection[Any]) -> None:
    """Issue 11: O3 missing 5 hours a day (19 valid: no daily O3 max 1-h, GB 3095 表4) but
    every 8-h window valid (MDA8, HJ 663 §6.1.2). HJ 633-2012 has no rule voiding such a day's
    AQI: it is stored from the six indicators present (``iaqi`` names them, ``complete`` is
    false) and the days count as valid, good days."""
    await add_stations(db_conn, [Station("agg-p2", "air", "P2", "agg-city-p2", "north")])
    first = date(2025, 5, 1)
    days = [first + timedelta(days=i) for i in range(5)]
    readings = [r for d in days for r in day_readings("agg-p2", d, 30.0)
                if not (r.parameter == "o3" and day_hours(d).index(r.ts) % 5 == 0)]
    await write_and_drain(db_conn, readings)
    cur = await db_conn.execute(
        "SELECT day, aqi, complete, o3_1h, iaqi FROM air_station_daily"
        " WHERE station_id = 'agg-p2' ORDER BY day")
    rows = await cur.fetchall()
    await db_conn.commit()
    assert [r[0] for r in rows] == days
    for _, aqi, complete, o3_1h, iaqi in rows:
        assert o3_1h is None and complete is False
        assert set(iaqi) == {"so2", "no2", "co", "pm10", "pm25", "o3_8h"}
        assert aqi == max(iaqi.values()) == standards.iaqi("pm10", "24h", 60, "2012")
    [doc] = await air_report(db_conn, period_of("month", "2025-05"), stations=["agg-p2"])
    assert (doc["valid_days"], doc["good_days"], doc["partial_days"]) == (5, 5, 5)
    assert doc["good_ratio"] == 100.0
