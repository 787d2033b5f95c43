"""Compact hourly AQI storage (aggregator/hour_blocks.py, migration 0021): what the views
show equals what was computed, unchanged days are not rewritten, a changed published hour is
a revision, a day without reports has no row."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pytest
from psycopg import AsyncConnection

from aggregator import standards
from aggregator.air_grid import HOURLY_CONCENTRATIONS, HOURLY_INDICATORS
from aggregator.hour_blocks import REGION_HOURS, STATION_HOURS, HourBlocks, hour_report, sync_blocks
from tests.aggregator.agg_support import day_hours, fetch

DAY = date(2025, 6, 1)


def blocks(key: tuple[str, ...], seed: int, days: int = 2, regional: bool = False) -> HourBlocks:
    rng = np.random.default_rng(seed)
    present = rng.random((days, 24)) < 0.8
    aqi = np.where(rng.random((days, 24)) < 0.1, -1, rng.integers(0, 501, (days, 24)))
    level = np.array([[standards.category(a).level if a >= 0 else -1 for a in row]
                      for row in aqi])
    iaqi = np.where(rng.random((days, 24, 9)) < 0.2, -1, rng.integers(0, 501, (days, 24, 9)))
    conc = np.where(rng.random((days, 24, 10)) < 0.2, np.nan,
                    np.round(rng.random((days, 24, 10)) * 300, 1))
    return HourBlocks(
        key, DAY, ["2012", "2026"][:days] if days == 2 else ["2012"] * days,
        present, aqi.astype(np.int16), level.astype(np.int16),
        rng.integers(0, 1 << 9, (days, 24)).astype(np.int16),
        iaqi.astype(np.int16), conc,
        rng.integers(1, 9, (days, 24)).astype(np.int16) if regional else None,
    )


async def no_reason(row: dict[str, Any], previous: datetime) -> str:
    return "test"


async def view_rows(conn: AsyncConnection[Any], station_id: str) -> dict[datetime, Any]:
    cur = await conn.execute(
        "SELECT ts, rules, aqi, level, category, primary_pollutants, iaqi, concentrations"
        " FROM air_station_hourly WHERE station_id = %s ORDER BY ts", (station_id,))
    rows = await cur.fetchall()
    await conn.commit()
    return {r[0]: r[1:] for r in rows}


async def test_station_view_shows_each_present_hour_as_computed(
    db_conn: AsyncConnection[Any],
) -> None:
    b = blocks(("agg-hb1",), 1)
    async with db_conn.transaction():
        stats = await sync_blocks(db_conn, STATION_HOURS, [b], {b.key: [DAY, DAY.replace(day=2)]},
                                  no_reason, datetime.now(UTC))
    assert stats.inserted == 2
    got = await view_rows(db_conn, "agg-hb1")
    expected = {}
    for d in range(2):
        arrays = (b.present[d], b.aqi[d], b.level[d], b.primary_mask[d], b.iaqi[d],
                  b.concentrations[d])
        for h, ts in enumerate(day_hours(date(2025, 6, 1 + d))):
            if b.present[d, h]:
                r = hour_report(b.rules[d], arrays, h)
                expected[ts] = (r["rules"], r["aqi"], r["level"], r["category"],
                                r["primary_pollutants"], r["iaqi"], r["concentrations"])
    assert got == expected
    assert len(got) == int(b.present.sum())


@pytest.mark.parametrize("aqi", [0, 50, 51, 100, 101, 150, 151, 200, 201, 300, 301, 500])
async def test_view_category_is_the_hj633_table2_name(
    db_conn: AsyncConnection[Any], aqi: int
) -> None:
    """HJ 633 表2: the view's category name for a level equals the standards library's."""
    b = blocks((f"agg-hb-c{aqi}",), 2, days=1)
    b.present[0, :] = False
    b.present[0, 5] = True
    b.aqi[0, 5] = aqi
    b.level[0, 5] = standards.category(aqi).level
    async with db_conn.transaction():
        await sync_blocks(db_conn, STATION_HOURS, [b], {b.key: [DAY]}, no_reason,
                          datetime.now(UTC))
    [(category,)] = await fetch(db_conn, "SELECT category FROM air_station_hourly"
                                " WHERE station_id = %s", b.key[0])
    assert category == standards.category(aqi).name


async def test_unchanged_days_are_kept_and_a_changed_hour_is_a_revision(
    db_conn: AsyncConnection[Any],
) -> None:
    b = blocks(("agg-hb2",), 3)
    b.present[0, 3] = True
    days = {b.key: [DAY, DAY.replace(day=2)]}
    async with db_conn.transaction():
        await sync_blocks(db_conn, STATION_HOURS, [b], days, no_reason, datetime.now(UTC))
    async with db_conn.transaction():
        again = await sync_blocks(db_conn, STATION_HOURS, [b], days, no_reason,
                                  datetime.now(UTC))
    assert (again.unchanged, again.inserted, again.updated, again.revised) == (2, 0, 0, 0)
    before = hour_report(b.rules[0], (b.present[0], b.aqi[0], b.level[0], b.primary_mask[0],
                                      b.iaqi[0], b.concentrations[0]), 3)
    b.aqi[0, 3] = 77 if before["aqi"] != 77 else 78
    b.level[0, 3] = 2
    async with db_conn.transaction():
        changed = await sync_blocks(db_conn, STATION_HOURS, [b], days, no_reason,
                                    datetime.now(UTC))
    assert (changed.updated, changed.unchanged, changed.revised) == (1, 1, 1)
    ts = day_hours(DAY)[3]
    [(changes, reason)] = await fetch(
        db_conn, "SELECT changes, reason FROM indicator_revisions WHERE indicator ="
        " 'air_station_hourly' AND key = %s::jsonb",
        f'{{"station_id": "agg-hb2", "ts": "{ts.isoformat()}"}}')
    assert changes["aqi"] == [before["aqi"], int(b.aqi[0, 3])] and reason == "test"


async def test_region_day_without_reports_is_deleted(db_conn: AsyncConnection[Any]) -> None:
    b = blocks(("agg-hb-city", ""), 4, days=1, regional=True)
    async with db_conn.transaction():
        await sync_blocks(db_conn, REGION_HOURS, [b], {b.key: [DAY]}, no_reason,
                          datetime.now(UTC))
    [(n, stations)] = await fetch(db_conn, "SELECT count(*), array_agg(n_stations ORDER BY ts)"
                                  " FROM air_region_hourly WHERE city = 'agg-hb-city'")
    assert n == int(b.present.sum())
    assert b.n_stations is not None
    assert stations == [int(v) for v, p in zip(b.n_stations[0], b.present[0], strict=True) if p]
    b.present[:] = False
    async with db_conn.transaction():
        gone = await sync_blocks(db_conn, REGION_HOURS, [b], {b.key: [DAY]}, no_reason,
                                 datetime.now(UTC))
    assert gone.deleted == 1
    assert await fetch(db_conn, "SELECT count(*) FROM air_region_hours"
                       " WHERE city = 'agg-hb-city'") == [(0,)]


def test_indicator_order_matches_the_migration() -> None:
    """The views decode iaqi/primary_mask/concentrations by position (migration 0021)."""
    assert HOURLY_INDICATORS == ("so2", "no2", "co", "o3", "pm10", "pm25", "o3_8h",
                                 "pm10_24h", "pm25_24h")
    assert HOURLY_CONCENTRATIONS[:-1] == HOURLY_INDICATORS
    assert HOURLY_CONCENTRATIONS[-1] == "so2_24h"
