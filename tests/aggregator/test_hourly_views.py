"""The hourly views of migration 0033 give the rows of their 0021 definitions, on both layouts.

The oracle is the 0021 SELECT text itself (tests/aggregator/hourly_views_support.py), run as a
temporary view next to the migrated one over a city with hourly and minute stations, flagged
and missing hours, rolled-up hours overridden by hourly readings, report hours left out and
NaN concentrations, across the 2026-03-01 rule switch; TimescaleDB with compressed chunks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, LiteralString

import pytest
from psycopg import AsyncConnection

from tests import layouts
from tests.aggregator.hourly_views_support import create_before_views, fill_city

pytestmark = [pytest.mark.layouts, pytest.mark.asyncio]

PREFIX = "hvw"
# (view, filter): the whole city, and the narrow reads of the web API and Grafana.
READS: list[tuple[LiteralString, LiteralString]] = [
    ("air_station_hourly", "station_id LIKE 'hvw%'"),
    ("air_station_hourly",
     "station_id = 'hvwa02' AND ts >= '2026-02-28 00:00+08' AND ts < '2026-03-01 06:00+08'"),
    ("air_station_hourly", "station_id IN (SELECT station_id FROM stations"
     " WHERE city = 'hvwcity') AND ts BETWEEN '2026-03-01 00:00+08' AND '2026-03-02 00:00+08'"),
    ("air_region_hourly", "city = 'hvwcity'"),
    ("noise_station_hourly", "station_id LIKE 'hvw%'"),
    ("hourly_values", "station_id LIKE 'hvw%'"),
]


async def rows(conn: AsyncConnection[Any], view: LiteralString,
               where: LiteralString) -> list[tuple[Any, ...]]:
    cur = await conn.execute(
        "SELECT * FROM " + view + " WHERE " + where + " ORDER BY 1, 2, 3")  # noqa: S608
    return await cur.fetchall()


async def test_views_equal_their_0021_definitions(db_conn: AsyncConnection[Any],
                                                  db_layout: str) -> None:
    await fill_city(db_conn, PREFIX, air=4, noise=2, start="2026-02-24", days=6)
    await layouts.compress_history(db_conn, datetime(2026, 2, 27, tzinfo=UTC))
    await create_before_views(db_conn)
    for view, where in READS:
        got = await rows(db_conn, view, where)
        assert got, (view, where)
        assert got == await rows(db_conn, "before_" + view, where), (view, where)

    # the data exercise what the views decide: both rule sets, present and absent values,
    # hours left out of a report, hourly readings winning over rolled-up hours
    station = await rows(db_conn, "air_station_hourly", READS[0][1])
    assert {r[2] for r in station} == {"2012", "2026"}
    concentrations = [r[8] for r in station]
    assert any(c["so2"] is None for c in concentrations)
    assert sum(c["so2"] is not None for c in concentrations) > len(station) // 2
    assert len(station) < 4 * 6 * 24
    cur = await db_conn.execute(
        "SELECT count(*) FILTER (WHERE source = 'hour' AND station_id = 'hvwa02'),"
        " count(*) FILTER (WHERE source = 'min'), count(*) FILTER (WHERE NOT valid)"
        " FROM hourly_values WHERE station_id LIKE 'hvw%'")
    overriding, rolled_up, invalid = await cur.fetchone() or (0, 0, 0)
    assert overriding > 0 and rolled_up > 0 and invalid > 0
    cur = await db_conn.execute(  # a flagged hourly reading hides a valid rollup of its hour
        "SELECT count(*) FROM readings r JOIN hourly_rollup u USING (station_id, parameter, ts)"
        " WHERE r.station_id LIKE 'hvwa%' AND r.interval = 'hour' AND r.flag <> 'N' AND u.valid")
    assert (await cur.fetchone() or (0,))[0] > 0
    if db_layout == "timescale":
        assert await layouts.compressed_chunks(db_conn) > 0
