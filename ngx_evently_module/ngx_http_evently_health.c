
/*
 * Copyright (C) Evently
 *
 * Service routes: /health really asks PostgreSQL and Redis (in
 * parallel) and reads the Kafka producer's broker state; /ping, /status,
 * and the envelopes for unknown routes and nginx's own error pages.
 */


#include "ngx_http_evently_module.h"
#include "ngx_http_evently_pg.h"
#include "ngx_http_evently_redis.h"
#include "ngx_http_evently_kafka.h"


typedef struct {
    ngx_uint_t                     pending;
    unsigned                       pg_up:1;
    unsigned                       redis_up:1;
} ngx_http_evently_health_t;


static ngx_int_t ngx_http_evently_health(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static void ngx_http_evently_health_pg(void *data, PGresult *res,
    ngx_int_t rc);
static void ngx_http_evently_health_redis(void *data, redisReply *reply);
static ngx_int_t ngx_http_evently_health_send(ngx_http_request_t *r,
    ngx_http_evently_health_t *h);
static ngx_int_t ngx_http_evently_ping(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static ngx_int_t ngx_http_evently_status(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static ngx_int_t ngx_http_evently_openapi(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static ngx_int_t ngx_http_evently_docs(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);


ngx_http_evently_op_t  ngx_http_evently_health_ops[] = {

    { ngx_string("health"), ngx_http_evently_health, NULL, NULL, 0,
      NGX_HTTP_OK, ngx_null_string, NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_string("ping"), ngx_http_evently_ping, NULL, NULL, 0,
      NGX_HTTP_OK, ngx_null_string, NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_string("status"), ngx_http_evently_status, NULL, NULL, 0,
      NGX_HTTP_OK, ngx_null_string, NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_string("openapi"), ngx_http_evently_openapi, NULL, NULL, 0,
      NGX_HTTP_OK, ngx_null_string, NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_string("docs"), ngx_http_evently_docs, NULL, NULL, 0,
      NGX_HTTP_OK, ngx_null_string, NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_string("route_not_found"), ngx_http_evently_route_not_found,
      NULL, NULL, 0, NGX_HTTP_NOT_FOUND, ngx_null_string,
      NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_string("error_page"), ngx_http_evently_error_page, NULL, NULL, 0,
      NGX_HTTP_OK, ngx_null_string, NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_null_string, NULL, NULL, NULL, 0, 0, ngx_null_string,
      NGX_HTTP_EVENTLY_NO_SQL }
};


static ngx_http_evently_stmt_t  ngx_http_evently_health_stmt = {
    ngx_string("evently_health"),
    ngx_string("SELECT 1"),
    0, 0
};


static ngx_int_t
ngx_http_evently_health(ngx_http_request_t *r, ngx_http_evently_ctx_t *ctx)
{
    const char                    *argv[1];
    size_t                         argvlen[1];
    ngx_http_evently_health_t     *h;
    ngx_http_evently_pg_query_t   *q;

    h = ngx_pcalloc(r->pool, sizeof(ngx_http_evently_health_t));
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = h;

    q = ngx_http_evently_pg_query_create(r->pool, r->connection->log,
                                         &ngx_http_evently_health_stmt);
    if (q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q->handler = ngx_http_evently_health_pg;
    q->data = r;

    if (ngx_http_evently_pg_send(q) == NGX_OK) {
        h->pending++;
    }

    argv[0] = "PING";
    argvlen[0] = sizeof("PING") - 1;

    if (ngx_http_evently_redis_command(r->pool, r->connection->log,
                                       ngx_http_evently_health_redis, r,
                                       1, argv, argvlen)
        != NULL)
    {
        h->pending++;
    }

    if (h->pending == 0) {
        return ngx_http_evently_health_send(r, h);
    }

    return ngx_http_evently_suspend(r);
}


static void
ngx_http_evently_health_pg(void *data, PGresult *res, ngx_int_t rc)
{
    ngx_http_request_t *r = data;

    ngx_http_evently_ctx_t     *ctx;
    ngx_http_evently_health_t  *h;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    h = ctx->data;

    h->pg_up = (rc == NGX_OK && PQresultStatus(res) == PGRES_TUPLES_OK);

    if (--h->pending == 0) {
        ngx_http_evently_resume(r, ngx_http_evently_health_send(r, h));
    }
}


static void
ngx_http_evently_health_redis(void *data, redisReply *reply)
{
    ngx_http_request_t *r = data;

    ngx_http_evently_ctx_t     *ctx;
    ngx_http_evently_health_t  *h;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    h = ctx->data;

    h->redis_up = (reply != NULL && reply->type == REDIS_REPLY_STATUS);

    if (--h->pending == 0) {
        ngx_http_evently_resume(r, ngx_http_evently_health_send(r, h));
    }
}


/*
 * PostgreSQL or Redis down: 503 "unhealthy".  Kafka down: 200
 * "degraded", since the outbox keeps every event until it is back.
 */

static ngx_int_t
ngx_http_evently_health_send(ngx_http_request_t *r,
    ngx_http_evently_health_t *h)
{
    u_char           *body, *p, ts[32];
    ngx_uint_t        status;
    const char       *state, *kafka;
    ngx_table_elt_t  *retry;

    switch (ngx_http_evently_kafka_state()) {
    case NGX_HTTP_EVENTLY_KAFKA_UP:
        kafka = "up";
        break;
    case NGX_HTTP_EVENTLY_KAFKA_DOWN:
        kafka = "down";
        break;
    default:
        kafka = "disabled";
        break;
    }

    if (!h->pg_up || !h->redis_up) {
        status = NGX_HTTP_SERVICE_UNAVAILABLE;
        state = "unhealthy";

        retry = ngx_list_push(&r->headers_out.headers);
        if (retry == NULL) {
            return NGX_ERROR;
        }

        retry->hash = 1;
        ngx_str_set(&retry->key, "Retry-After");
        ngx_str_set(&retry->value, "1");

    } else if (kafka[0] == 'd' && kafka[1] == 'o') {
        status = NGX_HTTP_OK;
        state = "degraded";

    } else {
        status = NGX_HTTP_OK;
        state = "healthy";
    }

    body = ngx_pnalloc(r->pool, 256);
    if (body == NULL) {
        return NGX_ERROR;
    }

    *ngx_http_evently_time(ts, ngx_time()) = '\0';

    p = ngx_sprintf(body, "{\"status\":\"%s\",\"service\":\"evently\","
                          "\"timestamp\":\"%s\",\"checks\":{"
                          "\"postgres\":\"%s\",\"redis\":\"%s\","
                          "\"kafka\":\"%s\"}}",
                    state, ts, h->pg_up ? "up" : "down",
                    h->redis_up ? "up" : "down", kafka);

    return ngx_http_evently_send_raw(r, status, body, p - body);
}


static ngx_int_t
ngx_http_evently_ping(ngx_http_request_t *r, ngx_http_evently_ctx_t *ctx)
{
    static u_char  pong[] = "{\"message\":\"pong\",\"version\":\"v1\"}";

    return ngx_http_evently_send_raw(r, NGX_HTTP_OK, pong,
                                     sizeof(pong) - 1);
}


static ngx_int_t
ngx_http_evently_status(ngx_http_request_t *r, ngx_http_evently_ctx_t *ctx)
{
    u_char  *body, *p;

    body = ngx_pnalloc(r->pool, 128);
    if (body == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(body, "{\"status\":\"operational\",\"api_version\":\"v1\","
                         "\"timestamp\":\"",
                   sizeof("{\"status\":\"operational\",\"api_version\":"
                          "\"v1\",\"timestamp\":\"") - 1);
    p = ngx_http_evently_time(p, ngx_time());
    p = ngx_cpymem(p, "\"}", 2);

    return ngx_http_evently_send_raw(r, NGX_HTTP_OK, body, p - body);
}


/* the OpenAPI spec and the page built from it (evently_docs) */

static ngx_int_t
ngx_http_evently_openapi(ngx_http_request_t *r, ngx_http_evently_ctx_t *ctx)
{
    static ngx_str_t  type = ngx_string("application/yaml; charset=utf-8");

    if (ctx->mcf->openapi.len == 0) {
        return ngx_http_evently_route_not_found(r, ctx);
    }

    return ngx_http_evently_send_typed(r, NGX_HTTP_OK, &type,
                                       ctx->mcf->openapi.data,
                                       ctx->mcf->openapi.len);
}


static ngx_int_t
ngx_http_evently_docs(ngx_http_request_t *r, ngx_http_evently_ctx_t *ctx)
{
    static ngx_str_t  type = ngx_string("text/html; charset=utf-8");

    if (ctx->mcf->docs_page.len == 0) {
        return ngx_http_evently_route_not_found(r, ctx);
    }

    return ngx_http_evently_send_typed(r, NGX_HTTP_OK, &type,
                                       ctx->mcf->docs_page.data,
                                       ctx->mcf->docs_page.len);
}
