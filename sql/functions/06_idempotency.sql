-- 06_idempotency.sql: Idempotency-Key for every mutation, scoped to the
-- caller (ngx_http_evently_idempotency.c).
--
-- idem_begin claims the key in one statement and answers:
--   new          the caller runs the request, then idem_finish stores the
--                response before it is sent
--   replay       same key, same request: the stored response
--   mismatch     same key, another request: 422
--   in_progress  the first request is still running: 409, retry later
-- Keys live 24 hours; a claim whose request died is taken over after 60 s.


-- (the answer gained its ETag: drop the older shapes first)
DROP FUNCTION IF EXISTS evently.idem_begin(uuid, text, text);
DROP FUNCTION IF EXISTS evently.idem_finish(uuid, text, int, text);


CREATE OR REPLACE FUNCTION evently.idem_begin(p_user uuid, p_key text,
    p_hash text)
RETURNS TABLE (state text, status int, body text, etag text)
LANGUAGE plpgsql AS $$
DECLARE
    v evently.idempotency_keys%ROWTYPE;
BEGIN
    INSERT INTO evently.idempotency_keys AS k (user_id, idem_key, request_hash)
    VALUES (p_user, p_key, p_hash)
    ON CONFLICT (user_id, idem_key) DO UPDATE
       SET request_hash = EXCLUDED.request_hash, created_at = now(),
           completed_at = NULL, response_status = NULL, response_body = NULL,
           response_etag = NULL
     WHERE k.created_at < now() - interval '24 hours'
        OR (k.completed_at IS NULL
            AND k.created_at < now() - interval '60 seconds')
    RETURNING * INTO v;

    IF FOUND THEN
        RETURN QUERY SELECT 'new'::text, NULL::int, NULL::text, NULL::text;
        RETURN;
    END IF;

    SELECT * INTO v FROM evently.idempotency_keys
     WHERE user_id = p_user AND idem_key = p_key;

    IF v.request_hash <> p_hash THEN
        RETURN QUERY SELECT 'mismatch'::text, NULL::int, NULL::text,
                            NULL::text;
    ELSIF v.completed_at IS NULL THEN
        RETURN QUERY SELECT 'in_progress'::text, NULL::int, NULL::text,
                            NULL::text;
    ELSE
        RETURN QUERY SELECT 'replay'::text, v.response_status,
                            v.response_body, v.response_etag;
    END IF;
END $$;


-- a 5xx is not remembered: the client may retry it
CREATE OR REPLACE FUNCTION evently.idem_finish(p_user uuid, p_key text,
    p_status int, p_body text, p_etag text)
RETURNS void
LANGUAGE sql AS $$
    DELETE FROM evently.idempotency_keys
     WHERE user_id = p_user AND idem_key = p_key AND p_status >= 500;
    UPDATE evently.idempotency_keys
       SET response_status = p_status, response_body = p_body,
           response_etag = p_etag, completed_at = now()
     WHERE user_id = p_user AND idem_key = p_key AND p_status < 500;
$$;
