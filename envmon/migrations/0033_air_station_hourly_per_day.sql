-- air_station_hourly with one lookup per station-day instead of one per hour (docs/capacity.md,
-- "Hourly AQI view"). The 0021 view fetched each hour's concentrations with a correlated
-- subquery on hourly_values: per hour one probe of readings plus, for each rolled-up
-- parameter, the NOT EXISTS probe of readings that hides rollups behind reported hours. On
-- TimescaleDB each probe pays run-time chunk exclusion: a city's month took 5-9 s there.
-- A set-based join of all hours to all hourly values was tried and dropped: the planner
-- cannot estimate a range on the computed ts, so a few hours of many stations (Grafana) read
-- every hourly row of the table.
-- Now, per row of air_station_hours, day_values reads the day's hourly readings and rollup
-- of the six pollutants with one primary-key range scan each and pivots them per hour; it
-- is MATERIALIZED and read by a LATERAL per hour, so it runs only for days with an hour left
-- after the query's own filters (ts, station_id reach the hours as before), and once per day.
-- hourly_values' rule, inlined: a station's hourly reading wins over the rollup of the same
-- hour (valid only with flag N); otherwise the rollup counts when valid. Same rows as the
-- 0021 text on both layouts (tests/aggregator/test_hourly_views.py).
CREATE OR REPLACE VIEW air_station_hourly AS
    SELECT h.station_id, g.ts, h.rules, r.aqi, r.level, r.category, r.primary_pollutants,
           r.iaqi,
           CASE WHEN h.rules = '2012' THEN jsonb_build_object(
               'so2', g.so2, 'no2', g.no2, 'co', g.co, 'o3', g.o3,
               'o3_8h', NULLIF(h.concentrations[g.i][1], 'NaN'),
               'pm10_24h', NULLIF(h.concentrations[g.i][2], 'NaN'),
               'pm25_24h', NULLIF(h.concentrations[g.i][3], 'NaN'),
               'so2_24h', NULLIF(h.concentrations[g.i][4], 'NaN'))
           ELSE jsonb_build_object(
               'so2', g.so2, 'no2', g.no2, 'co', g.co, 'o3', g.o3, 'pm10', g.pm10,
               'pm25', g.pm25) END AS concentrations,
           h.computed_at
    FROM air_station_hours h
    CROSS JOIN LATERAL (
        WITH day_values AS MATERIALIZED (
            SELECT x.ts,
                   CASE WHEN bool_or(x.reported) FILTER (WHERE x.parameter = 'so2')
                        THEN max(x.value) FILTER (WHERE x.parameter = 'so2' AND x.reported
                                                  AND x.valid)
                        ELSE max(x.value) FILTER (WHERE x.parameter = 'so2' AND x.valid)
                   END AS so2,
                   CASE WHEN bool_or(x.reported) FILTER (WHERE x.parameter = 'no2')
                        THEN max(x.value) FILTER (WHERE x.parameter = 'no2' AND x.reported
                                                  AND x.valid)
                        ELSE max(x.value) FILTER (WHERE x.parameter = 'no2' AND x.valid)
                   END AS no2,
                   CASE WHEN bool_or(x.reported) FILTER (WHERE x.parameter = 'co')
                        THEN max(x.value) FILTER (WHERE x.parameter = 'co' AND x.reported
                                                  AND x.valid)
                        ELSE max(x.value) FILTER (WHERE x.parameter = 'co' AND x.valid)
                   END AS co,
                   CASE WHEN bool_or(x.reported) FILTER (WHERE x.parameter = 'o3')
                        THEN max(x.value) FILTER (WHERE x.parameter = 'o3' AND x.reported
                                                  AND x.valid)
                        ELSE max(x.value) FILTER (WHERE x.parameter = 'o3' AND x.valid)
                   END AS o3,
                   CASE WHEN bool_or(x.reported) FILTER (WHERE x.parameter = 'pm10')
                        THEN max(x.value) FILTER (WHERE x.parameter = 'pm10' AND x.reported
                                                  AND x.valid)
                        ELSE max(x.value) FILTER (WHERE x.parameter = 'pm10' AND x.valid)
                   END AS pm10,
                   CASE WHEN bool_or(x.reported) FILTER (WHERE x.parameter = 'pm25')
                        THEN max(x.value) FILTER (WHERE x.parameter = 'pm25' AND x.reported
                                                  AND x.valid)
                        ELSE max(x.value) FILTER (WHERE x.parameter = 'pm25' AND x.valid)
                   END AS pm25
            FROM (
                SELECT r.parameter, r.ts, r.value, r.flag = 'N' AS valid, true AS reported
                FROM readings r
                WHERE r.station_id = h.station_id AND r.interval = 'hour'
                  AND r.parameter IN ('so2', 'no2', 'co', 'o3', 'pm10', 'pm25')
                  AND r.ts >= h.day::timestamp AT TIME ZONE 'Asia/Shanghai'
                  AND r.ts < (h.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai'
                UNION ALL
                SELECT u.parameter, u.ts, u.value, u.valid, false
                FROM hourly_rollup u
                WHERE u.station_id = h.station_id
                  AND u.parameter IN ('so2', 'no2', 'co', 'o3', 'pm10', 'pm25')
                  AND u.ts >= h.day::timestamp AT TIME ZONE 'Asia/Shanghai'
                  AND u.ts < (h.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai') x
            GROUP BY x.ts)
        SELECT i, t.ts, v.so2, v.no2, v.co, v.o3, v.pm10, v.pm25
        FROM generate_series(1, 24) AS i
        CROSS JOIN LATERAL (
            SELECT (h.day + make_interval(hours => i - 1)) AT TIME ZONE 'Asia/Shanghai' AS ts) t
        LEFT JOIN LATERAL (SELECT * FROM day_values d WHERE d.ts = t.ts) v ON true
        WHERE h.hours[i] & 1 <> 0) g
    CROSS JOIN LATERAL air_hour_report(h.hours[g.i], h.iaqi[g.i][1], h.iaqi[g.i][2]) AS r;
