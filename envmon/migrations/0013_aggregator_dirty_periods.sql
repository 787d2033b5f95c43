-- Period figures (air_region_period) waiting for recomputation. A batch that leaves more
-- work queued (a full batch: a backlog is being drained) only marks its periods here; the
-- next batch that empties the queue computes them once, so draining a year of history does
-- not revise a year's figures once per batch.
CREATE TABLE IF NOT EXISTS dirty_periods (
    city          text NOT NULL,
    county        text NOT NULL,
    period        text NOT NULL CHECK (period IN ('month', 'year')),
    period_start  date NOT NULL,
    marked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (city, county, period, period_start)
);
