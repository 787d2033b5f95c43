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

-- One row per station and Beijing day; element i (1-based) of every array is the hour
-- starting at day 00:00 + (i - 1) h Beijing time. Indicator order of iaqi and primary_mask
-- (aggregator/air_grid.py HOURLY_INDICATORS): so2 no2 co o3 pm10 pm25 o3_8h pm10_24h
-- pm25_24h; concentrations add so2_24h. -1 = no value (aqi: NA), NaN = no concentration.
DROP TABLE air_station_hourly;
DROP TABLE air_region_hourly;
CREATE TABLE air_station_hours (
    station_id      text NOT NULL,
    day             date NOT NULL,
    rules           text NOT NULL,
    present         boolean[] NOT NULL,
    aqi             smallint[] NOT NULL,
    level           smallint[] NOT NULL,
    primary_mask    smallint[] NOT NULL,
    iaqi            smallint[] NOT NULL,
    concentrations  double precision[] NOT NULL,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, day)
);
CREATE TABLE air_region_hours (
    city            text NOT NULL,
    county          text NOT NULL,
    day             date NOT NULL,
    rules           text NOT NULL,
    present         boolean[] NOT NULL,
    aqi             smallint[] NOT NULL,
    level           smallint[] NOT NULL,
    primary_mask    smallint[] NOT NULL,
    iaqi            smallint[] NOT NULL,
    concentrations  double precision[] NOT NULL,
    n_stations      smallint[] NOT NULL,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (city, county, day)
);

-- One hourly report per row, as before. category: HJ 633 表2 names by level (a test checks
-- them against aggregator/standards/aqi_tables.toml).
CREATE FUNCTION air_hours_report(
    rules text, i integer, aqi smallint[], level smallint[], mask smallint[], iaqi smallint[],
    c double precision[]
) RETURNS TABLE (aqi integer, level smallint, category text, primary_pollutants text[],
                 iaqi jsonb, concentrations jsonb)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT NULLIF(aqi[i], -1)::integer,
           NULLIF(level[i], -1),
           (ARRAY['优', '良', '轻度污染', '中度污染', '重度污染', '严重污染'])[NULLIF(level[i], -1)],
           ARRAY(SELECT n FROM unnest(ARRAY['so2', 'no2', 'co', 'o3', 'pm10', 'pm25', 'o3_8h',
                                            'pm10_24h', 'pm25_24h']) WITH ORDINALITY AS u(n, k)
                 WHERE mask[i] & (1 << (k::int - 1)) <> 0 ORDER BY k),
           jsonb_strip_nulls(jsonb_build_object(
               'so2', NULLIF(iaqi[i][1], -1), 'no2', NULLIF(iaqi[i][2], -1),
               'co', NULLIF(iaqi[i][3], -1), 'o3', NULLIF(iaqi[i][4], -1),
               'pm10', NULLIF(iaqi[i][5], -1), 'pm25', NULLIF(iaqi[i][6], -1),
               'o3_8h', NULLIF(iaqi[i][7], -1), 'pm10_24h', NULLIF(iaqi[i][8], -1),
               'pm25_24h', NULLIF(iaqi[i][9], -1))),
           CASE WHEN rules = '2012' THEN jsonb_build_object(
               'so2', NULLIF(c[i][1], 'NaN'), 'no2', NULLIF(c[i][2], 'NaN'),
               'co', NULLIF(c[i][3], 'NaN'), 'o3', NULLIF(c[i][4], 'NaN'),
               'o3_8h', NULLIF(c[i][7], 'NaN'), 'pm10_24h', NULLIF(c[i][8], 'NaN'),
               'pm25_24h', NULLIF(c[i][9], 'NaN'), 'so2_24h', NULLIF(c[i][10], 'NaN'))
           ELSE jsonb_build_object(
               'so2', NULLIF(c[i][1], 'NaN'), 'no2', NULLIF(c[i][2], 'NaN'),
               'co', NULLIF(c[i][3], 'NaN'), 'o3', NULLIF(c[i][4], 'NaN'),
               'pm10', NULLIF(c[i][5], 'NaN'), 'pm25', NULLIF(c[i][6], 'NaN')) END
$$;

CREATE VIEW air_station_hourly AS
    SELECT h.station_id,
           (h.day + make_interval(hours => i - 1)) AT TIME ZONE 'Asia/Shanghai' AS ts,
           h.rules, r.aqi, r.level, r.category, r.primary_pollutants, r.iaqi,
           r.concentrations, h.computed_at
    FROM air_station_hours h
    CROSS JOIN LATERAL generate_series(1, 24) AS i
    CROSS JOIN LATERAL air_hours_report(h.rules, i, h.aqi, h.level, h.primary_mask,
                                        h.iaqi, h.concentrations) AS r
    WHERE h.present[i];

CREATE VIEW air_region_hourly AS
    SELECT h.city, h.county,
           (h.day + make_interval(hours => i - 1)) AT TIME ZONE 'Asia/Shanghai' AS ts,
           h.rules, r.aqi, r.level, r.category, r.primary_pollutants, r.iaqi,
           r.concentrations, h.n_stations[i]::integer AS n_stations, h.computed_at
    FROM air_region_hours h
    CROSS JOIN LATERAL generate_series(1, 24) AS i
    CROSS JOIN LATERAL air_hours_report(h.rules, i, h.aqi, h.level, h.primary_mask,
                                        h.iaqi, h.concentrations) AS r
    WHERE h.present[i];

-- The hourly reports dropped above are rebuilt by the aggregator from the readings.
INSERT INTO dirty_days (station_id, day)
    SELECT station_id, day FROM air_station_daily ON CONFLICT DO NOTHING;
