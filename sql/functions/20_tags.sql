-- 20_tags.sql: the Tags endpoints of shared/api-contract.md.
--
--   GET    /tags/active             tags_active      (public and admin)
--   GET    /tags/slug/{slug}        tag_by_slug      (public, args._path_id)
--   POST   /admin/tags              tag_create
--   GET    /admin/tags              tags_list
--   GET    /admin/tags/{id}         tag_get
--   PUT    /admin/tags/{id}         tag_update
--   DELETE /admin/tags/{id}         tag_delete
--
-- C (ngx_http_evently_tags.c) has already checked the admin role, the
-- UUID in the path and every field: name 2..100 characters (trimmed),
-- description <= 500, color #RRGGBB (upper-cased), is_active boolean,
-- page/limit ranges, sort_by/sort_order enumerations.  What is left here:
-- the slug (derived from the name by evently.slugify), uniqueness, the
-- "in use" check, and building the JSON.
--
-- Names are unique case-insensitively (unique index on lower(name)) and
-- slugs are unique (tags_slug_key); two names may differ yet give the same
-- slug ("Food & Wine", "food-wine"): both cases are 409 TAG_EXISTS.
-- Lists are ordered by lower(name), which that unique index serves and
-- which is a total order (no tie-breaker needed).

-- Tag = {id,name,slug,description,color,is_active,created_at,updated_at}
CREATE OR REPLACE FUNCTION evently.tag_json(t evently.tags)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', t.id,
        'name', t.name,
        'slug', t.slug,
        'description', t.description,
        'color', t.color,
        'is_active', t.is_active,
        'created_at', evently.ts(t.created_at),
        'updated_at', evently.ts(t.updated_at))
$$;


CREATE OR REPLACE FUNCTION evently.tag_not_found()
RETURNS evently.api_result
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT evently.fail(404, 'TAG_NOT_FOUND', 'Tag not found')
$$;


-- The 400 of a name that leaves no slug ('!!', '---', only non-ASCII
-- letters), in the validator's shape: errors.fields.name.
CREATE OR REPLACE FUNCTION evently.tag_bad_name(p_message text)
RETURNS evently.api_result
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT evently.fail(400, 'VALIDATION_FAILED', 'Validation failed',
                        json_build_object('fields',
                            json_build_object('name', p_message)))
$$;


-- Which uniqueness a name (and its slug) would break, ignoring the tag
-- p_self (the one being renamed): the 409 row, or an all-NULL row when
-- none (test (r).code: a composite IS NOT NULL only when every field is).
CREATE OR REPLACE FUNCTION evently.tag_conflict(p_name text, p_slug text,
    p_self uuid)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM evently.tags
               WHERE lower(name) = lower(p_name)
                 AND id IS DISTINCT FROM p_self)
    THEN
        RETURN evently.fail(409, 'TAG_EXISTS',
                            'A tag with this name already exists',
                            json_build_object('name', p_name));
    END IF;

    IF EXISTS (SELECT 1 FROM evently.tags
               WHERE slug = p_slug AND id IS DISTINCT FROM p_self)
    THEN
        RETURN evently.fail(409, 'TAG_EXISTS',
                            'A tag with the same slug already exists',
                            json_build_object('slug', p_slug));
    END IF;

    RETURN NULL;
END
$$;


-- ---------------------------------------------------------------------------
-- GET /tags/active, GET /admin/tags/active: the active tags by name.
-- data is the array of Tag.

CREATE OR REPLACE FUNCTION evently.api_tags_active(p_user uuid, p_role text,
    p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN evently.ok(coalesce(
        (SELECT json_agg(evently.tag_json(t) ORDER BY lower(t.name))
         FROM evently.tags t
         WHERE t.is_active),
        '[]'::json));
END
$$;


-- ---------------------------------------------------------------------------
-- GET /tags/slug/{slug}: an active tag by slug (compared lower-cased). An
-- inactive tag is not public: 404 as for an unknown slug.

CREATE OR REPLACE FUNCTION evently.api_tag_by_slug(p_user uuid, p_role text,
    p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_slug  text;
    v_tag   evently.tags;
BEGIN
    -- C passes the raw path segment (UTF-8, at most 128 bytes)
    v_slug := lower(p_args->>'_path_id');

    IF v_slug IS NULL OR char_length(v_slug) > 100
       OR v_slug !~ '^[a-z0-9]+(-[a-z0-9]+)*$'
    THEN
        RETURN evently.tag_not_found();
    END IF;

    SELECT * INTO v_tag
    FROM evently.tags
    WHERE slug = v_slug AND is_active;

    IF NOT FOUND THEN
        RETURN evently.tag_not_found();
    END IF;

    RETURN evently.ok(evently.tag_json(v_tag));
END
$$;


-- ---------------------------------------------------------------------------
-- POST /admin/tags: {name, description?, color?} -> 201 Tag. A "slug" in
-- the body is ignored (C does not pass it): the slug is always derived.

CREATE OR REPLACE FUNCTION evently.api_tag_create(p_user uuid, p_role text,
    p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_name      text := p_args->>'name';
    v_desc      text := nullif(p_args->>'description', '');
    v_color     text := upper(coalesce(p_args->>'color', '#6B7280'));
    v_slug      text;
    v_conflict  evently.api_result;
    v_tag       evently.tags;
BEGIN
    IF v_name IS NULL THEN
        RETURN evently.tag_bad_name('is required');
    END IF;

    v_slug := evently.slugify(v_name);

    IF v_slug IS NULL THEN
        RETURN evently.tag_bad_name(
            'must contain at least one letter or digit (a-z, 0-9)');
    END IF;

    v_conflict := evently.tag_conflict(v_name, v_slug, NULL);

    IF (v_conflict).code IS NOT NULL THEN
        RETURN v_conflict;
    END IF;

    -- a concurrent create of the same name or slug loses here, cleanly
    INSERT INTO evently.tags (name, slug, description, color)
    VALUES (v_name, v_slug, v_desc, v_color)
    ON CONFLICT DO NOTHING
    RETURNING * INTO v_tag;

    IF NOT FOUND THEN
        RETURN evently.fail(409, 'TAG_EXISTS',
                            'A tag with this name or slug already exists');
    END IF;

    RETURN evently.ok(evently.tag_json(v_tag));
END
$$;


-- ---------------------------------------------------------------------------
-- GET /admin/tags?page&limit&search&is_active&sort_by&sort_order
-- -> {tags,total_count,page,limit,total_pages}
--
-- search matches name or description, case-insensitively, as a literal
-- substring (LIKE wildcards escaped); the trigram indexes on both columns
-- serve it. The statement is built from fixed fragments only (never from
-- the input), so the planner sees a plain query per variant and can use
-- the lower(name) / created_at / updated_at indexes for the order.

CREATE OR REPLACE FUNCTION evently.api_tags_list(p_user uuid, p_role text,
    p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_page     int := coalesce((p_args->>'page')::int, 1);
    v_limit    int := coalesce((p_args->>'limit')::int, 10);
    v_search   text := nullif(p_args->>'search', '');
    v_active   boolean := (p_args->>'is_active')::boolean;
    v_dir      text;
    v_order    text;
    v_where    text := 'true';
    v_pattern  text;
    v_total    bigint;
    v_items    json;
BEGIN
    IF v_page < 1 OR v_limit < 1 OR v_limit > 100 THEN
        RETURN evently.fail(400, 'VALIDATION_FAILED', 'Validation failed',
                            json_build_object('fields',
                                json_build_object('limit',
                                    'must be an integer between 1 and 100')));
    END IF;

    v_dir := CASE p_args->>'sort_order' WHEN 'desc' THEN 'DESC'
                                        ELSE 'ASC' END;

    v_order := CASE p_args->>'sort_by'
                   WHEN 'created_at' THEN 't.created_at ' || v_dir || ', '
                   WHEN 'updated_at' THEN 't.updated_at ' || v_dir || ', '
                   ELSE ''
               END
               || 'lower(t.name) ' || v_dir;

    IF v_active IS NOT NULL THEN
        v_where := v_where || ' AND t.is_active = $1';
    END IF;

    IF v_search IS NOT NULL THEN
        v_pattern := '%' || regexp_replace(v_search, '([\\%_])', '\\\1', 'g')
                     || '%';
        v_where := v_where
                   || ' AND (t.name ILIKE $2 OR t.description ILIKE $2)';
    END IF;

    EXECUTE 'SELECT count(*) FROM evently.tags t WHERE ' || v_where
    INTO v_total
    USING v_active, v_pattern;

    IF v_total > (v_page - 1)::bigint * v_limit THEN
        EXECUTE 'SELECT json_agg(evently.tag_json(t) ORDER BY ' || v_order
                || ') FROM (SELECT * FROM evently.tags t WHERE ' || v_where
                || ' ORDER BY ' || v_order || ' LIMIT $3 OFFSET $4) t'
        INTO v_items
        USING v_active, v_pattern, v_limit,
              (v_page - 1)::bigint * v_limit;
    END IF;

    RETURN evently.ok(evently.page_json('tags', v_items, v_total, v_page,
                                        v_limit));
END
$$;


-- ---------------------------------------------------------------------------
-- GET /admin/tags/{id}: any tag, active or not.

CREATE OR REPLACE FUNCTION evently.api_tag_get(p_user uuid, p_role text,
    p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_tag  evently.tags;
BEGIN
    SELECT * INTO v_tag FROM evently.tags WHERE id = p_id;

    IF NOT FOUND THEN
        RETURN evently.tag_not_found();
    END IF;

    RETURN evently.ok(evently.tag_json(v_tag));
END
$$;


-- ---------------------------------------------------------------------------
-- PUT /admin/tags/{id}: any of name, description (null or "" clears it),
-- color, is_active. A new name re-derives the slug. updated_at moves only
-- when something really changes; an update that changes nothing answers
-- the tag as it is.

CREATE OR REPLACE FUNCTION evently.api_tag_update(p_user uuid, p_role text,
    p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_old       evently.tags;
    v_tag       evently.tags;
    v_name      text;
    v_slug      text;
    v_desc      text;
    v_color     text;
    v_active    boolean;
    v_conflict  evently.api_result;
BEGIN
    SELECT * INTO v_old FROM evently.tags WHERE id = p_id FOR UPDATE;

    IF NOT FOUND THEN
        RETURN evently.tag_not_found();
    END IF;

    v_name := coalesce(p_args->>'name', v_old.name);
    v_slug := v_old.slug;

    IF v_name IS DISTINCT FROM v_old.name THEN
        v_slug := evently.slugify(v_name);

        IF v_slug IS NULL THEN
            RETURN evently.tag_bad_name(
                'must contain at least one letter or digit (a-z, 0-9)');
        END IF;

        v_conflict := evently.tag_conflict(v_name, v_slug, p_id);

        IF (v_conflict).code IS NOT NULL THEN
            RETURN v_conflict;
        END IF;
    END IF;

    -- a JSON null gives SQL NULL through ->>, the key's absence gives
    -- NULL through ->: only the latter keeps the old description
    v_desc := CASE WHEN p_args->'description' IS NULL THEN v_old.description
                   ELSE nullif(p_args->>'description', '') END;
    v_color := upper(coalesce(p_args->>'color', v_old.color));
    v_active := coalesce((p_args->>'is_active')::boolean, v_old.is_active);

    IF v_name = v_old.name
       AND v_desc IS NOT DISTINCT FROM v_old.description
       AND v_color = v_old.color
       AND v_active = v_old.is_active
    THEN
        RETURN evently.ok(evently.tag_json(v_old));
    END IF;

    BEGIN
        UPDATE evently.tags
        SET name = v_name,
            slug = v_slug,
            description = v_desc,
            color = v_color,
            is_active = v_active,
            updated_at = now()
        WHERE id = p_id
        RETURNING * INTO v_tag;

    EXCEPTION WHEN unique_violation THEN
        -- a concurrent create or rename took the name or slug meanwhile
        RETURN evently.fail(409, 'TAG_EXISTS',
                            'A tag with this name or slug already exists');
    END;

    RETURN evently.ok(evently.tag_json(v_tag));
END
$$;


-- ---------------------------------------------------------------------------
-- DELETE /admin/tags/{id}: 409 TAG_IN_USE while an event has the tag
-- (event_tags references tags ON DELETE RESTRICT, which also catches an
-- event tagged concurrently).

CREATE OR REPLACE FUNCTION evently.api_tag_delete(p_user uuid, p_role text,
    p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_events  bigint;
BEGIN
    PERFORM 1 FROM evently.tags WHERE id = p_id FOR UPDATE;

    IF NOT FOUND THEN
        RETURN evently.tag_not_found();
    END IF;

    SELECT count(*) INTO v_events
    FROM evently.event_tags
    WHERE tag_id = p_id;

    IF v_events > 0 THEN
        RETURN evently.fail(409, 'TAG_IN_USE',
                            'The tag is used by events and cannot be '
                            'deleted; deactivate it instead',
                            json_build_object('event_count', v_events));
    END IF;

    BEGIN
        DELETE FROM evently.tags WHERE id = p_id;

    EXCEPTION WHEN foreign_key_violation THEN
        RETURN evently.fail(409, 'TAG_IN_USE',
                            'The tag is used by events and cannot be '
                            'deleted; deactivate it instead');
    END;

    RETURN evently.ok(json_build_object('id', p_id));
END
$$;
