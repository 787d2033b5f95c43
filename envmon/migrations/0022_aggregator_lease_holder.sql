-- Who holds a lease of the aggregator queue (aggregator/queue.py): the server process of the
-- connection that claimed it. A lease whose holder is no longer in pg_stat_activity (the
-- worker was killed, its connection dropped) is dead and is taken back at once by any worker,
-- instead of waiting out the lease time; the lease time stays as a backstop (e.g. a holder
-- that hangs while connected). backend_start tells a reused process id from the holder.
ALTER TABLE dirty_claims ADD COLUMN IF NOT EXISTS backend_pid integer;
ALTER TABLE dirty_claims ADD COLUMN IF NOT EXISTS backend_start timestamptz;
