"""The hourly views as migration 0021 defined them, as temporary views ``before_<name>``: the
oracle that the definitions of migration 0033 must agree with row for row (and the
baseline of bench/hourly_views.py). The SQL is read from the migration file itself, so the
oracle is the text that ran in production, not a copy of it."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection

from envmon import storage

MIGRATION = (Path(__file__).resolve().parents[2]
             / "envmon/migrations/0021_aggregator_compact_hours.sql")
VIEWS = ("hourly_values", "noise_station_hourly", "air_station_hourly", "air_region_hourly")


def before_sql() -> dict[str, str]:
    """The SELECT of each view in migration 0021, reading ``before_hourly_values``."""
    text = MIGRATION.read_text()
    out = {}
    for name in VIEWS:
        match = re.search(rf"CREATE (?:OR REPLACE )?VIEW {name} AS(.*?);", text, re.S)
        assert match, f"{name} not found in {MIGRATION.name}"
        out[name] = re.sub(r"\bhourly_values\b", "before_hourly_values", match.group(1))
    return out


async def create_before_views(conn: AsyncConnection[Any]) -> None:
    """``before_<view>`` for every view of :data:`VIEWS`, for this session only."""
    for name, select in before_sql().items():
        create = f"CREATE OR REPLACE TEMP VIEW before_{name} AS {select}"
        await conn.execute(create)


# A city of air stations (odd: hourly readings; even: minute readings rolled up, some hours
# also reported hourly, which win) and noise stations (the last one minute data), with
# missing and flagged hours and missing or NaN report hours; deterministic, no random().
FILL = """
INSERT INTO stations (station_id, kind, name, city, county, noise_zone)
SELECT %(p)s || 'a' || lpad(s::text, 2, '0'), 'air', 'air ' || s, %(p)s || 'city',
       CASE WHEN s %% 2 = 0 THEN 'c2' ELSE 'c1' END, NULL
FROM generate_series(1, %(air)s) s
UNION ALL
SELECT %(p)s || 'n' || lpad(s::text, 2, '0'), 'noise', 'noise ' || s, %(p)s || 'city', 'c1', '1'
FROM generate_series(1, %(noise)s) s;

CREATE TEMP TABLE fill_series ON COMMIT DROP AS
SELECT st.station_id, st.kind, st.n, p.parameter, p.k,
       (st.kind = 'air' AND st.n %% 2 = 0) OR (st.kind = 'noise' AND st.n = %(noise)s) AS minute
FROM (SELECT station_id, kind, right(station_id, 2)::int AS n FROM stations
      WHERE station_id LIKE %(p)s || '%%') st
JOIN (VALUES ('air', 'so2', 1), ('air', 'no2', 2), ('air', 'co', 3), ('air', 'o3', 4),
             ('air', 'pm10', 5), ('air', 'pm25', 6), ('noise', 'leq', 1),
             ('noise', 'lmax', 2), ('noise', 'lmin', 3)) p(kind, parameter, k)
  ON p.kind = st.kind;

CREATE TEMP TABLE fill_hours ON COMMIT DROP AS
SELECT t, (extract(epoch FROM t) / 3600)::bigint AS e
FROM generate_series((%(start)s::date)::timestamp AT TIME ZONE 'Asia/Shanghai',
                     (%(start)s::date + %(days)s)::timestamp AT TIME ZONE 'Asia/Shanghai'
                     - interval '1 hour', interval '1 hour') t;

INSERT INTO readings (station_id, parameter, interval, ts, value, flag, source)
SELECT f.station_id, f.parameter, 'hour', h.t,
       round((40 + 25 * sin(h.e / 7.0 + f.n + f.k))::numeric, 1),
       CASE WHEN (h.e + f.n * 3 + f.k) %% 29 = 0 THEN 'F' ELSE 'N' END, 'bench'
FROM fill_series f, fill_hours h
WHERE (NOT f.minute OR h.e %% 11 = 0) AND (h.e + f.n * 5 + f.k * 7) %% 31 <> 0;

INSERT INTO readings (station_id, parameter, interval, ts, value, flag, source)
SELECT f.station_id, f.parameter, 'min', h.t + m * interval '1 minute',
       round((40 + 25 * sin(h.e / 7.0 + f.n + f.k) + m %% 7)::numeric, 1),
       CASE WHEN (h.e + f.n + f.k + m) %% 97 = 0 THEN 'C' ELSE 'N' END, 'bench'
FROM fill_series f, fill_hours h, generate_series(0, 59) m
WHERE f.minute AND (h.e + f.n) %% 23 <> 0 AND ((h.e + f.k) %% 13 <> 0 OR m < 30);

INSERT INTO hourly_rollup (station_id, parameter, ts, value, valid, source, n_samples,
                           n_excluded)
SELECT r.station_id, r.parameter, date_trunc('hour', r.ts),
       avg(r.value) FILTER (WHERE r.flag = 'N'), count(*) FILTER (WHERE r.flag = 'N') >= 45,
       'min', count(*) FILTER (WHERE r.flag = 'N'), count(*) FILTER (WHERE r.flag <> 'N')
FROM readings r JOIN fill_series f USING (station_id, parameter)
WHERE r.interval = 'min' AND f.minute
GROUP BY 1, 2, 3;

INSERT INTO air_station_hours (station_id, day, rules, hours, iaqi, concentrations)
SELECT s.station_id, d.day, CASE WHEN d.day < '2026-03-01' THEN '2012' ELSE '2026' END,
       ARRAY(SELECT CASE WHEN (s.n + i + x) %% 19 = 0 THEN 0
                         ELSE 1 | ((30 + (s.n * i + x) %% 150) << 1)
                              | ((1 + (s.n + i) %% 6) << 11) | ((1 << ((s.n + i) %% 9)) << 14)
                    END
             FROM generate_series(1, 24) i ORDER BY i),
       ARRAY(SELECT ARRAY[(31 + i)::bigint | ((41 + s.n)::bigint << 10)
                          | ((51 + x)::bigint << 50), (61 + i)::bigint]
             FROM generate_series(1, 24) i ORDER BY i),
       ARRAY(SELECT ARRAY[(i + 0.5)::float8,
                          CASE WHEN i %% 5 = 0 THEN 'NaN' ELSE s.n + 0.1 END, 7.25, x]
             FROM generate_series(1, 24) i ORDER BY i)
FROM (SELECT station_id, right(station_id, 2)::int AS n FROM stations
      WHERE station_id LIKE %(p)s || 'a%%') s,
     (SELECT %(start)s::date + x AS day, x FROM generate_series(0, %(days)s - 1) x) d;

INSERT INTO air_region_hours (city, county, day, rules, hours, iaqi, concentrations,
                              n_stations)
SELECT %(p)s || 'city', c.county, d.day,
       CASE WHEN d.day < '2026-03-01' THEN '2012' ELSE '2026' END,
       ARRAY(SELECT CASE WHEN (c.n + i + x) %% 17 = 0 THEN 0
                         ELSE 1 | ((20 + (c.n * i + x) %% 200) << 1) | ((1 + i %% 6) << 11)
                    END
             FROM generate_series(1, 24) i ORDER BY i),
       ARRAY(SELECT ARRAY[(11 + i)::bigint, (21 + c.n)::bigint] FROM generate_series(1, 24) i
             ORDER BY i),
       ARRAY(SELECT ARRAY(SELECT CASE WHEN (j + i) %% 4 = 0 THEN 'NaN' ELSE j * 1.5 + i END
                          FROM generate_series(1, 10) j ORDER BY j)::float8[]
             FROM generate_series(1, 24) i ORDER BY i),
       ARRAY(SELECT (3 + (i + c.n) %% 3)::smallint FROM generate_series(1, 24) i ORDER BY i)
FROM (VALUES ('', 0), ('c1', 1), ('c2', 2)) c(county, n),
     (SELECT %(start)s::date + x AS day, x FROM generate_series(0, %(days)s - 1) x) d;
"""


async def fill_city(conn: AsyncConnection[Any], prefix: str, air: int, noise: int,
                    start: str, days: int) -> None:
    """Stations, readings, rollup and hourly reports of a city ``prefix``city, from the Beijing
    day ``start`` on for ``days`` days; analysed and committed."""
    first = date.fromisoformat(start) - timedelta(days=1)  # Beijing midnight is UTC 16:00
    if await storage.is_partitioned(conn):
        await storage.ensure_partitions(
            conn, [first + timedelta(days=d) for d in range(days + 1)])
    params = {"p": prefix, "air": air, "noise": noise, "start": start, "days": days}
    for statement in FILL.split(";\n\n"):
        await conn.execute(statement, params)
    await conn.commit()
    for table in ("readings", "hourly_rollup", "air_station_hours", "air_region_hours",
                  "stations"):
        await conn.execute(f"ANALYZE {table}")
    await conn.commit()
