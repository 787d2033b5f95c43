-- air_station_hourly without a lookup per hour (docs/capacity.md "Hourly views"). The 0021
-- view fetched each hour's concentrations with a correlated subquery on hourly_values: one
-- probe of readings (plus, for rolled-up hours, one NOT EXISTS probe per parameter) per
-- hour. On TimescaleDB every probe pays run-time chunk exclusion, so a city's month took
-- 5-9 s there against 1-3 s on plain PostgreSQL. Here the hours are joined to hourly_values
-- and grouped: the planner can hash-join the whole range at once, or still probe per hour
-- when the query asks for a few hours (the station/time filters reach the join, as before).
-- Same rows on both layouts (tests/aggregator/test_hourly_views.py against the 0021 text).
CREATE OR REPLACE VIEW air_station_hourly AS
    SELECT g.station_id, g.ts, g.rules, r.aqi, r.level, r.category, r.primary_pollutants,
           r.iaqi,
           CASE WHEN g.rules = '2012' THEN jsonb_build_object(
               'so2', g.so2, 'no2', g.no2, 'co', g.co, 'o3', g.o3,
               'o3_8h', NULLIF(g.c1, 'NaN'), 'pm10_24h', NULLIF(g.c2, 'NaN'),
               'pm25_24h', NULLIF(g.c3, 'NaN'), 'so2_24h', NULLIF(g.c4, 'NaN'))
           ELSE jsonb_build_object(
               'so2', g.so2, 'no2', g.no2, 'co', g.co, 'o3', g.o3, 'pm10', g.pm10,
               'pm25', g.pm25) END AS concentrations,
           g.computed_at
    FROM (
        SELECT h.station_id, t.ts, h.rules, h.hours[i] AS head, h.iaqi[i][1] AS iaqi_a,
               h.iaqi[i][2] AS iaqi_b, h.concentrations[i][1] AS c1,
               h.concentrations[i][2] AS c2, h.concentrations[i][3] AS c3,
               h.concentrations[i][4] AS c4, h.computed_at,
               max(x.value) FILTER (WHERE x.parameter = 'so2') AS so2,
               max(x.value) FILTER (WHERE x.parameter = 'no2') AS no2,
               max(x.value) FILTER (WHERE x.parameter = 'co') AS co,
               max(x.value) FILTER (WHERE x.parameter = 'o3') AS o3,
               max(x.value) FILTER (WHERE x.parameter = 'pm10') AS pm10,
               max(x.value) FILTER (WHERE x.parameter = 'pm25') AS pm25
        FROM air_station_hours h
        CROSS JOIN LATERAL generate_series(1, 24) AS i
        CROSS JOIN LATERAL (
            SELECT (h.day + make_interval(hours => i - 1)) AT TIME ZONE 'Asia/Shanghai' AS ts) t
        LEFT JOIN hourly_values x ON x.station_id = h.station_id AND x.ts = t.ts AND x.valid
            AND x.parameter IN ('so2', 'no2', 'co', 'o3', 'pm10', 'pm25')
        WHERE h.hours[i] & 1 <> 0
        GROUP BY h.station_id, h.day, i, t.ts) g
    CROSS JOIN LATERAL air_hour_report(g.head, g.iaqi_a, g.iaqi_b) AS r;
