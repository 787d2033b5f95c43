-- Aggregator queue bookkeeping: leases of claimed dirty days and the station-days that failed.

-- Station-days whose recomputation failed for a reason retrying cannot fix (e.g. a noise
-- station without a functional zone): kept with the error instead of blocking the queue or
-- being dropped. `envmon aggregate --retry-failed` puts them back into dirty_days.
CREATE TABLE IF NOT EXISTS failed_days (
    station_id  text NOT NULL,
    day         date NOT NULL,
    marked_at   timestamptz NOT NULL,
    error       text NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, day)
);

-- Leases of the aggregator queue (aggregator/queue.py): a worker records the dirty_days.seq it
-- read; it deletes the mark only if seq is unchanged when it is done. A lease older than the
-- lease time (the worker died) no longer keeps other workers away.
CREATE TABLE IF NOT EXISTS dirty_claims (
    station_id  text NOT NULL,
    day         date NOT NULL,
    seq         bigint NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, day)
);
