-- A dead letter is stored once: the same bytes on the same topic rejected for the same reason
-- again (a redelivery after a crash between the commit and the acknowledgement, a broker
-- restart, a publisher's resend) counts as a repeat of the pending row instead of a new row.
-- fingerprint = sha256(transport NUL topic NUL reason NUL payload), computed by ingest; rows
-- from before this migration have none and are never merged. A replayed row leaves the index,
-- so a later identical rejection starts a new row.
ALTER TABLE dead_letter ADD COLUMN IF NOT EXISTS fingerprint bytea;
ALTER TABLE dead_letter ADD COLUMN IF NOT EXISTS repeats integer NOT NULL DEFAULT 1;
ALTER TABLE dead_letter ADD COLUMN IF NOT EXISTS last_received_at timestamptz;
CREATE UNIQUE INDEX IF NOT EXISTS dead_letter_once ON dead_letter (fingerprint)
    WHERE replayed_at IS NULL;
