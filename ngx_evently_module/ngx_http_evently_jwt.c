
/*
 * Copyright (C) Evently
 *
 * JSON Web Tokens, HS256 only (RFC 7519, RFC 7518 3.2), with OpenSSL's
 * HMAC and a constant-time comparison.  Nothing token-related is logged.
 */


#include "ngx_http_evently_module.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>


#define NGX_HTTP_EVENTLY_JWT_MAX_LEN   4096


static ngx_int_t ngx_http_evently_jwt_hmac(ngx_str_t *secret, u_char *data,
    size_t len, u_char *md);
static json_t *ngx_http_evently_jwt_part(ngx_pool_t *pool, u_char *p,
    size_t len);


static const char  ngx_http_evently_jwt_header[] =
    "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";


ngx_int_t
ngx_http_evently_jwt_sign(ngx_pool_t *pool, ngx_str_t *secret,
    json_t *claims, ngx_str_t *token)
{
    u_char     *p, md[EVP_MAX_MD_SIZE];
    char       *payload;
    size_t      len;
    ngx_str_t   src, dst;

    payload = json_dumps(claims, JSON_COMPACT);
    if (payload == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(payload);

    token->data = ngx_pnalloc(pool,
                              ngx_base64_encoded_length(
                                  sizeof(ngx_http_evently_jwt_header) - 1)
                              + ngx_base64_encoded_length(len)
                              + ngx_base64_encoded_length(32) + 3);
    if (token->data == NULL) {
        free(payload);
        return NGX_ERROR;
    }

    src.data = (u_char *) ngx_http_evently_jwt_header;
    src.len = sizeof(ngx_http_evently_jwt_header) - 1;
    dst.data = token->data;
    ngx_encode_base64url(&dst, &src);
    p = token->data + dst.len;

    *p++ = '.';

    src.data = (u_char *) payload;
    src.len = len;
    dst.data = p;
    ngx_encode_base64url(&dst, &src);
    p += dst.len;

    free(payload);

    if (ngx_http_evently_jwt_hmac(secret, token->data, p - token->data, md)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    *p++ = '.';

    src.data = md;
    src.len = 32;
    dst.data = p;
    ngx_encode_base64url(&dst, &src);
    p += dst.len;

    token->len = p - token->data;

    return NGX_OK;
}


/*
 * On success *claims holds the payload (owned by the pool).  type is the
 * required "type" claim ("access" or "refresh").  *reason is the error
 * code for the client: TOKEN_EXPIRED or INVALID_TOKEN.
 */

ngx_int_t
ngx_http_evently_jwt_verify(ngx_pool_t *pool, ngx_str_t *secret,
    ngx_str_t *token, const char *type, json_t **claims, const char **reason)
{
    u_char       *p, *dot1, *dot2, *last, md[EVP_MAX_MD_SIZE];
    json_t       *header, *payload, *exp;
    ngx_str_t     src, sig;
    const char   *s;

    *reason = "INVALID_TOKEN";

    if (token->len == 0 || token->len > NGX_HTTP_EVENTLY_JWT_MAX_LEN) {
        return NGX_DECLINED;
    }

    p = token->data;
    last = p + token->len;

    dot1 = ngx_strlchr(p, last, '.');
    if (dot1 == NULL) {
        return NGX_DECLINED;
    }

    dot2 = ngx_strlchr(dot1 + 1, last, '.');
    if (dot2 == NULL || ngx_strlchr(dot2 + 1, last, '.') != NULL) {
        return NGX_DECLINED;
    }

    /* the header decides nothing but must say HS256: never "none" */

    header = ngx_http_evently_jwt_part(pool, p, dot1 - p);
    if (header == NULL) {
        return NGX_DECLINED;
    }

    s = json_string_value(json_object_get(header, "alg"));
    if (s == NULL || ngx_strcmp(s, "HS256") != 0) {
        return NGX_DECLINED;
    }

    s = json_string_value(json_object_get(header, "typ"));
    if (json_object_get(header, "typ") && (s == NULL
                                           || ngx_strcmp(s, "JWT") != 0))
    {
        return NGX_DECLINED;
    }

    src.data = dot2 + 1;
    src.len = last - src.data;

    if (src.len != ngx_base64_encoded_length(32) - 1) {
        return NGX_DECLINED;
    }

    sig.data = ngx_pnalloc(pool, ngx_base64_decoded_length(src.len));
    if (sig.data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_decode_base64url(&sig, &src) != NGX_OK || sig.len != 32) {
        return NGX_DECLINED;
    }

    if (ngx_http_evently_jwt_hmac(secret, p, dot2 - p, md) != NGX_OK) {
        return NGX_ERROR;
    }

    if (CRYPTO_memcmp(md, sig.data, 32) != 0) {
        return NGX_DECLINED;
    }

    payload = ngx_http_evently_jwt_part(pool, dot1 + 1, dot2 - dot1 - 1);
    if (payload == NULL) {
        return NGX_DECLINED;
    }

    s = json_string_value(json_object_get(payload, "iss"));
    if (s == NULL || ngx_strcmp(s, "evently") != 0) {
        return NGX_DECLINED;
    }

    s = json_string_value(json_object_get(payload, "type"));
    if (s == NULL || ngx_strcmp(s, type) != 0) {
        return NGX_DECLINED;
    }

    s = json_string_value(json_object_get(payload, "sub"));
    if (s == NULL || !ngx_http_evently_is_uuid((u_char *) s, ngx_strlen(s)))
    {
        return NGX_DECLINED;
    }

    exp = json_object_get(payload, "exp");
    if (!json_is_integer(exp)) {
        return NGX_DECLINED;
    }

    if (json_integer_value(exp) <= ngx_time()) {
        *reason = "TOKEN_EXPIRED";
        return NGX_DECLINED;
    }

    *claims = payload;

    return NGX_OK;
}


/*
 * The location's access level: public, user or admin.  On failure the
 * error has been sent and its status is returned.
 */

ngx_int_t
ngx_http_evently_authenticate(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, ngx_uint_t level)
{
    u_char                   *p;
    json_t                   *claims;
    ngx_str_t                 token;
    ngx_int_t                 rc;
    const char               *reason, *s;
    ngx_http_evently_user_t  *user;

    if (level == NGX_HTTP_EVENTLY_AUTH_PUBLIC) {
        return NGX_OK;
    }

    if (r->headers_in.authorization == NULL) {
        return ngx_http_evently_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                           "AUTH_REQUIRED",
                                           "Authorization header with a "
                                           "Bearer token is required",
                                           NULL, 0);
    }

    token = r->headers_in.authorization->value;

    if (token.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(token.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        return ngx_http_evently_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                           "INVALID_TOKEN",
                                           "Authorization must be "
                                           "\"Bearer <token>\"", NULL, 0);
    }

    token.data += sizeof("Bearer ") - 1;
    token.len -= sizeof("Bearer ") - 1;

    while (token.len && *token.data == ' ') {
        token.data++;
        token.len--;
    }

    rc = ngx_http_evently_jwt_verify(r->pool, &ctx->mcf->jwt_secret, &token,
                                     "access", &claims, &reason);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_http_evently_send_error(r, NGX_HTTP_UNAUTHORIZED, reason,
                                           ngx_strcmp(reason,
                                                      "TOKEN_EXPIRED") == 0
                                           ? "Token has expired"
                                           : "Token is invalid",
                                           NULL, 0);
    }

    user = ngx_pcalloc(r->pool, sizeof(ngx_http_evently_user_t));
    if (user == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s = json_string_value(json_object_get(claims, "sub"));

    user->id.len = ngx_strlen(s);
    user->id.data = ngx_pnalloc(r->pool, user->id.len + 1);
    if (user->id.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_strlow(user->id.data, (u_char *) s, user->id.len + 1);

    s = json_string_value(json_object_get(claims, "role"));

    if (s && ngx_strcmp(s, "ADMIN") == 0) {
        ngx_str_set(&user->role, "ADMIN");
        user->admin = 1;

    } else {
        ngx_str_set(&user->role, "USER");
    }

    s = json_string_value(json_object_get(claims, "email"));

    if (s) {
        user->email.len = ngx_strlen(s);
        p = ngx_pnalloc(r->pool, user->email.len + 1);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(p, s, user->email.len + 1);
        user->email.data = p;
    }

    ctx->user = user;

    if (level == NGX_HTTP_EVENTLY_AUTH_ADMIN && !user->admin) {
        return ngx_http_evently_send_error(r, NGX_HTTP_FORBIDDEN,
                                           "FORBIDDEN",
                                           "Admin access required",
                                           NULL, 0);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_evently_jwt_hmac(ngx_str_t *secret, u_char *data, size_t len,
    u_char *md)
{
    unsigned int  md_len;

    if (HMAC(EVP_sha256(), secret->data, (int) secret->len, data, len, md,
             &md_len)
        == NULL || md_len != 32)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static json_t *
ngx_http_evently_jwt_part(ngx_pool_t *pool, u_char *p, size_t len)
{
    json_t     *json;
    ngx_str_t   src, dst;

    if (len == 0) {
        return NULL;
    }

    src.data = p;
    src.len = len;

    dst.data = ngx_pnalloc(pool, ngx_base64_decoded_length(len));
    if (dst.data == NULL) {
        return NULL;
    }

    if (ngx_decode_base64url(&dst, &src) != NGX_OK) {
        return NULL;
    }

    json = json_loadb((char *) dst.data, dst.len, JSON_REJECT_DUPLICATES,
                      NULL);

    if (json == NULL || !json_is_object(json)) {
        json_decref(json);
        return NULL;
    }

    return ngx_http_evently_pool_json(pool, json);
}
