-- 0004_waitlist.sql: what the waitlist's offers need of the schema
-- (sql/functions/80_waitlist.sql, ngx_http_evently_waitlist.c).
--
-- * waitlist_entries.offer_placed_at: when the offer's hold was created in
--   Redis (NULL while it is not, e.g. because Redis refused a seat that
--   somebody held in between).  PostgreSQL reserves the offered seats
--   either way; the sweeper retries the Redis hold until it exists, so
--   the user can always confirm with the offered hold id.
-- * waitlist_pending: events that need an offer round.  Written by what
--   frees seats (a cancellation, through evently.waitlist_seats_freed(),
--   a join, a round that must be retried) and by the sweeper itself for
--   expired offers; claimed with a lease (FOR UPDATE SKIP LOCKED) so that
--   nginx workers and instances split the events between them.
--   gen counts the triggers: a round removes the row only when no new
--   trigger arrived while it ran, so none is ever lost.
--   reserved_seat_ids: seats a cancellation just freed while people were
--   waiting; nobody may hold them until the next round (about a second)
--   has offered them to the line.  A reservation older than a minute is
--   ignored, so a sweeper that never comes cannot lock seats forever.
--
-- Applied once by the migrate script inside its transaction (no
-- BEGIN/COMMIT, no CONCURRENTLY).

ALTER TABLE evently.waitlist_entries
    ADD COLUMN offer_placed_at timestamptz;

-- offers whose Redis hold is still to be created (normally none)
CREATE INDEX waitlist_entries_offer_unplaced_idx
    ON evently.waitlist_entries (event_id)
    WHERE status = 'NOTIFIED' AND offer_placed_at IS NULL;

CREATE TABLE evently.waitlist_pending (
    event_id           uuid PRIMARY KEY
                       REFERENCES evently.events (id) ON DELETE CASCADE,
    due_at             timestamptz NOT NULL DEFAULT now(),
    gen                bigint NOT NULL DEFAULT 1 CHECK (gen >= 1),
    claimed_until      timestamptz,
    reserved_seat_ids  uuid[] NOT NULL DEFAULT '{}',
    reserved_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- the sweeper's queue: rows due, oldest first
CREATE INDEX waitlist_pending_due_idx ON evently.waitlist_pending (due_at);
