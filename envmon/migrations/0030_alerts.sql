-- Alerts engine: what was committed (feeds written by ingest and the aggregator in their own
-- transactions), episodes per (rule, subject), silences, and each station's learned cadence.
-- The outbox (alert_outbox) is migration 0031; nothing here references it.

-- Alerts engines that ran recently (a heartbeat per process). Producers write feed rows only
-- while one has been seen within a day, so a deployment without alerts grows no feed.
CREATE TABLE IF NOT EXISTS alert_engines (
    engine   text PRIMARY KEY,
    seen_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per committed ingest batch: the distinct (station, parameter, interval) keys it
-- wrote with their first/last timestamps, number of rows, rows not flagged N, and the
-- smallest/largest value (so the engine reads back only keys that can change an episode). The engine deletes the rows it
-- evaluated in the same transaction as the episode changes and notifications they cause, so
-- a batch is evaluated exactly once even across crashes; readings are then fetched by primary
-- key and time range (never a table scan).
CREATE TABLE IF NOT EXISTS alert_reading_feed (
    seq           bigserial PRIMARY KEY,
    committed_at  timestamptz NOT NULL DEFAULT now(),
    station_ids   text[] NOT NULL,
    parameters    text[] NOT NULL,
    intervals     text[] NOT NULL,
    ts_first      timestamptz[] NOT NULL,
    ts_last       timestamptz[] NOT NULL,
    n_rows        integer[] NOT NULL,
    n_flagged     integer[] NOT NULL,
    v_min         double precision[] NOT NULL,
    v_max         double precision[] NOT NULL
);

-- One row per aggregator batch: the station-days whose indicators were recomputed
-- (periods = true: the region period figures were recomputed).
CREATE TABLE IF NOT EXISTS alert_indicator_feed (
    seq           bigserial PRIMARY KEY,
    committed_at  timestamptz NOT NULL DEFAULT now(),
    station_ids   text[] NOT NULL,
    days          date[] NOT NULL,
    periods       boolean NOT NULL DEFAULT false
);

-- An episode: one breach of one rule by one subject (a station, or a region 'city/county'),
-- pending -> firing -> resolved (or cancelled while pending). Data times (started_at,
-- fired_at, resolved_at, last_observed_at) are the times of the observations that decided;
-- wall-clock times drive reminders and escalation.
CREATE TABLE IF NOT EXISTS alert_episodes (
    episode_id        bigserial PRIMARY KEY,
    rule              text NOT NULL,
    subject_kind      text NOT NULL CHECK (subject_kind IN ('station', 'region')),
    subject_id        text NOT NULL,
    subject_name      text NOT NULL,
    city              text,
    county            text,
    state             text NOT NULL CHECK (state IN ('pending', 'firing', 'resolved', 'cancelled')),
    severity          text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    labels            jsonb NOT NULL DEFAULT '{}',
    parameter         text,
    value             double precision,
    "limit"           double precision,
    unit              text,
    clause            text,
    summary           text NOT NULL,
    started_at        timestamptz NOT NULL,
    fired_at          timestamptz,
    resolved_at       timestamptz,
    last_observed_at  timestamptz NOT NULL,
    late              boolean NOT NULL DEFAULT false,
    firing_notified   boolean NOT NULL DEFAULT false,
    reminders_sent    integer NOT NULL DEFAULT 0,
    next_reminder_at  timestamptz,
    escalate_at       timestamptz,
    escalated         integer NOT NULL DEFAULT 0,
    acked_at          timestamptz,
    acked_by          text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
-- One open episode at a time per (rule, subject).
CREATE UNIQUE INDEX IF NOT EXISTS alert_episodes_open
    ON alert_episodes (rule, subject_kind, subject_id) WHERE state IN ('pending', 'firing');
CREATE INDEX IF NOT EXISTS alert_episodes_recent ON alert_episodes (updated_at);

-- Maintenance windows: an open episode matching every given matcher is not notified
-- between starts_at and ends_at (NULL matcher = any).
CREATE TABLE IF NOT EXISTS alert_silences (
    silence_id   bigserial PRIMARY KEY,
    subject_id   text,
    rule         text,
    labels       jsonb NOT NULL DEFAULT '{}',
    starts_at    timestamptz NOT NULL DEFAULT now(),
    ends_at      timestamptz NOT NULL,
    created_by   text NOT NULL DEFAULT '',
    comment      text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX IF NOT EXISTS alert_silences_active ON alert_silences (ends_at);

-- Each station's reporting rhythm as the engine learned it from the feed: last data time,
-- when it last arrived (wall clock) and the recent gaps between data times (seconds).
CREATE TABLE IF NOT EXISTS alert_station_cadence (
    station_id    text PRIMARY KEY,
    last_ts       timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    gaps          double precision[] NOT NULL DEFAULT '{}'
);
