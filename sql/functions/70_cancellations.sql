-- 70_cancellations.sql: cancellation policies, booking cancellations and
-- the refunds of a cancelled event. Re-applied on every migrate (CREATE OR
-- REPLACE only).
--
-- ONE cancellation path. evently.cancel_bookings() is the only code that
-- cancels bookings: the user's request-cancel and cancel (through
-- evently.api_booking_cancel, under the event's policy) and an event's
-- cancellation (evently.cancel_event_bookings, full refunds) both call it,
-- inside the caller's transaction. In one transaction, for each booking:
-- the booking CANCELLED (version + 1), its booking_seats inactive (history
-- kept; the partial unique index no longer counts them, so the seats can
-- be sold again), one cancellations row, the payment REFUNDED, and the
-- domain events booking.cancelled and email.booking_cancelled in the
-- outbox. A booking that is not CONFIRMED any more is left alone, so a
-- cancellation row is never written without its booking changing.
--
-- Lock order, everywhere: the event row, then the booking rows (the same
-- as booking confirmation and the event update). A cancel holds the event
-- FOR SHARE, so concurrent cancels of one event do not wait for each
-- other, while an event's cancellation (FOR UPDATE) waits for them or they
-- for it; the booking FOR UPDATE serialises two cancels of one booking:
-- the second one sees CANCELLED and answers 409 ALREADY_CANCELLED.
--
-- Contract points decided here:
--   * A policy can be set on an event of any status. fee_type defaults to
--     NONE, fee_amount to 0, refund_processing_days to 5 (the table's
--     default). The deadline may be in the past (cancellation closed) but
--     not after the event starts (400 with errors.fields). PUT replaces
--     every field: what it leaves out gets the default again.
--   * The public GET answers 404 EVENT_NOT_FOUND for a draft event, as
--     GET /events/{id} does.
--   * Cancellable: a policy exists, allow_cancellation, the event has not
--     started and is not completed, and now <= cancellation_deadline (the
--     deadline itself still counts as in time).
--   * Fee: NONE 0; FIXED fee_amount; PERCENTAGE round(total x fee / 100, 2)
--     (numeric, half away from zero); capped at the total.
--     refund = total - fee; refund_due_by = now + refund_processing_days.
--     Cancellation status REFUNDED when money goes back, PROCESSED when the
--     fee kept all of it (or the booking was free). The payment becomes
--     REFUNDED (refund_amount, refunded_at) only when money goes back; when
--     the refund is 0 it stays COMPLETED with refund_amount 0.
--   * An event's cancellation refunds everything (fee 0, whatever the
--     policy), reason 'Event cancelled', refund_due_by from the policy's
--     refund_processing_days (5 without a policy).
--   * GET /users/cancellations: limit 1..100 (default 50), offset;
--     {cancellations, count, total_count, limit, offset}, newest first.


-- ---------------------------------------------------------------------------
-- JSON

-- the contract's Cancellation
CREATE OR REPLACE FUNCTION evently.cancellation_json(c evently.cancellations)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', c.id,
        'booking_id', c.booking_id,
        'requested_at', evently.ts(c.requested_at),
        'processed_at', evently.ts(c.processed_at),
        'cancellation_fee', c.cancellation_fee,
        'refund_amount', c.refund_amount,
        'refund_due_by', evently.ts(c.refund_due_by),
        'reason', c.reason,
        'status', c.status,
        'created_at', evently.ts(c.created_at),
        'updated_at', evently.ts(c.updated_at))
$$;


-- the contract's CancellationPolicy
CREATE OR REPLACE FUNCTION evently.cancellation_policy_json(
    p evently.cancellation_policies)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', p.id,
        'event_id', p.event_id,
        'allow_cancellation', p.allow_cancellation,
        'cancellation_deadline', evently.ts(p.cancellation_deadline),
        'fee_type', p.fee_type,
        'fee_amount', p.fee_amount,
        'refund_processing_days', p.refund_processing_days,
        'created_at', evently.ts(p.created_at),
        'updated_at', evently.ts(p.updated_at))
$$;


-- ---------------------------------------------------------------------------
-- Fees

-- the fee of cancelling a booking of p_total under (p_type, p_amount),
-- never more than the total
CREATE OR REPLACE FUNCTION evently.cancellation_fee(p_type text,
    p_amount numeric, p_total numeric)
RETURNS numeric(12,2)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(CASE p_type
                 WHEN 'FIXED' THEN p_amount
                 WHEN 'PERCENTAGE' THEN round(p_total * p_amount / 100, 2)
                 ELSE 0
                 END,
                 p_total)::numeric(12,2)
$$;


-- ---------------------------------------------------------------------------
-- Policies

-- The policy arguments, checked against the event: NULL when they are
-- fine, else the errors object ({"fields":{...}}) of a 400.
CREATE OR REPLACE FUNCTION evently.cancellation_policy_errors(p_args json,
    p_event evently.events)
RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_type      text := coalesce(p_args->>'fee_type', 'NONE');
    v_amount    numeric := coalesce((p_args->>'fee_amount')::numeric, 0);
    v_deadline  timestamptz := (p_args->>'cancellation_deadline')
                               ::timestamptz;
    v_fields    jsonb := '{}';
BEGIN
    IF v_deadline > p_event.date_time THEN
        v_fields := v_fields || jsonb_build_object('cancellation_deadline',
            'must not be after the event starts ('
            || evently.ts(p_event.date_time) || ')');
    END IF;

    IF v_type = 'NONE' AND v_amount <> 0 THEN
        v_fields := v_fields || jsonb_build_object('fee_amount',
            'must be 0 (or left out) when fee_type is NONE');
    ELSIF v_type = 'FIXED' AND v_amount <= 0 THEN
        v_fields := v_fields || jsonb_build_object('fee_amount',
            'must be greater than 0 when fee_type is FIXED');
    ELSIF v_type = 'PERCENTAGE' AND v_amount > 100 THEN
        v_fields := v_fields || jsonb_build_object('fee_amount',
            'must be between 0 and 100 when fee_type is PERCENTAGE');
    END IF;

    IF v_fields = '{}' THEN
        RETURN NULL;
    END IF;

    RETURN json_build_object('fields', v_fields);
END $$;


-- POST /admin/events/{id}/cancellation-policy
CREATE OR REPLACE FUNCTION evently.api_cancellation_policy_create(
    p_user uuid, p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql AS $$
DECLARE
    v_event   evently.events%ROWTYPE;
    v_errors  json;
    v_policy  evently.cancellation_policies%ROWTYPE;
BEGIN
    SELECT * INTO v_event FROM evently.events WHERE id = p_id;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    v_errors := evently.cancellation_policy_errors(p_args, v_event);

    IF v_errors IS NOT NULL THEN
        RETURN evently.fail(400, 'VALIDATION_FAILED', 'Validation failed',
                            v_errors);
    END IF;

    IF EXISTS (SELECT 1 FROM evently.cancellation_policies
                WHERE event_id = p_id) THEN
        RETURN evently.fail(409, 'POLICY_EXISTS',
                            'The event already has a cancellation policy');
    END IF;

    BEGIN
        INSERT INTO evently.cancellation_policies (event_id,
            allow_cancellation, cancellation_deadline, fee_type, fee_amount,
            refund_processing_days)
        VALUES (p_id, (p_args->>'allow_cancellation')::boolean,
                (p_args->>'cancellation_deadline')::timestamptz,
                coalesce(p_args->>'fee_type', 'NONE'),
                coalesce((p_args->>'fee_amount')::numeric, 0),
                coalesce((p_args->>'refund_processing_days')::int, 5))
        RETURNING * INTO v_policy;

    EXCEPTION WHEN unique_violation THEN
        -- created concurrently
        RETURN evently.fail(409, 'POLICY_EXISTS',
                            'The event already has a cancellation policy');
    END;

    RETURN evently.ok(evently.cancellation_policy_json(v_policy));
END $$;


-- GET /admin/events/{id}/cancellation-policy
CREATE OR REPLACE FUNCTION evently.api_cancellation_policy_get(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_policy  evently.cancellation_policies%ROWTYPE;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM evently.events WHERE id = p_id) THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    SELECT * INTO v_policy FROM evently.cancellation_policies
     WHERE event_id = p_id;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'POLICY_NOT_FOUND',
                            'The event has no cancellation policy');
    END IF;

    RETURN evently.ok(evently.cancellation_policy_json(v_policy));
END $$;


-- PUT /admin/events/{id}/cancellation-policy: a full replace
CREATE OR REPLACE FUNCTION evently.api_cancellation_policy_update(
    p_user uuid, p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql AS $$
DECLARE
    v_event   evently.events%ROWTYPE;
    v_errors  json;
    v_policy  evently.cancellation_policies%ROWTYPE;
BEGIN
    SELECT * INTO v_event FROM evently.events WHERE id = p_id;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    v_errors := evently.cancellation_policy_errors(p_args, v_event);

    IF v_errors IS NOT NULL THEN
        RETURN evently.fail(400, 'VALIDATION_FAILED', 'Validation failed',
                            v_errors);
    END IF;

    UPDATE evently.cancellation_policies
       SET allow_cancellation = (p_args->>'allow_cancellation')::boolean,
           cancellation_deadline =
               (p_args->>'cancellation_deadline')::timestamptz,
           fee_type = coalesce(p_args->>'fee_type', 'NONE'),
           fee_amount = coalesce((p_args->>'fee_amount')::numeric, 0),
           refund_processing_days =
               coalesce((p_args->>'refund_processing_days')::int, 5),
           updated_at = now()
     WHERE event_id = p_id
    RETURNING * INTO v_policy;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'POLICY_NOT_FOUND',
                            'The event has no cancellation policy');
    END IF;

    RETURN evently.ok(evently.cancellation_policy_json(v_policy));
END $$;


-- GET /events/{id}/cancellation-policy (public): drafts are not public
CREATE OR REPLACE FUNCTION evently.api_event_cancellation_policy(
    p_user uuid, p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_policy  evently.cancellation_policies%ROWTYPE;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM evently.events
                    WHERE id = p_id AND status <> 'draft') THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    SELECT * INTO v_policy FROM evently.cancellation_policies
     WHERE event_id = p_id;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'POLICY_NOT_FOUND',
                            'The event has no cancellation policy');
    END IF;

    RETURN evently.ok(evently.cancellation_policy_json(v_policy));
END $$;


-- ---------------------------------------------------------------------------
-- THE cancellation path

-- Cancels the bookings p_ids that are still CONFIRMED (the caller holds
-- their event rows and has locked the bookings) with the fee of
-- (p_fee_type, p_fee_amount) each; p_cancelled_by ('USER', 'ADMIN',
-- 'EVENT_CANCELLED') goes into the domain event. Set-based: three
-- statements whatever the number of bookings. Returns the cancellations
-- written.
CREATE OR REPLACE FUNCTION evently.cancel_bookings(p_ids uuid[],
    p_fee_type text, p_fee_amount numeric, p_refund_days int,
    p_reason text, p_cancelled_by text)
RETURNS SETOF evently.cancellations
LANGUAGE plpgsql AS $$
DECLARE
    v_ids  uuid[];
BEGIN
    -- the booking, its seats, the cancellation row and the payment: one
    -- statement, so none of them can be written without the others
    WITH b AS (
        UPDATE evently.bookings AS b
           SET status = 'CANCELLED',
               version = b.version + 1,
               cancelled_at = now(),
               updated_at = now()
         WHERE b.id = ANY (p_ids) AND b.status = 'CONFIRMED'
        RETURNING b.id, b.user_id, b.total_price
    ), s AS (
        UPDATE evently.booking_seats AS bs
           SET active = false,
               updated_at = now()
          FROM b
         WHERE bs.booking_id = b.id AND bs.active
        RETURNING bs.id
    ), c AS (
        INSERT INTO evently.cancellations (booking_id, user_id,
            requested_at, processed_at, cancellation_fee, refund_amount,
            refund_due_by, reason, status)
        SELECT b.id, b.user_id, now(), now(), f.fee, b.total_price - f.fee,
               now() + make_interval(days => p_refund_days), p_reason,
               CASE WHEN b.total_price - f.fee > 0 THEN 'REFUNDED'
                    ELSE 'PROCESSED' END
          FROM b
         CROSS JOIN LATERAL (
               SELECT evently.cancellation_fee(p_fee_type, p_fee_amount,
                                               b.total_price) AS fee) f
        RETURNING id, booking_id, refund_amount
    ), p AS (
        UPDATE evently.payments AS p
           SET status = CASE WHEN c.refund_amount > 0 THEN 'REFUNDED'
                             ELSE p.status END,
               refund_amount = least(c.refund_amount, p.amount),
               refunded_at = CASE WHEN c.refund_amount > 0 THEN now() END,
               updated_at = now()
          FROM c
         WHERE p.booking_id = c.booking_id AND p.status = 'COMPLETED'
        RETURNING p.id
    )
    SELECT array_agg(c.id) INTO v_ids FROM c;

    IF v_ids IS NULL THEN
        RETURN;
    END IF;

    -- the domain events, in the same transaction (the outbox)
    PERFORM evently.emit('bookings', 'booking.cancelled', b.event_id, b.id,
                b.user_id,
                jsonb_build_object(
                    'booking_ref', b.booking_ref,
                    'cancellation_id', c.id,
                    'total_seats', b.total_seats,
                    'total_price', b.total_price,
                    'cancellation_fee', c.cancellation_fee,
                    'refund_amount', c.refund_amount,
                    'currency', b.currency,
                    'reason', c.reason,
                    'cancelled_by', p_cancelled_by,
                    'seat_ids', (SELECT jsonb_agg(bs.seat_id
                                                  ORDER BY bs.seat_id)
                                   FROM evently.booking_seats bs
                                  WHERE bs.booking_id = b.id))),
            evently.emit('notifications', 'email.booking_cancelled',
                b.event_id, b.id, b.user_id,
                jsonb_build_object(
                    'to', u.email,
                    'template', 'booking_cancelled',
                    'booking_ref', b.booking_ref,
                    'event_name', e.name,
                    'event_date', evently.ts(e.date_time),
                    'cancellation_fee', c.cancellation_fee,
                    'refund_amount', c.refund_amount,
                    'currency', b.currency,
                    'refund_due_by', evently.ts(c.refund_due_by),
                    'reason', c.reason))
       FROM evently.cancellations c
       JOIN evently.bookings b ON b.id = c.booking_id
       JOIN evently.events e ON e.id = b.event_id
       JOIN evently.users u ON u.id = b.user_id
      WHERE c.id = ANY (v_ids)
      ORDER BY b.id;

    RETURN QUERY SELECT * FROM evently.cancellations c
                  WHERE c.id = ANY (v_ids);
END $$;


-- THE HOOK of the waitlist: seats of p_event_id were just freed by a
-- cancellation, in the cancellation's transaction. A no-op returning 0
-- until the waitlist replaces it (CREATE OR REPLACE in a later function
-- file, e.g. 80_waitlist.sql): there it offers the seats to the head of
-- the line and returns how many it reserved. The C side
-- (ngx_http_evently_cancellations.c) frees the seats' Redis markers after
-- the commit; reserving them for an offer must happen there too.
CREATE OR REPLACE FUNCTION evently.waitlist_seats_freed(p_event_id uuid,
    p_seat_ids uuid[])
RETURNS int
LANGUAGE plpgsql AS $$
BEGIN
    RETURN 0;
END $$;


-- POST /bookings/{id}/request-cancel and POST /bookings/{id}/cancel (the
-- same function): the owner or an admin cancels under the event's policy.
-- args: reason (optional here; request-cancel requires it in C).
--
-- data = {"cancellation": Cancellation, "freed": {"event_id",
-- "booking_id", "seat_ids"}}: C answers with the cancellation and uses
-- "freed" to drop the seats' "booked:<booking>" markers in Redis.
CREATE OR REPLACE FUNCTION evently.api_booking_cancel(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql AS $$
DECLARE
    v_reason    text := nullif(btrim(p_args->>'reason'), '');
    v_owner     uuid;
    v_event_id  uuid;
    v_event     evently.events%ROWTYPE;
    v_booking   evently.bookings%ROWTYPE;
    v_policy    evently.cancellation_policies%ROWTYPE;
    v_cancel    evently.cancellations%ROWTYPE;
    v_seats     uuid[];
BEGIN
    -- who owns it and of which event: neither ever changes, so no lock yet
    SELECT user_id, event_id INTO v_owner, v_event_id
      FROM evently.bookings WHERE id = p_id;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'BOOKING_NOT_FOUND', 'Booking not found');
    END IF;

    IF v_owner <> p_user AND p_role IS DISTINCT FROM 'ADMIN' THEN
        RETURN evently.fail(403, 'FORBIDDEN',
                            'This booking belongs to another user');
    END IF;

    -- the lock order: event, then booking
    SELECT * INTO v_event FROM evently.events
     WHERE id = v_event_id
       FOR SHARE;

    SELECT * INTO v_booking FROM evently.bookings
     WHERE id = p_id
       FOR UPDATE;

    IF v_booking.status = 'CANCELLED' THEN
        RETURN evently.fail(409, 'ALREADY_CANCELLED',
                            'The booking is already cancelled');
    END IF;

    SELECT * INTO v_policy FROM evently.cancellation_policies
     WHERE event_id = v_event.id;

    IF NOT FOUND OR NOT v_policy.allow_cancellation THEN
        RETURN evently.fail(409, 'CANCELLATION_NOT_ALLOWED',
                            'Bookings of this event cannot be cancelled');
    END IF;

    IF now() >= v_event.date_time OR v_event.status = 'completed'
       OR now() > v_policy.cancellation_deadline
    THEN
        RETURN evently.fail(409, 'DEADLINE_PASSED',
                            'The cancellation deadline has passed',
                            json_build_object('cancellation_deadline',
                                evently.ts(coalesce(
                                    v_policy.cancellation_deadline,
                                    v_event.date_time))));
    END IF;

    BEGIN
        SELECT * INTO v_cancel
          FROM evently.cancel_bookings(ARRAY[p_id], v_policy.fee_type,
                   v_policy.fee_amount, v_policy.refund_processing_days,
                   v_reason,
                   CASE WHEN v_owner = p_user THEN 'USER' ELSE 'ADMIN' END);

    EXCEPTION WHEN unique_violation THEN
        -- cancellations_booking_key: cannot happen under the row lock;
        -- were it to, nothing of this attempt is kept
        RETURN evently.fail(409, 'ALREADY_CANCELLED',
                            'The booking is already cancelled');
    END;

    IF v_cancel.id IS NULL THEN
        RETURN evently.fail(409, 'ALREADY_CANCELLED',
                            'The booking is already cancelled');
    END IF;

    SELECT array_agg(seat_id ORDER BY seat_id) INTO v_seats
      FROM evently.booking_seats WHERE booking_id = p_id;

    -- THE HOOK of the waitlist (a no-op until the waitlist exists)
    PERFORM evently.waitlist_seats_freed(v_event.id, v_seats);

    RETURN evently.ok(json_build_object(
        'cancellation', evently.cancellation_json(v_cancel),
        'freed', json_build_object(
            'event_id', v_event.id,
            'booking_id', p_id,
            'seat_ids', coalesce(to_json(v_seats), '[]'))));
END $$;


-- An event's cancellation (called by evently.api_events_update, in its
-- transaction, with the event row locked FOR UPDATE): every CONFIRMED
-- booking is cancelled with a full refund. Replaces the no-op of
-- 40_events.sql (function files are applied in name order). The seats'
-- Redis markers are left to expire: nothing can be held for a cancelled
-- event anyway. Returns the number of bookings cancelled.
CREATE OR REPLACE FUNCTION evently.cancel_event_bookings(p_event_id uuid)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_ids   uuid[];
    v_days  int;
    v_n     int;
BEGIN
    SELECT array_agg(id) INTO v_ids
      FROM (SELECT id FROM evently.bookings
             WHERE event_id = p_event_id AND status = 'CONFIRMED'
             ORDER BY id
               FOR UPDATE) b;

    IF v_ids IS NULL THEN
        RETURN 0;
    END IF;

    SELECT refund_processing_days INTO v_days
      FROM evently.cancellation_policies WHERE event_id = p_event_id;

    SELECT count(*) INTO v_n
      FROM evently.cancel_bookings(v_ids, 'NONE', 0, coalesce(v_days, 5),
                                   'Event cancelled', 'EVENT_CANCELLED');

    RETURN v_n;
END $$;


-- ---------------------------------------------------------------------------
-- Reading cancellations

-- GET /cancellations/{id}: the booking's owner or an admin
CREATE OR REPLACE FUNCTION evently.api_cancellation_get(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_cancel  evently.cancellations%ROWTYPE;
BEGIN
    SELECT * INTO v_cancel FROM evently.cancellations WHERE id = p_id;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'CANCELLATION_NOT_FOUND',
                            'Cancellation not found');
    END IF;

    IF v_cancel.user_id <> p_user AND p_role IS DISTINCT FROM 'ADMIN' THEN
        RETURN evently.fail(403, 'FORBIDDEN',
                            'This cancellation belongs to another user');
    END IF;

    RETURN evently.ok(evently.cancellation_json(v_cancel));
END $$;


-- GET /users/cancellations: the caller's, newest first; limit 1..100
-- (default 50), offset (cancellations_user_created_idx)
CREATE OR REPLACE FUNCTION evently.api_user_cancellations(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_limit   int := coalesce((p_args->>'limit')::int, 50);
    v_offset  int := coalesce((p_args->>'offset')::int, 0);
    v_total   bigint;
    v_items   json;
BEGIN
    SELECT count(*) INTO v_total
      FROM evently.cancellations WHERE user_id = p_user;

    SELECT coalesce(json_agg(evently.cancellation_json(c)
                             ORDER BY c.created_at DESC, c.id), '[]')
      INTO v_items
      FROM (SELECT * FROM evently.cancellations
             WHERE user_id = p_user
             ORDER BY created_at DESC, id
             LIMIT v_limit OFFSET v_offset) c;

    RETURN evently.ok(json_build_object(
        'cancellations', v_items,
        'count', json_array_length(v_items),
        'total_count', v_total,
        'limit', v_limit,
        'offset', v_offset));
END $$;
