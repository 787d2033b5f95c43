-- Compact hourly storage (docs/schema-aggregator.md). A year of hourly data for 100 stations
-- is 5 million hourly values and 876 000 hourly AQI reports: copying the station-reported
-- hourly readings into hourly_values and writing one row per hourly report cost more than all
-- the arithmetic. Now:
--  * hourly_rollup keeps only hours DERIVED from minute/real-time readings; hourly_values is
--    a view: station hourly readings as they are (they win, aggregator/hourly.py), else the
--    rollup. Revisions of reported hourly values are audited in reading_revisions.
--  * hourly AQI reports are stored one row per station (region) and Beijing day, as arrays
--    over the 24 hours; air_station_hourly / air_region_hourly are views with the columns
--    they always had.

ALTER TABLE hourly_values RENAME TO hourly_rollup;
ALTER TABLE hourly_rollup RENAME CONSTRAINT hourly_values_pkey TO hourly_rollup_pkey;
DELETE FROM hourly_rollup WHERE source = 'hour';
ALTER TABLE hourly_rollup DROP CONSTRAINT IF EXISTS hourly_values_source_check;
ALTER TABLE hourly_rollup ADD CONSTRAINT hourly_rollup_derived CHECK (source IN ('rt', 'min'));

-- valid = the reading's flag lets it enter statistics: only N (aggregator/flags.py).
CREATE VIEW hourly_values AS
    SELECT r.station_id, r.parameter, r.ts,
           CASE WHEN r.flag = 'N' THEN r.value END AS value,
           r.flag = 'N' AS valid, 'hour'::text AS source, 1 AS n_samples,
           (r.flag <> 'N')::int AS n_excluded, r.received_at AS computed_at
    FROM readings r WHERE r.interval = 'hour'
    UNION ALL
    SELECT h.station_id, h.parameter, h.ts, h.value, h.valid, h.source, h.n_samples,
           h.n_excluded, h.computed_at
    FROM hourly_rollup h
    WHERE NOT EXISTS (SELECT 1 FROM readings r WHERE r.station_id = h.station_id
                      AND r.parameter = h.parameter AND r.interval = 'hour' AND r.ts = h.ts);

CREATE OR REPLACE VIEW noise_station_hourly AS
    SELECT h.station_id, h.ts,
           max(h.value) FILTER (WHERE h.parameter = 'leq' AND h.valid)  AS leq,
           max(h.value) FILTER (WHERE h.parameter = 'lmax' AND h.valid) AS lmax,
           max(h.value) FILTER (WHERE h.parameter = 'lmin' AND h.valid) AS lmin,
           bool_or(h.valid) FILTER (WHERE h.parameter = 'leq')          AS leq_valid
    FROM hourly_values h JOIN stations s USING (station_id)
    WHERE s.kind = 'noise'
    GROUP BY h.station_id, h.ts;

-- One row per station (region) and Beijing day; element i (1-based) of every array is the
-- hour starting at day 00:00 + (i - 1) h Beijing time. Small numbers are packed (a day is
-- one row of a few hundred array elements; aggregator/hour_blocks.py writes and reads them):
--   hours[i]: bit 0 = the hour has a report, bits 1-10 = AQI + 1 (0 = NA), bits 11-13 = HJ 633
--     level, bits 14-22 = primary pollutants, a bit per indicator;
--   iaqi[i][1..2]: IAQI + 1 (0 = none) of indicator k (0-based) in bits 10*(k%6) of
--     element k/6 + 1;
--   indicator order (aggregator/air_grid.py HOURLY_INDICATORS): so2 no2 co o3 pm10 pm25 o3_8h
--     pm10_24h pm25_24h;
--   concentrations[i][..]: stations: o3_8h pm10_24h pm25_24h so2_24h (their 1-h values are
--     their hourly values); regions: so2 no2 co o3 pm10 pm25 o3_8h pm10_24h pm25_24h so2_24h
--     (NaN = none).
DROP TABLE air_station_hourly;
DROP TABLE air_region_hourly;
CREATE TABLE air_station_hours (
    station_id      text NOT NULL,
    day             date NOT NULL,
    rules           text NOT NULL,
    hours           integer[] NOT NULL,
    iaqi            bigint[] NOT NULL,
    concentrations  double precision[] NOT NULL,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, day)
);
CREATE TABLE air_region_hours (
    city            text NOT NULL,
    county          text NOT NULL,
    day             date NOT NULL,
    rules           text NOT NULL,
    hours           integer[] NOT NULL,
    iaqi            bigint[] NOT NULL,
    concentrations  double precision[] NOT NULL,
    n_stations      smallint[] NOT NULL,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (city, county, day)
);

-- The report of one hour from its packed numbers. category: HJ 633 表2 names by level (a
-- test checks them against aggregator/standards/aqi_tables.toml).
CREATE FUNCTION air_hour_report(head integer, iaqi_a bigint, iaqi_b bigint)
RETURNS TABLE (aqi integer, level smallint, category text, primary_pollutants text[],
               iaqi jsonb)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT NULLIF((head >> 1) & 1023, 0) - 1,
           NULLIF((head >> 11) & 7, 0)::smallint,
           (ARRAY['优', '良', '轻度污染', '中度污染', '重度污染', '严重污染'])[
               NULLIF((head >> 11) & 7, 0)],
           ARRAY(SELECT n FROM unnest(ARRAY['so2', 'no2', 'co', 'o3', 'pm10', 'pm25', 'o3_8h',
                                            'pm10_24h', 'pm25_24h']) WITH ORDINALITY AS u(n, k)
                 WHERE (head >> 14) & (1 << (k::int - 1)) <> 0 ORDER BY k),
           jsonb_strip_nulls(jsonb_build_object(
               'so2', NULLIF(iaqi_a & 1023, 0) - 1,
               'no2', NULLIF((iaqi_a >> 10) & 1023, 0) - 1,
               'co', NULLIF((iaqi_a >> 20) & 1023, 0) - 1,
               'o3', NULLIF((iaqi_a >> 30) & 1023, 0) - 1,
               'pm10', NULLIF((iaqi_a >> 40) & 1023, 0) - 1,
               'pm25', NULLIF((iaqi_a >> 50) & 1023, 0) - 1,
               'o3_8h', NULLIF(iaqi_b & 1023, 0) - 1,
               'pm10_24h', NULLIF((iaqi_b >> 10) & 1023, 0) - 1,
               'pm25_24h', NULLIF((iaqi_b >> 20) & 1023, 0) - 1))
$$;

CREATE VIEW air_station_hourly AS
    SELECT h.station_id, t.ts, h.rules, r.aqi, r.level, r.category, r.primary_pollutants,
           r.iaqi,
           CASE WHEN h.rules = '2012' THEN jsonb_build_object(
               'so2', v.so2, 'no2', v.no2, 'co', v.co, 'o3', v.o3,
               'o3_8h', NULLIF(h.concentrations[i][1], 'NaN'),
               'pm10_24h', NULLIF(h.concentrations[i][2], 'NaN'),
               'pm25_24h', NULLIF(h.concentrations[i][3], 'NaN'),
               'so2_24h', NULLIF(h.concentrations[i][4], 'NaN'))
           ELSE jsonb_build_object(
               'so2', v.so2, 'no2', v.no2, 'co', v.co, 'o3', v.o3, 'pm10', v.pm10,
               'pm25', v.pm25) END AS concentrations,
           h.computed_at
    FROM air_station_hours h
    CROSS JOIN LATERAL generate_series(1, 24) AS i
    CROSS JOIN LATERAL (
        SELECT (h.day + make_interval(hours => i - 1)) AT TIME ZONE 'Asia/Shanghai' AS ts) t
    CROSS JOIN LATERAL air_hour_report(h.hours[i], h.iaqi[i][1], h.iaqi[i][2]) AS r
    CROSS JOIN LATERAL (
        SELECT max(x.value) FILTER (WHERE x.parameter = 'so2') AS so2,
               max(x.value) FILTER (WHERE x.parameter = 'no2') AS no2,
               max(x.value) FILTER (WHERE x.parameter = 'co') AS co,
               max(x.value) FILTER (WHERE x.parameter = 'o3') AS o3,
               max(x.value) FILTER (WHERE x.parameter = 'pm10') AS pm10,
               max(x.value) FILTER (WHERE x.parameter = 'pm25') AS pm25
        FROM hourly_values x
        WHERE x.station_id = h.station_id AND x.ts = t.ts AND x.valid
          AND x.parameter IN ('so2', 'no2', 'co', 'o3', 'pm10', 'pm25')) AS v
    WHERE h.hours[i] & 1 = 1;

CREATE VIEW air_region_hourly AS
    SELECT h.city, h.county, t.ts, h.rules, r.aqi, r.level, r.category, r.primary_pollutants,
           r.iaqi,
           CASE WHEN h.rules = '2012' THEN jsonb_build_object(
               'so2', NULLIF(c[1], 'NaN'), 'no2', NULLIF(c[2], 'NaN'),
               'co', NULLIF(c[3], 'NaN'), 'o3', NULLIF(c[4], 'NaN'),
               'o3_8h', NULLIF(c[7], 'NaN'), 'pm10_24h', NULLIF(c[8], 'NaN'),
               'pm25_24h', NULLIF(c[9], 'NaN'), 'so2_24h', NULLIF(c[10], 'NaN'))
           ELSE jsonb_build_object(
               'so2', NULLIF(c[1], 'NaN'), 'no2', NULLIF(c[2], 'NaN'),
               'co', NULLIF(c[3], 'NaN'), 'o3', NULLIF(c[4], 'NaN'),
               'pm10', NULLIF(c[5], 'NaN'), 'pm25', NULLIF(c[6], 'NaN')) END
               AS concentrations,
           h.n_stations[i]::integer AS n_stations, h.computed_at
    FROM air_region_hours h
    CROSS JOIN LATERAL generate_series(1, 24) AS i
    CROSS JOIN LATERAL (
        SELECT (h.day + make_interval(hours => i - 1)) AT TIME ZONE 'Asia/Shanghai' AS ts) t
    CROSS JOIN LATERAL air_hour_report(h.hours[i], h.iaqi[i][1], h.iaqi[i][2]) AS r
    CROSS JOIN LATERAL (SELECT ARRAY(SELECT unnest(h.concentrations[i:i][1:10])) AS c) AS a
    WHERE h.hours[i] & 1 = 1;

-- The hourly reports dropped above are rebuilt by the aggregator from the readings.
INSERT INTO dirty_days (station_id, day)
    SELECT station_id, day FROM air_station_daily ON CONFLICT DO NOTHING;
