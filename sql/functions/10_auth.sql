-- 10_auth.sql: accounts, credentials and refresh-token rotation (the Auth
-- section of shared/api-contract.md).
--
--   POST /auth/register         auth_register          (1 call, after bcrypt)
--   POST /auth/login            auth_credentials, then (bcrypt verify)
--                               auth_login
--   POST /auth/refresh          auth_refresh           (1 call)
--   POST /auth/logout           auth_logout            (1 call)
--   PUT|POST /auth/change-password
--                               auth_password_hash, then (bcrypt verify and
--                               hash) auth_change_password
--   GET  /auth/me               api_auth_me            (generic SQL op)
--
-- C (ngx_http_evently_auth.c) has validated every field, hashes passwords
-- in the thread pool and signs the JWTs.  It generates the new user's id,
-- the refresh token's id (= jti) and the token itself before calling, so
-- that each step is one round trip.  Nothing secret reaches this file: a
-- password only as its bcrypt hash, a refresh token only as sha256 hex.
--
-- Refresh tokens: a family is the chain of rotations that starts at one
-- login or registration; its id is the id of its first token.  Rotation
-- revokes the presented token (replaced_by = its successor) and inserts
-- the successor in the same family.  Presenting a token that is already
-- revoked means a copy of it is in someone else's hands: the whole family
-- is revoked (401 TOKEN_REUSED).
--
-- Exits are evently.ok / evently.fail rows (see 00_common.sql); nothing a
-- client sends makes these functions raise.


-- AuthResponse.user = {id,first_name,last_name,email,role,created_at,
-- updated_at}
CREATE OR REPLACE FUNCTION evently.auth_user_json(u evently.users)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'id', u.id,
        'first_name', u.first_name,
        'last_name', u.last_name,
        'email', u.email,
        'role', u.role,
        'created_at', evently.ts(u.created_at),
        'updated_at', evently.ts(u.updated_at))
$$;


-- A new refresh token row; p_expires is the JWT's "exp" (epoch seconds).
CREATE OR REPLACE FUNCTION evently.auth_store_token(p_user_id uuid,
    p_family_id uuid, p_token_id uuid, p_token_hash text, p_expires bigint)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
    INSERT INTO evently.refresh_tokens (id, user_id, family_id, token_hash,
                                        expires_at)
    VALUES (p_token_id, p_user_id, p_family_id, p_token_hash,
            to_timestamp(p_expires))
$$;


-- Public registration: always a USER (the C side already refused
-- role ADMIN with 403; this is the second lock).  The user and the first
-- refresh token of a new family, in one transaction.
CREATE OR REPLACE FUNCTION evently.auth_register(p_first_name text,
    p_last_name text, p_email text, p_password_hash text, p_user_id uuid,
    p_token_id uuid, p_token_hash text, p_expires bigint)
RETURNS evently.api_result
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_user        evently.users;
    v_constraint  text;
    v_field       text;
BEGIN
    INSERT INTO evently.users (id, first_name, last_name, email,
                               password_hash, role)
    VALUES (p_user_id, p_first_name, p_last_name, lower(p_email),
            p_password_hash, 'USER')
    RETURNING * INTO v_user;

    PERFORM evently.auth_store_token(p_user_id, p_token_id, p_token_id,
                                     p_token_hash, p_expires);

    RETURN evently.ok(evently.auth_user_json(v_user));

EXCEPTION
    WHEN unique_violation THEN
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        IF v_constraint = 'users_email_key' THEN
            RETURN evently.fail(409, 'EMAIL_TAKEN',
                                'An account with this email already exists');
        END IF;
        RAISE;   -- a random UUID collision: not a client's doing

    WHEN check_violation THEN
        -- what C's checks let through and the table refuses (e.g. an
        -- e-mail with a non-ASCII space, or one that lower() changes)
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        v_field := CASE v_constraint
                       WHEN 'users_email_check' THEN 'email'
                       WHEN 'users_first_name_check' THEN 'first_name'
                       WHEN 'users_last_name_check' THEN 'last_name'
                   END;
        IF v_field IS NULL THEN
            RAISE;
        END IF;
        RETURN evently.fail(400, 'VALIDATION_FAILED', 'Validation failed',
            json_build_object('fields', json_build_object(v_field,
                CASE v_field
                    WHEN 'email' THEN 'must be a valid email address'
                    ELSE 'must be between 2 and 100 characters long'
                END)));
END
$$;


-- Login, step 1: the stored hash of an e-mail (no row: unknown e-mail;
-- C then hashes a dummy so that both cases cost the same).
CREATE OR REPLACE FUNCTION evently.auth_credentials(p_email text)
RETURNS TABLE (user_id uuid, password_hash text)
LANGUAGE sql STABLE
AS $$
    SELECT u.id, u.password_hash
    FROM evently.users AS u
    WHERE u.email = lower(p_email)
$$;


-- Login, step 2 (the password matched): a new family with its first
-- token.  The user's expired tokens are deleted on the way: they can no
-- longer be used (their JWT "exp" has passed), and this keeps the table
-- bounded per user.
CREATE OR REPLACE FUNCTION evently.auth_login(p_user_id uuid,
    p_token_id uuid, p_token_hash text, p_expires bigint)
RETURNS evently.api_result
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_user  evently.users;
BEGIN
    -- KEY SHARE: the user cannot be deleted before the token is stored
    SELECT * INTO v_user
    FROM evently.users
    WHERE id = p_user_id
    FOR KEY SHARE;

    IF NOT FOUND THEN
        -- deleted between the two steps: as if the e-mail were unknown
        RETURN evently.fail(401, 'INVALID_CREDENTIALS',
                            'Invalid email or password');
    END IF;

    DELETE FROM evently.refresh_tokens
    WHERE user_id = p_user_id AND expires_at < now();

    PERFORM evently.auth_store_token(p_user_id, p_token_id, p_token_id,
                                     p_token_hash, p_expires);

    RETURN evently.ok(evently.auth_user_json(v_user));
END
$$;


-- Rotation.  p_token_hash: the presented token (its JWT signature, type,
-- issuer and expiry already checked by C); p_user_id: its "sub" claim;
-- p_new_*: the successor, signed by C in the same family.  Returns the
-- user as stored now (the new access token carries the current role and
-- e-mail).
CREATE OR REPLACE FUNCTION evently.auth_refresh(p_token_hash text,
    p_user_id uuid, p_new_id uuid, p_new_hash text, p_expires bigint)
RETURNS evently.api_result
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_token  evently.refresh_tokens;
    v_user   evently.users;
BEGIN
    -- FOR UPDATE: of two concurrent rotations of one token, the second
    -- waits and then sees it revoked (reuse)
    SELECT * INTO v_token
    FROM evently.refresh_tokens
    WHERE token_hash = p_token_hash
    FOR UPDATE;

    IF NOT FOUND OR v_token.user_id <> p_user_id THEN
        RETURN evently.fail(401, 'INVALID_TOKEN',
                            'Refresh token is invalid');
    END IF;

    IF v_token.revoked_at IS NOT NULL THEN
        UPDATE evently.refresh_tokens
        SET revoked_at = now()
        WHERE family_id = v_token.family_id AND revoked_at IS NULL;

        RETURN evently.fail(401, 'TOKEN_REUSED',
                            'Refresh token was already used or revoked; '
                            'the session has been revoked');
    END IF;

    IF v_token.expires_at <= now() THEN
        RETURN evently.fail(401, 'TOKEN_EXPIRED',
                            'Refresh token has expired');
    END IF;

    -- the token row exists, so does its user (ON DELETE CASCADE)
    SELECT * INTO STRICT v_user
    FROM evently.users
    WHERE id = v_token.user_id;

    PERFORM evently.auth_store_token(v_token.user_id, v_token.family_id,
                                     p_new_id, p_new_hash, p_expires);

    UPDATE evently.refresh_tokens
    SET revoked_at = now(), replaced_by = p_new_id
    WHERE id = v_token.id;

    RETURN evently.ok(evently.auth_user_json(v_user));
END
$$;


-- Logout ends the session: the presented token and every live token of
-- its family.  Idempotent: an unknown or already revoked token is 200
-- too (C has checked that the token is authentic).
CREATE OR REPLACE FUNCTION evently.auth_logout(p_token_hash text)
RETURNS evently.api_result
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    UPDATE evently.refresh_tokens
    SET revoked_at = now()
    WHERE family_id = (SELECT family_id
                       FROM evently.refresh_tokens
                       WHERE token_hash = p_token_hash)
      AND revoked_at IS NULL;

    RETURN evently.ok(NULL);
END
$$;


-- Change password, step 1: the stored hash (NULL: the user is gone).
CREATE OR REPLACE FUNCTION evently.auth_password_hash(p_user_id uuid)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT password_hash FROM evently.users WHERE id = p_user_id
$$;


-- Change password, step 2 (the current password matched p_old_hash): the
-- new hash, only if nobody changed the password meanwhile, and every
-- refresh token of the user revoked (every session must log in again).
CREATE OR REPLACE FUNCTION evently.auth_change_password(p_user_id uuid,
    p_old_hash text, p_new_hash text)
RETURNS evently.api_result
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    UPDATE evently.users
    SET password_hash = p_new_hash, updated_at = now()
    WHERE id = p_user_id AND password_hash = p_old_hash;

    IF NOT FOUND THEN
        IF EXISTS (SELECT 1 FROM evently.users WHERE id = p_user_id) THEN
            RETURN evently.fail(409, 'CONFLICT_RETRY',
                                'The password was changed concurrently, '
                                'please retry');
        END IF;

        RETURN evently.fail(401, 'INVALID_TOKEN', 'User no longer exists');
    END IF;

    UPDATE evently.refresh_tokens
    SET revoked_at = now()
    WHERE user_id = p_user_id AND revoked_at IS NULL;

    RETURN evently.ok(NULL);
END
$$;


-- GET /auth/me: {id,first_name,last_name,email,role,created_at}.  A valid
-- token whose user has been deleted is no longer a credential: 401.
CREATE OR REPLACE FUNCTION evently.api_auth_me(p_user uuid, p_role text,
    p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_user  evently.users;
BEGIN
    SELECT * INTO v_user FROM evently.users WHERE id = p_user;

    IF NOT FOUND THEN
        RETURN evently.fail(401, 'INVALID_TOKEN', 'User no longer exists');
    END IF;

    RETURN evently.ok(json_build_object(
        'id', v_user.id,
        'first_name', v_user.first_name,
        'last_name', v_user.last_name,
        'email', v_user.email,
        'role', v_user.role,
        'created_at', evently.ts(v_user.created_at)));
END
$$;
