-- 80_waitlist.sql: the waitlist (ngx_http_evently_waitlist.c).
--
-- PostgreSQL is the truth of offers.  An offer is a waitlist entry in
-- state NOTIFIED with offer_seat_ids, offer_hold_id (a new UUID),
-- notified_at and expires_at; while it is live:
--   * the hold check refuses its seats to everybody else
--     (evently.seats_offered_to_others, called by 50_holds.sql);
--   * the module creates a real hold in Redis with the same id, for that
--     user, in the layout of ngx_http_evently_holds.h, so that the normal
--     POST /bookings/confirm books it; evently.waitlist_hold_converted
--     (called by 60_bookings.sql) then marks the entry CONVERTED.
--
-- Offers are decided by ONE function, evently.waitlist_round(), run with
-- the event's advisory lock held (evently.waitlist_lock), so that two
-- workers or two nginx instances never offer the same seat twice.  A
-- round:
--   1. expires the offers past their window (EXPIRED; seats free again);
--   2. takes back offers whose seats were sold meanwhile (back to ACTIVE,
--      same place in the line) or converts them when the user bought them;
--   3. offers free seats -- not blocked, not booked, not in a live offer,
--      not held in Redis (the caller passes the seats held now, as the
--      module's _held) -- to ACTIVE entries in FIFO order (seq).  An entry
--      whose quantity does not fit the seats left is skipped: the FIFO
--      head "whose quantity fits" is served and smaller requests behind a
--      large one are not blocked by it (the large one keeps its place and
--      is served first as soon as enough seats are free at once);
--   4. returns every offer whose Redis hold must be created (new ones and
--      earlier ones whose hold Redis refused) and the holds to delete
--      (expired, withdrawn, taken back offers);
--   5. decides whether the event needs another round (waitlist_pending).
--
-- Seat choice: seats of the section named by preferences.section_preference
-- first (case-insensitive), then a section that has enough free seats for
-- the whole quantity, then layout order (section name, row, position).
--
-- Positions are never stored: 1 + the ACTIVE entries ahead by seq.
--
-- Rounds happen on leave (a NOTIFIED user's seats pass on at once), on
-- the admin notify/cancellation endpoints (capped by their ticket count),
-- and from the per-worker sweeper (about every second, at once on the
-- worker that took a join) for events in waitlist_pending: a join (seats
-- may be free right now), a cancellation (evently.waitlist_seats_freed),
-- an expired offer, an offer whose Redis hold is missing, or people
-- waiting while seats are held in Redis (re-checked every few seconds, so
-- that seats of holds that expire unbooked reach the line too: the
-- waitlist never stalls while seats are free).


-- ---------------------------------------------------------------------------
-- Helpers

-- the per-event lock of the offer rounds (namespace 'wait' = 0x77616974)
CREATE OR REPLACE FUNCTION evently.waitlist_lock(p_event uuid)
RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(2002872692, hashtext(p_event::text))
$$;


-- the seats held in Redis for one event from {"<event>":[seat, ...]}:
-- NULL when unknown (Redis did not answer), '{}' when none
CREATE OR REPLACE FUNCTION evently.waitlist_held_of(p_held json,
    p_event uuid)
RETURNS uuid[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_held IS NULL THEN NULL
                ELSE evently.held_seats(p_held, p_event) END
$$;


-- an API call's held seats: args._held, or NULL with args._holds_unknown
CREATE OR REPLACE FUNCTION evently.waitlist_args_held(p_args json,
    p_event uuid)
RETURNS uuid[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN coalesce((p_args->>'_holds_unknown')::boolean, false)
                THEN NULL
                ELSE evently.waitlist_held_of(
                         coalesce(p_args->'_held', '{}'::json), p_event)
           END
$$;


-- the offer window in seconds from args._offer_ttl (the module's
-- evently_waitlist_offer_ttl), 900 when absent
CREATE OR REPLACE FUNCTION evently.waitlist_args_ttl(p_args json)
RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT greatest(coalesce((p_args->>'_offer_ttl')::int, 900), 1)
$$;


-- live position: 1 + ACTIVE entries ahead; NULL when not ACTIVE
CREATE OR REPLACE FUNCTION evently.waitlist_position(
    e evently.waitlist_entries)
RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN e.status = 'ACTIVE' THEN
               (SELECT count(*)::int + 1
                  FROM evently.waitlist_entries a
                 WHERE a.event_id = e.event_id AND a.status = 'ACTIVE'
                   AND a.seq < e.seq)
           END
$$;


-- mean seconds between the event's last offers (NULL below two offers):
-- the basis of estimated_wait_seconds = position x this
CREATE OR REPLACE FUNCTION evently.waitlist_offer_interval(p_event uuid)
RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN count(*) >= 2
                THEN extract(epoch FROM max(x.t) - min(x.t))
                     / (count(*) - 1)
           END
      FROM (SELECT e.notified_at AS t
              FROM evently.waitlist_entries e
             WHERE e.event_id = p_event
               AND e.status IN ('NOTIFIED', 'CONVERTED', 'EXPIRED')
               AND e.notified_at IS NOT NULL
             ORDER BY e.seq DESC
             LIMIT 20) x
$$;


-- seats of an event priced as the hold check prices them, in layout order
CREATE OR REPLACE FUNCTION evently.waitlist_priced_seats(p_event uuid,
    p_seats uuid[])
RETURNS TABLE (seats json, total numeric, ordered uuid[])
LANGUAGE sql STABLE AS $$
    SELECT json_agg(json_build_object(
               'seat_id', s.id,
               'section_id', sec.id,
               'section_name', sec.name,
               'seat_number', s.seat_number,
               'row', s.row_label,
               'price', evently.seat_price(ev.base_price,
                                           p.price_multiplier))
               ORDER BY sec.name, s.row_index, s.position),
           coalesce(sum(evently.seat_price(ev.base_price,
                                           p.price_multiplier)), 0),
           array_agg(s.id ORDER BY sec.name, s.row_index, s.position)
      FROM evently.events ev
      JOIN evently.seats s ON s.id = ANY (p_seats)
      JOIN evently.venue_sections sec ON sec.id = s.section_id
      LEFT JOIN evently.event_section_pricing p
             ON p.event_id = ev.id AND p.section_id = sec.id
     WHERE ev.id = p_event
$$;


-- the offer of a NOTIFIED entry as its user sees it, NULL otherwise
CREATE OR REPLACE FUNCTION evently.waitlist_offer_json(
    e evently.waitlist_entries)
RETURNS json
LANGUAGE sql VOLATILE AS $$
    SELECT CASE WHEN e.status = 'NOTIFIED' THEN
        (SELECT json_build_object(
                    'hold_id', e.offer_hold_id,
                    'seat_ids', to_json(ps.ordered),
                    'seats', ps.seats,
                    'total_price', ps.total,
                    'expires_at', evently.ts(e.expires_at),
                    'ttl_seconds',
                        greatest(0, ceil(extract(epoch FROM
                                         e.expires_at - clock_timestamp())))
                        ::int)
           FROM evently.waitlist_priced_seats(e.event_id,
                                              e.offer_seat_ids) ps)
    END
$$;


-- the contract's WaitlistEntry (+ "offer" while NOTIFIED)
CREATE OR REPLACE FUNCTION evently.waitlist_entry_json(
    e evently.waitlist_entries, p_position int, p_interval numeric)
RETURNS json
LANGUAGE sql VOLATILE AS $$
    SELECT json_build_object(
        'id', e.id,
        'event_id', e.event_id,
        'user_id', e.user_id,
        'position', p_position,
        'quantity', e.quantity,
        'status', e.status,
        'preferences', e.preferences::json,
        'joined_at', evently.ts(e.joined_at),
        'notified_at', evently.ts(e.notified_at),
        'expires_at', evently.ts(e.expires_at),
        'estimated_wait_seconds',
            CASE WHEN p_position IS NOT NULL AND p_interval IS NOT NULL
                 THEN round(p_position * p_interval)::bigint END,
        'offer', evently.waitlist_offer_json(e))
$$;


-- What the module needs to create an offer's hold in Redis:
-- {entry_id,user_id,event_id,hold_id,seat_ids,quantity,expires_at,new,
--  ttl_ms,seats (JSON text),total_price (text),stale}.  stale: the
-- "booked:<booking>" values of cancelled bookings of these seats, which
-- may still sit on the seat keys for a minute after the cancellation and
-- must not refuse the offer.
CREATE OR REPLACE FUNCTION evently.waitlist_offer_internal(
    e evently.waitlist_entries, p_new boolean)
RETURNS json
LANGUAGE sql VOLATILE AS $$
    SELECT json_build_object(
        'entry_id', e.id,
        'user_id', e.user_id,
        'event_id', e.event_id,
        'hold_id', e.offer_hold_id,
        'seat_ids', to_json(e.offer_seat_ids),
        'quantity', e.quantity,
        'expires_at', evently.ts(e.expires_at),
        'new', p_new,
        'ttl_ms', floor(extract(epoch FROM e.expires_at - clock_timestamp())
                        * 1000)::bigint,
        'seats', ps.seats::text,
        'total_price', ps.total::numeric(12,2)::text,
        'stale', (SELECT coalesce(json_agg(x.m), '[]')
                    FROM (SELECT 'booked:' || bs.booking_id AS m
                            FROM evently.booking_seats bs
                           WHERE bs.event_id = e.event_id
                             AND NOT bs.active
                             AND bs.seat_id = ANY (e.offer_seat_ids)
                           GROUP BY bs.booking_id
                           ORDER BY max(bs.updated_at) DESC
                           LIMIT 20) x))
      FROM evently.waitlist_priced_seats(e.event_id, e.offer_seat_ids) ps
$$;


-- the domain event of an entry's change (topic 'waitlist'), and for an
-- offer or its expiry the e-mail to send (topic 'notifications')
CREATE OR REPLACE FUNCTION evently.waitlist_emit(e evently.waitlist_entries,
    p_type text, p_event evently.events, p_notify boolean)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_email  text;
BEGIN
    PERFORM evently.emit('waitlist', p_type, e.event_id, NULL, e.user_id,
                         jsonb_build_object(
                             'entry_id', e.id,
                             'quantity', e.quantity,
                             'hold_id', e.offer_hold_id,
                             'seat_ids', to_jsonb(e.offer_seat_ids),
                             'expires_at', evently.ts(e.expires_at)));

    IF p_notify THEN
        SELECT email INTO v_email FROM evently.users WHERE id = e.user_id;

        PERFORM evently.emit('notifications',
                             'email.' || replace(p_type, '.', '_'),
                             e.event_id, NULL, e.user_id,
                             jsonb_build_object(
                                 'to', v_email,
                                 'template', replace(p_type, '.', '_'),
                                 'event_name', p_event.name,
                                 'event_date', evently.ts(p_event.date_time),
                                 'quantity', e.quantity,
                                 'hold_id', e.offer_hold_id,
                                 'expires_at', evently.ts(e.expires_at)));
    END IF;
END $$;


-- ---------------------------------------------------------------------------
-- THE offer round of one event.  The caller holds evently.waitlist_lock().
--   p_held  seats held in Redis now (NULL: unknown, then no new offers)
--   p_cap   at most this many seats offered (NULL: every free seat)
--   p_ttl   the offer window, seconds
--   p_ours  seats held in Redis by an offer the caller just withdrew: its
--           hold is deleted before the new offers are placed
-- Returns {"offers":[internal offer, ...],"release":[hold id, ...],
--          "offered_seats":N,"offered_entries":N}.
CREATE OR REPLACE FUNCTION evently.waitlist_round(p_event uuid,
    p_held uuid[], p_cap int, p_ttl int, p_ours uuid[] DEFAULT '{}')
RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    c_max_offers  constant int := 200;
    v_event       evently.events%ROWTYPE;
    v_pending     evently.waitlist_pending%ROWTYPE;
    v_entry       evently.waitlist_entries%ROWTYPE;
    v_on_sale     boolean;
    v_ours        uuid[] := coalesce(p_ours, '{}');
    v_release     uuid[] := '{}';
    v_offers      json[] := '{}';
    v_new         uuid[] := '{}';
    v_free        uuid[] := '{}';
    v_pick        uuid[];
    v_blocked     boolean := false;
    v_full        boolean := false;
    v_left        int;
    v_seats       int := 0;
    v_now         timestamptz;
    v_due         timestamptz;
    w             record;
BEGIN
    SELECT * INTO v_event FROM evently.events WHERE id = p_event;

    IF NOT FOUND THEN
        RETURN json_build_object('offers', '[]'::json,
                                 'release', '[]'::json,
                                 'offered_seats', 0,
                                 'offered_entries', 0);
    END IF;

    v_on_sale := v_event.status = 'published' AND v_event.date_time > now();

    -- the trigger state this round answers (gen NULL: no row)
    SELECT * INTO v_pending
      FROM evently.waitlist_pending WHERE event_id = p_event;

    -- 1. offers past their window expire; their seats are free again
    FOR v_entry IN
        UPDATE evently.waitlist_entries e
           SET status = 'EXPIRED', updated_at = now()
         WHERE e.event_id = p_event AND e.status = 'NOTIFIED'
           AND e.expires_at <= clock_timestamp()
     RETURNING e.*
    LOOP
        v_release := v_release || v_entry.offer_hold_id;

        -- a placed hold had these seats (and is deleted first)
        IF v_entry.offer_placed_at IS NOT NULL THEN
            v_ours := v_ours || v_entry.offer_seat_ids;
        END IF;

        PERFORM evently.waitlist_emit(v_entry, 'waitlist.expired', v_event,
                                      true);
    END LOOP;

    -- 2. offered seats sold meanwhile (a hold taken just before the offer
    --    and confirmed): the user's own purchase converts the entry,
    --    anybody else's sends it back to its place in the line
    FOR w IN
        SELECT e.id, e.user_id, e.offer_hold_id, e.offer_seat_ids,
               e.offer_placed_at,
               EXISTS (SELECT 1
                         FROM evently.booking_seats bs
                         JOIN evently.bookings b ON b.id = bs.booking_id
                        WHERE bs.event_id = p_event AND bs.active
                          AND bs.seat_id = ANY (e.offer_seat_ids)
                          AND b.user_id = e.user_id) AS own
          FROM evently.waitlist_entries e
         WHERE e.event_id = p_event AND e.status = 'NOTIFIED'
           AND EXISTS (SELECT 1 FROM evently.booking_seats bs
                        WHERE bs.event_id = p_event AND bs.active
                          AND bs.seat_id = ANY (e.offer_seat_ids))
    LOOP
        IF w.own THEN
            UPDATE evently.waitlist_entries
               SET status = 'CONVERTED', converted_at = now(),
                   updated_at = now()
             WHERE id = w.id
            RETURNING * INTO v_entry;

            PERFORM evently.waitlist_emit(v_entry, 'waitlist.converted',
                                          v_event, false);
        ELSE
            UPDATE evently.waitlist_entries
               SET status = 'ACTIVE', offer_hold_id = NULL,
                   offer_seat_ids = NULL, offer_placed_at = NULL,
                   notified_at = NULL, expires_at = NULL,
                   updated_at = now()
             WHERE id = w.id;

            v_release := v_release || w.offer_hold_id;

            IF w.offer_placed_at IS NOT NULL THEN
                v_ours := v_ours || w.offer_seat_ids;
            END IF;
        END IF;
    END LOOP;

    -- 3. free seats to the line, FIFO, each entry all or nothing
    IF v_on_sale AND p_held IS NOT NULL AND coalesce(p_cap, 1) > 0 THEN
        SELECT coalesce(array_agg(f.id) FILTER (WHERE NOT f.held), '{}'),
               coalesce(bool_or(f.held), false)
          INTO v_free, v_blocked
          FROM (SELECT s.id,
                       (s.id IN (SELECT unnest(p_held))
                        AND s.id NOT IN (SELECT unnest(v_ours))) AS held
                  FROM evently.seats s
                  JOIN evently.venue_sections sec ON sec.id = s.section_id
                 WHERE sec.template_id = v_event.venue_template_id
                   AND s.status = 'AVAILABLE'
                   AND NOT EXISTS (SELECT 1 FROM evently.booking_seats bs
                                    WHERE bs.event_id = p_event
                                      AND bs.seat_id = s.id AND bs.active)
                   AND s.id NOT IN (SELECT unnest(o.offer_seat_ids)
                                      FROM evently.waitlist_entries o
                                     WHERE o.event_id = p_event
                                       AND o.status = 'NOTIFIED')) f;

        v_left := cardinality(v_free);

        IF p_cap IS NOT NULL THEN
            v_left := least(v_left, p_cap);
        END IF;

        WHILE v_left > 0 LOOP
            IF cardinality(v_new) >= c_max_offers THEN
                v_full := true;
                EXIT;
            END IF;

            SELECT * INTO v_entry
              FROM evently.waitlist_entries
             WHERE event_id = p_event AND status = 'ACTIVE'
               AND quantity <= v_left
             ORDER BY seq
             LIMIT 1
               FOR UPDATE;

            EXIT WHEN NOT FOUND;

            SELECT array_agg(x.id) INTO v_pick
              FROM (SELECT s.id
                      FROM unnest(v_free) AS f (id)
                      JOIN evently.seats s ON s.id = f.id
                      JOIN evently.venue_sections sec
                        ON sec.id = s.section_id
                     ORDER BY coalesce(lower(sec.name) = lower(
                                  v_entry.preferences->>'section_preference'),
                                  false) DESC,
                              count(*) OVER (PARTITION BY sec.id)
                                  >= v_entry.quantity DESC,
                              sec.name, s.row_index, s.position
                     LIMIT v_entry.quantity) x;

            SELECT ps.ordered INTO v_pick
              FROM evently.waitlist_priced_seats(p_event, v_pick) ps;

            v_now := clock_timestamp();

            UPDATE evently.waitlist_entries
               SET status = 'NOTIFIED', offer_hold_id = gen_random_uuid(),
                   offer_seat_ids = v_pick, offer_placed_at = NULL,
                   notified_at = v_now,
                   expires_at = v_now + make_interval(secs => p_ttl),
                   updated_at = now()
             WHERE id = v_entry.id
            RETURNING * INTO v_entry;

            v_offers := v_offers
                        || evently.waitlist_offer_internal(v_entry, true);
            v_new := v_new || v_entry.id;

            PERFORM evently.waitlist_emit(v_entry, 'waitlist.offered',
                                          v_event, true);

            v_free := ARRAY(SELECT f FROM unnest(v_free) AS f
                             WHERE f <> ALL (v_pick));
            v_left := v_left - v_entry.quantity;
            v_seats := v_seats + v_entry.quantity;
        END LOOP;
    END IF;

    -- 4. earlier offers whose Redis hold does not exist yet: once more
    FOR v_entry IN
        SELECT * FROM evently.waitlist_entries
         WHERE event_id = p_event AND status = 'NOTIFIED'
           AND offer_placed_at IS NULL
           AND id <> ALL (v_new)
           AND expires_at > clock_timestamp() + interval '1 second'
    LOOP
        v_offers := v_offers
                    || evently.waitlist_offer_internal(v_entry, false);
    END LOOP;

    -- 5. when this event needs its next round
    IF v_full THEN
        v_due := clock_timestamp();

    ELSIF EXISTS (SELECT 1 FROM evently.waitlist_entries
                   WHERE event_id = p_event AND status = 'NOTIFIED'
                     AND offer_placed_at IS NULL)
    THEN
        -- until the module reports the Redis holds created
        v_due := clock_timestamp() + interval '1 second';

    ELSIF v_on_sale AND (v_blocked OR p_held IS NULL)
          AND EXISTS (SELECT 1 FROM evently.waitlist_entries
                       WHERE event_id = p_event AND status = 'ACTIVE')
    THEN
        -- people wait while seats are held (or Redis did not say): holds
        -- that expire unbooked free seats without any other trigger
        v_due := clock_timestamp() + interval '3 seconds';
    END IF;

    -- a trigger that arrived while this round ran (gen moved) is kept,
    -- with the seats it reserved that this round has not seen
    IF v_due IS NULL THEN
        DELETE FROM evently.waitlist_pending
         WHERE event_id = p_event AND gen = v_pending.gen;

        IF NOT FOUND THEN
            UPDATE evently.waitlist_pending p
               SET claimed_until = NULL,
                   reserved_seat_ids = ARRAY(
                       SELECT unnest(p.reserved_seat_ids)
                       EXCEPT
                       SELECT unnest(v_pending.reserved_seat_ids)),
                   updated_at = now()
             WHERE p.event_id = p_event;
        END IF;
    ELSE
        INSERT INTO evently.waitlist_pending AS p (event_id, due_at)
        VALUES (p_event, v_due)
        ON CONFLICT (event_id) DO UPDATE
           SET due_at = CASE WHEN p.gen = v_pending.gen THEN v_due
                             ELSE least(p.due_at, v_due) END,
               claimed_until = NULL,
               reserved_seat_ids = CASE WHEN p.gen = v_pending.gen
                                        THEN '{}'::uuid[]
                                        ELSE ARRAY(
                                            SELECT unnest(p.reserved_seat_ids)
                                            EXCEPT
                                            SELECT unnest(
                                                v_pending.reserved_seat_ids))
                                   END,
               updated_at = now();
    END IF;

    RETURN json_build_object(
        'offers', to_json(v_offers),
        'release', to_json(v_release),
        'offered_seats', v_seats,
        'offered_entries', cardinality(v_new));
END $$;


-- the new offers of a round as the admin endpoints show them
CREATE OR REPLACE FUNCTION evently.waitlist_public_offers(p_round json)
RETURNS json
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(json_agg(json_build_object(
               'entry_id', o->'entry_id',
               'user_id', o->'user_id',
               'event_id', o->'event_id',
               'hold_id', o->'hold_id',
               'quantity', o->'quantity',
               'seat_ids', o->'seat_ids',
               'expires_at', o->'expires_at')), '[]')
      FROM json_array_elements(p_round->'offers') o
     WHERE (o->>'new')::boolean
$$;


-- ---------------------------------------------------------------------------
-- The sweeper (one per nginx worker, every second or so)

-- Events due for a round, claimed with a lease so that workers and
-- instances split them (FOR UPDATE SKIP LOCKED).  Events with expired
-- offers are queued first.
CREATE OR REPLACE FUNCTION evently.waitlist_due(p_limit int, p_lease int)
RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
BEGIN
    -- in event order: concurrent sweepers lock the rows in one order
    INSERT INTO evently.waitlist_pending AS p (event_id, due_at)
    SELECT DISTINCT e.event_id, now()
      FROM evently.waitlist_entries e
     WHERE e.status = 'NOTIFIED' AND e.expires_at <= now()
     ORDER BY 1
    ON CONFLICT (event_id) DO UPDATE
       SET due_at = excluded.due_at, updated_at = now()
     WHERE p.due_at > excluded.due_at;

    RETURN QUERY
    UPDATE evently.waitlist_pending p
       SET claimed_until = clock_timestamp()
                           + make_interval(secs => p_lease)
     WHERE p.event_id IN (SELECT c.event_id
                            FROM evently.waitlist_pending c
                           WHERE c.due_at <= now()
                             AND (c.claimed_until IS NULL
                                  OR c.claimed_until < now())
                           ORDER BY c.due_at
                           LIMIT p_limit
                             FOR UPDATE SKIP LOCKED)
    RETURNING p.event_id;
END $$;


-- The rounds of the claimed events, in one transaction, locks taken in
-- event order.  p_held: {"<event>":[seat, ...]} from Redis.
CREATE OR REPLACE FUNCTION evently.waitlist_sweep(p_events uuid[],
    p_held json, p_ttl int)
RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    v_event    uuid;
    v_round    json;
    v_offers   json[] := '{}';
    v_release  uuid[] := '{}';
BEGIN
    FOR v_event IN
        SELECT DISTINCT x FROM unnest(p_events) AS x ORDER BY x
    LOOP
        PERFORM evently.waitlist_lock(v_event);

        v_round := evently.waitlist_round(v_event,
                       evently.waitlist_held_of(p_held, v_event), NULL,
                       greatest(coalesce(p_ttl, 900), 1));

        v_offers := v_offers
                    || ARRAY(SELECT json_array_elements(v_round->'offers'));
        v_release := v_release
                     || ARRAY(SELECT json_array_elements_text(
                                         v_round->'release')::uuid);
    END LOOP;

    RETURN json_build_object('offers', to_json(v_offers),
                             'release', to_json(v_release));
END $$;


-- the module created these offers' holds in Redis
CREATE OR REPLACE FUNCTION evently.waitlist_offers_placed(p_holds uuid[])
RETURNS int
LANGUAGE sql AS $$
    WITH u AS (
        UPDATE evently.waitlist_entries
           SET offer_placed_at = clock_timestamp()
         WHERE offer_hold_id = ANY (p_holds)
           AND status = 'NOTIFIED' AND offer_placed_at IS NULL
        RETURNING 1)
    SELECT count(*)::int FROM u
$$;


-- ---------------------------------------------------------------------------
-- Hooks of the other domains

-- 50_holds.sql: seats of p_seats nobody but their offer's user may hold --
-- in another user's live offer, or just freed by a cancellation for the
-- line's next round (ignored after a minute, see 0004_waitlist.sql)
CREATE OR REPLACE FUNCTION evently.seats_offered_to_others(p_event uuid,
    p_seats uuid[], p_user uuid)
RETURNS uuid[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT x.s), '{}')
      FROM (SELECT unnest(e.offer_seat_ids) AS s
              FROM evently.waitlist_entries e
             WHERE e.event_id = p_event AND e.status = 'NOTIFIED'
               AND e.user_id IS DISTINCT FROM p_user
               AND e.expires_at > now()
            UNION ALL
            SELECT unnest(p.reserved_seat_ids)
              FROM evently.waitlist_pending p
             WHERE p.event_id = p_event
               AND p.reserved_at > now() - interval '1 minute') x
     WHERE x.s = ANY (p_seats)
$$;


-- 60_bookings.sql: a booking was confirmed from p_hold.  The entry whose
-- offer that hold was becomes CONVERTED (also just after its expiry: the
-- confirmation's grace let it through), and so does the user's live offer
-- when they bought its seats with a hold of their own.
CREATE OR REPLACE FUNCTION evently.waitlist_hold_converted(p_hold uuid,
    p_user uuid, p_booking uuid)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_event  evently.events%ROWTYPE;
    v_seats  uuid[];
    v_entry  evently.waitlist_entries%ROWTYPE;
    v_count  int := 0;
BEGIN
    SELECT ev.* INTO v_event
      FROM evently.bookings b JOIN evently.events ev ON ev.id = b.event_id
     WHERE b.id = p_booking;

    IF NOT FOUND THEN
        RETURN 0;
    END IF;

    SELECT array_agg(seat_id) INTO v_seats
      FROM evently.booking_seats WHERE booking_id = p_booking;

    FOR v_entry IN
        UPDATE evently.waitlist_entries e
           SET status = 'CONVERTED', converted_at = now(),
               updated_at = now()
         WHERE e.user_id = p_user
           AND ((e.offer_hold_id = p_hold
                 AND e.status IN ('NOTIFIED', 'EXPIRED'))
                OR (e.event_id = v_event.id AND e.status = 'NOTIFIED'
                    AND e.offer_seat_ids && v_seats))
        RETURNING e.*
    LOOP
        PERFORM evently.waitlist_emit(v_entry, 'waitlist.converted',
                                      v_event, false);
        v_count := v_count + 1;
    END LOOP;

    RETURN v_count;
END $$;


-- 70_cancellations.sql: seats of p_event_id were freed by a cancellation
-- (in its transaction).  When people wait, the seats are reserved for
-- the line until the sweeper's next round (about a second) offers them
-- with the configured window; returns how many seats were reserved.
CREATE OR REPLACE FUNCTION evently.waitlist_seats_freed(p_event_id uuid,
    p_seat_ids uuid[])
RETURNS int
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(cardinality(p_seat_ids), 0) = 0
       OR NOT EXISTS (SELECT 1 FROM evently.waitlist_entries
                       WHERE event_id = p_event_id AND status = 'ACTIVE')
    THEN
        RETURN 0;
    END IF;

    INSERT INTO evently.waitlist_pending AS p (event_id, due_at,
                                               reserved_seat_ids,
                                               reserved_at)
    VALUES (p_event_id, now(), p_seat_ids, now())
    ON CONFLICT (event_id) DO UPDATE
       SET due_at = least(p.due_at, now()),
           gen = p.gen + 1,
           reserved_seat_ids = ARRAY(
               SELECT DISTINCT x
                 FROM unnest(p.reserved_seat_ids || excluded.reserved_seat_ids)
                      AS x),
           reserved_at = now(),
           updated_at = now();

    RETURN cardinality(p_seat_ids);
END $$;


-- ---------------------------------------------------------------------------
-- API functions.  The ones that make offers (leave, notify,
-- cancellation) get args._held (or _holds_unknown) and _offer_ttl from
-- the module and answer data = {"payload": "<the response data as JSON
-- text>", "offers": [...], "release": [...]}: the module deletes and
-- creates the Redis holds, then answers with the payload verbatim.

-- POST /waitlist: event_id, quantity 1..10, preferences (object).  The
-- event is queued for a round (the sweeper's, kicked by the module at
-- once): seats may be free right now.  Not in this transaction: a flood
-- of joins then costs one round per event and sweep, not one each.
CREATE OR REPLACE FUNCTION evently.api_waitlist_join(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql AS $$
DECLARE
    v_event     evently.events%ROWTYPE;
    v_entry     evently.waitlist_entries%ROWTYPE;
    v_existing  uuid;
BEGIN
    SELECT * INTO v_event
      FROM evently.events WHERE id = (p_args->>'event_id')::uuid;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    IF v_event.status <> 'published' OR v_event.date_time <= now() THEN
        RETURN evently.fail(409, 'EVENT_NOT_ON_SALE',
                            'Event is not on sale');
    END IF;

    BEGIN
        INSERT INTO evently.waitlist_entries (event_id, user_id, quantity,
                                              preferences)
        VALUES (v_event.id, p_user, (p_args->>'quantity')::int,
                CASE WHEN json_typeof(p_args->'preferences') = 'object'
                     THEN (p_args->'preferences')::jsonb
                     ELSE '{}'::jsonb END)
        RETURNING * INTO v_entry;

    EXCEPTION
        WHEN unique_violation THEN
            -- waitlist_entries_live_key: one live entry per (user, event)
            SELECT id INTO v_existing
              FROM evently.waitlist_entries
             WHERE event_id = v_event.id AND user_id = p_user
               AND status IN ('ACTIVE', 'NOTIFIED');

            RETURN evently.fail(409, 'ALREADY_WAITING',
                                'You are already on the waitlist of this '
                                'event',
                                json_build_object('entry_id', v_existing));

        WHEN foreign_key_violation THEN
            RETURN evently.fail(401, 'INVALID_TOKEN', 'Unknown user');
    END;

    INSERT INTO evently.waitlist_pending AS p (event_id, due_at)
    VALUES (v_event.id, now())
    ON CONFLICT (event_id) DO UPDATE
       SET due_at = least(p.due_at, now()), gen = p.gen + 1,
           updated_at = now();

    RETURN evently.ok(evently.waitlist_entry_json(v_entry,
                          evently.waitlist_position(v_entry),
                          evently.waitlist_offer_interval(v_event.id)));
END $$;


-- DELETE /waitlist/{eventId}: leave; a NOTIFIED user's offer is withdrawn
-- and its seats go to the next in line in the same transaction
CREATE OR REPLACE FUNCTION evently.api_waitlist_leave(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql AS $$
DECLARE
    v_event    evently.events%ROWTYPE;
    v_before   evently.waitlist_entries%ROWTYPE;
    v_entry    evently.waitlist_entries%ROWTYPE;
    v_round    json;
    v_ours     uuid[] := '{}';
BEGIN
    SELECT * INTO v_event FROM evently.events WHERE id = p_id;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    PERFORM evently.waitlist_lock(v_event.id);

    SELECT * INTO v_before
      FROM evently.waitlist_entries
     WHERE event_id = v_event.id AND user_id = p_user
       AND status IN ('ACTIVE', 'NOTIFIED')
       FOR UPDATE;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'NOT_WAITING',
                            'You are not on the waitlist of this event');
    END IF;

    UPDATE evently.waitlist_entries
       SET status = 'CANCELLED', left_at = now(), updated_at = now()
     WHERE id = v_before.id
    RETURNING * INTO v_entry;

    IF v_before.status = 'NOTIFIED' THEN
        IF v_before.offer_placed_at IS NOT NULL THEN
            v_ours := v_before.offer_seat_ids;
        END IF;

        v_round := evently.waitlist_round(v_event.id,
                       evently.waitlist_args_held(p_args, v_event.id), NULL,
                       evently.waitlist_args_ttl(p_args), v_ours);

        -- the withdrawn hold goes before the new offers are placed
        v_round := json_build_object(
            'offers', v_round->'offers',
            'release', to_json(ARRAY[v_before.offer_hold_id]
                               || ARRAY(SELECT json_array_elements_text(
                                            v_round->'release')::uuid)));
    ELSE
        v_round := json_build_object('offers', '[]'::json,
                                     'release', '[]'::json);
    END IF;

    RETURN evently.ok(json_build_object(
        'payload', evently.waitlist_entry_json(v_entry, NULL, NULL)::text,
        'offers', v_round->'offers',
        'release', v_round->'release'));
END $$;


-- GET /waitlist/status/{eventId}: the caller's live entry, else their
-- latest one (so an expired or converted offer can be seen)
CREATE OR REPLACE FUNCTION evently.api_waitlist_status(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_entry  evently.waitlist_entries%ROWTYPE;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM evently.events WHERE id = p_id) THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    SELECT * INTO v_entry
      FROM evently.waitlist_entries
     WHERE event_id = p_id AND user_id = p_user
     ORDER BY status IN ('ACTIVE', 'NOTIFIED') DESC, seq DESC
     LIMIT 1;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'NOT_WAITING',
                            'You are not on the waitlist of this event');
    END IF;

    RETURN evently.ok(evently.waitlist_entry_json(v_entry,
                          evently.waitlist_position(v_entry),
                          evently.waitlist_offer_interval(p_id)));
END $$;


-- GET /admin/waitlist/entries/{eventId}: status, page, limit (default
-- 50): by position (seq), paginated here
CREATE OR REPLACE FUNCTION evently.api_admin_waitlist_entries(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_page      int := coalesce((p_args->>'page')::int, 1);
    v_limit     int := coalesce((p_args->>'limit')::int, 50);
    v_status    text := p_args->>'status';
    v_total     bigint;
    v_interval  numeric;
    v_items     json;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM evently.events WHERE id = p_id) THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    SELECT count(*) INTO v_total
      FROM evently.waitlist_entries
     WHERE event_id = p_id AND (v_status IS NULL OR status = v_status);

    v_interval := evently.waitlist_offer_interval(p_id);

    -- positions: the ACTIVE entries before the page, then those on it
    WITH pg AS (
        SELECT e AS entry, e.seq, e.status
          FROM evently.waitlist_entries e
         WHERE e.event_id = p_id
           AND (v_status IS NULL OR e.status = v_status)
         ORDER BY e.seq
         LIMIT v_limit OFFSET (v_page - 1)::bigint * v_limit),
    base AS (
        SELECT count(*)::int AS n
          FROM evently.waitlist_entries a
         WHERE a.event_id = p_id AND a.status = 'ACTIVE'
           AND a.seq < (SELECT min(seq) FROM pg)),
    ranked AS (
        SELECT pg.entry, pg.seq,
               CASE WHEN pg.status = 'ACTIVE'
                    THEN base.n + (count(*) FILTER (WHERE pg.status
                                                    = 'ACTIVE')
                                   OVER (ORDER BY pg.seq))::int
               END AS position
          FROM pg, base)
    SELECT json_agg(evently.waitlist_entry_json(r.entry, r.position,
                                                v_interval)
                    ORDER BY r.seq)
      INTO v_items
      FROM ranked r;

    RETURN evently.ok(evently.page_json('entries', v_items, v_total, v_page,
                                        v_limit));
END $$;


-- GET /admin/waitlist/stats/{eventId}
CREATE OR REPLACE FUNCTION evently.api_admin_waitlist_stats(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_data  json;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM evently.events WHERE id = p_id) THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    -- average_wait_seconds: joined -> offered, over the entries that got
    -- an offer and hold or used it (NOTIFIED, CONVERTED); 0 when none
    SELECT json_build_object(
               'event_id', p_id,
               'active', count(*) FILTER (WHERE status = 'ACTIVE'),
               'notified', count(*) FILTER (WHERE status = 'NOTIFIED'),
               'converted', count(*) FILTER (WHERE status = 'CONVERTED'),
               'expired', count(*) FILTER (WHERE status = 'EXPIRED'),
               'cancelled', count(*) FILTER (WHERE status = 'CANCELLED'),
               'average_wait_seconds', coalesce(round(avg(
                   extract(epoch FROM notified_at - joined_at))
                   FILTER (WHERE status IN ('NOTIFIED', 'CONVERTED')
                           AND notified_at IS NOT NULL), 2), 0))
      INTO v_data
      FROM evently.waitlist_entries
     WHERE event_id = p_id;

    RETURN evently.ok(v_data);
END $$;


-- POST /admin/waitlist/notify/{eventId} and /cancellation/{eventId}: a
-- round now, at most p_tickets seats
CREATE OR REPLACE FUNCTION evently.waitlist_admin_round(p_id uuid,
    p_args json, p_key text)
RETURNS evently.api_result
LANGUAGE plpgsql AS $$
DECLARE
    v_tickets  int := (p_args->>p_key)::int;
    v_event    evently.events%ROWTYPE;
    v_round    json;
BEGIN
    SELECT * INTO v_event FROM evently.events WHERE id = p_id;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    IF v_event.status <> 'published' OR v_event.date_time <= now() THEN
        RETURN evently.fail(409, 'EVENT_NOT_ON_SALE',
                            'Event is not on sale');
    END IF;

    IF evently.waitlist_args_held(p_args, p_id) IS NULL THEN
        RETURN evently.fail(503, 'REDIS_UNAVAILABLE',
                            'Seat holds are unavailable right now, '
                            'retry shortly');
    END IF;

    PERFORM evently.waitlist_lock(p_id);

    v_round := evently.waitlist_round(p_id,
                   evently.waitlist_args_held(p_args, p_id), v_tickets,
                   evently.waitlist_args_ttl(p_args));

    RETURN evently.ok(json_build_object(
        'payload', json_build_object(
            'event_id', p_id,
            p_key, v_tickets,
            'offered_seats', (v_round->>'offered_seats')::int,
            'notified', (v_round->>'offered_entries')::int,
            'offers', evently.waitlist_public_offers(v_round),
            'waiting', (SELECT count(*)
                          FROM evently.waitlist_entries
                         WHERE event_id = p_id AND status = 'ACTIVE'))::text,
        'offers', v_round->'offers',
        'release', v_round->'release'));
END $$;


CREATE OR REPLACE FUNCTION evently.api_admin_waitlist_notify(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE sql AS $$
    SELECT evently.waitlist_admin_round(p_id, p_args, 'available_tickets')
$$;


CREATE OR REPLACE FUNCTION evently.api_admin_waitlist_cancellation(
    p_user uuid, p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE sql AS $$
    SELECT evently.waitlist_admin_round(p_id, p_args, 'freed_tickets')
$$;
