-- 50_holds.sql: PostgreSQL's side of seat holds (ngx_http_evently_holds.c).
--
-- Holds themselves live in Redis only.  Before a hold is placed, PostgreSQL
-- (the source of truth) says whether the event is on sale and whether the
-- seats belong to its venue and are neither blocked nor booked, and prices
-- them.  Redis then takes the seats atomically, or refuses.


-- a seat's price for an event: base price x its section's multiplier
CREATE OR REPLACE FUNCTION evently.seat_price(p_base numeric,
    p_multiplier numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT round(p_base * coalesce(p_multiplier, 1.0), 2)::numeric(12,2)
$$;


-- args: event_id, seat_ids
CREATE OR REPLACE FUNCTION evently.api_hold_check(p_user uuid, p_role text,
    p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_event    evently.events%ROWTYPE;
    v_ids      uuid[];
    v_missing  json;
    v_taken    json;
    v_seats    json;
    v_total    numeric(12,2);
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

    SELECT array_agg(value::uuid) INTO v_ids
      FROM json_array_elements_text(p_args->'seat_ids');

    -- seats that are not seats of this event's venue
    SELECT json_agg(r.id ORDER BY r.ord) INTO v_missing
      FROM unnest(v_ids) WITH ORDINALITY AS r (id, ord)
     WHERE NOT EXISTS (
               SELECT 1
                 FROM evently.seats s
                 JOIN evently.venue_sections sec ON sec.id = s.section_id
                WHERE s.id = r.id
                  AND sec.template_id = v_event.venue_template_id);

    IF v_missing IS NOT NULL THEN
        RETURN evently.fail(400, 'SEATS_NOT_IN_VENUE',
                            'Seats do not belong to this event''s venue',
                            json_build_object('seat_ids', v_missing));
    END IF;

    -- blocked, booked for this event, or reserved for somebody else's
    -- waitlist offer (evently.seats_offered_to_others, 80_waitlist.sql)
    SELECT json_agg(s.id ORDER BY s.id) INTO v_taken
      FROM evently.seats s
     WHERE s.id = ANY (v_ids)
       AND (s.status = 'BLOCKED'
            OR EXISTS (SELECT 1 FROM evently.booking_seats bs
                        WHERE bs.event_id = v_event.id
                          AND bs.seat_id = s.id AND bs.active)
            OR s.id = ANY (evently.seats_offered_to_others(v_event.id,
                                                           v_ids, p_user)));

    IF v_taken IS NOT NULL THEN
        RETURN evently.fail(409, 'SEATS_UNAVAILABLE',
                            'Seats are not available',
                            json_build_object('seat_ids', v_taken));
    END IF;

    SELECT json_agg(json_build_object(
               'seat_id', s.id,
               'section_id', sec.id,
               'section_name', sec.name,
               'seat_number', s.seat_number,
               'row', s.row_label,
               'price', evently.seat_price(v_event.base_price,
                                           p.price_multiplier))
               ORDER BY sec.name, s.row_index, s.position),
           sum(evently.seat_price(v_event.base_price, p.price_multiplier))
      INTO v_seats, v_total
      FROM evently.seats s
      JOIN evently.venue_sections sec ON sec.id = s.section_id
      LEFT JOIN evently.event_section_pricing p
             ON p.event_id = v_event.id AND p.section_id = sec.id
     WHERE s.id = ANY (v_ids);

    -- money and the seat list go back as exact JSON text: the module
    -- stores them in the hold and splices them into its answers verbatim
    RETURN evently.ok(json_build_object(
        'event_id', v_event.id,
        'currency', v_event.currency,
        'total_price', v_total::text,
        'seats', v_seats::text));
END $$;


-- args: event_id, seat_ids, _held {event_id: [seat ids held now]}
CREATE OR REPLACE FUNCTION evently.api_seat_availability(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_event    evently.events%ROWTYPE;
    v_ids      uuid[];
    v_held     uuid[];
    v_missing  json;
    v_seats    json;
BEGIN
    SELECT * INTO v_event
      FROM evently.events WHERE id = (p_args->>'event_id')::uuid;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    SELECT array_agg(value::uuid) INTO v_ids
      FROM json_array_elements_text(p_args->'seat_ids');

    v_held := evently.held_seats(p_args->'_held', v_event.id);

    SELECT json_agg(r.id ORDER BY r.ord) INTO v_missing
      FROM unnest(v_ids) WITH ORDINALITY AS r (id, ord)
     WHERE NOT EXISTS (
               SELECT 1
                 FROM evently.seats s
                 JOIN evently.venue_sections sec ON sec.id = s.section_id
                WHERE s.id = r.id
                  AND sec.template_id = v_event.venue_template_id);

    IF v_missing IS NOT NULL THEN
        RETURN evently.fail(400, 'SEATS_NOT_IN_VENUE',
                            'Seats do not belong to this event''s venue',
                            json_build_object('seat_ids', v_missing));
    END IF;

    SELECT json_agg(json_build_object(
               'seat_id', es.seat_id,
               'available', es.live = 'AVAILABLE',
               'status', es.live)
               ORDER BY r.ord)
      INTO v_seats
      FROM unnest(v_ids) WITH ORDINALITY AS r (id, ord)
      JOIN evently.event_seats(v_event.id, v_event.venue_template_id,
                               v_held) es
        ON es.seat_id = r.id;

    RETURN evently.ok(json_build_object(
        'event_id', v_event.id,
        'seats', v_seats));
END $$;
