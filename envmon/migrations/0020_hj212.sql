-- HJ 212: per-station unit overrides. HJ 212-2017 表B.2 prints emission-oriented default units
-- (PM in ng/m3, gases in mg/m3) and real loggers differ (reference/hj212.md §7.1): a row here
-- says which unit the logger of a station sends for a factor code; the decoder converts it to
-- the canonical unit (ingest/hj212/codes.toml [[conversions]]). Docs: docs/hj212.md.
CREATE TABLE IF NOT EXISTS hj212_unit_overrides (
    station_id  text NOT NULL REFERENCES stations (station_id) ON DELETE CASCADE,
    code        text NOT NULL CHECK (code ~ '^[A-Za-z0-9._]{1,16}$'),
    unit        text NOT NULL CHECK (unit <> ''),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, code)
);
COMMENT ON TABLE hj212_unit_overrides IS
    'Unit an HJ 212 logger sends for a factor code, when it differs from ingest/hj212/codes.toml';
