-- 40_events.sql: events (public and admin), per-event sections and the
-- live venue layout. Re-applied on every migrate (CREATE OR REPLACE only).
--
-- Live availability. Holds live in Redis only: every op that reports
-- availability is run by C through ngx_http_evently_run_sql_op_with_holds,
-- which puts the seats held right now in p_args._held =
-- {"<event_id>":["<seat_id>",...],...} (only events with live holds) and
-- sets p_args._holds_unknown = true when Redis is down (the answer then
-- counts bookings only; the response does not say so, the contract's
-- shapes having no place for it). Bookings come from evently.booking_seats
-- (active rows). For one event:
--   total_capacity    = seats of the template that are not BLOCKED
--   booked_count      = seats in active booking_seats of the event
--   available_tickets = non-BLOCKED seats neither booked nor held, i.e.
--                       capacity - booked - held where a seat that is both
--                       booked and held, or booked/held and BLOCKED, is
--                       counted once (so it equals the layout's AVAILABLE
--                       count exactly)
-- Seat status in the layout, by precedence: BLOCKED > BOOKED > HELD >
-- AVAILABLE. Nothing says who holds or booked a seat.
--
-- Contract points decided here (see the Events section of the contract):
--   * GET /events without status= lists published events only; status=
--     picks published|cancelled|completed. Drafts are never public (the
--     detail answers 404 EVENT_NOT_FOUND). The admin list shows every
--     status unless status= (draft too) is given.
--   * tags=a,b matches events having ANY of the slugs; unknown slugs match
--     nothing (no error).
--   * date_from/date_to are UTC days, both inclusive.
--   * search= matches name, description or venue (case-insensitive
--     substring); venue= matches the venue (substring). % and _ are
--     literal.
--   * Lists are ordered by date_time, then id; upcoming = published events
--     with date_time > now(), soonest first, same paging shape.
--   * Create: status draft|published (default published); an unknown
--     venue_template_id is 404 TEMPLATE_NOT_FOUND; unknown tag slugs are
--     400 with errors.fields.tags and errors.unknown_tags; section_pricing
--     entries must be sections of the template, without duplicates;
--     sections left out cost base_price x 1.00; currency (3 letters) is
--     stored upper-cased, INR when absent; an empty description is NULL.
--   * Update: any create field plus status (draft|published|cancelled|
--     completed). tags and section_pricing, when given, replace the whole
--     set. A changed venue_template_id drops the old multipliers (unless
--     section_pricing is given for the new template) and is refused (409
--     EVENT_HAS_BOOKINGS) once the event has any booking. A changed
--     date_time must be in the future. A cancelled event is final: any
--     update is 409 EVENT_CANCELLED. An update that changes nothing
--     returns the event as it is (no new version, no domain event).
--   * Prices: section price = round(base_price x multiplier, 2); create
--     and update refuse a base_price whose highest section price would
--     exceed 9999999999.99 (the numeric(12,2) of booking prices).
--   * GET /events/{id}/sections (user) answers {event_id, sections:[...]};
--     drafts are visible there (and in the layout) to admins only.
--   * Layout: sections by name, seats by row then position; total_seats
--     counts every seat (BLOCKED too), available_seats the AVAILABLE ones.


-- ---------------------------------------------------------------------------
-- Helpers

-- Bookable seats of a template (not BLOCKED). Index: venue_sections
-- (template_id, ...), seats (section_id, row_index, position).
CREATE OR REPLACE FUNCTION evently.template_capacity(p_template_id uuid)
RETURNS int
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT count(*)::int
    FROM evently.venue_sections vs
    JOIN evently.seats s ON s.section_id = vs.id
    WHERE vs.template_id = p_template_id
      AND s.status <> 'BLOCKED'
$$;


-- booked: active booking_seats of the event; unavailable: distinct
-- non-BLOCKED seats of the template that are booked or held. Work is
-- proportional to booked + held seats, not to the venue size (index
-- booking_seats_event_seat_active_key).
CREATE OR REPLACE FUNCTION evently.event_counts(p_event_id uuid,
    p_template_id uuid, p_held uuid[],
    OUT booked int, OUT unavailable int)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT (SELECT count(*)::int
            FROM evently.booking_seats bs
            WHERE bs.event_id = p_event_id AND bs.active),
           (SELECT count(*)::int
            FROM (SELECT bs.seat_id
                  FROM evently.booking_seats bs
                  WHERE bs.event_id = p_event_id AND bs.active
                  UNION
                  SELECT unnest(p_held)) AS u
            JOIN evently.seats s ON s.id = u.seat_id
            JOIN evently.venue_sections vs ON vs.id = s.section_id
            WHERE vs.template_id = p_template_id
              AND s.status <> 'BLOCKED')
$$;


-- A section's price for an event: exact numeric, 2 decimals.
CREATE OR REPLACE FUNCTION evently.event_price(p_base numeric,
    p_multiplier numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT round(p_base * coalesce(p_multiplier, 1.00), 2)
$$;


-- Event.venue_sections: the template's sections by name with this event's
-- multiplier and price.
CREATE OR REPLACE FUNCTION evently.event_sections_json(p_e evently.events)
RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(json_agg(json_build_object(
               'id', vs.id,
               'name', vs.name,
               'description', vs.description,
               'row_start', vs.row_start,
               'row_end', vs.row_end,
               'seats_per_row', vs.seats_per_row,
               'total_seats', vs.total_seats,
               'price_multiplier', coalesce(p.price_multiplier, 1.00),
               'price', evently.event_price(p_e.base_price,
                                            p.price_multiplier))
               ORDER BY vs.name, vs.id), '[]'::json)
    FROM evently.venue_sections vs
    LEFT JOIN evently.event_section_pricing p
           ON p.event_id = p_e.id AND p.section_id = vs.id
    WHERE vs.template_id = p_e.venue_template_id
$$;


-- The Event object of the contract. venue_sections only when p_sections
-- (detail, create, update), between venue_template_id and date_time: the
-- object is spliced from two json_build_object texts so that the key order
-- stays the contract's.
CREATE OR REPLACE FUNCTION evently.event_json(p_e evently.events,
    p_capacity int, p_held uuid[], p_sections boolean)
RETURNS json
LANGUAGE sql STABLE
AS $$
    SELECT (left(x.head::text, -1)
            || CASE WHEN p_sections
                    THEN ', "venue_sections" : '
                         || evently.event_sections_json(p_e)::text
                    ELSE '' END
            || ', ' || substr(x.tail::text, 2))::json
    FROM (SELECT
              json_build_object(
                  'id', p_e.id,
                  'name', p_e.name,
                  'description', p_e.description,
                  'venue', p_e.venue,
                  'venue_template_id', p_e.venue_template_id) AS head,
              json_build_object(
                  'date_time', evently.ts(p_e.date_time),
                  'total_capacity', p_capacity,
                  'booked_count', c.booked,
                  'available_tickets', greatest(p_capacity - c.unavailable,
                                                0),
                  'base_price', p_e.base_price,
                  'currency', p_e.currency,
                  'status', p_e.status,
                  'image_url', p_e.image_url,
                  'tags', coalesce(
                      (SELECT json_agg(json_build_object(
                                  'id', t.id,
                                  'name', t.name,
                                  'slug', t.slug,
                                  'color', t.color) ORDER BY t.name)
                       FROM evently.event_tags et
                       JOIN evently.tags t ON t.id = et.tag_id
                       WHERE et.event_id = p_e.id), '[]'::json),
                  'version', p_e.version,
                  'created_at', evently.ts(p_e.created_at),
                  'updated_at', evently.ts(p_e.updated_at)) AS tail
          FROM evently.event_counts(p_e.id, p_e.venue_template_id,
                                    p_held) AS c) AS x
$$;


-- One event with its sections, live.
CREATE OR REPLACE FUNCTION evently.event_detail(p_e evently.events,
    p_args json)
RETURNS evently.api_result
LANGUAGE sql STABLE
AS $$
    SELECT evently.ok(evently.event_json(
                          p_e,
                          evently.template_capacity(p_e.venue_template_id),
                          evently.held_seats(p_args -> '_held', p_e.id),
                          true),
                      p_e.version::text)
$$;


-- '%term%' for ILIKE with the term's own % _ \ taken literally.
CREATE OR REPLACE FUNCTION evently.like_pattern(p_term text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT '%' || replace(replace(replace(p_term, '\', '\\'),
                                  '%', '\%'), '_', '\_') || '%'
$$;


-- The lists: p_scope 'public' (published unless status=), 'admin' (every
-- status unless status=) or 'upcoming' (published, in the future).
-- Dynamic SQL with only the predicates in use, so that each is planned
-- against its index: (status, date_time) and date_time btrees, trigram
-- GIN indexes on name/description/venue, event_tags (tag_id, event_id).
-- total_count is an exact count(*) with the same predicates.
CREATE OR REPLACE FUNCTION evently.events_page(p_args json, p_scope text)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_page    int := coalesce((p_args ->> 'page')::int, 1);
    v_limit   int := coalesce((p_args ->> 'limit')::int, 10);
    v_status  text := p_args ->> 'status';
    v_search  text;
    v_venue   text;
    v_from    timestamptz;
    v_to      timestamptz;
    v_tags    uuid[];
    v_where   text := 'true';
    v_total   bigint;
    v_items   json;
BEGIN
    IF p_scope = 'upcoming' THEN
        v_where := v_where
            || ' AND e.status = ''published'' AND e.date_time > now()';
    ELSIF v_status IS NOT NULL THEN
        v_where := v_where || ' AND e.status = $1';
    ELSIF p_scope = 'public' THEN
        v_where := v_where || ' AND e.status = ''published''';
    END IF;

    IF p_args ->> 'search' IS NOT NULL THEN
        v_search := evently.like_pattern(p_args ->> 'search');
        v_where := v_where || ' AND (e.name ILIKE $2 OR e.venue ILIKE $2'
                           || ' OR e.description ILIKE $2)';
    END IF;

    IF p_args ->> 'venue' IS NOT NULL THEN
        v_venue := evently.like_pattern(p_args ->> 'venue');
        v_where := v_where || ' AND e.venue ILIKE $3';
    END IF;

    IF p_args ->> 'date_from' IS NOT NULL THEN
        v_from := (p_args ->> 'date_from')::date::timestamp
                  AT TIME ZONE 'UTC';
        v_where := v_where || ' AND e.date_time >= $4';
    END IF;

    IF p_args ->> 'date_to' IS NOT NULL THEN
        v_to := ((p_args ->> 'date_to')::date + 1)::timestamp
                AT TIME ZONE 'UTC';
        v_where := v_where || ' AND e.date_time < $5';
    END IF;

    IF v_from IS NOT NULL AND v_to IS NOT NULL AND v_to <= v_from THEN
        RETURN evently.fail(400, 'VALIDATION_FAILED', 'Validation failed',
            json_build_object('fields', json_build_object(
                'date_to', 'must not be before date_from')));
    END IF;

    IF p_args -> 'tags' IS NOT NULL THEN
        v_tags := ARRAY(SELECT t.id
                        FROM evently.tags t
                        WHERE t.slug IN (SELECT json_array_elements_text(
                                                    p_args -> 'tags')));
        v_where := v_where || ' AND e.id IN (SELECT et.event_id'
                           || ' FROM evently.event_tags et'
                           || ' WHERE et.tag_id = ANY ($6))';
    END IF;

    EXECUTE 'SELECT count(*) FROM evently.events e WHERE ' || v_where
       INTO v_total
      USING v_status, v_search, v_venue, v_from, v_to, v_tags;

    IF v_total > (v_page - 1)::bigint * v_limit THEN
        EXECUTE
            'WITH page AS ('
            || ' SELECT e FROM evently.events e WHERE ' || v_where
            || ' ORDER BY e.date_time, e.id LIMIT $7 OFFSET $8),'
            || ' caps AS ('
            || ' SELECT vs.template_id, count(*)::int AS n'
            || ' FROM evently.venue_sections vs'
            || ' JOIN evently.seats s ON s.section_id = vs.id'
            || ' WHERE vs.template_id IN'
            || ' (SELECT (p.e).venue_template_id FROM page p)'
            || ' AND s.status <> ''BLOCKED'''
            || ' GROUP BY vs.template_id)'
            || ' SELECT json_agg(evently.event_json(p.e, coalesce(c.n, 0),'
            || ' evently.held_seats($9 -> ''_held'', (p.e).id), false)'
            || ' ORDER BY (p.e).date_time, (p.e).id)'
            || ' FROM page p'
            || ' LEFT JOIN caps c ON c.template_id = (p.e).venue_template_id'
           INTO v_items
          USING v_status, v_search, v_venue, v_from, v_to, v_tags,
                v_limit, (v_page - 1) * v_limit, p_args;
    END IF;

    RETURN evently.ok(evently.page_json('events', v_items, v_total, v_page,
                                        v_limit));
END
$$;


-- Checks of create/update input that need the database. p_event is the
-- event being updated (NULL on create), p_template_id the template the
-- event will have. Returns the errors object for evently.fail (400) or
-- NULL when all is well. Locks the priced sections (FOR SHARE) so that
-- they cannot go away before the caller's insert.
CREATE OR REPLACE FUNCTION evently.event_check_input(p_a jsonb,
    p_template_id uuid, p_event evently.events)
RETURNS json
LANGUAGE plpgsql
AS $$
DECLARE
    v_fields    jsonb := '{}';
    v_unknown   text[];
    v_item      jsonb;
    v_i         int := 0;
    v_seen      uuid[] := '{}';
    v_sid       uuid;
    v_when      timestamptz;
    v_base      numeric;
    v_max_mult  numeric := 1.00;
BEGIN
    IF p_a ? 'currency' AND upper(p_a ->> 'currency') !~ '^[A-Z]{3}$' THEN
        v_fields := v_fields || jsonb_build_object('currency',
            'must be a 3-letter ISO 4217 currency code');
    END IF;

    -- update: an unchanged date_time may be in the past (compared at the
    -- whole second the API shows), a new one may not
    IF p_event.id IS NOT NULL AND p_a ? 'date_time' THEN
        v_when := (p_a ->> 'date_time')::timestamptz;
        IF v_when <> date_trunc('second', p_event.date_time)
           AND v_when <= now()
        THEN
            v_fields := v_fields || jsonb_build_object('date_time',
                'must be in the future');
        END IF;
    END IF;

    IF p_a ? 'tags' THEN
        SELECT array_agg(s ORDER BY s) INTO v_unknown
        FROM jsonb_array_elements_text(p_a -> 'tags') AS s
        WHERE NOT EXISTS (SELECT 1 FROM evently.tags t WHERE t.slug = s);

        IF v_unknown IS NOT NULL THEN
            v_fields := v_fields || jsonb_build_object('tags',
                'unknown tags: ' || array_to_string(v_unknown, ', '));
        END IF;
    END IF;

    IF p_a ? 'section_pricing' THEN
        FOR v_item IN
            SELECT x FROM jsonb_array_elements(p_a -> 'section_pricing') AS x
        LOOP
            v_sid := (v_item ->> 'section_id')::uuid;

            IF v_sid = ANY (v_seen) THEN
                v_fields := v_fields || jsonb_build_object(
                    'section_pricing[' || v_i || '].section_id',
                    'is listed more than once');

            ELSIF NOT EXISTS (SELECT 1
                              FROM evently.venue_sections vs
                              WHERE vs.id = v_sid
                                AND vs.template_id = p_template_id
                              FOR SHARE)
            THEN
                v_fields := v_fields || jsonb_build_object(
                    'section_pricing[' || v_i || '].section_id',
                    'is not a section of the venue template');
            END IF;

            v_seen := v_seen || v_sid;
            v_max_mult := greatest(v_max_mult,
                                   (v_item ->> 'price_multiplier')::numeric);
            v_i := v_i + 1;
        END LOOP;

    ELSIF p_event.id IS NOT NULL
          AND p_event.venue_template_id = p_template_id
    THEN
        SELECT greatest(1.00, max(p.price_multiplier)) INTO v_max_mult
        FROM evently.event_section_pricing p
        WHERE p.event_id = p_event.id;
    END IF;

    v_base := coalesce((p_a ->> 'base_price')::numeric, p_event.base_price);

    IF evently.event_price(v_base, v_max_mult) > 9999999999.99 THEN
        v_fields := v_fields || jsonb_build_object('base_price',
            'times the highest section multiplier must not exceed '
            || '9999999999.99');
    END IF;

    IF v_fields = '{}'::jsonb THEN
        RETURN NULL;
    END IF;

    IF v_unknown IS NOT NULL THEN
        RETURN json_build_object('fields', v_fields,
                                 'unknown_tags', to_json(v_unknown));
    END IF;

    RETURN json_build_object('fields', v_fields);
END
$$;


-- THE HOOK of event cancellation: called by api_events_update in the same
-- transaction that marks the event cancelled, with the event row locked.
-- Cancelling an event refunds its bookings in full in the same
-- transaction: evently.cancel_event_bookings(event), in
-- 70_cancellations.sql, returns how many bookings it cancelled.


-- ---------------------------------------------------------------------------
-- API: public

-- GET /api/v1/events
CREATE OR REPLACE FUNCTION evently.api_events_list(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE sql STABLE
AS $$
    SELECT evently.events_page(p_args, 'public')
$$;


-- GET /api/v1/events/upcoming
CREATE OR REPLACE FUNCTION evently.api_events_upcoming(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE sql STABLE
AS $$
    SELECT evently.events_page(p_args, 'upcoming')
$$;


-- GET /api/v1/events/{id}: drafts are not public
CREATE OR REPLACE FUNCTION evently.api_events_get(p_user uuid, p_role text,
    p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_e  evently.events;
BEGIN
    SELECT * INTO v_e
    FROM evently.events e
    WHERE e.id = p_id AND e.status <> 'draft';

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    RETURN evently.event_detail(v_e, p_args);
END
$$;


-- GET /api/v1/events/{id}/sections (user): {event_id, sections:[...]}
-- with each section's price and live available_seats.
CREATE OR REPLACE FUNCTION evently.api_events_sections(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_e     evently.events;
    v_held  uuid[];
    v_data  json;
BEGIN
    SELECT * INTO v_e
    FROM evently.events e
    WHERE e.id = p_id
      AND (e.status <> 'draft' OR p_role = 'ADMIN');

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    v_held := evently.held_seats(p_args -> '_held', v_e.id);

    WITH avail AS (
        SELECT es.section_id, count(*)::int AS n
        FROM evently.event_seats(v_e.id, v_e.venue_template_id, v_held) es
        WHERE es.live = 'AVAILABLE'
        GROUP BY es.section_id
    )
    SELECT json_build_object(
               'event_id', v_e.id,
               'sections', coalesce(json_agg(json_build_object(
                   'id', vs.id,
                   'name', vs.name,
                   'description', vs.description,
                   'row_start', vs.row_start,
                   'row_end', vs.row_end,
                   'seats_per_row', vs.seats_per_row,
                   'total_seats', vs.total_seats,
                   'price_multiplier', coalesce(p.price_multiplier, 1.00),
                   'price', evently.event_price(v_e.base_price,
                                                p.price_multiplier),
                   'available_seats', coalesce(a.n, 0))
                   ORDER BY vs.name, vs.id), '[]'::json))
      INTO v_data
    FROM evently.venue_sections vs
    LEFT JOIN evently.event_section_pricing p
           ON p.event_id = v_e.id AND p.section_id = vs.id
    LEFT JOIN avail a ON a.section_id = vs.id
    WHERE vs.template_id = v_e.venue_template_id;

    RETURN evently.ok(v_data);
END
$$;


-- GET /api/v1/events/{id}/venue/layout (user): every seat with its live
-- status, in one statement whatever the venue size.
CREATE OR REPLACE FUNCTION evently.api_events_layout(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_e     evently.events;
    v_held  uuid[];
    v_data  json;
BEGIN
    SELECT * INTO v_e
    FROM evently.events e
    WHERE e.id = p_id
      AND (e.status <> 'draft' OR p_role = 'ADMIN');

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    v_held := evently.held_seats(p_args -> '_held', v_e.id);

    WITH st AS (
        SELECT es.seat_id AS id, es.section_id, es.seat_number, es.row_label,
               es.row_index, es.seat_position AS position, es.live
        FROM evently.event_seats(v_e.id, v_e.venue_template_id, v_held) es
    ), sec AS (
        SELECT vs.id, vs.name, vs.row_start, vs.row_end, vs.seats_per_row,
               vs.total_seats,
               coalesce(p.price_multiplier, 1.00) AS multiplier,
               evently.event_price(v_e.base_price, p.price_multiplier)
                   AS price,
               count(st.id) FILTER (WHERE st.live = 'AVAILABLE')::int
                   AS available,
               json_agg(json_build_object(
                   'id', st.id,
                   'seat_number', st.seat_number,
                   'row', st.row_label,
                   'position', st.position,
                   'status', st.live,
                   'price', evently.event_price(v_e.base_price,
                                                p.price_multiplier),
                   'is_held', st.live = 'HELD')
                   ORDER BY st.row_index, st.position)
                   FILTER (WHERE st.id IS NOT NULL) AS seats
        FROM evently.venue_sections vs
        LEFT JOIN evently.event_section_pricing p
               ON p.event_id = v_e.id AND p.section_id = vs.id
        LEFT JOIN st ON st.section_id = vs.id
        WHERE vs.template_id = v_e.venue_template_id
        GROUP BY vs.id, p.price_multiplier
    )
    SELECT json_build_object(
               'event_id', v_e.id,
               'event_name', v_e.name,
               'venue_info', json_build_object(
                   'template_id', vt.id,
                   'template_name', vt.name,
                   'layout_type', vt.layout_type,
                   'description', vt.description),
               'base_price', v_e.base_price,
               'sections', coalesce(
                   (SELECT json_agg(json_build_object(
                               'id', sec.id,
                               'name', sec.name,
                               'price_multiplier', sec.multiplier,
                               'price', sec.price,
                               'row_start', sec.row_start,
                               'row_end', sec.row_end,
                               'seats_per_row', sec.seats_per_row,
                               'total_seats', sec.total_seats,
                               'available_seats', sec.available,
                               'seats', coalesce(sec.seats, '[]'::json))
                               ORDER BY sec.name, sec.id)
                    FROM sec), '[]'::json),
               'total_seats', coalesce((SELECT sum(sec.total_seats)::int
                                        FROM sec), 0),
               'available_seats', coalesce((SELECT sum(sec.available)::int
                                            FROM sec), 0))
      INTO v_data
    FROM evently.venue_templates vt
    WHERE vt.id = v_e.venue_template_id;

    RETURN evently.ok(v_data);
END
$$;


-- ---------------------------------------------------------------------------
-- API: admin

-- GET /api/v1/admin/events
CREATE OR REPLACE FUNCTION evently.api_events_admin_list(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE sql STABLE
AS $$
    SELECT evently.events_page(p_args, 'admin')
$$;


-- GET /api/v1/admin/events/{id}: every status
CREATE OR REPLACE FUNCTION evently.api_events_admin_get(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_e  evently.events;
BEGIN
    SELECT * INTO v_e FROM evently.events e WHERE e.id = p_id;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    RETURN evently.event_detail(v_e, p_args);
END
$$;


-- POST /api/v1/admin/events: event, section pricing and tags, all or
-- nothing (every check happens before the first write).
CREATE OR REPLACE FUNCTION evently.api_events_create(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql
AS $$
DECLARE
    v_a         jsonb := p_args::jsonb;
    v_template  uuid := (p_args ->> 'venue_template_id')::uuid;
    v_errors    json;
    v_e         evently.events;
BEGIN
    -- FOR SHARE: the template cannot be deleted under us
    PERFORM 1 FROM evently.venue_templates vt
    WHERE vt.id = v_template
    FOR SHARE;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'TEMPLATE_NOT_FOUND',
                            'Venue template not found');
    END IF;

    v_errors := evently.event_check_input(v_a, v_template, NULL);

    IF v_errors IS NOT NULL THEN
        RETURN evently.fail(400, 'VALIDATION_FAILED', 'Validation failed',
                            v_errors);
    END IF;

    INSERT INTO evently.events (name, description, venue, venue_template_id,
                                date_time, base_price, currency, status,
                                image_url, created_by)
    VALUES (v_a ->> 'name',
            nullif(v_a ->> 'description', ''),
            v_a ->> 'venue',
            v_template,
            (v_a ->> 'date_time')::timestamptz,
            (v_a ->> 'base_price')::numeric,
            coalesce(upper(v_a ->> 'currency'), 'INR'),
            coalesce(v_a ->> 'status', 'published'),
            v_a ->> 'image_url',
            (SELECT u.id FROM evently.users u WHERE u.id = p_user))
    RETURNING * INTO v_e;

    INSERT INTO evently.event_section_pricing (event_id, section_id,
                                               price_multiplier)
    SELECT v_e.id, (x ->> 'section_id')::uuid,
           (x ->> 'price_multiplier')::numeric
    FROM jsonb_array_elements(coalesce(v_a -> 'section_pricing',
                                       '[]'::jsonb)) AS x;

    INSERT INTO evently.event_tags (event_id, tag_id)
    SELECT v_e.id, t.id
    FROM evently.tags t
    WHERE t.slug IN (SELECT jsonb_array_elements_text(
                                coalesce(v_a -> 'tags', '[]'::jsonb)));

    RETURN evently.ok(evently.event_json(
                          v_e, evently.template_capacity(v_template),
                          '{}', true),
                      v_e.version::text);
END
$$;


-- PUT /api/v1/admin/events/{id}: see the header for the rules. One
-- transaction: the event row is locked first, so If-Match, the checks
-- and the write see the same version.
CREATE OR REPLACE FUNCTION evently.api_events_update(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql
AS $$
DECLARE
    v_stale  evently.api_result;
    v_a            jsonb := p_args::jsonb;
    v_old          evently.events;
    v_new          evently.events;
    v_errors       json;
    v_changed      text[] := '{}';
    v_old_pricing  jsonb;
    v_new_pricing  jsonb;
    v_old_tags     text[];
    v_new_tags     text[];
    v_cancel       boolean;
    v_count        int;
BEGIN
    SELECT * INTO v_old FROM evently.events e WHERE e.id = p_id FOR UPDATE;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    v_stale := evently.stale(p_args, v_old.version,
                             'The event has changed since it was read');

    IF v_stale.status IS NOT NULL THEN
        RETURN v_stale;
    END IF;

    IF v_old.status = 'cancelled' THEN
        RETURN evently.fail(409, 'EVENT_CANCELLED',
                            'The event is cancelled; cancellation is final');
    END IF;

    v_new := v_old;

    IF v_a ? 'name' THEN
        v_new.name := v_a ->> 'name';
    END IF;
    IF v_a ? 'description' THEN
        v_new.description := nullif(v_a ->> 'description', '');
    END IF;
    IF v_a ? 'venue' THEN
        v_new.venue := v_a ->> 'venue';
    END IF;
    IF v_a ? 'venue_template_id' THEN
        v_new.venue_template_id := (v_a ->> 'venue_template_id')::uuid;
    END IF;
    IF v_a ? 'date_time' THEN
        v_new.date_time := (v_a ->> 'date_time')::timestamptz;
    END IF;
    IF v_a ? 'base_price' THEN
        v_new.base_price := (v_a ->> 'base_price')::numeric;
    END IF;
    IF v_a ? 'image_url' THEN
        v_new.image_url := v_a ->> 'image_url';
    END IF;
    IF v_a ? 'status' THEN
        v_new.status := v_a ->> 'status';
    END IF;

    -- back to draft hides the event from the public: not once sold
    IF v_new.status = 'draft' AND v_old.status <> 'draft'
       AND EXISTS (SELECT 1 FROM evently.bookings b WHERE b.event_id = p_id)
    THEN
        RETURN evently.fail(409, 'EVENT_HAS_BOOKINGS',
                            'An event with bookings cannot go back to '
                            || 'draft');
    END IF;

    IF v_new.venue_template_id <> v_old.venue_template_id THEN
        PERFORM 1 FROM evently.venue_templates vt
        WHERE vt.id = v_new.venue_template_id
        FOR SHARE;

        IF NOT FOUND THEN
            RETURN evently.fail(404, 'TEMPLATE_NOT_FOUND',
                                'Venue template not found');
        END IF;

        IF EXISTS (SELECT 1 FROM evently.bookings b
                   WHERE b.event_id = p_id)
        THEN
            RETURN evently.fail(409, 'EVENT_HAS_BOOKINGS',
                                'The venue of an event with bookings '
                                || 'cannot be changed');
        END IF;
    END IF;

    v_errors := evently.event_check_input(v_a, v_new.venue_template_id,
                                          v_old);

    IF v_errors IS NOT NULL THEN
        RETURN evently.fail(400, 'VALIDATION_FAILED', 'Validation failed',
                            v_errors);
    END IF;

    -- currency only now: the check above guarantees 3 letters
    IF v_a ? 'currency' THEN
        v_new.currency := upper(v_a ->> 'currency');
    END IF;

    -- what changes (the domain event lists it; nothing = no new version)

    IF v_new.name IS DISTINCT FROM v_old.name THEN
        v_changed := v_changed || 'name'::text;
    END IF;
    IF v_new.description IS DISTINCT FROM v_old.description THEN
        v_changed := v_changed || 'description'::text;
    END IF;
    IF v_new.venue IS DISTINCT FROM v_old.venue THEN
        v_changed := v_changed || 'venue'::text;
    END IF;
    IF v_new.venue_template_id IS DISTINCT FROM v_old.venue_template_id THEN
        v_changed := v_changed || 'venue_template_id'::text;
    END IF;
    IF v_new.date_time IS DISTINCT FROM v_old.date_time
       AND NOT (v_a ? 'date_time'
                AND v_new.date_time = date_trunc('second', v_old.date_time))
    THEN
        v_changed := v_changed || 'date_time'::text;
    ELSE
        v_new.date_time := v_old.date_time;
    END IF;
    IF v_new.base_price IS DISTINCT FROM v_old.base_price THEN
        v_changed := v_changed || 'base_price'::text;
    END IF;
    IF v_new.currency IS DISTINCT FROM v_old.currency THEN
        v_changed := v_changed || 'currency'::text;
    END IF;
    IF v_new.image_url IS DISTINCT FROM v_old.image_url THEN
        v_changed := v_changed || 'image_url'::text;
    END IF;
    IF v_new.status IS DISTINCT FROM v_old.status THEN
        v_changed := v_changed || 'status'::text;
    END IF;

    -- multipliers compared as sets, 1.00 being the same as no row
    SELECT coalesce(jsonb_agg(jsonb_build_array(p.section_id,
                                                p.price_multiplier)
                              ORDER BY p.section_id), '[]')
      INTO v_old_pricing
    FROM evently.event_section_pricing p
    WHERE p.event_id = p_id AND p.price_multiplier <> 1.00;

    IF v_a ? 'section_pricing' THEN
        SELECT coalesce(jsonb_agg(jsonb_build_array(
                            (x ->> 'section_id')::uuid,
                            (x ->> 'price_multiplier')::numeric(6,2))
                        ORDER BY (x ->> 'section_id')::uuid), '[]')
          INTO v_new_pricing
        FROM jsonb_array_elements(v_a -> 'section_pricing') AS x
        WHERE (x ->> 'price_multiplier')::numeric(6,2) <> 1.00;

    ELSIF v_new.venue_template_id <> v_old.venue_template_id THEN
        v_new_pricing := '[]';

    ELSE
        v_new_pricing := v_old_pricing;
    END IF;

    IF v_new_pricing <> v_old_pricing THEN
        v_changed := v_changed || 'section_pricing'::text;
    END IF;

    IF v_a ? 'tags' THEN
        v_old_tags := ARRAY(SELECT t.slug
                            FROM evently.event_tags et
                            JOIN evently.tags t ON t.id = et.tag_id
                            WHERE et.event_id = p_id
                            ORDER BY t.slug);
        v_new_tags := ARRAY(SELECT DISTINCT s
                            FROM jsonb_array_elements_text(v_a -> 'tags')
                                 AS s
                            ORDER BY s);

        IF v_new_tags <> v_old_tags THEN
            v_changed := v_changed || 'tags'::text;
        END IF;
    END IF;

    IF cardinality(v_changed) = 0 THEN
        RETURN evently.event_detail(v_old, p_args);
    END IF;

    v_cancel := v_new.status = 'cancelled';

    UPDATE evently.events
       SET name = v_new.name,
           description = v_new.description,
           venue = v_new.venue,
           venue_template_id = v_new.venue_template_id,
           date_time = v_new.date_time,
           base_price = v_new.base_price,
           currency = v_new.currency,
           image_url = v_new.image_url,
           status = v_new.status,
           cancelled_at = CASE WHEN v_cancel THEN now() ELSE cancelled_at END,
           version = version + 1,
           updated_at = now()
     WHERE id = p_id
    RETURNING * INTO v_new;

    IF 'section_pricing' = ANY (v_changed)
       OR 'venue_template_id' = ANY (v_changed)
    THEN
        DELETE FROM evently.event_section_pricing p WHERE p.event_id = p_id;

        INSERT INTO evently.event_section_pricing (event_id, section_id,
                                                   price_multiplier)
        SELECT p_id, (x ->> 0)::uuid, (x ->> 1)::numeric
        FROM jsonb_array_elements(v_new_pricing) AS x;
    END IF;

    IF 'tags' = ANY (v_changed) THEN
        DELETE FROM evently.event_tags et WHERE et.event_id = p_id;

        INSERT INTO evently.event_tags (event_id, tag_id)
        SELECT p_id, t.id
        FROM evently.tags t
        WHERE t.slug = ANY (v_new_tags);
    END IF;

    IF v_cancel THEN
        -- the hook: refunds come with the cancellations issue
        v_count := evently.cancel_event_bookings(p_id);

        PERFORM evently.emit('events', 'event.cancelled', p_id, NULL, NULL,
            jsonb_build_object(
                'name', v_new.name,
                'venue', v_new.venue,
                'date_time', evently.ts(v_new.date_time),
                'previous_status', v_old.status,
                'cancelled_at', evently.ts(v_new.cancelled_at),
                'version', v_new.version,
                'bookings_cancelled', v_count,
                'changes', to_jsonb(v_changed)));
    ELSE
        PERFORM evently.emit('events', 'event.updated', p_id, NULL, NULL,
            jsonb_build_object(
                'name', v_new.name,
                'venue', v_new.venue,
                'date_time', evently.ts(v_new.date_time),
                'status', v_new.status,
                'version', v_new.version,
                'changes', to_jsonb(v_changed)));
    END IF;

    RETURN evently.event_detail(v_new, p_args);
END
$$;


-- DELETE /api/v1/admin/events/{id}: refused once any booking exists
-- (history is kept); pricing, tags, policy and waitlist go with it.
CREATE OR REPLACE FUNCTION evently.api_events_delete(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql
AS $$
DECLARE
    v_stale  evently.api_result;
    v_e  evently.events;
BEGIN
    -- FOR UPDATE also makes a concurrent booking insert (its foreign key
    -- check takes FOR KEY SHARE) wait for us, then fail
    SELECT * INTO v_e FROM evently.events e WHERE e.id = p_id FOR UPDATE;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    v_stale := evently.stale(p_args, v_e.version,
                             'The event has changed since it was read');

    IF v_stale.status IS NOT NULL THEN
        RETURN v_stale;
    END IF;

    IF EXISTS (SELECT 1 FROM evently.bookings b WHERE b.event_id = p_id) THEN
        RETURN evently.fail(409, 'EVENT_HAS_BOOKINGS',
                            'An event with bookings cannot be deleted');
    END IF;

    BEGIN
        DELETE FROM evently.events e WHERE e.id = p_id;
    EXCEPTION WHEN foreign_key_violation THEN
        RETURN evently.fail(409, 'EVENT_HAS_BOOKINGS',
                            'An event with bookings cannot be deleted');
    END;

    RETURN evently.ok(json_build_object('id', p_id));
END
$$;
