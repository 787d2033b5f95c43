-- Alerts delivery outbox (alerts/outbox.py, docs/alerts-delivery.md).
--
-- The engine inserts one row per (episode event, receiver) in the same transaction that changes
-- the episode, so a crash between "decided" and "sent" loses nothing; the sender claims due rows
-- with FOR UPDATE SKIP LOCKED, so several senders never send one row twice. No foreign key to the
-- engine's tables on purpose: either migration may land first.
CREATE TABLE IF NOT EXISTS alert_outbox (
    id               bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    receiver         text NOT NULL,
    episode_id       bigint NOT NULL,
    event            text NOT NULL
                     CHECK (event IN ('firing', 'resolved', 'reminder', 'escalation')),
    payload          jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sent', 'dead')),
    last_error       text,
    sent_at          timestamptz
);

-- The sender's claim query reads only due pending rows; sent/dead rows stay out of this index.
CREATE INDEX IF NOT EXISTS alert_outbox_due ON alert_outbox (next_attempt_at)
    WHERE status = 'pending';

-- Per (receiver, episode) the sender sends in id order (a resolve never overtakes its firing);
-- this index answers "is there an older pending row of the same episode for this receiver?".
CREATE INDEX IF NOT EXISTS alert_outbox_episode_pending ON alert_outbox (receiver, episode_id, id)
    WHERE status = 'pending';
