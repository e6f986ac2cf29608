
/*
 * Copyright (C) Evently
 *
 * Accounts and tokens: register, login, refresh (rotation with reuse
 * detection), logout, change-password, me.
 *
 * Passwords are hashed and verified with bcrypt in the thread pool
 * (ngx_http_evently_password.c); the event loop never hashes.  Tokens are
 * HS256 JWTs (ngx_http_evently_jwt.c).  Ids, token ids and the refresh
 * token itself are made here before PostgreSQL is called, so that each
 * step is one SQL call of sql/functions/10_auth.sql:
 *
 *   register         hash  -> auth_register (user + first refresh token)
 *   login            auth_credentials -> verify -> auth_login
 *   refresh          auth_refresh (revoke, insert successor, current user)
 *   logout           auth_logout
 *   change-password  auth_password_hash -> verify -> hash
 *                    -> auth_change_password (and revoke every token)
 *
 * A refresh token reaches PostgreSQL only as its sha256 in hex.  Nothing
 * token- or password-related is ever logged; SQL errors are logged by
 * SQLSTATE only, since their text may quote a row.
 */


#include "ngx_http_evently_module.h"
#include "ngx_http_evently_pg.h"
#include "ngx_http_evently_password.h"
#include <openssl/evp.h>


#define NGX_HTTP_EVENTLY_AUTH_HASH_LEN    64    /* sha256 in hex */
#define NGX_HTTP_EVENTLY_AUTH_TOKEN_MAX   4096


typedef struct {
    u_char                         user_id[NGX_HTTP_EVENTLY_UUID_LEN + 1];
    u_char                         token_id[NGX_HTTP_EVENTLY_UUID_LEN + 1];
    u_char                         family_id[NGX_HTTP_EVENTLY_UUID_LEN + 1];
    u_char                         token_hash[NGX_HTTP_EVENTLY_AUTH_HASH_LEN
                                              + 1];
    u_char                         old_hash[NGX_HTTP_EVENTLY_AUTH_HASH_LEN
                                            + 1];
    u_char                         expires[NGX_TIME_T_LEN + 1];

    ngx_str_t                      refresh;     /* the new refresh token */
    ngx_str_t                      stored;      /* bcrypt hash from the DB */

    unsigned                       found:1;     /* login: e-mail known */
    unsigned                       with_user:1; /* AuthResponse */
} ngx_http_evently_auth_t;


static ngx_int_t ngx_http_evently_auth_register(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static void ngx_http_evently_auth_register_hashed(ngx_http_request_t *r,
    ngx_int_t rc, ngx_str_t *hash);
static ngx_int_t ngx_http_evently_auth_login(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static void ngx_http_evently_auth_login_found(void *data, PGresult *res,
    ngx_int_t rc);
static void ngx_http_evently_auth_login_verified(ngx_http_request_t *r,
    ngx_int_t rc, ngx_str_t *hash);
static ngx_int_t ngx_http_evently_auth_refresh(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static ngx_int_t ngx_http_evently_auth_logout(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static ngx_int_t ngx_http_evently_auth_change_password(
    ngx_http_request_t *r, ngx_http_evently_ctx_t *ctx);
static void ngx_http_evently_auth_cp_found(void *data, PGresult *res,
    ngx_int_t rc);
static void ngx_http_evently_auth_cp_verified(ngx_http_request_t *r,
    ngx_int_t rc, ngx_str_t *hash);
static void ngx_http_evently_auth_cp_hashed(ngx_http_request_t *r,
    ngx_int_t rc, ngx_str_t *hash);

static void ngx_http_evently_auth_tokens_done(void *data, PGresult *res,
    ngx_int_t rc);
static void ngx_http_evently_auth_done(void *data, PGresult *res,
    ngx_int_t rc);

static ngx_http_evently_auth_t *ngx_http_evently_auth_state(
    ngx_http_request_t *r, ngx_http_evently_ctx_t *ctx);
static void ngx_http_evently_auth_arg(ngx_http_evently_ctx_t *ctx,
    const char *name, ngx_str_t *value);
static ngx_int_t ngx_http_evently_auth_verify_refresh(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, json_t **claims, const char **reason);
static ngx_int_t ngx_http_evently_auth_new_refresh(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, ngx_http_evently_auth_t *a,
    const char *family);
static ngx_int_t ngx_http_evently_auth_access(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, json_t *user, ngx_str_t *token);
static ngx_int_t ngx_http_evently_auth_sha256(ngx_str_t *in, u_char *hex);
static ngx_int_t ngx_http_evently_auth_query(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, ngx_http_evently_stmt_t *stmt,
    const char **values, ngx_uint_t n, ngx_http_evently_pg_handler_pt h);
static ngx_int_t ngx_http_evently_auth_result(ngx_http_request_t *r,
    PGresult *res, ngx_int_t rc, ngx_uint_t nfields, ngx_uint_t *ok);
static ngx_int_t ngx_http_evently_auth_row(ngx_http_request_t *r,
    PGresult *res, ngx_str_t *data, ngx_uint_t *ok);
static ngx_int_t ngx_http_evently_auth_invalid(ngx_http_request_t *r,
    const char *code);
static ngx_int_t ngx_http_evently_auth_bad_credentials(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_evently_auth_busy(ngx_http_request_t *r);
static ngx_int_t ngx_http_evently_auth_internal(ngx_http_request_t *r);


static const char  *ngx_http_evently_auth_roles[] = { "USER", "ADMIN", NULL };


static ngx_http_evently_field_t  ngx_http_evently_auth_register_fields[] = {
    { "first_name", NGX_HTTP_EVENTLY_STRING, NGX_HTTP_EVENTLY_REQUIRED,
      2, 100, NULL, NULL },
    { "last_name", NGX_HTTP_EVENTLY_STRING, NGX_HTTP_EVENTLY_REQUIRED,
      2, 100, NULL, NULL },
    { "email", NGX_HTTP_EVENTLY_EMAIL, NGX_HTTP_EVENTLY_REQUIRED,
      0, 254, NULL, NULL },
    /* bcrypt reads 72 bytes: a longer password is refused, not cut */
    { "password", NGX_HTTP_EVENTLY_STRING,
      NGX_HTTP_EVENTLY_REQUIRED | NGX_HTTP_EVENTLY_BYTES
      | NGX_HTTP_EVENTLY_NO_TRIM,
      8, NGX_HTTP_EVENTLY_PASSWORD_MAX, NULL, NULL },
    { "role", NGX_HTTP_EVENTLY_ENUM,
      NGX_HTTP_EVENTLY_UPPER | NGX_HTTP_EVENTLY_NULLABLE,
      0, 0, ngx_http_evently_auth_roles, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


/*
 * No minimum length beyond 1 at login: accounts made before the rule
 * (the seed's) must still log in.
 */

static ngx_http_evently_field_t  ngx_http_evently_auth_login_fields[] = {
    { "email", NGX_HTTP_EVENTLY_EMAIL, NGX_HTTP_EVENTLY_REQUIRED,
      0, 254, NULL, NULL },
    { "password", NGX_HTTP_EVENTLY_STRING,
      NGX_HTTP_EVENTLY_REQUIRED | NGX_HTTP_EVENTLY_BYTES
      | NGX_HTTP_EVENTLY_NO_TRIM,
      1, NGX_HTTP_EVENTLY_PASSWORD_MAX, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static ngx_http_evently_field_t  ngx_http_evently_auth_token_fields[] = {
    { "refresh_token", NGX_HTTP_EVENTLY_STRING,
      NGX_HTTP_EVENTLY_REQUIRED | NGX_HTTP_EVENTLY_BYTES,
      1, NGX_HTTP_EVENTLY_AUTH_TOKEN_MAX, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static ngx_http_evently_field_t  ngx_http_evently_auth_password_fields[] = {
    { "current_password", NGX_HTTP_EVENTLY_STRING,
      NGX_HTTP_EVENTLY_REQUIRED | NGX_HTTP_EVENTLY_BYTES
      | NGX_HTTP_EVENTLY_NO_TRIM,
      1, NGX_HTTP_EVENTLY_PASSWORD_MAX, NULL, NULL },
    { "new_password", NGX_HTTP_EVENTLY_STRING,
      NGX_HTTP_EVENTLY_REQUIRED | NGX_HTTP_EVENTLY_BYTES
      | NGX_HTTP_EVENTLY_NO_TRIM,
      8, NGX_HTTP_EVENTLY_PASSWORD_MAX, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


ngx_http_evently_op_t  ngx_http_evently_auth_ops[] = {

    { ngx_string("auth_register"), ngx_http_evently_auth_register,
      ngx_http_evently_auth_register_fields, NULL,
      NGX_HTTP_EVENTLY_OP_BODY, NGX_HTTP_CREATED,
      ngx_string("User registered successfully"), NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_string("auth_login"), ngx_http_evently_auth_login,
      ngx_http_evently_auth_login_fields, NULL,
      NGX_HTTP_EVENTLY_OP_BODY, NGX_HTTP_OK,
      ngx_string("Login successful"), NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_string("auth_refresh"), ngx_http_evently_auth_refresh,
      ngx_http_evently_auth_token_fields, NULL,
      NGX_HTTP_EVENTLY_OP_BODY, NGX_HTTP_OK,
      ngx_string("Token refreshed successfully"), NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_string("auth_logout"), ngx_http_evently_auth_logout,
      ngx_http_evently_auth_token_fields, NULL,
      NGX_HTTP_EVENTLY_OP_BODY, NGX_HTTP_OK,
      ngx_string("Logged out successfully"), NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_string("auth_change_password"),
      ngx_http_evently_auth_change_password,
      ngx_http_evently_auth_password_fields, NULL,
      NGX_HTTP_EVENTLY_OP_BODY, NGX_HTTP_OK,
      ngx_string("Password changed successfully"), NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_string("auth_me"), NULL, NULL, NULL, 0, NGX_HTTP_OK,
      ngx_string("User retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(auth_me) },

    { ngx_null_string, NULL, NULL, NULL, 0, 0, ngx_null_string,
      NGX_HTTP_EVENTLY_NO_SQL }
};


static ngx_http_evently_stmt_t  ngx_http_evently_auth_register_stmt = {
    ngx_string("evently_auth_register"),
    ngx_string("SELECT status, code, message, data"
               " FROM evently.auth_register($1::text, $2::text, $3::text,"
               " $4::text, $5::uuid, $6::uuid, $7::text, $8::bigint)"),
    8, 0
};


static ngx_http_evently_stmt_t  ngx_http_evently_auth_credentials_stmt = {
    ngx_string("evently_auth_credentials"),
    ngx_string("SELECT user_id, password_hash"
               " FROM evently.auth_credentials($1::text)"),
    1, 0
};


static ngx_http_evently_stmt_t  ngx_http_evently_auth_login_stmt = {
    ngx_string("evently_auth_login"),
    ngx_string("SELECT status, code, message, data"
               " FROM evently.auth_login($1::uuid, $2::uuid, $3::text,"
               " $4::bigint)"),
    4, 0
};


static ngx_http_evently_stmt_t  ngx_http_evently_auth_refresh_stmt = {
    ngx_string("evently_auth_refresh"),
    ngx_string("SELECT status, code, message, data"
               " FROM evently.auth_refresh($1::text, $2::uuid, $3::uuid,"
               " $4::text, $5::bigint)"),
    5, 0
};


static ngx_http_evently_stmt_t  ngx_http_evently_auth_logout_stmt = {
    ngx_string("evently_auth_logout"),
    ngx_string("SELECT status, code, message, data"
               " FROM evently.auth_logout($1::text)"),
    1, 0
};


static ngx_http_evently_stmt_t  ngx_http_evently_auth_password_stmt = {
    ngx_string("evently_auth_password_hash"),
    ngx_string("SELECT evently.auth_password_hash($1::uuid)"),
    1, 0
};


static ngx_http_evently_stmt_t  ngx_http_evently_auth_change_stmt = {
    ngx_string("evently_auth_change_password"),
    ngx_string("SELECT status, code, message, data"
               " FROM evently.auth_change_password($1::uuid, $2::text,"
               " $3::text)"),
    3, 0
};


static ngx_int_t
ngx_http_evently_auth_register(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    ngx_str_t                 password;
    const char               *role;
    ngx_http_evently_auth_t  *a;

    role = json_string_value(json_object_get(ctx->args, "role"));

    /* public registration never makes an administrator */

    if (role && ngx_strcmp(role, "ADMIN") == 0) {
        return ngx_http_evently_send_error(r, NGX_HTTP_FORBIDDEN,
                                           "ROLE_NOT_ALLOWED",
                                           "Public registration cannot "
                                           "create an ADMIN account",
                                           NULL, 0);
    }

    a = ngx_http_evently_auth_state(r, ctx);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_evently_auth_arg(ctx, "password", &password);

    if (ngx_http_evently_password_hash(r, &password,
                                       ngx_http_evently_auth_register_hashed)
        != NGX_OK)
    {
        return ngx_http_evently_auth_busy(r);
    }

    return ngx_http_evently_suspend(r);
}


static void
ngx_http_evently_auth_register_hashed(ngx_http_request_t *r, ngx_int_t rc,
    ngx_str_t *hash)
{
    const char               *values[8];
    ngx_str_t                 v;
    ngx_http_evently_ctx_t   *ctx;
    ngx_http_evently_auth_t  *a;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    a = ctx->data;

    if (rc != NGX_OK
        || ngx_http_evently_uuid(a->user_id) != NGX_OK
        || ngx_http_evently_auth_new_refresh(r, ctx, a, NULL) != NGX_OK)
    {
        ngx_http_evently_resume(r, ngx_http_evently_auth_internal(r));
        return;
    }

    ngx_http_evently_auth_arg(ctx, "first_name", &v);
    values[0] = (char *) v.data;
    ngx_http_evently_auth_arg(ctx, "last_name", &v);
    values[1] = (char *) v.data;
    ngx_http_evently_auth_arg(ctx, "email", &v);
    values[2] = (char *) v.data;

    /* the hash lives in the thread task, allocated from r->pool */
    values[3] = (char *) hash->data;
    values[4] = (char *) a->user_id;
    values[5] = (char *) a->token_id;
    values[6] = (char *) a->token_hash;
    values[7] = (char *) a->expires;

    a->with_user = 1;

    rc = ngx_http_evently_auth_query(r, ctx,
                                     &ngx_http_evently_auth_register_stmt,
                                     values, 8,
                                     ngx_http_evently_auth_tokens_done);

    ngx_http_evently_resume(r, rc);
}


static ngx_int_t
ngx_http_evently_auth_login(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    const char               *values[1];
    ngx_str_t                 email;
    ngx_http_evently_auth_t  *a;

    a = ngx_http_evently_auth_state(r, ctx);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_evently_auth_arg(ctx, "email", &email);
    values[0] = (char *) email.data;

    return ngx_http_evently_auth_query(r, ctx,
                                       &ngx_http_evently_auth_credentials_stmt,
                                       values, 1,
                                       ngx_http_evently_auth_login_found);
}


/*
 * Unknown e-mail or not, a hash is computed (against a dummy when there
 * is no account): both answers take the same time and say the same.
 */

static void
ngx_http_evently_auth_login_found(void *data, PGresult *res, ngx_int_t rc)
{
    ngx_http_request_t *r = data;

    size_t                    len;
    ngx_str_t                 password;
    ngx_uint_t                ok;
    ngx_http_evently_ctx_t   *ctx;
    ngx_http_evently_auth_t  *a;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    ctx->pending = NULL;
    a = ctx->data;

    rc = ngx_http_evently_auth_result(r, res, rc, 2, &ok);
    if (!ok) {
        ngx_http_evently_resume(r, rc);
        return;
    }

    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)
        && !PQgetisnull(res, 0, 1)
        && PQgetlength(res, 0, 0) == NGX_HTTP_EVENTLY_UUID_LEN)
    {
        ngx_memcpy(a->user_id, PQgetvalue(res, 0, 0),
                   NGX_HTTP_EVENTLY_UUID_LEN + 1);

        len = PQgetlength(res, 0, 1);

        a->stored.data = ngx_pnalloc(r->pool, len + 1);
        if (a->stored.data == NULL) {
            ngx_http_evently_resume(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_memcpy(a->stored.data, PQgetvalue(res, 0, 1), len + 1);
        a->stored.len = len;
        a->found = 1;
    }

    ngx_http_evently_auth_arg(ctx, "password", &password);

    if (ngx_http_evently_password_verify(r, &password,
                                         a->found ? &a->stored : NULL,
                                         ngx_http_evently_auth_login_verified)
        != NGX_OK)
    {
        ngx_http_evently_resume(r, ngx_http_evently_auth_busy(r));
        return;
    }

    /* still suspended: the thread task calls back */

    ngx_http_evently_resume(r, NGX_DONE);
}


static void
ngx_http_evently_auth_login_verified(ngx_http_request_t *r, ngx_int_t rc,
    ngx_str_t *hash)
{
    const char               *values[4];
    ngx_http_evently_ctx_t   *ctx;
    ngx_http_evently_auth_t  *a;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    a = ctx->data;

    if (rc == NGX_DECLINED || (rc == NGX_OK && !a->found)) {
        ngx_http_evently_resume(r, ngx_http_evently_auth_bad_credentials(r));
        return;
    }

    if (rc != NGX_OK
        || ngx_http_evently_auth_new_refresh(r, ctx, a, NULL) != NGX_OK)
    {
        ngx_http_evently_resume(r, ngx_http_evently_auth_internal(r));
        return;
    }

    values[0] = (char *) a->user_id;
    values[1] = (char *) a->token_id;
    values[2] = (char *) a->token_hash;
    values[3] = (char *) a->expires;

    a->with_user = 1;

    rc = ngx_http_evently_auth_query(r, ctx,
                                     &ngx_http_evently_auth_login_stmt,
                                     values, 4,
                                     ngx_http_evently_auth_tokens_done);

    ngx_http_evently_resume(r, rc);
}


static ngx_int_t
ngx_http_evently_auth_refresh(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    json_t                   *claims;
    ngx_int_t                 rc;
    const char               *reason, *sub, *fam, *values[5];
    ngx_http_evently_auth_t  *a;

    a = ngx_http_evently_auth_state(r, ctx);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_evently_auth_verify_refresh(r, ctx, &claims, &reason);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_http_evently_auth_invalid(r, reason);
    }

    /* "sub" is a UUID (checked by the verifier); "fam" must be one too */

    sub = json_string_value(json_object_get(claims, "sub"));
    fam = json_string_value(json_object_get(claims, "fam"));

    if (fam == NULL
        || !ngx_http_evently_is_uuid((u_char *) fam, ngx_strlen(fam)))
    {
        return ngx_http_evently_auth_invalid(r, "INVALID_TOKEN");
    }

    ngx_strlow(a->user_id, (u_char *) sub, NGX_HTTP_EVENTLY_UUID_LEN + 1);

    if (ngx_http_evently_auth_new_refresh(r, ctx, a, fam) != NGX_OK) {
        return ngx_http_evently_auth_internal(r);
    }

    values[0] = (char *) a->old_hash;
    values[1] = (char *) a->user_id;
    values[2] = (char *) a->token_id;
    values[3] = (char *) a->token_hash;
    values[4] = (char *) a->expires;

    return ngx_http_evently_auth_query(r, ctx,
                                       &ngx_http_evently_auth_refresh_stmt,
                                       values, 5,
                                       ngx_http_evently_auth_tokens_done);
}


static ngx_int_t
ngx_http_evently_auth_logout(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    json_t                   *claims;
    ngx_int_t                 rc;
    const char               *reason, *values[1];
    ngx_http_evently_auth_t  *a;

    a = ngx_http_evently_auth_state(r, ctx);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_evently_auth_verify_refresh(r, ctx, &claims, &reason);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * TOKEN_EXPIRED is reported only for an authentic refresh token:
     * logging out with one is fine (its session is revoked all the same)
     */

    if (rc != NGX_OK && ngx_strcmp(reason, "TOKEN_EXPIRED") != 0) {
        return ngx_http_evently_auth_invalid(r, reason);
    }

    values[0] = (char *) a->old_hash;

    return ngx_http_evently_auth_query(r, ctx,
                                       &ngx_http_evently_auth_logout_stmt,
                                       values, 1,
                                       ngx_http_evently_auth_done);
}


static ngx_int_t
ngx_http_evently_auth_change_password(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    json_t                   *extra;
    ngx_int_t                 rc;
    ngx_str_t                 current, password;
    const char               *values[1];
    ngx_http_evently_auth_t  *a;

    ngx_http_evently_auth_arg(ctx, "current_password", &current);
    ngx_http_evently_auth_arg(ctx, "new_password", &password);

    if (current.len == password.len
        && ngx_memcmp(current.data, password.data, password.len) == 0)
    {
        extra = json_pack("{s{ss}}", "fields", "new_password",
                          "must differ from current_password");
        if (extra == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_evently_send_error_json(r, NGX_HTTP_BAD_REQUEST,
                                              "VALIDATION_FAILED",
                                              "Validation failed", extra);
        json_decref(extra);

        return rc;
    }

    a = ngx_http_evently_auth_state(r, ctx);
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the caller's id: a lower-case UUID, see ngx_http_evently_jwt.c */

    if (ctx->user == NULL
        || ctx->user->id.len != NGX_HTTP_EVENTLY_UUID_LEN)
    {
        return ngx_http_evently_auth_invalid(r, "INVALID_TOKEN");
    }

    ngx_memcpy(a->user_id, ctx->user->id.data, NGX_HTTP_EVENTLY_UUID_LEN);
    a->user_id[NGX_HTTP_EVENTLY_UUID_LEN] = '\0';

    values[0] = (char *) a->user_id;

    return ngx_http_evently_auth_query(r, ctx,
                                       &ngx_http_evently_auth_password_stmt,
                                       values, 1,
                                       ngx_http_evently_auth_cp_found);
}


static void
ngx_http_evently_auth_cp_found(void *data, PGresult *res, ngx_int_t rc)
{
    ngx_http_request_t *r = data;

    size_t                    len;
    ngx_str_t                 current;
    ngx_uint_t                ok;
    ngx_http_evently_ctx_t   *ctx;
    ngx_http_evently_auth_t  *a;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    ctx->pending = NULL;
    a = ctx->data;

    rc = ngx_http_evently_auth_result(r, res, rc, 1, &ok);
    if (!ok) {
        ngx_http_evently_resume(r, rc);
        return;
    }

    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        /* a valid token of a deleted user is no credential any more */
        ngx_http_evently_resume(r, ngx_http_evently_send_error(r,
                                    NGX_HTTP_UNAUTHORIZED, "INVALID_TOKEN",
                                    "User no longer exists", NULL, 0));
        return;
    }

    len = PQgetlength(res, 0, 0);

    a->stored.data = ngx_pnalloc(r->pool, len + 1);
    if (a->stored.data == NULL) {
        ngx_http_evently_resume(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(a->stored.data, PQgetvalue(res, 0, 0), len + 1);
    a->stored.len = len;

    ngx_http_evently_auth_arg(ctx, "current_password", &current);

    if (ngx_http_evently_password_verify(r, &current, &a->stored,
                                         ngx_http_evently_auth_cp_verified)
        != NGX_OK)
    {
        ngx_http_evently_resume(r, ngx_http_evently_auth_busy(r));
        return;
    }

    ngx_http_evently_resume(r, NGX_DONE);
}


static void
ngx_http_evently_auth_cp_verified(ngx_http_request_t *r, ngx_int_t rc,
    ngx_str_t *hash)
{
    ngx_str_t                password;
    ngx_http_evently_ctx_t  *ctx;

    if (rc == NGX_DECLINED) {
        ngx_http_evently_resume(r, ngx_http_evently_send_error(r,
                                    NGX_HTTP_UNAUTHORIZED,
                                    "INVALID_CREDENTIALS",
                                    "Current password is incorrect",
                                    NULL, 0));
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_evently_resume(r, ngx_http_evently_auth_internal(r));
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);

    ngx_http_evently_auth_arg(ctx, "new_password", &password);

    if (ngx_http_evently_password_hash(r, &password,
                                       ngx_http_evently_auth_cp_hashed)
        != NGX_OK)
    {
        ngx_http_evently_resume(r, ngx_http_evently_auth_busy(r));
        return;
    }

    ngx_http_evently_resume(r, NGX_DONE);
}


static void
ngx_http_evently_auth_cp_hashed(ngx_http_request_t *r, ngx_int_t rc,
    ngx_str_t *hash)
{
    const char               *values[3];
    ngx_http_evently_ctx_t   *ctx;
    ngx_http_evently_auth_t  *a;

    if (rc != NGX_OK) {
        ngx_http_evently_resume(r, ngx_http_evently_auth_internal(r));
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    a = ctx->data;

    /* only if the stored hash is still the one the password matched */

    values[0] = (char *) a->user_id;
    values[1] = (char *) a->stored.data;
    values[2] = (char *) hash->data;

    rc = ngx_http_evently_auth_query(r, ctx,
                                     &ngx_http_evently_auth_change_stmt,
                                     values, 3, ngx_http_evently_auth_done);

    ngx_http_evently_resume(r, rc);
}


/*
 * register, login, refresh: the row's data is the user; the access token
 * is signed from it (the role and e-mail as stored now).
 */

static void
ngx_http_evently_auth_tokens_done(void *data, PGresult *res, ngx_int_t rc)
{
    ngx_http_request_t *r = data;

    u_char                   *body, *p;
    size_t                    size;
    json_t                   *user;
    ngx_str_t                 row, access;
    ngx_uint_t                ok;
    ngx_http_evently_ctx_t   *ctx;
    ngx_http_evently_auth_t  *a;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    ctx->pending = NULL;
    a = ctx->data;

    rc = ngx_http_evently_auth_result(r, res, rc, 4, &ok);

    if (ok) {
        rc = ngx_http_evently_auth_row(r, res, &row, &ok);
    }

    if (!ok) {
        ngx_http_evently_resume(r, rc);
        return;
    }

    user = ngx_http_evently_pool_json(r->pool,
                                      json_loadb((char *) row.data, row.len,
                                                 0, NULL));

    if (user == NULL
        || ngx_http_evently_auth_access(r, ctx, user, &access) != NGX_OK)
    {
        ngx_http_evently_resume(r, ngx_http_evently_auth_internal(r));
        return;
    }

    size = sizeof("{\"user\":,\"access_token\":\"\",\"refresh_token\":\"\","
                  "\"expires_in\":}") - 1
           + row.len + access.len + a->refresh.len + NGX_TIME_T_LEN;

    body = ngx_pnalloc(r->pool, size);
    if (body == NULL) {
        ngx_http_evently_resume(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* tokens are base64url and dots: nothing to escape */

    p = body;

    if (a->with_user) {
        p = ngx_sprintf(p, "{\"user\":%V,", &row);

    } else {
        *p++ = '{';
    }

    p = ngx_sprintf(p, "\"access_token\":\"%V\",\"refresh_token\":\"%V\","
                       "\"expires_in\":%T}",
                    &access, &a->refresh, ctx->mcf->jwt_access_ttl);

    rc = ngx_http_evently_send_data(r, ctx->op->status, &ctx->op->message,
                                    body, p - body);

    ngx_http_evently_resume(r, rc);
}


/* logout, change-password: the op's status and message, data as returned */

static void
ngx_http_evently_auth_done(void *data, PGresult *res, ngx_int_t rc)
{
    ngx_http_request_t *r = data;

    ngx_str_t                row;
    ngx_uint_t               ok;
    ngx_http_evently_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    ctx->pending = NULL;

    rc = ngx_http_evently_auth_result(r, res, rc, 4, &ok);

    if (ok) {
        rc = ngx_http_evently_auth_row(r, res, &row, &ok);
    }

    if (ok) {
        rc = ngx_http_evently_send_data(r, ctx->op->status,
                                        &ctx->op->message,
                                        row.len ? row.data : NULL, row.len);
    }

    ngx_http_evently_resume(r, rc);
}


static ngx_http_evently_auth_t *
ngx_http_evently_auth_state(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    ngx_http_evently_auth_t  *a;

    a = ngx_pcalloc(r->pool, sizeof(ngx_http_evently_auth_t));
    if (a == NULL) {
        return NULL;
    }

    ctx->data = a;

    return a;
}


/* a validated string argument (jansson keeps it NUL-terminated) */

static void
ngx_http_evently_auth_arg(ngx_http_evently_ctx_t *ctx, const char *name,
    ngx_str_t *value)
{
    json_t  *v;

    v = json_object_get(ctx->args, name);

    value->data = (u_char *) json_string_value(v);
    value->len = value->data ? json_string_length(v) : 0;

    if (value->data == NULL) {
        value->data = (u_char *) "";
    }
}


/*
 * The "refresh_token" argument: an authentic refresh JWT.  Its sha256 goes
 * to ctx->data's old_hash whatever the outcome of the check.
 */

static ngx_int_t
ngx_http_evently_auth_verify_refresh(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, json_t **claims, const char **reason)
{
    ngx_str_t                 token;
    ngx_http_evently_auth_t  *a;

    a = ctx->data;

    ngx_http_evently_auth_arg(ctx, "refresh_token", &token);

    if (ngx_http_evently_auth_sha256(&token, a->old_hash) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_evently_jwt_verify(r->pool, &ctx->mcf->jwt_secret,
                                       &token, "refresh", claims, reason);
}


/*
 * A new refresh token for a->user_id: its id (the "jti"), its family (a
 * new one, named after the token, when family is NULL), the signed JWT,
 * its sha256 and its expiry (epoch seconds, the "exp" claim).
 */

static ngx_int_t
ngx_http_evently_auth_new_refresh(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, ngx_http_evently_auth_t *a,
    const char *family)
{
    json_t  *claims;
    time_t   now, exp;

    if (ngx_http_evently_uuid(a->token_id) != NGX_OK) {
        return NGX_ERROR;
    }

    if (family) {
        ngx_strlow(a->family_id, (u_char *) family,
                   NGX_HTTP_EVENTLY_UUID_LEN + 1);

    } else {
        ngx_memcpy(a->family_id, a->token_id, NGX_HTTP_EVENTLY_UUID_LEN + 1);
    }

    now = ngx_time();
    exp = now + ctx->mcf->jwt_refresh_ttl;

    claims = json_pack("{ss ss ss sI sI ss ss ss}",
                       "sub", (char *) a->user_id,
                       "user_id", (char *) a->user_id,
                       "type", "refresh",
                       "iat", (json_int_t) now,
                       "exp", (json_int_t) exp,
                       "iss", "evently",
                       "jti", (char *) a->token_id,
                       "fam", (char *) a->family_id);

    if (ngx_http_evently_pool_json(r->pool, claims) == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_evently_jwt_sign(r->pool, &ctx->mcf->jwt_secret, claims,
                                  &a->refresh)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_evently_auth_sha256(&a->refresh, a->token_hash) != NGX_OK) {
        return NGX_ERROR;
    }

    *ngx_sprintf(a->expires, "%T", exp) = '\0';

    return NGX_OK;
}


/* the access token of a user object {id,email,role,...} from SQL */

static ngx_int_t
ngx_http_evently_auth_access(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, json_t *user, ngx_str_t *token)
{
    u_char       jti[NGX_HTTP_EVENTLY_UUID_LEN + 1];
    json_t      *claims;
    time_t       now;
    const char  *id, *email, *role;

    id = json_string_value(json_object_get(user, "id"));
    email = json_string_value(json_object_get(user, "email"));
    role = json_string_value(json_object_get(user, "role"));

    if (id == NULL || email == NULL || role == NULL
        || ngx_http_evently_uuid(jti) != NGX_OK)
    {
        return NGX_ERROR;
    }

    now = ngx_time();

    claims = json_pack("{ss ss ss ss ss sI sI ss ss}",
                       "sub", id,
                       "user_id", id,
                       "email", email,
                       "role", role,
                       "type", "access",
                       "iat", (json_int_t) now,
                       "exp", (json_int_t) (now + ctx->mcf->jwt_access_ttl),
                       "iss", "evently",
                       "jti", (char *) jti);

    if (ngx_http_evently_pool_json(r->pool, claims) == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_evently_jwt_sign(r->pool, &ctx->mcf->jwt_secret, claims,
                                     token);
}


static ngx_int_t
ngx_http_evently_auth_sha256(ngx_str_t *in, u_char *hex)
{
    u_char        md[EVP_MAX_MD_SIZE];
    unsigned int  len;

    if (EVP_Digest(in->data, in->len, md, &len, EVP_sha256(), NULL) != 1
        || len != 32)
    {
        return NGX_ERROR;
    }

    *ngx_hex_dump(hex, md, 32) = '\0';

    return NGX_OK;
}


/* sends one query; returns like an op handler */

static ngx_int_t
ngx_http_evently_auth_query(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, ngx_http_evently_stmt_t *stmt,
    const char **values, ngx_uint_t n, ngx_http_evently_pg_handler_pt h)
{
    ngx_uint_t                    i;
    ngx_http_evently_pg_query_t  *q;

    q = ngx_http_evently_pg_query_create(r->pool, r->connection->log, stmt);
    if (q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < n; i++) {
        q->values[i] = values[i];
    }

    q->nvalues = n;
    q->handler = h;
    q->data = r;

    return ngx_http_evently_pg_start(r, ctx, q);
}


/*
 * *ok = 1: res is a result with nfields columns.  Otherwise the error has
 * been answered and the return value goes to ngx_http_evently_resume().
 */

static ngx_int_t
ngx_http_evently_auth_result(ngx_http_request_t *r, PGresult *res,
    ngx_int_t rc, ngx_uint_t nfields, ngx_uint_t *ok)
{
    *ok = (rc == NGX_OK && PQresultStatus(res) == PGRES_TUPLES_OK
           && PQnfields(res) == (int) nfields);

    if (*ok) {
        return NGX_OK;
    }

    return ngx_http_evently_pg_failed(r, res, rc);
}


/*
 * The (status, code, message, data) row of an auth function.  *ok = 1:
 * success, *data is the JSON text of "data" (empty when NULL).  A failure
 * row is answered here.
 */

static ngx_int_t
ngx_http_evently_auth_row(ngx_http_request_t *r, PGresult *res,
    ngx_str_t *data, ngx_uint_t *ok)
{
    ngx_int_t    status;
    const char  *message;

    *ok = 0;

    if (PQntuples(res) != 1) {
        return ngx_http_evently_auth_internal(r);
    }

    data->data = (u_char *) PQgetvalue(res, 0, 3);
    data->len = PQgetisnull(res, 0, 3) ? 0 : PQgetlength(res, 0, 3);

    if (PQgetisnull(res, 0, 1)) {
        *ok = 1;
        return NGX_OK;
    }

    status = PQgetisnull(res, 0, 0)
             ? NGX_ERROR
             : ngx_atoi((u_char *) PQgetvalue(res, 0, 0),
                        PQgetlength(res, 0, 0));

    if (status < 400 || status > 599) {
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    message = PQgetisnull(res, 0, 2) ? "Request failed"
                                     : PQgetvalue(res, 0, 2);

    return ngx_http_evently_send_error(r, status, PQgetvalue(res, 0, 1),
                                       message,
                                       data->len ? data->data : NULL,
                                       data->len);
}


static ngx_int_t
ngx_http_evently_auth_invalid(ngx_http_request_t *r, const char *code)
{
    return ngx_http_evently_send_error(r, NGX_HTTP_UNAUTHORIZED, code,
                                       ngx_strcmp(code, "TOKEN_EXPIRED")
                                       == 0 ? "Refresh token has expired"
                                            : "Refresh token is invalid",
                                       NULL, 0);
}


static ngx_int_t
ngx_http_evently_auth_bad_credentials(ngx_http_request_t *r)
{
    return ngx_http_evently_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                       "INVALID_CREDENTIALS",
                                       "Invalid email or password",
                                       NULL, 0);
}


/* the thread pool refused the task: its queue is full */

static ngx_int_t
ngx_http_evently_auth_busy(ngx_http_request_t *r)
{
    return ngx_http_evently_send_unavailable(r, "SERVER_BUSY",
                                   "The server is busy, retry shortly");
}


static ngx_int_t
ngx_http_evently_auth_internal(ngx_http_request_t *r)
{
    return ngx_http_evently_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "INTERNAL_ERROR",
                                       "Internal server error", NULL, 0);
}
