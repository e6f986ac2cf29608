-- 05_outbox.sql: the relay's side of the transactional outbox.
--
-- Every nginx worker runs a relay (ngx_http_evently_outbox.c).  A relay
-- claims a batch of unsent rows with a lease in one statement; FOR UPDATE
-- SKIP LOCKED keeps concurrent relays (other workers, other instances) off
-- the rows it took.  A row is marked sent only when Kafka acknowledged it;
-- a row whose lease runs out without that is claimed again (at-least-once,
-- consumers dedupe by the payload's "id").


CREATE OR REPLACE FUNCTION evently.outbox_claim(p_batch int, p_lease_seconds int)
RETURNS TABLE (id bigint, topic text, event_key text, payload json)
LANGUAGE sql AS $$
    UPDATE evently.outbox o
       SET claimed_until = now() + make_interval(secs => p_lease_seconds),
           attempts = o.attempts + 1
     WHERE o.id IN (SELECT c.id
                      FROM evently.outbox c
                     WHERE c.sent_at IS NULL
                       AND (c.claimed_until IS NULL OR c.claimed_until < now())
                     ORDER BY c.id
                     LIMIT p_batch
                       FOR UPDATE SKIP LOCKED)
 RETURNING o.id, o.topic, coalesce(o.event_key, ''), o.payload
$$;


CREATE OR REPLACE FUNCTION evently.outbox_mark_sent(p_ids bigint[])
RETURNS int
LANGUAGE sql AS $$
    WITH sent AS (
        UPDATE evently.outbox
           SET sent_at = now(), claimed_until = NULL
         WHERE id = ANY (p_ids) AND sent_at IS NULL
     RETURNING 1)
    SELECT count(*)::int FROM sent
$$;
