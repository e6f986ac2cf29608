
/*
 * Copyright (C) Evently
 *
 * The single JSON envelope of every API response:
 *
 *   {"status":"success","status_code":200,"message":"...","data":...}
 *   {"status":"error","status_code":409,"message":"...",
 *    "errors":{"code":"SEATS_UNAVAILABLE", ...}}
 *
 * The data of SQL operations arrives as JSON text from PostgreSQL and is
 * copied in verbatim; nothing on that path parses it again.
 */


#include "ngx_http_evently_module.h"
#include <openssl/rand.h>


#define NGX_HTTP_EVENTLY_RETRY_AFTER          "1"
#define NGX_HTTP_EVENTLY_RETRY_AFTER_LIMITED  "2"


static ngx_int_t ngx_http_evently_add_header(ngx_http_request_t *r,
    const char *key, ngx_str_t *value);
static u_char *ngx_http_evently_json_str(u_char *p, u_char *s, size_t len);


ngx_int_t
ngx_http_evently_send_raw(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len)
{
    static ngx_str_t  json = ngx_string("application/json; charset=utf-8");

    return ngx_http_evently_send_typed(r, status, &json, body, len);
}


ngx_int_t
ngx_http_evently_send_typed(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *body, size_t len)
{
    ngx_int_t                rc;
    ngx_buf_t               *b;
    ngx_chain_t              out;
    ngx_http_evently_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);

    if (ctx && ctx->idem_claimed) {
        /* an Idempotency-Key: remember the answer before giving it */

        rc = ngx_http_evently_idem_store(r, ctx, status, body, len);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    /* an error may be sent after a success header was prepared */

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;

    if (status == NGX_HTTP_EVENTLY_UNPROCESSABLE) {
        /* nginx knows no reason phrase for 422 */
        ngx_str_set(&r->headers_out.status_line, "422 Unprocessable Entity");
    }

    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    if (status >= NGX_HTTP_SPECIAL_RESPONSE) {
        /* our body is the error page: nginx must not add its own */
        r->err_status = 0;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc == NGX_ERROR ? NGX_ERROR : NGX_OK;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = len ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_output_filter(r, &out);

    return rc == NGX_ERROR ? NGX_ERROR : NGX_OK;
}


ngx_int_t
ngx_http_evently_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *json)
{
    char    *text;
    size_t   len;
    u_char  *body;

    text = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(text);

    body = ngx_pnalloc(r->pool, len);
    if (body != NULL) {
        ngx_memcpy(body, text, len);
    }

    free(text);

    if (body == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_evently_send_raw(r, status, body, len);
}


/* data: JSON text to place verbatim as "data" (NULL: null) */

ngx_int_t
ngx_http_evently_send_data(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *message, u_char *data, size_t len)
{
    u_char  *body, *p;
    size_t   size;

    size = sizeof("{\"status\":\"success\",\"status_code\":,"
                  "\"message\":\"\",\"data\":}") - 1
           + NGX_INT_T_LEN
           + message->len + ngx_escape_json(NULL, message->data,
                                            message->len)
           + (data ? len : sizeof("null") - 1);

    body = ngx_pnalloc(r->pool, size);
    if (body == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(body, "{\"status\":\"success\",\"status_code\":%ui,"
                          "\"message\":", status);
    p = ngx_http_evently_json_str(p, message->data, message->len);
    p = ngx_cpymem(p, ",\"data\":", sizeof(",\"data\":") - 1);

    if (data) {
        p = ngx_cpymem(p, data, len);

    } else {
        p = ngx_cpymem(p, "null", sizeof("null") - 1);
    }

    *p++ = '}';

    return ngx_http_evently_send_raw(r, status, body, p - body);
}


ngx_int_t
ngx_http_evently_send_data_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *message, json_t *data)
{
    char       *text;
    ngx_int_t   rc;

    text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_evently_send_data(r, status, message, (u_char *) text,
                                    ngx_strlen(text));
    free(text);

    return rc;
}


/*
 * extra: a JSON object whose members join "code" in "errors"
 * (e.g. {"seat_ids":[...]}); NULL for none.
 */

ngx_int_t
ngx_http_evently_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message, u_char *extra, size_t extra_len)
{
    u_char     *body, *p, *last;
    size_t      size, code_len, msg_len;
    ngx_str_t   retry;

    code_len = ngx_strlen(code);
    msg_len = ngx_strlen(message);

    /* keep only the members of the extra object */

    if (extra) {
        last = extra + extra_len;

        while (extra < last && *extra != '{') {
            extra++;
        }

        while (last > extra && *(last - 1) != '}') {
            last--;
        }

        if (last - extra > 2) {
            extra++;
            last--;

        } else {
            last = extra;
        }

        while (extra < last && (*extra == ' ' || *extra == '\n')) {
            extra++;
        }

        extra_len = last - extra;
    }

    size = sizeof("{\"status\":\"error\",\"status_code\":,\"message\":\"\","
                  "\"errors\":{\"code\":\"\",}}") - 1
           + NGX_INT_T_LEN
           + msg_len + ngx_escape_json(NULL, (u_char *) message, msg_len)
           + code_len + ngx_escape_json(NULL, (u_char *) code, code_len)
           + (extra ? extra_len : 0);

    body = ngx_pnalloc(r->pool, size);
    if (body == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(body, "{\"status\":\"error\",\"status_code\":%ui,"
                          "\"message\":", status);
    p = ngx_http_evently_json_str(p, (u_char *) message, msg_len);
    p = ngx_cpymem(p, ",\"errors\":{\"code\":",
                   sizeof(",\"errors\":{\"code\":") - 1);
    p = ngx_http_evently_json_str(p, (u_char *) code, code_len);

    if (extra && extra_len) {
        *p++ = ',';
        p = ngx_cpymem(p, extra, extra_len);
    }

    *p++ = '}';
    *p++ = '}';

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE
        || status == NGX_HTTP_TOO_MANY_REQUESTS)
    {
        /* the stricter auth zone frees a slot every 2 s (30r/m) */

        if (status == NGX_HTTP_TOO_MANY_REQUESTS) {
            ngx_str_set(&retry, NGX_HTTP_EVENTLY_RETRY_AFTER_LIMITED);

        } else {
            ngx_str_set(&retry, NGX_HTTP_EVENTLY_RETRY_AFTER);
        }

        if (ngx_http_evently_add_header(r, "Retry-After", &retry) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_evently_send_raw(r, status, body, p - body);
}


ngx_int_t
ngx_http_evently_send_error_json(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message, json_t *extra)
{
    char       *text;
    ngx_int_t   rc;

    if (extra == NULL) {
        return ngx_http_evently_send_error(r, status, code, message,
                                           NULL, 0);
    }

    text = json_dumps(extra, JSON_COMPACT);
    if (text == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_evently_send_error(r, status, code, message,
                                     (u_char *) text, ngx_strlen(text));
    free(text);

    return rc;
}


ngx_int_t
ngx_http_evently_send_unavailable(ngx_http_request_t *r, const char *code,
    const char *message)
{
    return ngx_http_evently_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE, code,
                                       message, NULL, 0);
}


ngx_int_t
ngx_http_evently_set_etag(ngx_http_request_t *r, ngx_str_t *version)
{
    ngx_str_t  value;

    value.data = ngx_pnalloc(r->pool, version->len + 2);
    if (value.data == NULL) {
        return NGX_ERROR;
    }

    value.len = ngx_sprintf(value.data, "\"%V\"", version) - value.data;

    return ngx_http_evently_add_header(r, "ETag", &value);
}


/*
 * error_page target: nginx's own errors (413, 429, 400, 5xx ...) in the
 * envelope instead of an HTML page.
 */

ngx_int_t
ngx_http_evently_error_page(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    ngx_uint_t   status, i;

    static struct {
        ngx_uint_t   status;
        const char  *code;
        const char  *message;
    } errors[] = {
        { 400, "BAD_REQUEST", "Bad request" },
        { 401, "UNAUTHORIZED", "Authentication required" },
        { 403, "FORBIDDEN", "Forbidden" },
        { 404, "ROUTE_NOT_FOUND", "Route not found" },
        { 405, "METHOD_NOT_ALLOWED", "Method not allowed" },
        { 408, "REQUEST_TIMEOUT", "Request timed out" },
        { 411, "LENGTH_REQUIRED", "Content-Length required" },
        { 413, "PAYLOAD_TOO_LARGE", "Request body is too large" },
        { 414, "URI_TOO_LONG", "Request URI is too long" },
        { 429, "RATE_LIMITED", "Too many requests, slow down" },
        { 500, "INTERNAL_ERROR", "Internal server error" },
        { 502, "BAD_GATEWAY", "Bad gateway" },
        { 503, "SERVICE_UNAVAILABLE", "Service temporarily unavailable" },
        { 504, "GATEWAY_TIMEOUT", "Gateway timed out" },
        { 0, NULL, NULL }
    };

    status = r->err_status ? r->err_status : r->headers_out.status;

    for (i = 0; errors[i].status; i++) {
        if (errors[i].status == status) {
            return ngx_http_evently_send_error(r, status, errors[i].code,
                                               errors[i].message, NULL, 0);
        }
    }

    if (status < NGX_HTTP_BAD_REQUEST || status > 599) {
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_evently_send_error(r, status, "ERROR", "Request failed",
                                       NULL, 0);
}


ngx_int_t
ngx_http_evently_route_not_found(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    return ngx_http_evently_send_error(r, NGX_HTTP_NOT_FOUND,
                                       "ROUTE_NOT_FOUND", "Route not found",
                                       NULL, 0);
}


static ngx_int_t
ngx_http_evently_add_header(ngx_http_request_t *r, const char *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;

    return NGX_OK;
}


/* RFC 3339, UTC, whole seconds: 2026-12-01T19:30:00Z (20 bytes) */

u_char *
ngx_http_evently_time(u_char *buf, time_t t)
{
    ngx_tm_t  tm;

    ngx_gmtime(t, &tm);

    return ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
}


/* a random (version 4) UUID from OpenSSL's CSPRNG, 36 bytes + NUL */

ngx_int_t
ngx_http_evently_uuid(u_char *buf)
{
    u_char  b[16], hex[33];

    if (RAND_bytes(b, sizeof(b)) != 1) {
        return NGX_ERROR;
    }

    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;

    ngx_hex_dump(hex, b, sizeof(b));

    ngx_sprintf(buf, "%*s-%*s-%*s-%*s-%*s%Z", (size_t) 8, hex,
                (size_t) 4, hex + 8, (size_t) 4, hex + 12,
                (size_t) 4, hex + 16, (size_t) 12, hex + 20);

    return NGX_OK;
}


static u_char *
ngx_http_evently_json_str(u_char *p, u_char *s, size_t len)
{
    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, s, len);
    *p++ = '"';

    return p;
}
