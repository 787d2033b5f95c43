"""What is a revision and what is not, in the real database (issue 11).

A revision is a change to a value that had been published (committed after its period
ended). Every new day of a month changes that month's water class; a value that only
ever existed inside the batch computing it was never published.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from psycopg import AsyncConnection

from aggregator.service import drain
from envmon.stations import Station
from ingest.reading import Reading
from tests.aggregator.agg_support import add_stations, day_hours, fetch, write, write_and_drain
from tests.aggregator.test_agg_recompute import air_day
from tests.call_count import count_calls

pytestmark = pytest.mark.integration
MONTH = date(2025, 9, 1)
WATER = {"ph": 7.6, "do": 7.5, "codmn": 3.1, "nh3n": 0.4, "tp": 0.12, "temp": 18.0}


def water_day(sid: str, day: date, scale: float = 1.0) -> list[Reading]:
    return [Reading(sid, p, "hour", ts, round(v * scale, 3), "N", "import")
            for ts in day_hours(day)[::4] for p, v in WATER.items()]


async def test_second_water_day_of_a_past_month_revises_its_monthly_class(
    db_conn: AsyncConnection[Any],
) -> None:
    """The crash of issue 11: the monthly row of a finished month is revised by its second
    day, and the revision's reason must be worked out for a month key (not a day or hour)."""
    await add_stations(db_conn, [Station("agg-rw1", "water", "RW1", "agg-city-rw",
                                         water_target_class=3, water_body="river")])
    await write_and_drain(db_conn, water_day("agg-rw1", MONTH))
    await write_and_drain(db_conn, water_day("agg-rw1", MONTH + timedelta(days=1), 1.2))
    assert await fetch(db_conn, "SELECT station_id, error FROM failed_days"
                       " WHERE station_id = 'agg-rw1'") == []
    assert await fetch(db_conn, "SELECT n_days FROM water_station_monthly"
                       " WHERE station_id = 'agg-rw1'") == [(2,)]
    [(reason,)] = await fetch(
        db_conn, "SELECT reason FROM indicator_revisions WHERE indicator ="
        " 'water_station_monthly' AND key->>'station_id' = 'agg-rw1'")
    assert reason.startswith("36 reading(s) received")  # day 2: 6 parameters x 6 hours


async def test_first_computation_around_a_failing_day_records_no_revision(
    db_conn: AsyncConnection[Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch of history with one station-day that cannot be computed (a noise point
    without a functional zone): the others are computed once, in few attempts (bisection,
    not one by one), and values that never left the batch are not 'revised'."""
    from aggregator import recompute

    air = [f"agg-bs{i}" for i in range(8)]
    await add_stations(db_conn, [Station(s, "air", s, "agg-city-bs", f"c{i % 2}")
                                 for i, s in enumerate(air)]
                       + [Station("agg-bs-noise", "noise", "N")])
    days = [MONTH + timedelta(days=i) for i in range(4)]
    await write(db_conn, [r for d in days for i, s in enumerate(air)
                          for r in air_day(s, d, 20.0 + i)]
                + [Reading("agg-bs-noise", "leq", "hour", ts, 50.0, "N", "import")
                   for ts in day_hours(days[0])])
    attempts = count_calls(monkeypatch, recompute, "recompute")
    assert await drain(db_conn) == 33
    assert await fetch(db_conn, "SELECT station_id FROM failed_days"
                       " WHERE station_id LIKE 'agg-bs%%'") == [("agg-bs-noise",)]
    # 33 station-days, 1 failing: the whole batch, then halves down to the culprit
    assert attempts.n <= 1 + 2 * 6
    assert await fetch(db_conn, "SELECT indicator, count(*) FROM indicator_revisions"
                       " WHERE key->>'city' = 'agg-city-bs' GROUP BY 1") == []
    assert await fetch(db_conn, "SELECT valid_days FROM air_region_period WHERE city ="
                       " 'agg-city-bs' AND county = '' AND period = 'month'") == [(4,)]
    await db_conn.execute("DELETE FROM failed_days WHERE station_id = 'agg-bs-noise'")
    await db_conn.commit()


async def test_water_month_drained_over_several_batches_is_computed_once(
    db_conn: AsyncConnection[Any],
) -> None:
    """History of a section drained newest first in batches of two days: the month's class
    waits until none of its days is queued, instead of being published from the newest
    days and then 'revised' by the older ones (a simulated year showed one per section)."""
    await add_stations(db_conn, [Station("agg-rw2", "water", "RW2", "agg-city-rw2",
                                         water_target_class=3, water_body="river")])
    days = [MONTH + timedelta(days=10 + i) for i in range(4)]
    await write(db_conn, [r for i, d in enumerate(days) for r in water_day("agg-rw2", d,
                                                                          1 + i / 10)])
    assert await drain(db_conn, 2) == 4
    assert await fetch(db_conn, "SELECT n_days FROM water_station_monthly"
                       " WHERE station_id = 'agg-rw2'") == [(4,)]
    assert await fetch(db_conn, "SELECT count(*) FROM indicator_revisions"
                       " WHERE key->>'station_id' = 'agg-rw2'") == [(0,)]
