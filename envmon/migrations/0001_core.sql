-- Core schema: station registry, dead-letter store, revision audit, aggregator work queue.
-- The readings table itself is created by the storage step (Timescale hypertable or plain
-- range partitions), see envmon/storage.py.

CREATE TABLE IF NOT EXISTS stations (
    station_id          text PRIMARY KEY CHECK (station_id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    kind                text NOT NULL CHECK (kind IN ('air', 'water', 'noise')),
    name                text NOT NULL,
    city                text NOT NULL DEFAULT '',
    county              text NOT NULL DEFAULT '',
    lat                 double precision CHECK (lat BETWEEN -90 AND 90),
    lon                 double precision CHECK (lon BETWEEN -180 AND 180),
    water_target_class  smallint CHECK (water_target_class BETWEEN 1 AND 5),
    water_body          text CHECK (water_body IN ('river', 'lake')),
    noise_zone          text CHECK (noise_zone IN ('0', '1', '2', '3', '4a', '4b')),
    mn                  text UNIQUE CHECK (mn ~ '^[A-Za-z0-9_.-]{1,64}$'),
    hj212_password      text,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (kind = 'water' OR (water_target_class IS NULL AND water_body IS NULL)),
    CHECK (kind = 'noise' OR noise_zone IS NULL)
);
COMMENT ON TABLE stations IS 'Monitoring stations. mn maps an HJ 212 logger MN to the station.';

-- Every reading replaced by a different value for the same key (station, parameter,
-- interval, ts): the old value is kept here, so a published figure can be traced.
CREATE TABLE IF NOT EXISTS reading_revisions (
    revision_id     bigserial PRIMARY KEY,
    station_id      text NOT NULL,
    parameter       text NOT NULL,
    interval        text NOT NULL,
    ts              timestamptz NOT NULL,
    old_value       double precision NOT NULL,
    old_flag        text NOT NULL,
    old_source      text NOT NULL,
    old_received_at timestamptz NOT NULL,
    new_value       double precision NOT NULL,
    new_flag        text NOT NULL,
    new_source      text NOT NULL,
    revised_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS reading_revisions_key
    ON reading_revisions (station_id, ts, parameter);

-- Rejected input, never dropped: raw bytes plus the specific reason.
CREATE TABLE IF NOT EXISTS dead_letter (
    dead_letter_id  bigserial PRIMARY KEY,
    received_at     timestamptz NOT NULL DEFAULT now(),
    transport       text NOT NULL,
    topic           text NOT NULL DEFAULT '',
    station_id      text,
    reason          text NOT NULL,
    detail          text NOT NULL DEFAULT '',
    payload         bytea NOT NULL,
    replayed_at     timestamptz,
    replay_result   text
);
CREATE INDEX IF NOT EXISTS dead_letter_pending ON dead_letter (received_at)
    WHERE replayed_at IS NULL;

-- Work queue of the aggregator: each committed (new or revised) reading marks the Beijing
-- natural day it falls in (Asia/Shanghai, by interval start). Every mark takes a fresh `seq`
-- (ingest: ON CONFLICT DO UPDATE SET seq = nextval(...)); an aggregator that finished a day
-- deletes its row only WHERE seq = the value it read, so a mark made while it computed survives.
-- Aggregators take rows with SELECT ... FOR UPDATE SKIP LOCKED.
CREATE SEQUENCE IF NOT EXISTS dirty_days_seq;
CREATE TABLE IF NOT EXISTS dirty_days (
    station_id  text NOT NULL,
    day         date NOT NULL,
    seq         bigint NOT NULL DEFAULT nextval('dirty_days_seq'),
    marked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, day)
);
