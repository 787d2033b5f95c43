-- air_station_hourly without a lookup into hourly_values per hour (docs/capacity.md, "Hourly
-- AQI view"). The 0021 view fetched each hour's concentrations with a correlated subquery on
-- hourly_values: per hour one probe of readings plus, for each rolled-up parameter, the
-- NOT EXISTS probe of readings that hides rollups behind reported hours. On TimescaleDB each
-- probe pays run-time chunk exclusion: a city's month took 5-9 s there, 1-3 s on plain.
-- Now the hours (g) are joined to the hourly readings and the rollup in one join and grouped
-- per hour; the planner hash- or merge-joins a whole range with one scan of each, or probes
-- per hour (by primary key, without the NOT EXISTS) where it expects few hours (one station's
-- day). Filters on station_id and ts reach the join as before, but a range on the computed ts
-- cannot be estimated: a few hours of many stations are read with a scan too (numbers in
-- docs/capacity.md). The report's packed numbers are read from air_station_hours by its key
-- after the grouping, so the join and the grouping carry a few scalars, not the day's arrays.
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
    FROM (
        SELECT d.station_id, d.day, i, t.ts,
               CASE WHEN bool_or(x.reported) FILTER (WHERE x.parameter = 'so2')
                    THEN max(x.value) FILTER (WHERE x.parameter = 'so2' AND x.reported AND x.valid)
                    ELSE max(x.value) FILTER (WHERE x.parameter = 'so2' AND x.valid) END AS so2,
               CASE WHEN bool_or(x.reported) FILTER (WHERE x.parameter = 'no2')
                    THEN max(x.value) FILTER (WHERE x.parameter = 'no2' AND x.reported AND x.valid)
                    ELSE max(x.value) FILTER (WHERE x.parameter = 'no2' AND x.valid) END AS no2,
               CASE WHEN bool_or(x.reported) FILTER (WHERE x.parameter = 'co')
                    THEN max(x.value) FILTER (WHERE x.parameter = 'co' AND x.reported AND x.valid)
                    ELSE max(x.value) FILTER (WHERE x.parameter = 'co' AND x.valid) END AS co,
               CASE WHEN bool_or(x.reported) FILTER (WHERE x.parameter = 'o3')
                    THEN max(x.value) FILTER (WHERE x.parameter = 'o3' AND x.reported AND x.valid)
                    ELSE max(x.value) FILTER (WHERE x.parameter = 'o3' AND x.valid) END AS o3,
               CASE WHEN bool_or(x.reported) FILTER (WHERE x.parameter = 'pm10')
                    THEN max(x.value) FILTER (WHERE x.parameter = 'pm10' AND x.reported AND x.valid)
                    ELSE max(x.value) FILTER (WHERE x.parameter = 'pm10' AND x.valid) END AS pm10,
               CASE WHEN bool_or(x.reported) FILTER (WHERE x.parameter = 'pm25')
                    THEN max(x.value) FILTER (WHERE x.parameter = 'pm25' AND x.reported AND x.valid)
                    ELSE max(x.value) FILTER (WHERE x.parameter = 'pm25' AND x.valid) END AS pm25
        FROM air_station_hours d
        CROSS JOIN LATERAL generate_series(1, 24) AS i
        CROSS JOIN LATERAL (
            SELECT (d.day + make_interval(hours => i - 1)) AT TIME ZONE 'Asia/Shanghai' AS ts) t
        LEFT JOIN (
            SELECT r.station_id, r.parameter, r.ts, r.value, r.flag = 'N' AS valid,
                   true AS reported
            FROM readings r WHERE r.interval = 'hour'
            UNION ALL
            SELECT u.station_id, u.parameter, u.ts, u.value, u.valid, false
            FROM hourly_rollup u) x
          ON x.station_id = d.station_id AND x.ts = t.ts
            AND x.parameter IN ('so2', 'no2', 'co', 'o3', 'pm10', 'pm25')
        WHERE d.hours[i] & 1 <> 0
        GROUP BY d.station_id, d.day, i, t.ts) g
    JOIN air_station_hours h ON h.station_id = g.station_id AND h.day = g.day
    CROSS JOIN LATERAL air_hour_report(h.hours[g.i], h.iaqi[g.i][1], h.iaqi[g.i][2]) AS r;
