-- Aggregator: hourly rollup of readings, indicator tables per station and region, period
-- figures and the revision log of indicators. Public interface: docs/schema-aggregator.md.
-- Every indicator row carries computed_at; rows are rewritten only when a value changes.

-- Hourly values derived from readings (station hourly values as they are, else the mean of
-- minute/real-time readings with the validity rule). One row per station, parameter, hour
-- start (UTC). value is NULL when no valid sample exists; valid=false rows keep the mean of
-- the valid samples for display but never enter an indicator.
CREATE TABLE IF NOT EXISTS hourly_values (
    station_id   text NOT NULL,
    parameter    text NOT NULL,
    ts           timestamptz NOT NULL,
    value        double precision,
    valid        boolean NOT NULL,
    source       text NOT NULL CHECK (source IN ('rt', 'min', 'hour')),
    n_samples    integer NOT NULL,
    n_excluded   integer NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, ts, parameter)
);

-- Readings excluded from statistics by their HJ 212 data flag, per station, Beijing day,
-- parameter and flag (aggregator/flags.py says which flags exclude and why).
CREATE TABLE IF NOT EXISTS excluded_readings (
    station_id  text NOT NULL,
    day         date NOT NULL,
    parameter   text NOT NULL,
    flag        text NOT NULL,
    n           integer NOT NULL,
    PRIMARY KEY (station_id, day, parameter, flag)
);

-- Air. Region rows: county = '' is the whole city. primary_pollutants are indicator names
-- (pm25, o3_8h, ...); aqi/level NULL = NA (HJ 633-2026 5.3.1).
CREATE TABLE IF NOT EXISTS air_station_hourly (
    station_id          text NOT NULL,
    ts                  timestamptz NOT NULL,
    rules               text NOT NULL,
    aqi                 integer,
    level               smallint,
    category            text,
    primary_pollutants  text[] NOT NULL,
    iaqi                jsonb NOT NULL,
    concentrations      jsonb NOT NULL,
    computed_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, ts)
);

CREATE TABLE IF NOT EXISTS air_region_hourly (
    city                text NOT NULL,
    county              text NOT NULL,
    ts                  timestamptz NOT NULL,
    rules               text NOT NULL,
    aqi                 integer,
    level               smallint,
    category            text,
    primary_pollutants  text[] NOT NULL,
    iaqi                jsonb NOT NULL,
    concentrations      jsonb NOT NULL,
    n_stations          integer NOT NULL,
    computed_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (city, county, ts)
);

CREATE TABLE IF NOT EXISTS air_station_daily (
    station_id          text NOT NULL,
    day                 date NOT NULL,
    rules               text NOT NULL,
    aqi                 integer,
    level               smallint,
    category            text,
    primary_pollutants  text[] NOT NULL,
    complete            boolean NOT NULL,
    so2                 double precision,
    no2                 double precision,
    co                  double precision,
    pm10                double precision,
    pm25                double precision,
    o3_8h               double precision,
    o3_1h               double precision,
    iaqi                jsonb NOT NULL,
    computed_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, day)
);

CREATE TABLE IF NOT EXISTS air_region_daily (
    city                text NOT NULL,
    county              text NOT NULL,
    day                 date NOT NULL,
    rules               text NOT NULL,
    aqi                 integer,
    level               smallint,
    category            text,
    primary_pollutants  text[] NOT NULL,
    complete            boolean NOT NULL,
    so2                 double precision,
    no2                 double precision,
    co                  double precision,
    pm10                double precision,
    pm25                double precision,
    o3_8h               double precision,
    o3_1h               double precision,
    iaqi                jsonb NOT NULL,
    n_stations          integer NOT NULL,
    computed_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (city, county, day)
);
CREATE INDEX IF NOT EXISTS air_region_daily_day ON air_region_daily (day);

-- Water (GB 3838-2002, single-factor evaluation). water_class 1..5, 6 = worse than V.
-- exceeding: {parameter: exceedance multiple against the station's target class}.
CREATE TABLE IF NOT EXISTS water_station_hourly (
    station_id   text NOT NULL,
    ts           timestamptz NOT NULL,
    water_class  smallint,
    class_label  text,
    compliant    boolean,
    exceeding    jsonb NOT NULL,
    means        jsonb NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, ts)
);

CREATE TABLE IF NOT EXISTS water_station_daily (
    station_id   text NOT NULL,
    day          date NOT NULL,
    water_class  smallint,
    class_label  text,
    compliant    boolean,
    exceeding    jsonb NOT NULL,
    means        jsonb NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, day)
);

CREATE TABLE IF NOT EXISTS water_station_monthly (
    station_id   text NOT NULL,
    month        date NOT NULL,
    water_class  smallint,
    class_label  text,
    compliant    boolean,
    exceeding    jsonb NOT NULL,
    means        jsonb NOT NULL,
    n_days       integer NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, month)
);

-- Noise (GB 3096-2008): hourly Leq from the hourly values table; daily Ld/Ln and compliance.
CREATE TABLE IF NOT EXISTS noise_station_daily (
    station_id     text NOT NULL,
    day            date NOT NULL,
    zone           text NOT NULL,
    ld             double precision,
    ln             double precision,
    ldn            double precision,
    n_day          integer NOT NULL,
    n_night        integer NOT NULL,
    night_lmax     double precision,
    day_ok         boolean,
    night_ok       boolean,
    night_lmax_ok  boolean,
    computed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, day)
);

-- Air period figures (month, year) per region, kept current as days change; the year row is
-- the year-to-date figure while the year runs. scope: 'city' or 'county'.
CREATE TABLE IF NOT EXISTS air_region_period (
    city           text NOT NULL,
    county         text NOT NULL,
    period         text NOT NULL CHECK (period IN ('month', 'year')),
    period_start   date NOT NULL,
    valid_days     integer NOT NULL,
    good_days      integer NOT NULL,
    polluted_days  integer NOT NULL,
    heavy_days     integer NOT NULL,
    good_ratio     double precision,
    computed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (city, county, period, period_start)
);

-- Revision log: an indicator value that changed after its period had ended and it had been
-- computed then (a published value). key/changes are JSON so one table serves all indicators.
CREATE TABLE IF NOT EXISTS indicator_revisions (
    revision_id        bigserial PRIMARY KEY,
    indicator          text NOT NULL,
    key                jsonb NOT NULL,
    changes            jsonb NOT NULL,
    reason             text NOT NULL,
    previous_computed_at  timestamptz NOT NULL,
    revised_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS indicator_revisions_key ON indicator_revisions USING gin (key);
CREATE INDEX IF NOT EXISTS indicator_revisions_at ON indicator_revisions (revised_at);

-- Convenience view for dashboards: the latest city daily AQI with its category.
CREATE OR REPLACE VIEW air_city_daily AS
    SELECT city, day, aqi, level, category, primary_pollutants, complete,
           so2, no2, co, pm10, pm25, o3_8h, o3_1h, n_stations, computed_at
    FROM air_region_daily WHERE county = '';
