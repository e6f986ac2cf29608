
/*
 * Copyright (C) Evently
 *
 * The content handler shared by every API location: method routing,
 * authentication, path id, JSON body, validation, then the op -- either
 * its own handler or the call of its SQL function.
 *
 * An op that waits for PostgreSQL, Redis or the thread pool suspends the
 * request (ngx_http_evently_suspend(), one more reference) and returns
 * NGX_DONE; the engine's callback answers and calls
 * ngx_http_evently_resume().
 */


#include "ngx_http_evently_module.h"
#include "ngx_http_evently_pg.h"
#include "ngx_http_evently_kafka.h"


#define NGX_HTTP_EVENTLY_MAX_ID_LEN    128
#define NGX_HTTP_EVENTLY_MAX_BODY      65536   /* the contract's limit */


static ngx_http_evently_op_t *ngx_http_evently_route(ngx_http_request_t *r,
    ngx_http_evently_loc_conf_t *lcf);
static ngx_int_t ngx_http_evently_method_not_allowed(ngx_http_request_t *r,
    ngx_http_evently_loc_conf_t *lcf);
static ngx_int_t ngx_http_evently_path_id(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static void ngx_http_evently_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_evently_parse_body(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static ngx_int_t ngx_http_evently_content_type(ngx_http_request_t *r);
static ngx_int_t ngx_http_evently_prepare(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static ngx_int_t ngx_http_evently_if_match(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static ngx_int_t ngx_http_evently_run(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static void ngx_http_evently_sql_done(void *data, PGresult *res,
    ngx_int_t rc);
static ngx_int_t ngx_http_evently_sql_error(ngx_http_request_t *r,
    PGresult *res);
static void ngx_http_evently_check_broken(ngx_http_request_t *r);
static void ngx_http_evently_json_cleanup(void *data);


ngx_int_t
ngx_http_evently_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_http_evently_op_t        *op;
    ngx_http_evently_ctx_t       *ctx;
    ngx_http_evently_loc_conf_t  *lcf;

    /*
     * If-Match is the op's business (SQL compares versions); nginx's
     * not_modified filter would judge it against an ETag it does not
     * know and end the request behind our back.
     */

    r->disable_not_modified = 1;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_evently_module);

    op = ngx_http_evently_route(r, lcf);

    if (op == NULL) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_evently_method_not_allowed(r, lcf);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_evently_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->op = op;
    ctx->mcf = ngx_http_get_module_main_conf(r, ngx_http_evently_module);

    ngx_http_set_ctx(r, ctx, ngx_http_evently_module);

    /*
     * A step that refuses the request has answered it already: its rc is
     * then the rc of sending, NGX_OK included, so r->header_sent is what
     * tells "go on" from "done".
     */

    rc = ngx_http_evently_authenticate(r, ctx, lcf->auth);

    if (rc == NGX_OK && !r->header_sent) {
        rc = ngx_http_evently_path_id(r, ctx);
    }

    if (rc != NGX_OK || r->header_sent
        || !(op->flags & NGX_HTTP_EVENTLY_OP_BODY))
    {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc != NGX_OK || r->header_sent) {
            return rc;
        }

        return ngx_http_evently_run(r, ctx);
    }

    if (ngx_http_evently_content_type(r) != NGX_OK) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_evently_send_error(r,
                                NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                "UNSUPPORTED_MEDIA_TYPE",
                                "Content-Type must be application/json",
                                NULL, 0);
    }

    if (r->headers_in.content_length_n > NGX_HTTP_EVENTLY_MAX_BODY) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->keepalive = 0;

        return ngx_http_evently_send_error(r,
                                NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                "PAYLOAD_TOO_LARGE",
                                "Request body is too large", NULL, 0);
    }

    /* a JSON body is small: keep it in one memory buffer */

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_evently_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * Idempotent: an op that chains engines (Redis, then PostgreSQL) suspends
 * once and is resumed once.
 */

ngx_int_t
ngx_http_evently_suspend(ngx_http_request_t *r)
{
    ngx_http_evently_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);

    if (ctx->suspended) {
        return NGX_DONE;
    }

    ctx->suspended = 1;
    r->main->count++;

    /* notice a client that goes away while we wait */

    r->read_event_handler = ngx_http_evently_check_broken;
    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_DONE;
}


/*
 * The end of an engine callback: rc NGX_DONE means the op went on to
 * another engine and stays suspended.
 */

void
ngx_http_evently_resume(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t        *c;
    ngx_http_evently_ctx_t  *ctx;

    if (rc == NGX_DONE) {
        return;
    }

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);

    ngx_http_set_log_request(c->log, r);

    if (ctx && ctx->suspended) {
        ctx->suspended = 0;
        r->read_event_handler = ngx_http_block_reading;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* a json_t owned by a pool: released when the pool is destroyed */

json_t *
ngx_http_evently_pool_json(ngx_pool_t *pool, json_t *json)
{
    ngx_pool_cleanup_t  *cln;

    if (json == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        json_decref(json);
        return NULL;
    }

    cln->handler = ngx_http_evently_json_cleanup;
    cln->data = json;

    return json;
}


static void
ngx_http_evently_json_cleanup(void *data)
{
    json_decref(data);
}


static ngx_http_evently_op_t *
ngx_http_evently_route(ngx_http_request_t *r,
    ngx_http_evently_loc_conf_t *lcf)
{
    ngx_uint_t                 i;
    ngx_http_evently_route_t  *routes;

    if (lcf->routes == NULL) {
        return NULL;
    }

    routes = lcf->routes->elts;

    for (i = 0; i < lcf->routes->nelts; i++) {
        if (routes[i].methods & r->method) {
            return routes[i].op;
        }
    }

    return NULL;
}


static ngx_int_t
ngx_http_evently_method_not_allowed(ngx_http_request_t *r,
    ngx_http_evently_loc_conf_t *lcf)
{
    u_char                    *p;
    ngx_uint_t                 i, j, methods;
    ngx_table_elt_t           *h;
    ngx_http_evently_route_t  *routes;

    static struct {
        ngx_uint_t   method;
        const char  *name;
    } names[] = {
        { NGX_HTTP_GET, "GET" },
        { NGX_HTTP_HEAD, "HEAD" },
        { NGX_HTTP_POST, "POST" },
        { NGX_HTTP_PUT, "PUT" },
        { NGX_HTTP_PATCH, "PATCH" },
        { NGX_HTTP_DELETE, "DELETE" },
        { 0, NULL }
    };

    methods = 0;

    if (lcf->routes) {
        routes = lcf->routes->elts;

        for (i = 0; i < lcf->routes->nelts; i++) {
            methods |= routes[i].methods;
        }
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, sizeof("GET, HEAD, POST, PUT, PATCH, DELETE"));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = p;

    for (j = 0; names[j].name; j++) {
        if (methods & names[j].method) {
            p = ngx_sprintf(p, "%s%s", p == h->value.data ? "" : ", ",
                            names[j].name);
        }
    }

    h->value.len = p - h->value.data;

    return ngx_http_evently_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                       "METHOD_NOT_ALLOWED",
                                       "Method not allowed", NULL, 0);
}


static ngx_int_t
ngx_http_evently_path_id(ngx_http_request_t *r, ngx_http_evently_ctx_t *ctx)
{
    ngx_str_t                   name;
    ngx_http_variable_value_t  *vv;

    if (!(ctx->op->flags
          & (NGX_HTTP_EVENTLY_OP_ID | NGX_HTTP_EVENTLY_OP_RAW_ID)))
    {
        return NGX_OK;
    }

    ngx_str_set(&name, "id");

    vv = ngx_http_get_variable(r, &name, ctx->mcf->id_hash);

    if (vv == NULL || vv->not_found || vv->len == 0
        || vv->len > NGX_HTTP_EVENTLY_MAX_ID_LEN)
    {
        return ngx_http_evently_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           "INVALID_ID",
                                           "Invalid identifier in path",
                                           NULL, 0);
    }

    if ((ctx->op->flags & NGX_HTTP_EVENTLY_OP_RAW_ID)
        && !ngx_http_evently_utf8_valid(vv->data, vv->len))
    {
        return ngx_http_evently_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           "INVALID_ID",
                                           "Invalid identifier in path",
                                           NULL, 0);
    }

    if ((ctx->op->flags & NGX_HTTP_EVENTLY_OP_ID)
        && !ngx_http_evently_is_uuid(vv->data, vv->len))
    {
        return ngx_http_evently_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           "INVALID_ID",
                                           "Identifier must be a UUID",
                                           NULL, 0);
    }

    ctx->id.data = ngx_pnalloc(r->pool, vv->len + 1);
    if (ctx->id.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->id.len = vv->len;
    *ngx_cpymem(ctx->id.data, vv->data, vv->len) = '\0';

    if (ctx->op->flags & NGX_HTTP_EVENTLY_OP_ID) {
        ngx_strlow(ctx->id.data, ctx->id.data, ctx->id.len);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_evently_content_type(ngx_http_request_t *r)
{
    ngx_str_t  *type;

    if (r->headers_in.content_type == NULL) {
        return NGX_OK;
    }

    type = &r->headers_in.content_type->value;

    if (type->len >= sizeof("application/json") - 1
        && ngx_strncasecmp(type->data, (u_char *) "application/json",
                           sizeof("application/json") - 1) == 0
        && (type->len == sizeof("application/json") - 1
            || type->data[sizeof("application/json") - 1] == ';'
            || type->data[sizeof("application/json") - 1] == ' '))
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


static void
ngx_http_evently_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_http_evently_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);

    rc = ngx_http_evently_parse_body(r, ctx);

    if (rc == NGX_OK && !r->header_sent) {
        rc = ngx_http_evently_run(r, ctx);
    }

    /* NGX_DONE drops the reference the body reading took */

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_evently_parse_body(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    u_char        *p;
    size_t         len;
    json_t        *json;
    ngx_buf_t     *b;
    ngx_chain_t   *cl;
    json_error_t   err;

    if (r->request_body == NULL || r->request_body->temp_file) {
        /* client_body_buffer_size equals the body limit in evently.conf */
        return ngx_http_evently_send_error(r,
                                NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                "PAYLOAD_TOO_LARGE",
                                "Request body is too large", NULL, 0);
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len > NGX_HTTP_EVENTLY_MAX_BODY) {
        return ngx_http_evently_send_error(r,
                                NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                "PAYLOAD_TOO_LARGE",
                                "Request body is too large", NULL, 0);
    }

    if (len == 0) {
        if (ctx->op->flags & NGX_HTTP_EVENTLY_OP_BODY_OPT) {
            ctx->body = ngx_http_evently_pool_json(r->pool, json_object());
            return ctx->body ? NGX_OK : NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_evently_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           "INVALID_JSON",
                                           "Request body is required",
                                           NULL, 0);
    }

    if (r->request_body->bufs->next == NULL) {
        p = r->request_body->bufs->buf->pos;

    } else {
        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        len = 0;

        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            b = cl->buf;
            ngx_memcpy(p + len, b->pos, b->last - b->pos);
            len += b->last - b->pos;
        }
    }

    json = json_loadb((char *) p, len, JSON_REJECT_DUPLICATES, &err);

    if (json == NULL) {
        /* never err.text: it quotes the body, passwords included */

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "evently: invalid JSON body at line %d column %d "
                       "(byte %d)", err.line, err.column, err.position);

        return ngx_http_evently_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           "INVALID_JSON",
                                           "Request body is not valid JSON",
                                           NULL, 0);
    }

    ctx->body = ngx_http_evently_pool_json(r->pool, json);
    if (ctx->body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!json_is_object(ctx->body)) {
        return ngx_http_evently_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           "INVALID_JSON",
                                           "Request body must be a JSON "
                                           "object", NULL, 0);
    }

    return NGX_OK;
}


/* arguments for the op: validated body fields, query parameters, If-Match */

static ngx_int_t
ngx_http_evently_prepare(ngx_http_request_t *r, ngx_http_evently_ctx_t *ctx)
{
    json_t                 *errors, *extra;
    ngx_int_t               rc;
    ngx_http_evently_op_t  *op;

    op = ctx->op;

    ctx->args = ngx_http_evently_pool_json(r->pool, json_object());
    errors = ngx_http_evently_pool_json(r->pool, json_object());

    if (ctx->args == NULL || errors == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (op->body && ctx->body) {
        if (ngx_http_evently_validate(r, op->body, ctx->body, ctx->args,
                                      errors)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (op->query) {
        if (ngx_http_evently_query_args(r, op->query, ctx->args, errors)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (json_object_size(errors)) {
        extra = json_pack("{sO}", "fields", errors);

        rc = ngx_http_evently_send_error_json(r, NGX_HTTP_BAD_REQUEST,
                                              "VALIDATION_FAILED",
                                              "Validation failed", extra);
        json_decref(extra);

        return rc;
    }

    if ((op->flags & NGX_HTTP_EVENTLY_OP_RAW_ID)
        && json_object_set_new(ctx->args, "_path_id",
                               json_stringn((char *) ctx->id.data,
                                            ctx->id.len)))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (op->flags & NGX_HTTP_EVENTLY_OP_IF_MATCH) {
        return ngx_http_evently_if_match(r, ctx);
    }

    return NGX_OK;
}


/* If-Match: "3", W/"3", 3 or *; anything else can never match */

static ngx_int_t
ngx_http_evently_if_match(ngx_http_request_t *r, ngx_http_evently_ctx_t *ctx)
{
    u_char     *p, *last;
    ngx_int_t   version;

    if (r->headers_in.if_match == NULL) {
        return NGX_OK;
    }

    p = r->headers_in.if_match->value.data;
    last = p + r->headers_in.if_match->value.len;

    if (last - p == 1 && *p == '*') {
        return NGX_OK;
    }

    if (last - p > 2 && p[0] == 'W' && p[1] == '/') {
        p += 2;
    }

    if (last - p > 2 && *p == '"' && *(last - 1) == '"') {
        p++;
        last--;
    }

    version = ngx_atoi(p, last - p);

    if (version == NGX_ERROR || version > 2147483647) {
        return ngx_http_evently_send_error(r, NGX_HTTP_PRECONDITION_FAILED,
                                           "VERSION_MISMATCH",
                                           "If-Match does not match the "
                                           "current version", NULL, 0);
    }

    if (json_object_set_new(ctx->args, "_if_match", json_integer(version))
        != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_evently_run(ngx_http_request_t *r, ngx_http_evently_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_evently_idem_begin(r, ctx);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_evently_run_op(r, ctx);
}


ngx_int_t
ngx_http_evently_run_op(ngx_http_request_t *r, ngx_http_evently_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_evently_prepare(r, ctx);
    if (rc != NGX_OK || r->header_sent) {
        return rc;
    }

    if (ctx->op->handler) {
        return ctx->op->handler(r, ctx);
    }

    return ngx_http_evently_run_sql_op(r, ctx);
}


ngx_int_t
ngx_http_evently_run_sql_op(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    return ngx_http_evently_sql_call(r, ctx, &ctx->op->stmt, NULL);
}


/*
 * Calls an API function, evently.api_<op>(user, role, id, args), with the
 * request's caller, path id and arguments.  next (or, when NULL, the
 * standard reply) gets the function's row once it is there.
 */

ngx_int_t
ngx_http_evently_sql_call(ngx_http_request_t *r, ngx_http_evently_ctx_t *ctx,
    ngx_http_evently_stmt_t *stmt, ngx_http_evently_sql_pt next)
{
    char                         *args;
    size_t                        len;
    ngx_http_evently_pg_query_t  *q;

    q = ngx_http_evently_pg_query_create(r->pool, r->connection->log, stmt);
    if (q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args = json_dumps(ctx->args, JSON_COMPACT);
    if (args == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_strlen(args);
    q->values[3] = ngx_pnalloc(r->pool, len + 1);

    if (q->values[3] != NULL) {
        ngx_memcpy((char *) q->values[3], args, len + 1);
    }

    free(args);

    if (q->values[3] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->user) {
        q->values[0] = (char *) ctx->user->id.data;
        q->values[1] = (char *) ctx->user->role.data;
    }

    if (ctx->op->flags & NGX_HTTP_EVENTLY_OP_ID) {
        q->values[2] = (char *) ctx->id.data;
    }

    q->nvalues = 4;
    q->handler = ngx_http_evently_sql_done;
    q->data = r;

    ctx->sql_next = next;

    return ngx_http_evently_pg_start(r, ctx, q);
}


/* sends a request's query and suspends, or answers why it cannot */

ngx_int_t
ngx_http_evently_pg_start(ngx_http_request_t *r, ngx_http_evently_ctx_t *ctx,
    ngx_http_evently_pg_query_t *q)
{
    switch (ngx_http_evently_pg_send(q)) {

    case NGX_OK:
        ctx->pending = q;
        return ngx_http_evently_suspend(r);

    case NGX_BUSY:
        return ngx_http_evently_send_unavailable(r, "DB_BUSY",
                                   "The database is busy, retry shortly");

    default:
        return ngx_http_evently_send_unavailable(r, "DB_UNAVAILABLE",
                                   "The database is unavailable");
    }
}


/*
 * Answers a query that failed: the engine's rc (no result), or the
 * result's SQLSTATE.  Never SQL text in a response.
 */

ngx_int_t
ngx_http_evently_pg_failed(ngx_http_request_t *r, PGresult *res,
    ngx_int_t rc)
{
    if (rc == NGX_BUSY) {
        return ngx_http_evently_send_unavailable(r, "DB_BUSY",
                                   "The database is busy, retry shortly");
    }

    if (rc == NGX_ETIMEDOUT) {
        return ngx_http_evently_send_unavailable(r, "DB_TIMEOUT",
                                   "The database did not answer in time");
    }

    if (rc != NGX_OK || res == NULL) {
        return ngx_http_evently_send_unavailable(r, "DB_UNAVAILABLE",
                                   "The database is unavailable");
    }

    return ngx_http_evently_sql_error(r, res);
}


static void
ngx_http_evently_sql_done(void *data, PGresult *res, ngx_int_t rc)
{
    ngx_http_request_t *r = data;

    ngx_http_evently_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    ctx->pending = NULL;

    if (rc != NGX_OK || PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = ngx_http_evently_pg_failed(r, res, rc);

    } else if (PQntuples(res) != 1 || PQnfields(res) != 5) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "evently: an API function of \"%V\" returned "
                      "%d rows", &ctx->op->name, PQntuples(res));
        rc = ngx_http_evently_send_error(r,
                                         NGX_HTTP_INTERNAL_SERVER_ERROR,
                                         "INTERNAL_ERROR",
                                         "Internal server error", NULL, 0);

    } else if (ctx->sql_next) {
        rc = ctx->sql_next(r, ctx, res);

    } else {
        rc = ngx_http_evently_sql_reply(r, ctx, res);
    }

    ngx_http_evently_resume(r, rc);
}


/* the standard answer from an evently.api_result row */

ngx_int_t
ngx_http_evently_sql_reply(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, PGresult *res)
{
    u_char     *message, *body;
    size_t      len;
    ngx_str_t   msg, etag;
    ngx_int_t   status;

    status = ngx_http_evently_sql_status(ctx, res);

    message = PQgetisnull(res, 0, 2) ? NULL
                                     : (u_char *) PQgetvalue(res, 0, 2);
    body = (u_char *) PQgetvalue(res, 0, 3);
    len = PQgetisnull(res, 0, 3) ? 0 : (size_t) PQgetlength(res, 0, 3);

    if (!PQgetisnull(res, 0, 1)) {
        return ngx_http_evently_send_error(r, status, PQgetvalue(res, 0, 1),
                                           message ? (char *) message
                                                   : "Request failed",
                                           len ? body : NULL, len);
    }

    if (!PQgetisnull(res, 0, 4)) {
        etag.data = (u_char *) PQgetvalue(res, 0, 4);
        etag.len = PQgetlength(res, 0, 4);

        if (ngx_http_evently_set_etag(r, &etag) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (message) {
        msg.data = message;
        msg.len = ngx_strlen(message);

    } else {
        msg = ctx->op->message;
    }

    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
        /* the change may have written domain events */
        ngx_http_evently_outbox_kick();
    }

    return ngx_http_evently_send_data(r, status, &msg, len ? body : NULL,
                                      len);
}


/*
 * An API row's success kept past its PGresult, for an op that takes one
 * more step (a Redis script) before it answers.
 */

ngx_int_t
ngx_http_evently_sql_keep(ngx_http_request_t *r, ngx_http_evently_ctx_t *ctx,
    PGresult *res)
{
    ctx->kept_status = ngx_http_evently_sql_status(ctx, res);
    ctx->kept.len = PQgetisnull(res, 0, 3) ? 0 : PQgetlength(res, 0, 3);
    ctx->kept.data = ngx_pnalloc(r->pool, ctx->kept.len + 1);

    if (ctx->kept.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->kept.data, PQgetvalue(res, 0, 3), ctx->kept.len);

    /* the change may have written domain events */
    ngx_http_evently_outbox_kick();

    return NGX_OK;
}


ngx_int_t
ngx_http_evently_send_kept(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    return ngx_http_evently_send_data(r, ctx->kept_status, &ctx->op->message,
                                      ctx->kept.len ? ctx->kept.data : NULL,
                                      ctx->kept.len);
}


/* the row's status, or the op's default */

ngx_int_t
ngx_http_evently_sql_status(ngx_http_evently_ctx_t *ctx, PGresult *res)
{
    ngx_int_t  status;

    if (PQgetisnull(res, 0, 0)) {
        return ctx->op->status;
    }

    status = ngx_atoi((u_char *) PQgetvalue(res, 0, 0),
                      PQgetlength(res, 0, 0));

    if (status < 100 || status > 599) {
        return NGX_HTTP_OK;
    }

    return status;
}


/* never SQL text in a response: a stable code and a short message */

static ngx_int_t
ngx_http_evently_sql_error(ngx_http_request_t *r, PGresult *res)
{
    const char              *state, *primary;
    ngx_http_evently_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    state = ngx_http_evently_pg_sqlstate(res);

    if (ngx_strcmp(state, "57014") == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "evently: \"%V\" hit the statement timeout",
                      &ctx->op->name);
        return ngx_http_evently_send_unavailable(r, "DB_TIMEOUT",
                                   "The database did not answer in time");
    }

    if (ngx_strcmp(state, "40001") == 0 || ngx_strcmp(state, "40P01") == 0
        || ngx_strcmp(state, "55P03") == 0)
    {
        return ngx_http_evently_send_error(r, NGX_HTTP_CONFLICT,
                                           "CONFLICT_RETRY",
                                           "A concurrent change "
                                           "conflicted, please retry",
                                           NULL, 0);
    }

    if (ngx_strcmp(state, "23505") == 0) {
        return ngx_http_evently_send_error(r, NGX_HTTP_CONFLICT,
                                           "CONFLICT",
                                           "The resource already exists or "
                                           "is in use", NULL, 0);
    }

    if (ngx_strcmp(state, "23503") == 0) {
        return ngx_http_evently_send_error(r, NGX_HTTP_CONFLICT,
                                           "CONFLICT",
                                           "The resource is referenced by "
                                           "another one", NULL, 0);
    }

    if (ngx_strncmp(state, "22", 2) == 0 || ngx_strcmp(state, "23514") == 0
        || ngx_strcmp(state, "23502") == 0)
    {
        primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "evently: \"%V\" rejected input: SQLSTATE %s: %s",
                      &ctx->op->name, state, primary ? primary : "");
        return ngx_http_evently_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           "INVALID_INPUT",
                                           "A value is out of range or "
                                           "malformed", NULL, 0);
    }

    if (ngx_strncmp(state, "08", 2) == 0 || ngx_strncmp(state, "57P", 3) == 0
        || ngx_strncmp(state, "53", 2) == 0)
    {
        return ngx_http_evently_send_unavailable(r, "DB_UNAVAILABLE",
                                   "The database is unavailable");
    }

    /* the primary message only: the detail may quote a row's values */

    primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "evently: \"%V\" failed: SQLSTATE %s: %s", &ctx->op->name,
                  state[0] ? state : "none", primary ? primary : "");

    return ngx_http_evently_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "INTERNAL_ERROR",
                                       "Internal server error", NULL, 0);
}


/*
 * While suspended: a client that closes its connection is gone for good,
 * terminating the request detaches its query or command through the
 * request pool's cleanups.
 */

static void
ngx_http_evently_check_broken(ngx_http_request_t *r)
{
    int                n;
    char               buf[1];
    ngx_err_t          err;
    ngx_event_t       *ev;
    ngx_connection_t  *c;

    c = r->connection;
    ev = c->read;

#if (NGX_HTTP_V2)
    if (r->stream) {
        return;
    }
#endif

    if (c->error) {
        goto broken;
    }

#if (NGX_HAVE_EPOLLRDHUP)

    if ((ngx_event_flags & NGX_USE_EPOLL_EVENT) && ngx_use_epoll_rdhup) {
        if (!ev->pending_eof) {
            return;
        }

        ev->eof = 1;
        c->error = 1;
        goto broken;
    }

#endif

    n = recv(c->fd, buf, 1, MSG_PEEK);
    err = ngx_socket_errno;

    if (n > 0) {
        return;     /* a pipelined request: not our concern now */
    }

    if (n == -1 && err == NGX_EAGAIN) {
        return;
    }

    ev->eof = 1;
    c->error = 1;

broken:

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "evently: client closed the connection while waiting");

    ngx_http_finalize_request(r, NGX_HTTP_CLIENT_CLOSED_REQUEST);
}
