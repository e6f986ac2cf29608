
/*
 * Copyright (C) Evently
 *
 * Seat holds: all-or-nothing, per (event, seat), with TTLs, in Redis Lua
 * scripts so that each step is atomic.  See ngx_http_evently_holds.h for
 * the keys.
 */


#include "ngx_http_evently_holds.h"
#include "ngx_http_evently_redis.h"


static void ngx_http_evently_held_done(void *data, redisReply *reply);


/*
 * The seats held now for one event, or for every event with live holds:
 * [event, [seat, ...], event, [seat, ...], ...].  Expired entries are
 * pruned on the way (their score is their expiry).
 */

static ngx_http_evently_redis_script_t  ngx_http_evently_held_script = {
    ngx_string("held"),
    ngx_string(
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local function seats(ev)\n"
    "  local k = 'evently:event_held:' .. ev\n"
    "  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)\n"
    "  return redis.call('ZRANGE', k, 0, -1)\n"
    "end\n"
    "local out = {}\n"
    "if ARGV[1] ~= '' then\n"
    "  out[1] = ARGV[1]\n"
    "  out[2] = seats(ARGV[1])\n"
    "  return out\n"
    "end\n"
    "redis.call('ZREMRANGEBYSCORE', 'evently:held_events', '-inf', now)\n"
    "for _, ev in ipairs(redis.call('ZRANGE', 'evently:held_events',"
    " 0, 9999)) do\n"
    "  out[#out + 1] = ev\n"
    "  out[#out + 1] = seats(ev)\n"
    "end\n"
    "return out\n"),
    "", 0
};


ngx_http_evently_op_t  ngx_http_evently_holds_ops[] = {

    { ngx_null_string, NULL, NULL, NULL, 0, 0, ngx_null_string,
      NGX_HTTP_EVENTLY_NO_SQL }
};


ngx_int_t
ngx_http_evently_run_sql_op_with_holds(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, ngx_str_t *event_id)
{
    const char                    *argv[1];
    size_t                         argvlen[1];
    ngx_http_evently_redis_cmd_t  *cmd;

    argv[0] = event_id ? (char *) event_id->data : "";
    argvlen[0] = event_id ? event_id->len : 0;

    cmd = ngx_http_evently_redis_eval(r->pool, r->connection->log,
                                      ngx_http_evently_held_done, r,
                                      &ngx_http_evently_held_script, 0,
                                      1, argv, argvlen);

    if (cmd == NULL) {
        /* Redis is down: answer from PostgreSQL alone, and say so */

        if (json_object_set_new(ctx->args, "_held", json_object())
            || json_object_set_new(ctx->args, "_holds_unknown", json_true()))
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_evently_run_sql_op(r, ctx);
    }

    ctx->pending = cmd;

    return ngx_http_evently_suspend(r);
}


static void
ngx_http_evently_held_done(void *data, redisReply *reply)
{
    ngx_http_request_t *r = data;

    size_t                   i, j;
    json_t                  *held, *seats;
    ngx_int_t                rc;
    redisReply              *ev, *list;
    ngx_http_evently_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    ctx->pending = NULL;

    held = json_object();
    if (held == NULL) {
        ngx_http_evently_resume(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        (void) json_object_set_new(ctx->args, "_holds_unknown", json_true());
        reply = NULL;
    }

    for (i = 0; reply && i + 1 < reply->elements; i += 2) {
        ev = reply->element[i];
        list = reply->element[i + 1];

        if (ev->type != REDIS_REPLY_STRING
            || list->type != REDIS_REPLY_ARRAY
            || list->elements == 0)
        {
            continue;
        }

        seats = json_array();
        if (seats == NULL) {
            break;
        }

        for (j = 0; j < list->elements; j++) {
            if (list->element[j]->type == REDIS_REPLY_STRING) {
                (void) json_array_append_new(seats,
                           json_stringn(list->element[j]->str,
                                        list->element[j]->len));
            }
        }

        (void) json_object_set_new(held, ev->str, seats);
    }

    if (json_object_set_new(ctx->args, "_held", held) != 0) {
        ngx_http_evently_resume(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_evently_run_sql_op(r, ctx);

    ngx_http_evently_resume(r, rc);
}
