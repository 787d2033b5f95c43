-- Water sections' monthly classes (water_station_monthly) waiting for recomputation, as
-- dirty_periods holds the air period figures: a month is graded once none of the section's
-- days of that month is left in dirty_days, so a backlog drained newest day first over
-- several batches does not publish a month from its newest days and then revise it.
CREATE TABLE IF NOT EXISTS dirty_water_months (
    station_id  text NOT NULL,
    month       date NOT NULL,
    marked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, month)
);
