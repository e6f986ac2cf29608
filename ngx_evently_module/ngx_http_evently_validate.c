
/*
 * Copyright (C) Evently
 *
 * The declarative validator: an op lists its body fields and query
 * parameters (type, limits, flags); the validator checks them, collects
 * every failure in errors.fields, and writes the normalised values into
 * the op's arguments (trimmed strings, lower-case e-mails and UUIDs,
 * money as exact decimal strings, times in UTC).  Unknown fields are
 * ignored.
 */


#include "ngx_http_evently_module.h"
#include <math.h>


#define NGX_HTTP_EVENTLY_MAX_QUERY_VALUE  1024


static ngx_int_t ngx_http_evently_check(ngx_http_request_t *r,
    ngx_http_evently_field_t *f, const char *path, json_t *v, json_t *out,
    json_t *errors);
static ngx_int_t ngx_http_evently_check_string(ngx_http_evently_field_t *f,
    json_t *v, json_t **value, const char **error, u_char *buf);
static ngx_int_t ngx_http_evently_check_number(ngx_http_evently_field_t *f,
    json_t *v, json_t **value, const char **error, u_char *buf);
static ngx_int_t ngx_http_evently_check_array(ngx_http_request_t *r,
    ngx_http_evently_field_t *f, const char *path, json_t *v,
    json_t **value, const char **error, u_char *buf, json_t *errors);
static ngx_int_t ngx_http_evently_datetime(u_char *p, size_t len,
    time_t *t);
static ngx_int_t ngx_http_evently_date(u_char *p, size_t len);
static ngx_uint_t ngx_http_evently_is_email(u_char *p, size_t len);
static ngx_uint_t ngx_http_evently_utf8_len(u_char *p, size_t len);
static ngx_int_t ngx_http_evently_digits(u_char *p, size_t n);
static void ngx_http_evently_strupper(u_char *p, size_t n);
static json_t *ngx_http_evently_trimmed(json_t *v, ngx_uint_t flags);
static ngx_int_t ngx_http_evently_error(json_t *errors, const char *path,
    const char *message);


ngx_int_t
ngx_http_evently_validate(ngx_http_request_t *r,
    ngx_http_evently_field_t *fields, json_t *in, json_t *out,
    json_t *errors)
{
    json_t                    *v;
    ngx_http_evently_field_t  *f;

    for (f = fields; f->name; f++) {
        v = json_object_get(in, f->name);

        if (ngx_http_evently_check(r, f, f->name, v, out, errors)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Query parameters go through the same checks: each is turned into the
 * JSON value the body would have carried.
 */

ngx_int_t
ngx_http_evently_query_args(ngx_http_request_t *r,
    ngx_http_evently_field_t *fields, json_t *out, json_t *errors)
{
    u_char                    *src, *dst, *p, *last;
    json_t                    *v, *item;
    ngx_str_t                  raw;
    ngx_int_t                  n, rc;
    ngx_http_evently_field_t  *f;

    for (f = fields; f->name; f++) {

        if (ngx_http_arg(r, (u_char *) f->name, ngx_strlen(f->name), &raw)
            != NGX_OK
            || raw.len == 0)
        {
            if (f->flags & NGX_HTTP_EVENTLY_REQUIRED) {
                if (ngx_http_evently_error(errors, f->name, "is required")
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }

            continue;
        }

        if (raw.len > NGX_HTTP_EVENTLY_MAX_QUERY_VALUE) {
            if (ngx_http_evently_error(errors, f->name, "is too long")
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        p = ngx_pnalloc(r->pool, raw.len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        /* '+' is a space in a query string */

        for (n = 0; n < (ngx_int_t) raw.len; n++) {
            p[n] = raw.data[n] == '+' ? ' ' : raw.data[n];
        }

        src = p;
        dst = p;
        ngx_unescape_uri(&dst, &src, raw.len, 0);
        last = dst;
        *last = '\0';

        if (!ngx_http_evently_utf8_valid(p, last - p)) {
            if (ngx_http_evently_error(errors, f->name,
                                       "must be valid UTF-8")
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        switch (f->type) {

        case NGX_HTTP_EVENTLY_INT:
            n = ngx_atoi(p, last - p);
            v = (n == NGX_ERROR) ? json_stringn((char *) p, last - p)
                                 : json_integer(n);
            break;

        case NGX_HTTP_EVENTLY_MONEY:
        case NGX_HTTP_EVENTLY_DECIMAL:
            v = json_loadb((char *) p, last - p, JSON_DECODE_ANY, NULL);
            if (v == NULL || !json_is_number(v)) {
                json_decref(v);
                v = json_stringn((char *) p, last - p);
            }
            break;

        case NGX_HTTP_EVENTLY_BOOL:
            if (ngx_strcmp(p, "true") == 0 || ngx_strcmp(p, "1") == 0) {
                v = json_true();

            } else if (ngx_strcmp(p, "false") == 0
                       || ngx_strcmp(p, "0") == 0)
            {
                v = json_false();

            } else {
                v = json_stringn((char *) p, last - p);
            }
            break;

        case NGX_HTTP_EVENTLY_SLUG_ARRAY:
        case NGX_HTTP_EVENTLY_UUID_ARRAY:
            v = json_array();
            if (v == NULL) {
                return NGX_ERROR;
            }

            for (src = p; src <= last; src = dst + 1) {
                dst = ngx_strlchr(src, last, ',');
                if (dst == NULL) {
                    dst = last;
                }

                while (src < dst && *src == ' ') {
                    src++;
                }

                if (dst > src) {
                    item = json_stringn((char *) src, dst - src);
                    if (item == NULL || json_array_append_new(v, item)) {
                        json_decref(v);
                        return NGX_ERROR;
                    }
                }
            }
            break;

        default:
            v = json_stringn((char *) p, last - p);
            break;
        }

        if (v == NULL) {
            return NGX_ERROR;
        }

        rc = ngx_http_evently_check(r, f, f->name, v, out, errors);
        json_decref(v);

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * jansson's rule for text: well-formed UTF-8, no surrogates.  (nginx's
 * ngx_utf8_length() cannot tell: it returns the byte count on bad input.)
 */

ngx_uint_t
ngx_http_evently_utf8_valid(u_char *p, size_t len)
{
    u_char    *last;
    uint32_t   c;

    last = p + len;

    while (p < last) {
        if (*p < 0x80) {
            p++;
            continue;
        }

        c = ngx_utf8_decode(&p, last - p);

        if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return 0;
        }
    }

    return 1;
}


ngx_int_t
ngx_http_evently_is_uuid(u_char *p, size_t len)
{
    size_t  i;

    if (len != 36) {
        return 0;
    }

    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (p[i] != '-') {
                return 0;
            }

            continue;
        }

        if (!isxdigit(p[i])) {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_http_evently_check(ngx_http_request_t *r, ngx_http_evently_field_t *f,
    const char *path, json_t *v, json_t *out, json_t *errors)
{
    u_char       buf[128];
    json_t      *value;
    ngx_int_t    rc;
    const char  *error;

    if (v == NULL) {
        if (f->flags & NGX_HTTP_EVENTLY_REQUIRED) {
            return ngx_http_evently_error(errors, path, "is required");
        }

        return NGX_OK;
    }

    if (json_is_null(v)) {
        if (f->flags & NGX_HTTP_EVENTLY_NULLABLE) {
            return json_object_set_new(out, f->name, json_null())
                   ? NGX_ERROR : NGX_OK;
        }

        return ngx_http_evently_error(errors, path,
                                      (f->flags & NGX_HTTP_EVENTLY_REQUIRED)
                                      ? "is required" : "must not be null");
    }

    value = NULL;
    error = NULL;

    switch (f->type) {

    case NGX_HTTP_EVENTLY_INT:
    case NGX_HTTP_EVENTLY_MONEY:
    case NGX_HTTP_EVENTLY_DECIMAL:
        rc = ngx_http_evently_check_number(f, v, &value, &error, buf);
        break;

    case NGX_HTTP_EVENTLY_BOOL:
        if (json_is_boolean(v)) {
            value = json_incref(v);
            rc = NGX_OK;

        } else {
            error = "must be true or false";
            rc = NGX_DECLINED;
        }
        break;

    case NGX_HTTP_EVENTLY_OBJECT:
        if (json_is_object(v)) {
            value = json_deep_copy(v);
            rc = value ? NGX_OK : NGX_ERROR;

        } else {
            error = "must be an object";
            rc = NGX_DECLINED;
        }
        break;

    case NGX_HTTP_EVENTLY_UUID_ARRAY:
    case NGX_HTTP_EVENTLY_SLUG_ARRAY:
    case NGX_HTTP_EVENTLY_OBJECT_ARRAY:
        rc = ngx_http_evently_check_array(r, f, path, v, &value, &error, buf,
                                          errors);
        break;

    default:
        rc = ngx_http_evently_check_string(f, v, &value, &error, buf);
        break;
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return error ? ngx_http_evently_error(errors, path, error) : NGX_OK;
    }

    if (value == NULL) {
        return NGX_ERROR;
    }

    return json_object_set_new(out, f->name, value) ? NGX_ERROR : NGX_OK;
}


static ngx_int_t
ngx_http_evently_check_string(ngx_http_evently_field_t *f, json_t *v,
    json_t **value, const char **error, u_char *buf)
{
    u_char       *p, *s;
    size_t        len, n;
    time_t        t;
    json_t       *trimmed;
    ngx_tm_t      gmt;
    ngx_uint_t    i;
    const char  **values;

    if (f->type == NGX_HTTP_EVENTLY_ROW && json_is_integer(v)) {
        if (json_integer_value(v) < 1 || json_integer_value(v) > 9999) {
            *error = "must be a number 1..9999 or a letter A..Z";
            return NGX_DECLINED;
        }

        len = ngx_sprintf(buf, "%L", (int64_t) json_integer_value(v)) - buf;
        *value = json_stringn((char *) buf, len);
        return NGX_OK;
    }

    if (!json_is_string(v)) {
        *error = "must be a string";
        return NGX_DECLINED;
    }

    trimmed = ngx_http_evently_trimmed(v, f->flags);
    if (trimmed == NULL) {
        return NGX_ERROR;
    }

    p = (u_char *) json_string_value(trimmed);
    len = json_string_length(trimmed);

    *value = trimmed;

    switch (f->type) {

    case NGX_HTTP_EVENTLY_STRING:
        n = (f->flags & NGX_HTTP_EVENTLY_BYTES)
            ? len : ngx_http_evently_utf8_len(p, len);

        if (n < f->min || n > f->max) {
            ngx_sprintf(buf, "must be between %d and %d %s long%Z",
                        (int) f->min, (int) f->max,
                        (f->flags & NGX_HTTP_EVENTLY_BYTES)
                        ? "bytes" : "characters");
            *error = (char *) buf;
            goto invalid;
        }

        for (i = 0; i < len; i++) {
            if (p[i] < 0x20 && p[i] != '\n' && p[i] != '\t'
                && p[i] != '\r')
            {
                *error = "must not contain control characters";
                goto invalid;
            }
        }

        return NGX_OK;

    case NGX_HTTP_EVENTLY_EMAIL:
        if (len > (size_t) f->max || !ngx_http_evently_is_email(p, len)) {
            *error = "must be a valid email address";
            goto invalid;
        }

        ngx_strlow(p, p, len);
        return NGX_OK;

    case NGX_HTTP_EVENTLY_UUID:
        if (!ngx_http_evently_is_uuid(p, len)) {
            *error = "must be a UUID";
            goto invalid;
        }

        ngx_strlow(p, p, len);
        return NGX_OK;

    case NGX_HTTP_EVENTLY_DATETIME:
        if (ngx_http_evently_datetime(p, len, &t) != NGX_OK) {
            *error = "must be an RFC 3339 date-time, "
                     "e.g. 2026-12-01T19:30:00Z";
            goto invalid;
        }

        if ((f->flags & NGX_HTTP_EVENTLY_FUTURE) && t <= ngx_time()) {
            *error = "must be in the future";
            goto invalid;
        }

        json_decref(trimmed);

        /* normalised to UTC; PostgreSQL reads it as timestamptz */

        ngx_gmtime(t, &gmt);

        len = ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                          gmt.ngx_tm_year, gmt.ngx_tm_mon, gmt.ngx_tm_mday,
                          gmt.ngx_tm_hour, gmt.ngx_tm_min, gmt.ngx_tm_sec)
              - buf;

        *value = json_stringn((char *) buf, len);
        return NGX_OK;

    case NGX_HTTP_EVENTLY_DATE:
        if (ngx_http_evently_date(p, len) != NGX_OK) {
            *error = "must be a date YYYY-MM-DD";
            goto invalid;
        }

        return NGX_OK;

    case NGX_HTTP_EVENTLY_ENUM:
        if (f->flags & NGX_HTTP_EVENTLY_UPPER) {
            ngx_http_evently_strupper(p, len);

        } else if (f->flags & NGX_HTTP_EVENTLY_LOWER) {
            ngx_strlow(p, p, len);
        }

        for (values = f->values; *values; values++) {
            if (ngx_strlen(*values) == len
                && ngx_strncmp(*values, p, len) == 0)
            {
                return NGX_OK;
            }
        }

        s = ngx_cpymem(buf, "must be one of ", sizeof("must be one of ") - 1);

        for (values = f->values; *values; values++) {
            n = ngx_strlen(*values);

            if (s + n + 3 > buf + 127) {
                break;
            }

            s = ngx_sprintf(s, "%s%s", values == f->values ? "" : ", ",
                            *values);
        }

        *s = '\0';
        *error = (char *) buf;
        goto invalid;

    case NGX_HTTP_EVENTLY_URL:
        if (len > (size_t) f->max
            || !((len > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8)
                             == 0)
                 || (len > 7 && ngx_strncasecmp(p, (u_char *) "http://", 7)
                                == 0)))
        {
            *error = "must be an http(s) URL";
            goto invalid;
        }

        for (i = 0; i < len; i++) {
            if (p[i] <= 0x20 || p[i] == 0x7f) {
                *error = "must be an http(s) URL";
                goto invalid;
            }
        }

        return NGX_OK;

    case NGX_HTTP_EVENTLY_COLOR:
        if (len != 7 || p[0] != '#') {
            *error = "must be a colour #RRGGBB";
            goto invalid;
        }

        for (i = 1; i < 7; i++) {
            if (!isxdigit(p[i])) {
                *error = "must be a colour #RRGGBB";
                goto invalid;
            }
        }

        ngx_http_evently_strupper(p + 1, 6);
        return NGX_OK;

    case NGX_HTTP_EVENTLY_ROW:
        if (len == 1 && ((p[0] >= 'A' && p[0] <= 'Z')
                         || (p[0] >= 'a' && p[0] <= 'z')))
        {
            ngx_http_evently_strupper(p, 1);
            return NGX_OK;
        }

        if (len >= 1 && len <= 4 && p[0] != '0'
            && ngx_http_evently_digits(p, len) == NGX_OK)
        {
            return NGX_OK;
        }

        *error = "must be a number 1..9999 or a letter A..Z";
        goto invalid;

    default:
        *error = "is not supported";
        goto invalid;
    }

invalid:

    json_decref(trimmed);
    *value = NULL;

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_evently_check_number(ngx_http_evently_field_t *f, json_t *v,
    json_t **value, const char **error, u_char *buf)
{
    char    text[64];
    double  d;

    if (!json_is_number(v)) {
        *error = f->type == NGX_HTTP_EVENTLY_INT ? "must be an integer"
                                                 : "must be a number";
        return NGX_DECLINED;
    }

    d = json_number_value(v);

    if (f->type == NGX_HTTP_EVENTLY_INT) {
        if (!json_is_integer(v) && d != floor(d)) {
            *error = "must be an integer";
            return NGX_DECLINED;
        }

        if (d < f->min || d > f->max) {
            ngx_sprintf(buf, "must be an integer between %L and %L%Z",
                        (int64_t) f->min, (int64_t) f->max);
            *error = (char *) buf;
            return NGX_DECLINED;
        }

        *value = json_integer((json_int_t) d);
        return NGX_OK;
    }

    if (!isfinite(d) || d < f->min || d > f->max) {
        (void) snprintf((char *) buf, 128, "must be between %.2f and %.2f",
                        f->min, f->max);
        *error = (char *) buf;
        return NGX_DECLINED;
    }

    /*
     * At most two decimals: the number printed with two decimals must
     * read back as the very same double.  The decimal string goes to
     * PostgreSQL's numeric, so no binary arithmetic ever touches money.
     */

    (void) snprintf(text, sizeof(text), "%.2f", d);

    if (strtod(text, NULL) != d) {
        *error = "must have at most two decimal places";
        return NGX_DECLINED;
    }

    *value = json_string(text);

    return NGX_OK;
}


static ngx_int_t
ngx_http_evently_check_array(ngx_http_request_t *r,
    ngx_http_evently_field_t *f, const char *path, json_t *v,
    json_t **value, const char **error, u_char *buf, json_t *errors)
{
    u_char                   *p, item_path[96];
    size_t                    i, j, len, nerrors;
    json_t                   *out, *item, *obj, *s;
    ngx_http_evently_field_t  *sub;

    if (!json_is_array(v)) {
        *error = "must be an array";
        return NGX_DECLINED;
    }

    if (json_array_size(v) < f->min || json_array_size(v) > f->max) {
        ngx_sprintf(buf, "must have between %d and %d items%Z",
                    (int) f->min, (int) f->max);
        *error = (char *) buf;
        return NGX_DECLINED;
    }

    out = json_array();
    if (out == NULL) {
        return NGX_ERROR;
    }

    nerrors = json_object_size(errors);

    json_array_foreach(v, i, item) {

        if (f->type == NGX_HTTP_EVENTLY_OBJECT_ARRAY) {
            ngx_snprintf(item_path, sizeof(item_path) - 1, "%s[%uz]%Z",
                         path, i);
            item_path[sizeof(item_path) - 1] = '\0';

            if (!json_is_object(item)) {
                if (ngx_http_evently_error(errors, (char *) item_path,
                                           "must be an object")
                    != NGX_OK)
                {
                    goto failed;
                }

                continue;
            }

            obj = json_object();
            if (obj == NULL || json_array_append_new(out, obj)) {
                goto failed;
            }

            for (sub = f->fields; sub->name; sub++) {
                ngx_snprintf(item_path, sizeof(item_path) - 1,
                             "%s[%uz].%s%Z", path, i, sub->name);
                item_path[sizeof(item_path) - 1] = '\0';

                if (ngx_http_evently_check(r, sub, (char *) item_path,
                                           json_object_get(item, sub->name),
                                           obj, errors)
                    != NGX_OK)
                {
                    goto failed;
                }
            }

            continue;
        }

        if (!json_is_string(item)) {
            *error = "must contain only strings";
            goto invalid;
        }

        p = (u_char *) json_string_value(item);
        len = json_string_length(item);

        if (f->type == NGX_HTTP_EVENTLY_UUID_ARRAY) {
            if (!ngx_http_evently_is_uuid(p, len)) {
                *error = "must contain only UUIDs";
                goto invalid;
            }

        } else if (len == 0 || len > 120) {
            *error = "must contain slugs of 1 to 120 characters";
            goto invalid;
        }

        s = json_stringn((char *) p, len);
        if (s == NULL) {
            goto failed;
        }

        p = (u_char *) json_string_value(s);
        ngx_strlow(p, p, len);

        for (j = 0; j < json_array_size(out); j++) {
            if (ngx_strcmp(json_string_value(json_array_get(out, j)), p)
                == 0)
            {
                json_decref(s);
                *error = "must not contain duplicates";
                goto invalid;
            }
        }

        if (json_array_append_new(out, s)) {
            goto failed;
        }
    }

    if (json_object_size(errors) != nerrors) {
        json_decref(out);
        *error = NULL;
        return NGX_DECLINED;
    }

    *value = out;
    return NGX_OK;

invalid:

    json_decref(out);
    return NGX_DECLINED;

failed:

    json_decref(out);
    return NGX_ERROR;
}


/* 2026-12-01T19:30:00Z, 2026-12-01T19:30:00.123+05:30 */

static ngx_int_t
ngx_http_evently_datetime(u_char *p, size_t len, time_t *t)
{
    u_char     *last;
    struct tm   tm, check;
    ngx_int_t   offset;
    time_t      when;

    if (len < 20 || len > 40) {
        return NGX_ERROR;
    }

    last = p + len;

    if (ngx_http_evently_date(p, 10) != NGX_OK
        || (p[10] != 'T' && p[10] != 't' && p[10] != ' ')
        || ngx_http_evently_digits(p + 11, 2) != NGX_OK || p[13] != ':'
        || ngx_http_evently_digits(p + 14, 2) != NGX_OK || p[16] != ':'
        || ngx_http_evently_digits(p + 17, 2) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memzero(&tm, sizeof(struct tm));
    tm.tm_year = ngx_atoi(p, 4) - 1900;
    tm.tm_mon = ngx_atoi(p + 5, 2) - 1;
    tm.tm_mday = ngx_atoi(p + 8, 2);
    tm.tm_hour = ngx_atoi(p + 11, 2);
    tm.tm_min = ngx_atoi(p + 14, 2);
    tm.tm_sec = ngx_atoi(p + 17, 2);

    if (tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59) {
        return NGX_ERROR;
    }

    p += 19;

    if (p < last && *p == '.') {
        p++;

        if (p == last || !isdigit(*p)) {
            return NGX_ERROR;
        }

        while (p < last && isdigit(*p)) {
            p++;
        }
    }

    if (last - p == 1 && (*p == 'Z' || *p == 'z')) {
        offset = 0;

    } else if (last - p == 6 && (*p == '+' || *p == '-') && p[3] == ':'
               && ngx_http_evently_digits(p + 1, 2) == NGX_OK
               && ngx_http_evently_digits(p + 4, 2) == NGX_OK)
    {
        offset = ngx_atoi(p + 1, 2) * 3600 + ngx_atoi(p + 4, 2) * 60;

        if (offset > 18 * 3600) {
            return NGX_ERROR;
        }

        if (*p == '-') {
            offset = -offset;
        }

    } else {
        return NGX_ERROR;
    }

    check = tm;
    when = timegm(&check);

    if (when == (time_t) -1 || check.tm_mday != tm.tm_mday) {
        return NGX_ERROR;
    }

    *t = when - offset;

    return NGX_OK;
}


static ngx_int_t
ngx_http_evently_date(u_char *p, size_t len)
{
    struct tm  tm, check;

    if (len != 10 || p[4] != '-' || p[7] != '-'
        || ngx_http_evently_digits(p, 4) != NGX_OK
        || ngx_http_evently_digits(p + 5, 2) != NGX_OK
        || ngx_http_evently_digits(p + 8, 2) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memzero(&tm, sizeof(struct tm));
    tm.tm_year = ngx_atoi(p, 4) - 1900;
    tm.tm_mon = ngx_atoi(p + 5, 2) - 1;
    tm.tm_mday = ngx_atoi(p + 8, 2);

    if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11
        || tm.tm_mday < 1)
    {
        return NGX_ERROR;
    }

    check = tm;

    if (timegm(&check) == (time_t) -1 || check.tm_mday != tm.tm_mday
        || check.tm_mon != tm.tm_mon)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* deliberately plain: one "@", a dotted domain, no spaces or controls */

static ngx_uint_t
ngx_http_evently_is_email(u_char *p, size_t len)
{
    u_char  *at, *last, *dot, *s;

    last = p + len;
    at = ngx_strlchr(p, last, '@');

    if (at == NULL || at == p || at - p > 64
        || ngx_strlchr(at + 1, last, '@'))
    {
        return 0;
    }

    for (s = p; s < last; s++) {
        if (*s <= 0x20 || *s == 0x7f || *s == '(' || *s == ')'
            || *s == '<' || *s == '>' || *s == ',' || *s == ';'
            || *s == ':' || *s == '\\' || *s == '"' || *s == '['
            || *s == ']')
        {
            return 0;
        }
    }

    dot = ngx_strlchr(at + 1, last, '.');

    if (dot == NULL || dot == at + 1 || *(last - 1) == '.'
        || ngx_strstrn(at + 1, "..", 2 - 1) != NULL)
    {
        return 0;
    }

    return 1;
}


static ngx_uint_t
ngx_http_evently_utf8_len(u_char *p, size_t len)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            n++;
        }
    }

    return n;
}


static ngx_int_t
ngx_http_evently_digits(u_char *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_evently_strupper(u_char *p, size_t n)
{
    while (n--) {
        *p = ngx_toupper(*p);
        p++;
    }
}


static json_t *
ngx_http_evently_trimmed(json_t *v, ngx_uint_t flags)
{
    u_char  *p, *last;

    p = (u_char *) json_string_value(v);
    last = p + json_string_length(v);

    if (!(flags & NGX_HTTP_EVENTLY_NO_TRIM)) {
        while (p < last && (*p == ' ' || *p == '\t' || *p == '\n'
                            || *p == '\r'))
        {
            p++;
        }

        while (last > p && (*(last - 1) == ' ' || *(last - 1) == '\t'
                            || *(last - 1) == '\n' || *(last - 1) == '\r'))
        {
            last--;
        }
    }

    return json_stringn((char *) p, last - p);
}


static ngx_int_t
ngx_http_evently_error(json_t *errors, const char *path, const char *message)
{
    if (json_object_get(errors, path)) {
        return NGX_OK;
    }

    return json_object_set_new(errors, path, json_string(message))
           ? NGX_ERROR : NGX_OK;
}
