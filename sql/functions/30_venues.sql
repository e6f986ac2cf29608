-- 30_venues.sql: venue templates, sections and seats (the "Venue
-- templates, sections, seats" part of shared/api-contract.md).
-- Re-applied on every migrate (CREATE OR REPLACE only).
--
-- Decisions (documented here and in the report to the lead):
--   * A section has at most 10000 seats (evently.venue_max_section_seats):
--     its seat list is one unpaginated response (~2.6 MB at 10000 seats)
--     and its creation one INSERT ... SELECT (~0.1 s at 10000).
--   * total_seats is optional on create/update; when sent it must equal
--     rows x seats_per_row (400 VALIDATION_FAILED, errors.fields.total_seats,
--     nothing written).  The stored total_seats is always the section's
--     seat count: deleting a seat decrements it (0003_venues.sql relaxed
--     the CHECK to total_seats <= rows x seats_per_row); the last seat of
--     a section cannot be deleted (409 LAST_SEAT: delete the section).
--   * Regenerating a section's seats (PUT changing row_start, row_end or
--     seats_per_row, or sending total_seats = the full grid after seats
--     were deleted) gives the seats new ids.  It is refused with 409
--     SECTION_HAS_BOOKINGS once any event on the template has any booking
--     (confirmed or cancelled: cancelled bookings keep their seats as
--     history), and with 409 SECTION_HAS_HOLDS while a seat of the section
--     is held in Redis for an event on the template.  DELETE of a section
--     follows the same rules.  Name/description edits are always allowed.
--   * Seat DELETE: 409 SEAT_HAS_BOOKINGS when any booking_seats row (active
--     or not) references it, 409 SEAT_HELD while it is held for any event.
--   * When Redis cannot be asked (args._holds_unknown), the routes that
--     would delete seats answer 503 HOLDS_UNAVAILABLE; the available-seats
--     list answers from PostgreSQL alone (the hold itself is re-checked
--     atomically when a user holds the seat).
--   * Template search= matches the name (trigram index), sort defaults to
--     created_at desc, id as tie-breaker so pages are stable.


-- ---------------------------------------------------------------------------
-- Helpers

CREATE OR REPLACE FUNCTION evently.venue_max_section_seats()
RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT 10000
$$;


CREATE OR REPLACE FUNCTION evently.venue_template_json(
    p_t evently.venue_templates)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', p_t.id,
        'name', p_t.name,
        'description', p_t.description,
        'default_rows', p_t.default_rows,
        'default_seats_per_row', p_t.default_seats_per_row,
        'layout_type', p_t.layout_type,
        'version', p_t.version,
        'created_at', evently.ts(p_t.created_at),
        'updated_at', evently.ts(p_t.updated_at))
$$;


CREATE OR REPLACE FUNCTION evently.venue_section_json(
    p_s evently.venue_sections)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', p_s.id,
        'template_id', p_s.template_id,
        'name', p_s.name,
        'description', p_s.description,
        'row_start', p_s.row_start,
        'row_end', p_s.row_end,
        'seats_per_row', p_s.seats_per_row,
        'total_seats', p_s.total_seats,
        'created_at', evently.ts(p_s.created_at),
        'updated_at', evently.ts(p_s.updated_at))
$$;


CREATE OR REPLACE FUNCTION evently.venue_seat_json(p_s evently.seats)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', p_s.id,
        'section_id', p_s.section_id,
        'seat_number', p_s.seat_number,
        'row', p_s.row_label,
        'position', p_s.position,
        'status', p_s.status,
        'created_at', evently.ts(p_s.created_at),
        'updated_at', evently.ts(p_s.updated_at))
$$;


-- 400 VALIDATION_FAILED with errors.fields = p_fields
CREATE OR REPLACE FUNCTION evently.venue_invalid(p_fields json)
RETURNS evently.api_result
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT evently.fail(400, 'VALIDATION_FAILED', 'Validation failed',
                        json_build_object('fields', p_fields))
$$;


-- The field errors of a row range (values already normalised by the C
-- validator: "A".."Z" or "1".."9999"), or NULL when it is valid.
CREATE OR REPLACE FUNCTION evently.venue_rows_error(p_row_start text,
    p_row_end text)
RETURNS json
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN evently.section_row_count(p_row_start, p_row_end) IS NOT NULL
            THEN NULL
        WHEN (p_row_start ~ '^[A-Z]$') <> (p_row_end ~ '^[A-Z]$')
            THEN json_build_object('row_end',
                     'must be of the same kind as row_start (both letters '
                     || 'A..Z or both numbers 1..9999)')
        ELSE json_build_object('row_end', 'must not come before row_start')
    END
$$;


-- The seats held now, from args._held = {"<event>": ["<seat>", ...]}
-- (ngx_http_evently_run_sql_op_with_holds); anything that is not a UUID is
-- ignored.
CREATE OR REPLACE FUNCTION evently.venue_held(p_held json)
RETURNS TABLE (event_id uuid, seat_id uuid)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT x.event_id, x.seat_id
    FROM (SELECT CASE WHEN h.key ~* ('^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}'
                                     || '-[0-9a-f]{4}-[0-9a-f]{12}$')
                      THEN h.key::uuid END AS event_id,
                 CASE WHEN s.value ~* ('^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}'
                                       || '-[0-9a-f]{4}-[0-9a-f]{12}$')
                      THEN s.value::uuid END AS seat_id
          FROM json_each(CASE WHEN json_typeof(p_held) = 'object'
                              THEN p_held ELSE '{}'::json END) AS h
          CROSS JOIN LATERAL json_array_elements_text(
                       CASE WHEN json_typeof(h.value) = 'array'
                            THEN h.value ELSE '[]'::json END) AS s) AS x
    WHERE x.event_id IS NOT NULL AND x.seat_id IS NOT NULL
$$;


-- Why the seats of a section may not be deleted or regenerated now: 409
-- SECTION_HAS_BOOKINGS / SECTION_HAS_HOLDS, 503 when the holds are
-- unknown; NULL when they may.  Callers test the result's code: a
-- composite with some NULL fields is never IS NOT NULL.
CREATE OR REPLACE FUNCTION evently.venue_section_locked(
    p_s evently.venue_sections, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF EXISTS (SELECT 1
               FROM evently.events AS e
               JOIN evently.bookings AS b ON b.event_id = e.id
               WHERE e.venue_template_id = p_s.template_id)
    THEN
        RETURN evently.fail(409, 'SECTION_HAS_BOOKINGS',
                            'An event on this venue template has bookings: '
                            || 'the section''s seats can no longer change');
    END IF;

    IF coalesce((p_args->>'_holds_unknown')::boolean, false) THEN
        RETURN evently.fail(503, 'HOLDS_UNAVAILABLE',
                            'Seat holds cannot be checked right now, '
                            || 'retry shortly');
    END IF;

    IF EXISTS (SELECT 1
               FROM evently.venue_held(p_args->'_held') AS h
               JOIN evently.events AS e
                 ON e.id = h.event_id
                AND e.venue_template_id = p_s.template_id
               JOIN evently.seats AS s
                 ON s.id = h.seat_id AND s.section_id = p_s.id)
    THEN
        RETURN evently.fail(409, 'SECTION_HAS_HOLDS',
                            'Seats of this section are held: retry when '
                            || 'the holds have ended');
    END IF;

    RETURN NULL;
END
$$;


-- ---------------------------------------------------------------------------
-- Venue templates

-- POST /admin/venue-templates
-- args: name, description, default_rows, default_seats_per_row, layout_type
CREATE OR REPLACE FUNCTION evently.api_venue_template_create(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql
AS $$
DECLARE
    v_t  evently.venue_templates%ROWTYPE;
BEGIN
    IF EXISTS (SELECT 1 FROM evently.venue_templates
               WHERE lower(name) = lower(p_args->>'name'))
    THEN
        RETURN evently.fail(409, 'TEMPLATE_EXISTS',
                            'A venue template with this name already exists');
    END IF;

    BEGIN
        INSERT INTO evently.venue_templates (name, description, default_rows,
                                             default_seats_per_row,
                                             layout_type)
        VALUES (p_args->>'name', nullif(p_args->>'description', ''),
                (p_args->>'default_rows')::int,
                (p_args->>'default_seats_per_row')::int,
                p_args->>'layout_type')
        RETURNING * INTO v_t;
    EXCEPTION WHEN unique_violation THEN
        RETURN evently.fail(409, 'TEMPLATE_EXISTS',
                            'A venue template with this name already exists');
    END;

    RETURN evently.ok(evently.venue_template_json(v_t), v_t.version::text);
END
$$;


-- GET /admin/venue-templates
-- args: page, limit (<= 100, default 20), search, layout_type,
--       sort_by (name|created_at|updated_at), sort_order (asc|desc)
CREATE OR REPLACE FUNCTION evently.api_venue_template_list(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_page     int := coalesce((p_args->>'page')::int, 1);
    v_limit    int := coalesce((p_args->>'limit')::int, 20);
    v_search   text := nullif(p_args->>'search', '');
    v_layout   text := p_args->>'layout_type';
    v_sort     text := coalesce(p_args->>'sort_by', 'created_at');
    v_order    text := coalesce(p_args->>'sort_order', 'desc');
    v_pattern  text;
    v_where    text := '';
    v_total    bigint;
    v_items    json;
BEGIN
    -- the C validator has checked them; never interpolate anything else
    IF v_sort NOT IN ('name', 'created_at', 'updated_at') THEN
        v_sort := 'created_at';
    END IF;

    IF v_order NOT IN ('asc', 'desc') THEN
        v_order := 'desc';
    END IF;

    IF v_search IS NOT NULL THEN
        v_pattern := '%' || replace(replace(replace(v_search, '\', '\\'),
                                            '%', '\%'), '_', '\_') || '%';
        v_where := v_where || ' AND t.name ILIKE $1';
    END IF;

    IF v_layout IS NOT NULL THEN
        v_where := v_where || ' AND t.layout_type = $2';
    END IF;

    IF v_where <> '' THEN
        v_where := ' WHERE' || substr(v_where, 5);
    END IF;

    EXECUTE 'SELECT count(*) FROM evently.venue_templates AS t' || v_where
        INTO v_total
        USING v_pattern, v_layout;

    EXECUTE format(
        'SELECT json_agg(evently.venue_template_json(x)'
        || ' ORDER BY x.%1$I %2$s, x.id %2$s)'
        || ' FROM (SELECT t.* FROM evently.venue_templates AS t%3$s'
        || ' ORDER BY t.%1$I %2$s, t.id %2$s LIMIT $3 OFFSET $4) AS x',
        v_sort, v_order, v_where)
        INTO v_items
        USING v_pattern, v_layout, v_limit,
              (v_page - 1)::bigint * v_limit;

    RETURN evently.ok(evently.page_json('templates', v_items, v_total,
                                        v_page, v_limit));
END
$$;


-- GET /admin/venue-templates/{id}
CREATE OR REPLACE FUNCTION evently.api_venue_template_get(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_t  evently.venue_templates%ROWTYPE;
BEGIN
    SELECT * INTO v_t FROM evently.venue_templates WHERE id = p_id;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'TEMPLATE_NOT_FOUND',
                            'Venue template not found');
    END IF;

    RETURN evently.ok(evently.venue_template_json(v_t), v_t.version::text);
END
$$;


-- PUT /admin/venue-templates/{id}: every field optional, version + 1,
-- honours If-Match (args._if_match)
CREATE OR REPLACE FUNCTION evently.api_venue_template_update(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql
AS $$
DECLARE
    v_t      evently.venue_templates%ROWTYPE;
    v_stale  evently.api_result;
BEGIN
    SELECT * INTO v_t FROM evently.venue_templates WHERE id = p_id
        FOR UPDATE;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'TEMPLATE_NOT_FOUND',
                            'Venue template not found');
    END IF;

    v_stale := evently.stale(p_args, v_t.version,
                             'If-Match does not match the current version');

    IF v_stale.status IS NOT NULL THEN
        RETURN v_stale;
    END IF;

    IF p_args->>'name' IS NOT NULL
       AND EXISTS (SELECT 1 FROM evently.venue_templates
                   WHERE lower(name) = lower(p_args->>'name')
                     AND id <> p_id)
    THEN
        RETURN evently.fail(409, 'TEMPLATE_EXISTS',
                            'A venue template with this name already exists');
    END IF;

    BEGIN
        UPDATE evently.venue_templates
        SET name = coalesce(p_args->>'name', name),
            description = CASE WHEN p_args->'description' IS NULL
                               THEN description
                               ELSE nullif(p_args->>'description', '') END,
            default_rows = coalesce((p_args->>'default_rows')::int,
                                    default_rows),
            default_seats_per_row =
                coalesce((p_args->>'default_seats_per_row')::int,
                         default_seats_per_row),
            layout_type = coalesce(p_args->>'layout_type', layout_type),
            version = version + 1,
            updated_at = now()
        WHERE id = p_id
        RETURNING * INTO v_t;
    EXCEPTION WHEN unique_violation THEN
        RETURN evently.fail(409, 'TEMPLATE_EXISTS',
                            'A venue template with this name already exists');
    END;

    RETURN evently.ok(evently.venue_template_json(v_t), v_t.version::text);
END
$$;


-- DELETE /admin/venue-templates/{id}: honours If-Match; 409 while an
-- event uses the template (its sections and seats go with it)
CREATE OR REPLACE FUNCTION evently.api_venue_template_delete(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql
AS $$
DECLARE
    v_t      evently.venue_templates%ROWTYPE;
    v_stale  evently.api_result;
BEGIN
    SELECT * INTO v_t FROM evently.venue_templates WHERE id = p_id
        FOR UPDATE;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'TEMPLATE_NOT_FOUND',
                            'Venue template not found');
    END IF;

    v_stale := evently.stale(p_args, v_t.version,
                             'If-Match does not match the current version');

    IF v_stale.status IS NOT NULL THEN
        RETURN v_stale;
    END IF;

    IF EXISTS (SELECT 1 FROM evently.events
               WHERE venue_template_id = p_id)
    THEN
        RETURN evently.fail(409, 'TEMPLATE_IN_USE',
                            'The venue template is used by an event');
    END IF;

    BEGIN
        DELETE FROM evently.venue_templates WHERE id = p_id;
    EXCEPTION WHEN foreign_key_violation THEN
        RETURN evently.fail(409, 'TEMPLATE_IN_USE',
                            'The venue template is used by an event');
    END;

    RETURN evently.ok(json_build_object('id', p_id));
END
$$;


-- ---------------------------------------------------------------------------
-- Sections

-- POST /admin/venue-templates/{id}/sections: the section and its seats in
-- this one transaction.
-- args: name, description, row_start, row_end, seats_per_row, total_seats?
CREATE OR REPLACE FUNCTION evently.api_venue_section_create(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql
AS $$
DECLARE
    v_start   text := p_args->>'row_start';
    v_end     text := p_args->>'row_end';
    v_spr     int := (p_args->>'seats_per_row')::int;
    v_given   int := (p_args->>'total_seats')::int;
    v_errors  json;
    v_total   int;
    v_s       evently.venue_sections%ROWTYPE;
BEGIN
    v_errors := evently.venue_rows_error(v_start, v_end);

    IF v_errors IS NOT NULL THEN
        RETURN evently.venue_invalid(v_errors);
    END IF;

    v_total := evently.section_row_count(v_start, v_end) * v_spr;

    IF v_given IS NOT NULL AND v_given <> v_total THEN
        RETURN evently.venue_invalid(json_build_object('total_seats',
                   'must equal rows x seats_per_row (' || v_total || ')'));
    END IF;

    IF v_total > evently.venue_max_section_seats() THEN
        RETURN evently.venue_invalid(json_build_object('total_seats',
                   'a section has at most '
                   || evently.venue_max_section_seats()
                   || ' seats (rows x seats_per_row is ' || v_total || ')'));
    END IF;

    IF NOT EXISTS (SELECT 1 FROM evently.venue_templates WHERE id = p_id)
    THEN
        RETURN evently.fail(404, 'TEMPLATE_NOT_FOUND',
                            'Venue template not found');
    END IF;

    IF EXISTS (SELECT 1 FROM evently.venue_sections
               WHERE template_id = p_id
                 AND lower(name) = lower(p_args->>'name'))
    THEN
        RETURN evently.fail(409, 'SECTION_EXISTS',
                            'The template already has a section with this '
                            || 'name');
    END IF;

    BEGIN
        INSERT INTO evently.venue_sections (template_id, name, description,
                                            row_start, row_end,
                                            seats_per_row, total_seats)
        VALUES (p_id, p_args->>'name', nullif(p_args->>'description', ''),
                v_start, v_end, v_spr, v_total)
        RETURNING * INTO v_s;
    EXCEPTION
        WHEN unique_violation THEN
            RETURN evently.fail(409, 'SECTION_EXISTS',
                                'The template already has a section with '
                                || 'this name');
        WHEN foreign_key_violation THEN
            RETURN evently.fail(404, 'TEMPLATE_NOT_FOUND',
                                'Venue template not found');
    END;

    PERFORM evently.generate_seats(v_s.id);

    RETURN evently.ok(evently.venue_section_json(v_s));
END
$$;


-- GET /admin/venue-templates/{id}/sections: the template's sections by
-- name
CREATE OR REPLACE FUNCTION evently.api_venue_section_list(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_items  json;
    v_count  bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM evently.venue_templates WHERE id = p_id)
    THEN
        RETURN evently.fail(404, 'TEMPLATE_NOT_FOUND',
                            'Venue template not found');
    END IF;

    SELECT json_agg(evently.venue_section_json(s) ORDER BY s.name, s.id),
           count(*)
    INTO v_items, v_count
    FROM evently.venue_sections AS s
    WHERE s.template_id = p_id;

    RETURN evently.ok(json_build_object(
        'template_id', p_id,
        'sections', coalesce(v_items, '[]'::json),
        'total_count', v_count));
END
$$;


-- PUT /admin/sections/{id}: every field optional.  A new row range or
-- seats_per_row regenerates the seats (see the notes at the top).
-- args: name, description, row_start, row_end, seats_per_row,
--       total_seats, _held, _holds_unknown
CREATE OR REPLACE FUNCTION evently.api_venue_section_update(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql
AS $$
DECLARE
    v_s       evently.venue_sections%ROWTYPE;
    v_start   text;
    v_end     text;
    v_spr     int;
    v_given   int := (p_args->>'total_seats')::int;
    v_errors  json;
    v_total   int;
    v_regen   boolean;
    v_locked  evently.api_result;
BEGIN
    SELECT * INTO v_s FROM evently.venue_sections WHERE id = p_id
        FOR UPDATE;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'SECTION_NOT_FOUND', 'Section not found');
    END IF;

    v_start := coalesce(p_args->>'row_start', v_s.row_start);
    v_end := coalesce(p_args->>'row_end', v_s.row_end);
    v_spr := coalesce((p_args->>'seats_per_row')::int, v_s.seats_per_row);

    v_errors := evently.venue_rows_error(v_start, v_end);

    IF v_errors IS NOT NULL THEN
        -- name the field the client sent when only row_start changed
        IF p_args->>'row_end' IS NULL AND p_args->>'row_start' IS NOT NULL
        THEN
            v_errors := json_build_object('row_start',
                                          v_errors->>'row_end');
        END IF;

        RETURN evently.venue_invalid(v_errors);
    END IF;

    v_total := evently.section_row_count(v_start, v_end) * v_spr;

    IF v_given IS NOT NULL AND v_given <> v_total THEN
        RETURN evently.venue_invalid(json_build_object('total_seats',
                   'must equal rows x seats_per_row (' || v_total || ')'));
    END IF;

    IF v_total > evently.venue_max_section_seats() THEN
        RETURN evently.venue_invalid(json_build_object('total_seats',
                   'a section has at most '
                   || evently.venue_max_section_seats()
                   || ' seats (rows x seats_per_row is ' || v_total || ')'));
    END IF;

    IF p_args->>'name' IS NOT NULL
       AND EXISTS (SELECT 1 FROM evently.venue_sections
                   WHERE template_id = v_s.template_id
                     AND lower(name) = lower(p_args->>'name')
                     AND id <> p_id)
    THEN
        RETURN evently.fail(409, 'SECTION_EXISTS',
                            'The template already has a section with this '
                            || 'name');
    END IF;

    v_regen := v_start <> v_s.row_start OR v_end <> v_s.row_end
               OR v_spr <> v_s.seats_per_row
               OR (v_given IS NOT NULL AND v_given <> v_s.total_seats);

    IF v_regen THEN
        v_locked := evently.venue_section_locked(v_s, p_args);

        IF v_locked.code IS NOT NULL THEN
            RETURN v_locked;
        END IF;
    END IF;

    BEGIN
        UPDATE evently.venue_sections
        SET name = coalesce(p_args->>'name', name),
            description = CASE WHEN p_args->'description' IS NULL
                               THEN description
                               ELSE nullif(p_args->>'description', '') END,
            row_start = v_start,
            row_end = v_end,
            seats_per_row = v_spr,
            total_seats = CASE WHEN v_regen THEN v_total
                               ELSE total_seats END,
            updated_at = now()
        WHERE id = p_id
        RETURNING * INTO v_s;

        IF v_regen THEN
            PERFORM evently.generate_seats(p_id);
        END IF;
    EXCEPTION
        WHEN unique_violation THEN
            RETURN evently.fail(409, 'SECTION_EXISTS',
                                'The template already has a section with '
                                || 'this name');
        WHEN foreign_key_violation THEN
            -- a booking of one of the old seats committed meanwhile
            RETURN evently.fail(409, 'SECTION_HAS_BOOKINGS',
                                'An event on this venue template has '
                                || 'bookings: the section''s seats can no '
                                || 'longer change');
    END;

    RETURN evently.ok(evently.venue_section_json(v_s));
END
$$;


-- DELETE /admin/sections/{id}: the section and its seats (same rules as a
-- regeneration)
CREATE OR REPLACE FUNCTION evently.api_venue_section_delete(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql
AS $$
DECLARE
    v_s       evently.venue_sections%ROWTYPE;
    v_locked  evently.api_result;
BEGIN
    SELECT * INTO v_s FROM evently.venue_sections WHERE id = p_id
        FOR UPDATE;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'SECTION_NOT_FOUND', 'Section not found');
    END IF;

    v_locked := evently.venue_section_locked(v_s, p_args);

    IF v_locked.code IS NOT NULL THEN
        RETURN v_locked;
    END IF;

    BEGIN
        DELETE FROM evently.venue_sections WHERE id = p_id;
    EXCEPTION WHEN foreign_key_violation THEN
        RETURN evently.fail(409, 'SECTION_HAS_BOOKINGS',
                            'An event on this venue template has bookings: '
                            || 'the section''s seats can no longer change');
    END;

    RETURN evently.ok(json_build_object('id', p_id));
END
$$;


-- ---------------------------------------------------------------------------
-- Seats

-- GET /seats/{id}: the seat with its section
CREATE OR REPLACE FUNCTION evently.api_venue_seat_get(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_data  json;
BEGIN
    SELECT json_build_object(
               'id', s.id,
               'section_id', s.section_id,
               'seat_number', s.seat_number,
               'row', s.row_label,
               'position', s.position,
               'status', s.status,
               'created_at', evently.ts(s.created_at),
               'updated_at', evently.ts(s.updated_at),
               'section', json_build_object(
                   'id', sec.id,
                   'name', sec.name,
                   'template_id', sec.template_id))
    INTO v_data
    FROM evently.seats AS s
    JOIN evently.venue_sections AS sec ON sec.id = s.section_id
    WHERE s.id = p_id;

    IF v_data IS NULL THEN
        RETURN evently.fail(404, 'SEAT_NOT_FOUND', 'Seat not found');
    END IF;

    RETURN evently.ok(v_data);
END
$$;


-- GET /sections/{id}/seats: every seat of the section, by row then
-- position, in one query (at most venue_max_section_seats() of them)
CREATE OR REPLACE FUNCTION evently.api_venue_section_seats(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_items  json;
    v_count  bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM evently.venue_sections WHERE id = p_id)
    THEN
        RETURN evently.fail(404, 'SECTION_NOT_FOUND', 'Section not found');
    END IF;

    SELECT json_agg(evently.venue_seat_json(s)
                    ORDER BY s.row_index, s.position),
           count(*)
    INTO v_items, v_count
    FROM evently.seats AS s
    WHERE s.section_id = p_id;

    RETURN evently.ok(json_build_object(
        'section_id', p_id,
        'seats', coalesce(v_items, '[]'::json),
        'total_count', v_count));
END
$$;


-- GET /sections/{id}/seats/available?event_id=: the seats of the section
-- that can be held for that event now (not BLOCKED, not in an active
-- booking of the event, not held in Redis for the event), each with the
-- event's price for the section.
-- args: event_id, _held, _holds_unknown
CREATE OR REPLACE FUNCTION evently.api_venue_section_seats_available(
    p_user uuid, p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_sec    evently.venue_sections%ROWTYPE;
    v_event  evently.events%ROWTYPE;
    v_price  numeric(12,2);
    v_held   uuid[];
    v_items  json;
    v_count  bigint;
BEGIN
    SELECT * INTO v_sec FROM evently.venue_sections WHERE id = p_id;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'SECTION_NOT_FOUND', 'Section not found');
    END IF;

    -- a draft is not public (as GET /events/{id})
    SELECT * INTO v_event FROM evently.events
    WHERE id = (p_args->>'event_id')::uuid AND status <> 'draft';

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    IF v_event.venue_template_id <> v_sec.template_id THEN
        RETURN evently.fail(400, 'SECTION_NOT_IN_EVENT_VENUE',
                            'The section is not part of the event''s venue');
    END IF;

    SELECT round(v_event.base_price * coalesce(p.price_multiplier, 1.0),
                 2)::numeric(12,2)
    INTO v_price
    FROM (SELECT 1) AS one
    LEFT JOIN evently.event_section_pricing AS p
           ON p.event_id = v_event.id AND p.section_id = v_sec.id;

    v_held := evently.held_seats(p_args->'_held', v_event.id);

    SELECT json_agg(json_build_object(
               'id', s.id,
               'section_id', s.section_id,
               'seat_number', s.seat_number,
               'row', s.row_label,
               'position', s.position,
               'status', s.status,
               'price', v_price,
               'created_at', evently.ts(s.created_at),
               'updated_at', evently.ts(s.updated_at))
               ORDER BY s.row_index, s.position),
           count(*)
    INTO v_items, v_count
    FROM evently.event_seats(v_event.id, v_event.venue_template_id,
                             v_held) AS es
    JOIN evently.seats AS s ON s.id = es.seat_id
    WHERE es.section_id = v_sec.id
      AND es.live = 'AVAILABLE';

    RETURN evently.ok(json_build_object(
        'event_id', v_event.id,
        'section_id', v_sec.id,
        'section_name', v_sec.name,
        'price', v_price,
        'currency', v_event.currency,
        'seats', coalesce(v_items, '[]'::json),
        'total_count', v_count));
END
$$;


-- PUT /admin/seats/{id}: status AVAILABLE|BLOCKED (is_available is the
-- original API's alias: true = AVAILABLE, false = BLOCKED), seat_number
-- unique in its section.
-- args: status, is_available, seat_number
CREATE OR REPLACE FUNCTION evently.api_venue_seat_update(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql
AS $$
DECLARE
    v_seat    evently.seats%ROWTYPE;
    v_status  text := p_args->>'status';
    v_alias   text;
BEGIN
    IF p_args->>'is_available' IS NOT NULL THEN
        v_alias := CASE WHEN (p_args->>'is_available')::boolean
                        THEN 'AVAILABLE' ELSE 'BLOCKED' END;

        IF v_status IS NOT NULL AND v_status <> v_alias THEN
            RETURN evently.venue_invalid(json_build_object('is_available',
                       'contradicts status'));
        END IF;

        v_status := v_alias;
    END IF;

    SELECT * INTO v_seat FROM evently.seats WHERE id = p_id FOR UPDATE;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'SEAT_NOT_FOUND', 'Seat not found');
    END IF;

    IF p_args->>'seat_number' IS NOT NULL
       AND EXISTS (SELECT 1 FROM evently.seats
                   WHERE section_id = v_seat.section_id
                     AND seat_number = p_args->>'seat_number'
                     AND id <> p_id)
    THEN
        RETURN evently.fail(409, 'SEAT_NUMBER_EXISTS',
                            'Another seat of the section has this number');
    END IF;

    BEGIN
        UPDATE evently.seats
        SET status = coalesce(v_status, status),
            seat_number = coalesce(p_args->>'seat_number', seat_number),
            updated_at = now()
        WHERE id = p_id
        RETURNING * INTO v_seat;
    EXCEPTION WHEN unique_violation THEN
        RETURN evently.fail(409, 'SEAT_NUMBER_EXISTS',
                            'Another seat of the section has this number');
    END;

    RETURN evently.ok(evently.venue_seat_json(v_seat));
END
$$;


-- DELETE /admin/seats/{id}: the seat goes, its section's total_seats
-- follows.  args: _held, _holds_unknown
CREATE OR REPLACE FUNCTION evently.api_venue_seat_delete(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql
AS $$
DECLARE
    v_section  uuid;
    v_sec      evently.venue_sections%ROWTYPE;
    v_seat     evently.seats%ROWTYPE;
BEGIN
    SELECT section_id INTO v_section FROM evently.seats WHERE id = p_id;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'SEAT_NOT_FOUND', 'Seat not found');
    END IF;

    -- the section first, then the seat: the order a section update takes
    SELECT * INTO v_sec FROM evently.venue_sections WHERE id = v_section
        FOR UPDATE;

    SELECT * INTO v_seat FROM evently.seats
    WHERE id = p_id AND section_id = v_section
        FOR UPDATE;

    IF NOT FOUND OR v_sec.id IS NULL THEN
        -- deleted or regenerated meanwhile
        RETURN evently.fail(404, 'SEAT_NOT_FOUND', 'Seat not found');
    END IF;

    IF EXISTS (SELECT 1 FROM evently.booking_seats WHERE seat_id = p_id) THEN
        RETURN evently.fail(409, 'SEAT_HAS_BOOKINGS',
                            'The seat is part of a booking');
    END IF;

    IF coalesce((p_args->>'_holds_unknown')::boolean, false) THEN
        RETURN evently.fail(503, 'HOLDS_UNAVAILABLE',
                            'Seat holds cannot be checked right now, '
                            || 'retry shortly');
    END IF;

    IF EXISTS (SELECT 1 FROM evently.venue_held(p_args->'_held') AS h
               WHERE h.seat_id = p_id)
    THEN
        RETURN evently.fail(409, 'SEAT_HELD',
                            'The seat is held: retry when the hold has '
                            || 'ended');
    END IF;

    IF v_sec.total_seats <= 1 THEN
        RETURN evently.fail(409, 'LAST_SEAT',
                            'The last seat of a section cannot be deleted: '
                            || 'delete the section instead');
    END IF;

    BEGIN
        DELETE FROM evently.seats WHERE id = p_id;
    EXCEPTION WHEN foreign_key_violation THEN
        RETURN evently.fail(409, 'SEAT_HAS_BOOKINGS',
                            'The seat is part of a booking');
    END;

    UPDATE evently.venue_sections
    SET total_seats = total_seats - 1,
        updated_at = now()
    WHERE id = v_section;

    RETURN evently.ok(json_build_object('id', p_id,
                                        'section_id', v_section));
END
$$;
