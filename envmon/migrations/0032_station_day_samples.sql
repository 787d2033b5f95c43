-- Minute and real-time readings stored per station and Beijing day, kept by the ingest
-- writer as it inserts them (ingest/writer.py): the aggregator sizes a batch of minute data
-- from these counts (aggregator/recompute.py, MAX_SAMPLES) instead of scanning the readings
-- once to count them and once more to read them. Revisions do not change a count; readings
-- removed by retention leave their days' counts behind (an overestimate: such days are
-- deferred sooner, never loaded beyond the budget).
CREATE TABLE IF NOT EXISTS station_day_samples (
    station_id  text NOT NULL,
    day         date NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (station_id, day)
);

-- the readings stored before this migration (a one-off scan of the minute/real-time rows)
INSERT INTO station_day_samples (station_id, day, n)
SELECT station_id, (ts AT TIME ZONE 'Asia/Shanghai')::date, count(*)
FROM readings WHERE interval IN ('min', 'rt')
GROUP BY 1, 2
ON CONFLICT (station_id, day) DO UPDATE SET n = EXCLUDED.n;
