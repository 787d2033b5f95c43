"""End to end on real data: one Beijing PRSA station's 2015 imported with ``envmon import``,
recomputed by the aggregator and reported by ``envmon report`` — compared with the standards
library applied directly to the CSV rows (no database, no aggregator code in between).

The data are the slice in ``tests/data/beijing-prsa`` (source and licence in its README); the
whole dataset (12 files, 2014-2016 reports) is ``bench/beijing_reports.sh``.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from psycopg import AsyncConnection

from aggregator import standards
from aggregator.service import drain
from app.cli import main
from envmon.stations import Station
from tests.aggregator.agg_support import add_stations, daily_values, fetch

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
FILE = REPO / "tests/data/beijing-prsa/PRSA_Data_Dongsi_20130301-20170228.csv.gz"
COLUMNS = {"PM2.5": "pm25", "PM10": "pm10", "SO2": "so2", "NO2": "no2", "CO": "co", "O3": "o3"}
YEAR = 2015


def expected_from_csv() -> tuple[standards.DayCounts, dict[str, float]]:
    """Day counts and annual means of 2015 straight from the CSV, via the standards."""
    series: dict[str, dict[datetime, float | None]] = {p: {} for p in COLUMNS.values()}
    with gzip.open(FILE, "rt", newline="") as fh:
        for row in csv.DictReader(fh):
            start = datetime(int(row["year"]), int(row["month"]), int(row["day"]),
                             int(row["hour"]), tzinfo=standards.BEIJING)
            for column, p in COLUMNS.items():
                if row[column] != "NA":
                    series[p][start] = float(row[column]) / (1000 if p == "co" else 1)
    reports = []
    daily: dict[str, dict[date, float]] = {p: {} for p in ("so2", "no2", "co", "pm10", "pm25",
                                                           "o3")}
    day = date(YEAR, 1, 1)
    while day.year == YEAR:
        values = daily_values(series, day)
        reports.append(standards.daily_aqi(values, day=day))
        for p, key in (("so2", "so2"), ("no2", "no2"), ("pm10", "pm10"), ("pm25", "pm25"),
                       ("co", "co"), ("o3", "o3_8h")):
            value = values[key]
            if value is not None:
                daily[p][day] = value
        day += timedelta(days=1)
    means = {}
    for p in ("so2", "no2", "pm10", "pm25"):
        stats = standards.annual_statistics(p, daily[p], YEAR)  # type: ignore[arg-type]
        means[p] = next(float(s.reported) for s in stats if s.statistic == "mean"
                        and s.reported is not None)
    return standards.day_counts(reports), means


async def cli(args: list[str]) -> Any:
    return await asyncio.to_thread(CliRunner().invoke, main, args)


async def test_dongsi_2015_matches_the_standards_on_the_raw_csv(
    db_conn: AsyncConnection[Any], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = "agg-bj-Dongsi"
    await add_stations(db_conn, [Station(sid, "air", "Dongsi", "agg-bj", "Dongcheng")])
    monkeypatch.setenv("ENVMON_DATABASE_URL", database_url)
    imported = await cli(["import", "--quiet", "--mapping", str(REPO / "bench/beijing-prsa.toml"),
                          "--station-prefix", "agg-bj-", str(FILE)])
    assert imported.exit_code == 0, imported.output
    assert "inserted 96112" in imported.output  # non-NA values of the 11 mapped columns
    # recompute 2015 only (the rest of the four years would only make the test slower)
    await db_conn.execute("DELETE FROM dirty_days WHERE station_id = %s AND"
                          " (day < %s OR day > %s)", (sid, date(YEAR, 1, 1), date(YEAR, 12, 31)))
    await db_conn.commit()
    assert await drain(db_conn, 400) >= 365
    result = await cli(["report", "air", "--year", str(YEAR), "--station", sid,
                        "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    counts, means = expected_from_csv()
    assert (doc["valid_days"], doc["good_days"], doc["heavy_days"]) == (
        counts.valid_days, counts.good_days, counts.heavy_days)
    assert doc["good_ratio"] == pytest.approx(counts.good_ratio)
    for p, mean in means.items():
        assert doc["statistics"][p]["mean"] == mean
    city = await fetch(db_conn, "SELECT count(*) FROM air_region_daily WHERE city = 'agg-bj'"
                       " AND county = '' AND day BETWEEN %s AND %s",
                       date(YEAR, 1, 1), date(YEAR, 12, 31))
    assert city == [(365,)]
