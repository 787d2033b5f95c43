-- Read-only views over the aggregator tables for dashboards and analysts
-- (docs/schema-aggregator.md). Counts only: rates and shares are computed by the standards
-- library (envmon report), so a view never disagrees with a report.

-- Hourly noise levels of functional-zone points: the hourly rollup's Leq/Lmax/Lmin.
CREATE OR REPLACE VIEW noise_station_hourly AS
    SELECT h.station_id, h.ts,
           max(h.value) FILTER (WHERE h.parameter = 'leq' AND h.valid)  AS leq,
           max(h.value) FILTER (WHERE h.parameter = 'lmax' AND h.valid) AS lmax,
           max(h.value) FILTER (WHERE h.parameter = 'lmin' AND h.valid) AS lmin,
           bool_or(h.valid) FILTER (WHERE h.parameter = 'leq')          AS leq_valid
    FROM hourly_values h JOIN stations s USING (station_id)
    WHERE s.kind = 'noise'
    GROUP BY h.station_id, h.ts;

-- Region rows: county = '' is the whole city (as in air_region_daily).

-- Water sections per region and month: how many graded, in class I-III, worse than V.
CREATE OR REPLACE VIEW water_region_monthly AS
    SELECT s.city, r.county, m.month,
           count(*) FILTER (WHERE m.water_class IS NOT NULL)  AS sections,
           count(*) FILTER (WHERE m.water_class <= 3)         AS sections_i_iii,
           count(*) FILTER (WHERE m.water_class = 6)          AS sections_worse_v,
           count(*) FILTER (WHERE m.compliant)                AS sections_meeting_target
    FROM water_station_monthly m
    JOIN stations s USING (station_id)
    CROSS JOIN LATERAL (SELECT '' AS county UNION SELECT s.county) AS r
    WHERE s.city <> ''
    GROUP BY s.city, r.county, m.month;

-- Noise points per region and day: monitored and compliant point-days, day and night.
CREATE OR REPLACE VIEW noise_region_daily AS
    SELECT s.city, r.county, d.day,
           count(*) FILTER (WHERE d.day_ok IS NOT NULL)    AS day_points,
           count(*) FILTER (WHERE d.day_ok)                AS day_compliant,
           count(*) FILTER (WHERE d.night_ok IS NOT NULL)  AS night_points,
           count(*) FILTER (WHERE d.night_ok)              AS night_compliant
    FROM noise_station_daily d
    JOIN stations s USING (station_id)
    CROSS JOIN LATERAL (SELECT '' AS county UNION SELECT s.county) AS r
    WHERE s.city <> ''
    GROUP BY s.city, r.county, d.day;
