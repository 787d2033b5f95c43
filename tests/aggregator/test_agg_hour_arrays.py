"""Compact hourly AQI storage (aggregator/compute/hour_reports.py packs,
aggregator/store/hour_arrays.py stores; migration 0021): what the views
show equals what was computed, unchanged days are not rewritten, a changed published hour is
a revision, a day without reports has no row."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pytest
from psycopg import AsyncConnection

from aggregator import standards
from aggregator.compute.air_arrays import HOURLY_CONCENTRATIONS, HOURLY_INDICATORS
from aggregator.compute.hour_reports import HourBlocks, hour_report, pack_hours, pack_iaqi
from aggregator.store.hour_arrays import REGION_HOURS, STATION_HOURS, BlockTable, sync_blocks
from tests.aggregator.agg_support import day_hours, fetch

pytestmark = pytest.mark.layouts  # plain and TimescaleDB (tests/layouts.py)

DAY = date(2025, 6, 1)


def blocks(key: tuple[str, ...], seed: int, days: int = 2, regional: bool = False,
           aqi_at: dict[tuple[int, int], int] | None = None) -> HourBlocks:
    rng = np.random.default_rng(seed)
    present = rng.random((days, 24)) < 0.8
    aqi = np.where(rng.random((days, 24)) < 0.1, -1, rng.integers(0, 501, (days, 24)))
    for (d, h), value in (aqi_at or {}).items():
        present[d, h], aqi[d, h] = True, value
    iaqi = np.where(rng.random((days, 24, 9)) < 0.2, -1, rng.integers(0, 501, (days, 24, 9)))
    conc = np.where(rng.random((days, 24, 10)) < 0.2, np.nan,
                    np.round(rng.random((days, 24, 10)) * 300, 1))
    return HourBlocks(
        key, DAY, ["2012", "2026"][:days] if days == 2 else ["2012"] * days,
        pack_hours(present, aqi, rng.integers(0, 1 << 9, (days, 24))),
        pack_iaqi(iaqi), conc,
        rng.integers(1, 9, (days, 24)).astype(np.int16) if regional else None,
    )


def stored(table: BlockTable, b: HourBlocks, d: int) -> tuple[np.ndarray[Any, Any], ...]:
    cols = [HOURLY_CONCENTRATIONS.index(c) for c in table.columns]
    out = (b.hours[d], b.iaqi[d], b.concentrations[d][:, cols])
    return out if b.n_stations is None else (*out, b.n_stations[d])


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
    one_hour = {"2012": ("so2", "no2", "co", "o3"),
                "2026": ("so2", "no2", "co", "o3", "pm10", "pm25")}
    for d in range(2):
        for h, ts in enumerate(day_hours(date(2025, 6, 1 + d))):
            if b.present[d, h]:
                r = hour_report(STATION_HOURS, b.rules[d], stored(STATION_HOURS, b, d), h)
                # a station's 1-h concentrations are its hourly values (none here)
                shown = {**dict.fromkeys(one_hour[b.rules[d]]), **r["concentrations"]}
                expected[ts] = (r["rules"], r["aqi"], r["level"], r["category"],
                                r["primary_pollutants"], r["iaqi"], shown)
    assert got == expected
    assert len(got) == int(b.present.sum())


@pytest.mark.parametrize("aqi", [0, 50, 51, 100, 101, 150, 151, 200, 201, 300, 301, 500])
async def test_view_category_is_the_hj633_table2_name(
    db_conn: AsyncConnection[Any], aqi: int
) -> None:
    """HJ 633 表2: the view's category name for a level equals the standards library's."""
    b = blocks((f"agg-hb-c{aqi}",), 2, days=1, aqi_at={(0, 5): aqi})
    b.hours[0, :5] &= ~1
    b.hours[0, 6:] &= ~1
    async with db_conn.transaction():
        await sync_blocks(db_conn, STATION_HOURS, [b], {b.key: [DAY]}, no_reason,
                          datetime.now(UTC))
    [(category,)] = await fetch(db_conn, "SELECT category FROM air_station_hourly"
                                " WHERE station_id = %s", b.key[0])
    assert category == standards.category(aqi).name


async def test_unchanged_days_are_kept_and_a_changed_hour_is_a_revision(
    db_conn: AsyncConnection[Any],
) -> None:
    b = blocks(("agg-hb2",), 3, aqi_at={(0, 3): 60})
    days = {b.key: [DAY, DAY.replace(day=2)]}
    async with db_conn.transaction():
        await sync_blocks(db_conn, STATION_HOURS, [b], days, no_reason, datetime.now(UTC))
    async with db_conn.transaction():
        again = await sync_blocks(db_conn, STATION_HOURS, [b], days, no_reason,
                                  datetime.now(UTC))
    assert (again.unchanged, again.inserted, again.updated, again.revised) == (2, 0, 0, 0)
    before = hour_report(STATION_HOURS, b.rules[0], stored(STATION_HOURS, b, 0), 3)
    b.hours[0, 3] = pack_hours(np.array([True]), np.array([77]),
                               np.array([b.hours[0, 3] >> 14]))[0]
    async with db_conn.transaction():
        changed = await sync_blocks(db_conn, STATION_HOURS, [b], days, no_reason,
                                    datetime.now(UTC))
    assert (changed.updated, changed.unchanged, changed.revised) == (1, 1, 1)
    ts = day_hours(DAY)[3]
    [(changes, reason)] = await fetch(
        db_conn, "SELECT changes, reason FROM indicator_revisions WHERE indicator ="
        " 'air_station_hourly' AND key = %s::jsonb",
        f'{{"station_id": "agg-hb2", "ts": "{ts.isoformat()}"}}')
    assert before["aqi"] == 60 and changes["aqi"] == [60, 77] and "level" not in changes
    assert reason == "test"


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
    b.hours[:] &= ~1
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
