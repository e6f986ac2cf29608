-- 00_common.sql: helpers shared by every domain file of sql/functions/.
-- Re-applied on every migrate (CREATE OR REPLACE only; no data changes).
--
-- API FUNCTION SHAPE (the one form to use in 10_auth.sql, 20_tags.sql, ...)
--
--     CREATE OR REPLACE FUNCTION evently.api_<op>(p_user uuid, p_role text,
--         p_id uuid, p_args json)
--     RETURNS evently.api_result
--     LANGUAGE plpgsql AS $$
--     BEGIN
--         IF ... THEN
--             RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
--         END IF;
--         ...
--         RETURN evently.ok(json_build_object(...), v_version::text);
--     END $$;
--
--   and C calls it as  SELECT * FROM evently.api_<op>($1,$2,$3,$4)
--   which yields exactly one row (status, code, message, data, etag).
--
--   Why a single evently.api_result and not RETURNS TABLE (...) / SETOF:
--   both were tried and give the same columns to `SELECT * FROM`, but
--   RETURNS TABLE declares OUT parameters named status, code, message, data
--   that collide with table columns of the same name inside PL/pgSQL
--   ("column reference "status" is ambiguous"), and SETOF needs
--   RETURN QUERY/RETURN NEXT + RETURN. With `RETURNS evently.api_result`
--   every exit is a plain `RETURN evently.ok(...)` / `RETURN evently.fail(...)`.
--
--   api_result = (status int, code text, message text, data json, etag text)
--     success: code NULL; status/message NULL = the op's defaults in C;
--              data = the envelope's "data"; etag = version or NULL.
--     failure: status 4xx, code UPPER_SNAKE, message, data = extra fields
--              merged into "errors" (a JSON object) or NULL.
--
-- HELPERS
--   evently.ts(timestamptz)            -> '2026-12-01T19:30:00Z' (NULL-safe)
--   evently.ok(data [, etag])          -> success row
--   evently.ok_status(status, msg, data) -> success row with own status/msg
--   evently.fail(status, code, msg [, extra]) -> error row
--   evently.page_json(key, items, total, page, limit)
--                                      -> {"<key>":[..],"total_count":N,
--                                          "page":P,"limit":L,"total_pages":T}
--   evently.total_pages(total, limit)  -> ceil(total/limit), 0 when total 0
--   evently.emit(topic, type, event_id, booking_id, user_id, data jsonb)
--                                      -> outbox row, returns the message id
--   evently.section_row_count(row_start, row_end) -> rows, NULL if invalid
--   evently.generate_seats(section_id) -> (re)creates a section's seats
--   evently.booking_ref()              -> 'EVT-YYYYMMDD-XXXXXX'
--   evently.slugify(text)              -> 'food-wine' (NULL if nothing left)
--
-- Output JSON is `json` (json_build_object / json_agg) so key order is
-- stable; jsonb only where order does not matter (emit's data argument).


-- ---------------------------------------------------------------------------
-- Time: RFC 3339, UTC, 'Z', whole seconds (fraction truncated). Independent
-- of the session TimeZone. STABLE because to_char() is (its locale-aware
-- patterns are not used here); being a STABLE SQL function it is inlined
-- into the calling query.

CREATE OR REPLACE FUNCTION evently.ts(p_t timestamptz)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT to_char(p_t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;


-- ---------------------------------------------------------------------------
-- API result helpers

CREATE OR REPLACE FUNCTION evently.ok(p_data json, p_etag text DEFAULT NULL)
RETURNS evently.api_result
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ROW(NULL::int, NULL::text, NULL::text, p_data,
               p_etag)::evently.api_result
$$;

CREATE OR REPLACE FUNCTION evently.ok_status(p_status int, p_message text,
    p_data json)
RETURNS evently.api_result
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ROW(p_status, NULL::text, p_message, p_data,
               NULL::text)::evently.api_result
$$;

CREATE OR REPLACE FUNCTION evently.fail(p_status int, p_code text,
    p_message text, p_extra json DEFAULT NULL)
RETURNS evently.api_result
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ROW(p_status, p_code, p_message, p_extra,
               NULL::text)::evently.api_result
$$;


-- ---------------------------------------------------------------------------
-- Pagination

CREATE OR REPLACE FUNCTION evently.total_pages(p_total bigint, p_limit int)
RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN coalesce(p_total, 0) <= 0 OR coalesce(p_limit, 0) <= 0
                THEN 0
                ELSE ((p_total + p_limit - 1) / p_limit)::int
           END
$$;

-- The list payload: items under p_key (an empty array when p_items is
-- NULL, e.g. json_agg over no rows), then the paging fields.
CREATE OR REPLACE FUNCTION evently.page_json(p_key text, p_items json,
    p_total bigint, p_page int, p_limit int)
RETURNS json
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        p_key, coalesce(p_items, '[]'::json),
        'total_count', coalesce(p_total, 0),
        'page', p_page,
        'limit', p_limit,
        'total_pages', evently.total_pages(p_total, p_limit))
$$;


-- ---------------------------------------------------------------------------
-- Outbox. p_topic is the suffix ('bookings', 'waitlist', 'events',
-- 'notifications'); the module adds the configured prefix ("evently.").
-- payload = {"id","type","occurred_at","event_id","booking_id"?,"user_id"?,
-- "data"} in that order; booking_id/user_id are left out when NULL.
-- Kafka key = event_id. Call it inside the transaction of the change.

CREATE OR REPLACE FUNCTION evently.emit(p_topic text, p_type text,
    p_event_id uuid, p_booking_id uuid, p_user_id uuid, p_data jsonb)
RETURNS uuid
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_id       uuid := gen_random_uuid();
    v_payload  text;
BEGIN
    v_payload := '{"id":' || to_json(v_id)::text
        || ',"type":' || to_json(p_type)::text
        || ',"occurred_at":' || to_json(evently.ts(now()))::text
        || ',"event_id":' || coalesce(to_json(p_event_id)::text, 'null')
        || CASE WHEN p_booking_id IS NULL THEN ''
                ELSE ',"booking_id":' || to_json(p_booking_id)::text END
        || CASE WHEN p_user_id IS NULL THEN ''
                ELSE ',"user_id":' || to_json(p_user_id)::text END
        || ',"data":' || coalesce(p_data, '{}'::jsonb)::text
        || '}';

    INSERT INTO evently.outbox (message_id, topic, event_key, event_type,
                                payload)
    VALUES (v_id, p_topic, p_event_id::text, p_type, v_payload::json);

    RETURN v_id;
END
$$;


-- ---------------------------------------------------------------------------
-- Venue rows

-- Number of rows from row_start to row_end: both single letters A..Z or
-- both numbers 1..9999 without leading zero, start <= end. NULL otherwise
-- (mixed kinds, reversed, lower-case, '0', '01', empty, NULL). The same
-- rules are CHECK constraints of evently.venue_sections.
CREATE OR REPLACE FUNCTION evently.section_row_count(p_row_start text,
    p_row_end text)
RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN p_row_start ~ '^[A-Z]$' AND p_row_end ~ '^[A-Z]$'
             AND ascii(p_row_start) <= ascii(p_row_end)
            THEN ascii(p_row_end) - ascii(p_row_start) + 1
        WHEN p_row_start ~ '^[1-9][0-9]{0,3}$'
             AND p_row_end ~ '^[1-9][0-9]{0,3}$'
            THEN CASE WHEN p_row_start::int <= p_row_end::int
                      THEN p_row_end::int - p_row_start::int + 1 END
        ELSE NULL
    END
$$;

-- (Re)creates the seats of a section from its row_start/row_end/
-- seats_per_row: seat_number = row label || position for letter rows
-- ("A12"), row label || '-' || position for number rows ("11-1", since
-- "111" would be ambiguous), row_label = "A" / "11", row_index = A=1.. or
-- the row number, position 1..seats_per_row restarting on every row, status
-- AVAILABLE. Deletes the section's existing seats first (fails with a
-- foreign_key_violation if one of them is referenced by booking_seats: the
-- API refuses before that). One INSERT ... SELECT. Returns the seat count.
-- Raises no_data_found for an unknown section (a caller bug).
CREATE OR REPLACE FUNCTION evently.generate_seats(p_section_id uuid)
RETURNS int
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_sec      evently.venue_sections%ROWTYPE;
    v_letters  boolean;
    v_first    int;
    v_last     int;
    v_count    int;
BEGIN
    SELECT * INTO v_sec
    FROM evently.venue_sections
    WHERE id = p_section_id;

    IF NOT FOUND THEN
        RAISE EXCEPTION 'generate_seats: unknown section %', p_section_id
            USING ERRCODE = 'no_data_found';
    END IF;

    v_letters := v_sec.row_start ~ '^[A-Z]$';
    IF v_letters THEN
        v_first := ascii(v_sec.row_start) - 64;
        v_last := ascii(v_sec.row_end) - 64;
    ELSE
        v_first := v_sec.row_start::int;
        v_last := v_sec.row_end::int;
    END IF;

    DELETE FROM evently.seats WHERE section_id = p_section_id;

    INSERT INTO evently.seats (section_id, seat_number, row_label, row_index,
                               position)
    SELECT p_section_id, r.prefix || p.n::text, r.label, r.idx, p.n
    FROM (SELECT CASE WHEN v_letters THEN chr(64 + i) ELSE i::text END
                     AS label,
                 CASE WHEN v_letters THEN chr(64 + i) ELSE i::text || '-' END
                     AS prefix,
                 i AS idx
          FROM generate_series(v_first, v_last) AS i) AS r
    CROSS JOIN generate_series(1, v_sec.seats_per_row) AS p(n)
    ORDER BY r.idx, p.n;

    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;


-- ---------------------------------------------------------------------------
-- Booking reference 'EVT-YYYYMMDD-XXXXXX': date of now() in UTC, 6 chars of
-- [A-Z0-9] from pgcrypto's gen_random_bytes (CSPRNG). Bytes >= 252 are
-- rejected so that byte % 36 is uniform. Retries while the reference is
-- already taken (so only a concurrent race could collide; the unique
-- constraint still guards that, probability ~ 1 in 2e9 per day).
-- search_path pinned: gen_random_bytes lives in the extensions' schema.

CREATE OR REPLACE FUNCTION evently.booking_ref()
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = evently, public, pg_temp
AS $$
DECLARE
    c_alphabet  constant text := 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    v_bytes     bytea;
    v_byte      int;
    v_suffix    text;
    v_ref       text;
    i           int;
BEGIN
    LOOP
        v_suffix := '';
        WHILE char_length(v_suffix) < 6 LOOP
            v_bytes := gen_random_bytes(12);
            FOR i IN 0 .. length(v_bytes) - 1 LOOP
                v_byte := get_byte(v_bytes, i);
                IF v_byte < 252 AND char_length(v_suffix) < 6 THEN
                    v_suffix := v_suffix
                        || substr(c_alphabet, v_byte % 36 + 1, 1);
                END IF;
            END LOOP;
        END LOOP;

        v_ref := 'EVT-' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD')
            || '-' || v_suffix;

        EXIT WHEN NOT EXISTS (SELECT 1 FROM evently.bookings
                              WHERE booking_ref = v_ref);
    END LOOP;

    RETURN v_ref;
END
$$;


-- ---------------------------------------------------------------------------
-- Tag slug from a name: lower-case, every run of characters other than
-- [a-z0-9] becomes one '-', no leading/trailing '-', at most 100 chars.
-- NULL when nothing is left (e.g. '!!' or a name without ASCII letters or
-- digits): the API must then refuse the name (400). Matches the CHECK on
-- evently.tags.slug.

CREATE OR REPLACE FUNCTION evently.slugify(p_name text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT nullif(
        trim(BOTH '-' FROM
             left(trim(BOTH '-' FROM
                       regexp_replace(lower(p_name), '[^a-z0-9]+', '-', 'g')),
                  100)),
        '')
$$;


-- ---------------------------------------------------------------------------
-- Live seat status.  Holds live in Redis: ngx_http_evently_run_sql_op_with_holds
-- passes the seats held now as args._held = {"<event>": ["<seat>", ...]}
-- (only UUIDs: the module checks them; a client cannot set _ arguments).

-- the seats held now for one event ('{}' when none)
CREATE OR REPLACE FUNCTION evently.held_seats(p_held json, p_event uuid)
RETURNS uuid[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(DISTINCT value::uuid), '{}')
    FROM json_array_elements_text(
             CASE WHEN json_typeof(p_held -> (p_event::text)) = 'array'
                  THEN p_held -> (p_event::text)
                  ELSE '[]'::json END)
$$;


-- every seat of an event's venue with its status for that event: BLOCKED,
-- BOOKED (an active booking), HELD (p_held) or AVAILABLE, in that order
-- of precedence.  Inlined into the caller (filters on section or seat go
-- down to the indexes).
CREATE OR REPLACE FUNCTION evently.event_seats(p_event uuid,
    p_template uuid, p_held uuid[])
RETURNS TABLE (seat_id uuid, section_id uuid, seat_number text,
               row_label text, row_index int, seat_position int, live text)
LANGUAGE sql STABLE
AS $$
    SELECT s.id, s.section_id, s.seat_number, s.row_label, s.row_index,
           s.position,
           CASE WHEN s.status = 'BLOCKED' THEN 'BLOCKED'
                WHEN b.seat_id IS NOT NULL THEN 'BOOKED'
                WHEN h.seat_id IS NOT NULL THEN 'HELD'
                ELSE 'AVAILABLE'
           END
    FROM evently.venue_sections vs
    JOIN evently.seats s ON s.section_id = vs.id
    LEFT JOIN (SELECT bs.seat_id
               FROM evently.booking_seats bs
               WHERE bs.event_id = p_event AND bs.active) b
           ON b.seat_id = s.id
    LEFT JOIN (SELECT DISTINCT unnest(p_held) AS seat_id) h
           ON h.seat_id = s.id
    WHERE vs.template_id = p_template
$$;


-- If-Match (args._if_match, set by the module) against a resource's
-- current version: the 412 to answer, or a row with a NULL status when the
-- version matches or no If-Match was sent.
--     v_stale := evently.stale(p_args, v.version, 'The event has changed');
--     IF v_stale.status IS NOT NULL THEN RETURN v_stale; END IF;
CREATE OR REPLACE FUNCTION evently.stale(p_args json, p_version int,
    p_message text)
RETURNS evently.api_result
LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE WHEN p_args ->> '_if_match' IS NOT NULL
                     AND (p_args ->> '_if_match')::bigint <> p_version
                THEN evently.fail(412, 'VERSION_MISMATCH', p_message,
                                  json_build_object('current_version',
                                                    p_version))
                ELSE NULL::evently.api_result
           END
$$;
