-- 60_bookings.sql: confirming a hold into a booking, and reading bookings.
--
-- A confirmation is ONE transaction, one round trip: the booking, its
-- seats, the (mock) payment and the domain events.  The partial unique
-- index booking_seats_event_seat_active_key is the last guard against
-- selling a seat twice: a race lost there is a clean 409.


CREATE OR REPLACE FUNCTION evently.booking_seats_json(p_booking uuid)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT coalesce(json_agg(json_build_object(
               'seat_id', bs.seat_id,
               'section_id', bs.section_id,
               'seat_number', bs.seat_number,
               'row', bs.row_label,
               'section_name', bs.section_name,
               'price', bs.price)
               ORDER BY bs.section_name, bs.seat_number), '[]')
      FROM evently.booking_seats bs
     WHERE bs.booking_id = p_booking
$$;


CREATE OR REPLACE FUNCTION evently.payment_json(p evently.payments)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', p.id,
        'amount', p.amount,
        'currency', p.currency,
        'status', p.status,
        'payment_method', p.payment_method,
        'transaction_id', p.transaction_id,
        'processed_at', evently.ts(p.processed_at),
        'refunded_at', evently.ts(p.refunded_at),
        'refund_amount', p.refund_amount)
$$;


-- the contract's Booking
CREATE OR REPLACE FUNCTION evently.booking_json(b evently.bookings)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', b.id,
        'user_id', b.user_id,
        'event_id', b.event_id,
        'total_seats', b.total_seats,
        'total_price', b.total_price,
        'currency', b.currency,
        'status', b.status,
        'booking_ref', b.booking_ref,
        'version', b.version,
        'created_at', evently.ts(b.created_at),
        'updated_at', evently.ts(b.updated_at),
        'cancelled_at', evently.ts(b.cancelled_at),
        'seats', evently.booking_seats_json(b.id),
        'payments', (SELECT coalesce(json_agg(evently.payment_json(p)
                                              ORDER BY p.created_at), '[]')
                       FROM evently.payments p WHERE p.booking_id = b.id))
$$;


-- the contract's BookingConfirmation
CREATE OR REPLACE FUNCTION evently.booking_confirmation_json(
    b evently.bookings)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'booking_id', b.id,
        'booking_ref', b.booking_ref,
        'status', b.status,
        'event_id', b.event_id,
        'total_price', b.total_price,
        'total_seats', b.total_seats,
        'currency', b.currency,
        'version', b.version,
        'seats', evently.booking_seats_json(b.id),
        'payment', (SELECT evently.payment_json(p)
                      FROM evently.payments p
                     WHERE p.booking_id = b.id
                     ORDER BY p.created_at LIMIT 1),
        'created_at', evently.ts(b.created_at))
$$;


-- a booking already made from this hold: the same answer again
CREATE OR REPLACE FUNCTION evently.booking_replay(p_user uuid, p_role text,
    p_hold uuid)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_booking  evently.bookings%ROWTYPE;
BEGIN
    SELECT * INTO v_booking FROM evently.bookings WHERE hold_id = p_hold;

    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    IF v_booking.user_id <> p_user THEN
        RETURN evently.fail(403, 'FORBIDDEN',
                            'This hold belongs to another user');
    END IF;

    RETURN evently.ok_status(200, 'Booking already confirmed',
                             evently.booking_confirmation_json(v_booking));
END $$;


-- args: hold_id, event_id, payment_method, seat_ids (from the hold in
-- Redis), or hold_missing: true when Redis no longer has the hold
CREATE OR REPLACE FUNCTION evently.api_booking_confirm(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql AS $$
DECLARE
    v_hold        uuid := (p_args->>'hold_id')::uuid;
    v_method      text := coalesce(p_args->>'payment_method', 'mock');
    v_replay      evently.api_result;
    v_event       evently.events%ROWTYPE;
    v_user        evently.users%ROWTYPE;
    v_ids         uuid[];
    v_booking     evently.bookings%ROWTYPE;
    v_count       int;
    v_total       numeric(12,2);
    v_taken       json;
    v_constraint  text;
BEGIN
    v_replay := evently.booking_replay(p_user, p_role, v_hold);

    -- (a row IS NOT NULL only when every field is: test the status)
    IF v_replay.status IS NOT NULL THEN
        RETURN v_replay;
    END IF;

    IF (p_args->>'hold_missing')::boolean THEN
        RETURN evently.fail(409, 'HOLD_EXPIRED',
                            'The hold has expired or does not exist');
    END IF;

    -- the row lock orders this against a concurrent event change
    SELECT * INTO v_event FROM evently.events
     WHERE id = (p_args->>'event_id')::uuid
       FOR SHARE;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    IF v_event.status <> 'published' OR v_event.date_time <= now() THEN
        RETURN evently.fail(409, 'EVENT_NOT_ON_SALE',
                            'Event is not on sale');
    END IF;

    SELECT * INTO v_user FROM evently.users WHERE id = p_user;

    IF NOT FOUND THEN
        RETURN evently.fail(401, 'INVALID_TOKEN', 'Unknown user');
    END IF;

    SELECT array_agg(value::uuid) INTO v_ids
      FROM json_array_elements_text(p_args->'seat_ids');

    -- priced now, at confirmation; a seat blocked meanwhile is refused
    SELECT count(*), sum(evently.seat_price(v_event.base_price,
                                            p.price_multiplier)),
           json_agg(s.id) FILTER (WHERE s.status = 'BLOCKED')
      INTO v_count, v_total, v_taken
      FROM evently.seats s
      JOIN evently.venue_sections sec ON sec.id = s.section_id
      LEFT JOIN evently.event_section_pricing p
             ON p.event_id = v_event.id AND p.section_id = sec.id
     WHERE s.id = ANY (v_ids)
       AND sec.template_id = v_event.venue_template_id;

    IF v_count IS DISTINCT FROM cardinality(v_ids) OR v_count = 0 THEN
        RETURN evently.fail(409, 'HOLD_EXPIRED',
                            'The held seats no longer exist');
    END IF;

    IF v_taken IS NOT NULL THEN
        RETURN evently.fail(409, 'SEATS_UNAVAILABLE',
                            'Seats are not available',
                            json_build_object('seat_ids', v_taken));
    END IF;

    BEGIN
        INSERT INTO evently.bookings (booking_ref, user_id, event_id,
                                      hold_id, total_seats, total_price,
                                      currency)
        VALUES (evently.booking_ref(), p_user, v_event.id, v_hold, v_count,
                v_total, v_event.currency)
        RETURNING * INTO v_booking;

        INSERT INTO evently.booking_seats (booking_id, event_id, seat_id,
                                           section_id, seat_number,
                                           row_label, section_name, price)
        SELECT v_booking.id, v_event.id, s.id, sec.id, s.seat_number,
               s.row_label, sec.name,
               evently.seat_price(v_event.base_price, p.price_multiplier)
          FROM evently.seats s
          JOIN evently.venue_sections sec ON sec.id = s.section_id
          LEFT JOIN evently.event_section_pricing p
                 ON p.event_id = v_event.id AND p.section_id = sec.id
         WHERE s.id = ANY (v_ids);

    EXCEPTION WHEN unique_violation THEN
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;

        IF v_constraint = 'bookings_hold_id_key' THEN
            -- the same hold confirmed concurrently: that booking
            RETURN evently.booking_replay(p_user, p_role, v_hold);
        END IF;

        IF v_constraint = 'booking_seats_event_seat_active_key' THEN
            SELECT json_agg(DISTINCT bs.seat_id) INTO v_taken
              FROM evently.booking_seats bs
             WHERE bs.event_id = v_event.id AND bs.active
               AND bs.seat_id = ANY (v_ids);

            RETURN evently.fail(409, 'SEATS_UNAVAILABLE',
                                'Seats are not available',
                                json_build_object('seat_ids',
                                                  coalesce(v_taken, '[]')));
        END IF;

        RETURN evently.fail(409, 'CONFLICT_RETRY',
                            'A concurrent change conflicted, please retry');
    END;

    INSERT INTO evently.payments (booking_id, amount, currency, status,
                                  payment_method, transaction_id,
                                  processed_at)
    VALUES (v_booking.id, v_total, v_event.currency, 'COMPLETED', v_method,
            'TXN-' || upper(encode(gen_random_bytes(10), 'hex')), now());

    -- a hold offered by the waitlist is now a booking (80_waitlist.sql)
    PERFORM evently.waitlist_hold_converted(v_hold, p_user, v_booking.id);

    PERFORM evently.emit('bookings', 'booking.confirmed', v_event.id,
                         v_booking.id, p_user,
                         jsonb_build_object(
                             'booking_ref', v_booking.booking_ref,
                             'total_seats', v_count,
                             'total_price', v_total,
                             'currency', v_event.currency,
                             'seat_ids', to_jsonb(v_ids)));

    PERFORM evently.emit('notifications', 'email.booking_confirmed',
                         v_event.id, v_booking.id, p_user,
                         jsonb_build_object(
                             'to', v_user.email,
                             'template', 'booking_confirmed',
                             'booking_ref', v_booking.booking_ref,
                             'event_name', v_event.name,
                             'event_date', evently.ts(v_event.date_time),
                             'total_price', v_total));

    RETURN evently.ok_status(201, 'Booking confirmed successfully',
                             evently.booking_confirmation_json(v_booking));
END $$;


-- GET /bookings/{id}: the owner or an admin
CREATE OR REPLACE FUNCTION evently.api_booking_get(p_user uuid, p_role text,
    p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_booking  evently.bookings%ROWTYPE;
BEGIN
    SELECT * INTO v_booking FROM evently.bookings WHERE id = p_id;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'BOOKING_NOT_FOUND', 'Booking not found');
    END IF;

    IF v_booking.user_id <> p_user AND p_role <> 'ADMIN' THEN
        RETURN evently.fail(403, 'FORBIDDEN',
                            'This booking belongs to another user');
    END IF;

    RETURN evently.ok(evently.booking_json(v_booking),
                      v_booking.version::text);
END $$;


-- GET /users/bookings: limit 1..100 (default 10), offset; newest first
CREATE OR REPLACE FUNCTION evently.api_user_bookings(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_limit   int := coalesce((p_args->>'limit')::int, 10);
    v_offset  int := coalesce((p_args->>'offset')::int, 0);
    v_total   bigint;
    v_items   json;
BEGIN
    SELECT count(*) INTO v_total
      FROM evently.bookings WHERE user_id = p_user;

    SELECT coalesce(json_agg(evently.booking_json(b)
                             ORDER BY b.created_at DESC, b.id), '[]')
      INTO v_items
      FROM (SELECT * FROM evently.bookings
             WHERE user_id = p_user
             ORDER BY created_at DESC, id
             LIMIT v_limit OFFSET v_offset) b;

    RETURN evently.ok(json_build_object(
        'bookings', v_items,
        'count', json_array_length(v_items),
        'total_count', v_total,
        'limit', v_limit,
        'offset', v_offset));
END $$;


-- GET /admin/bookings: event_id, user_id, status, page, limit
CREATE OR REPLACE FUNCTION evently.api_admin_bookings(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_page    int := coalesce((p_args->>'page')::int, 1);
    v_limit   int := coalesce((p_args->>'limit')::int, 10);
    v_event   uuid := coalesce(p_id, (p_args->>'event_id')::uuid);
    v_owner   uuid := (p_args->>'user_id')::uuid;
    v_status  text := p_args->>'status';
    v_total   bigint;
    v_items   json;
BEGIN
    IF p_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM evently.events WHERE id = p_id) THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    SELECT count(*) INTO v_total
      FROM evently.bookings b
     WHERE (v_event IS NULL OR b.event_id = v_event)
       AND (v_owner IS NULL OR b.user_id = v_owner)
       AND (v_status IS NULL OR b.status = v_status);

    SELECT coalesce(json_agg(evently.booking_json(b)
                             ORDER BY b.created_at DESC, b.id), '[]')
      INTO v_items
      FROM (SELECT * FROM evently.bookings b
             WHERE (v_event IS NULL OR b.event_id = v_event)
               AND (v_owner IS NULL OR b.user_id = v_owner)
               AND (v_status IS NULL OR b.status = v_status)
             ORDER BY b.created_at DESC, b.id
             LIMIT v_limit OFFSET (v_page - 1) * v_limit) b;

    RETURN evently.ok(evently.page_json('bookings', v_items, v_total,
                                        v_page, v_limit));
END $$;


CREATE OR REPLACE FUNCTION evently.api_admin_booking_get(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE sql STABLE AS $$
    SELECT evently.api_booking_get(p_user, 'ADMIN', p_id, p_args)
$$;


CREATE OR REPLACE FUNCTION evently.api_admin_event_bookings(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE sql STABLE AS $$
    SELECT evently.api_admin_bookings(p_user, p_role, p_id, p_args)
$$;
