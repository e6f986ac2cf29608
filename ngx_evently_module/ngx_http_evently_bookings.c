
/*
 * Copyright (C) Evently
 *
 * Bookings.  A confirmation is three steps, each atomic:
 *
 *   1. Redis: the hold exists, is the caller's, is for this event and has
 *      not expired; its seats are still its own.  A hold about to expire
 *      gets a short grace so that it cannot lapse during step 2.
 *   2. PostgreSQL, one transaction in one round trip
 *      (evently.api_booking_confirm): booking, seats, payment, outbox.
 *      The partial unique index on (event, seat) is the final guard.
 *   3. Redis: the hold is consumed; its seat keys say "booked" for a
 *      minute, so that a hold checked against PostgreSQL just before the
 *      commit cannot take them.
 *
 * A hold already turned into a booking answers with that booking (200),
 * so a retried confirm never books twice.  Redis flushed between hold and
 * confirm: 409 HOLD_EXPIRED, never a booking without a hold.
 */


#include "ngx_http_evently_holds.h"
#include "ngx_http_evently_redis.h"
#include "ngx_http_evently_pg.h"


#define NGX_HTTP_EVENTLY_CONFIRM_GRACE   "15000"   /* ms */
#define NGX_HTTP_EVENTLY_BOOKED_MARKER   "60000"   /* ms */


static ngx_int_t ngx_http_evently_booking_confirm(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static void ngx_http_evently_confirm_begun(void *data, redisReply *reply);
static ngx_int_t ngx_http_evently_confirm_booked(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, PGresult *res);
static void ngx_http_evently_confirm_consumed(void *data,
    redisReply *reply);


static const char  *ngx_http_evently_payment_methods[] = {
    "card", "credit_card", "debit_card", "upi", "netbanking", "wallet",
    "mock", NULL
};


static ngx_http_evently_field_t  ngx_http_evently_confirm_fields[] = {
    { "hold_id", NGX_HTTP_EVENTLY_UUID, NGX_HTTP_EVENTLY_REQUIRED,
      0, 0, NULL, NULL },
    { "event_id", NGX_HTTP_EVENTLY_UUID, NGX_HTTP_EVENTLY_REQUIRED,
      0, 0, NULL, NULL },
    { "payment_method", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_LOWER,
      0, 0, ngx_http_evently_payment_methods, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static ngx_http_evently_field_t  ngx_http_evently_user_bookings_query[] = {
    { "limit", NGX_HTTP_EVENTLY_INT, 0, 1, 100, NULL, NULL },
    { "offset", NGX_HTTP_EVENTLY_INT, 0, 0, 1000000, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static const char  *ngx_http_evently_booking_statuses[] = {
    "CONFIRMED", "CANCELLED", NULL
};


static ngx_http_evently_field_t  ngx_http_evently_admin_bookings_query[] = {
    { "event_id", NGX_HTTP_EVENTLY_UUID, 0, 0, 0, NULL, NULL },
    { "user_id", NGX_HTTP_EVENTLY_UUID, 0, 0, 0, NULL, NULL },
    { "status", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_UPPER, 0, 0,
      ngx_http_evently_booking_statuses, NULL },
    { "page", NGX_HTTP_EVENTLY_INT, 0, 1, 1000000, NULL, NULL },
    { "limit", NGX_HTTP_EVENTLY_INT, 0, 1, 100, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static ngx_http_evently_field_t  ngx_http_evently_page_query[] = {
    { "status", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_UPPER, 0, 0,
      ngx_http_evently_booking_statuses, NULL },
    { "page", NGX_HTTP_EVENTLY_INT, 0, 1, 1000000, NULL, NULL },
    { "limit", NGX_HTTP_EVENTLY_INT, 0, 1, 100, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


ngx_http_evently_op_t  ngx_http_evently_bookings_ops[] = {

    { ngx_string("booking_confirm"), ngx_http_evently_booking_confirm,
      ngx_http_evently_confirm_fields, NULL, NGX_HTTP_EVENTLY_OP_BODY,
      NGX_HTTP_CREATED, ngx_string("Booking confirmed successfully"),
      NGX_HTTP_EVENTLY_API_SQL(booking_confirm) },

    { ngx_string("booking_get"), NULL, NULL, NULL, NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Booking retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(booking_get) },

    { ngx_string("user_bookings"), NULL, NULL,
      ngx_http_evently_user_bookings_query, 0,
      NGX_HTTP_OK, ngx_string("Bookings retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(user_bookings) },

    { ngx_string("admin_bookings"), NULL, NULL,
      ngx_http_evently_admin_bookings_query, 0,
      NGX_HTTP_OK, ngx_string("Bookings retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(admin_bookings) },

    { ngx_string("admin_booking_get"), NULL, NULL, NULL,
      NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Booking retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(admin_booking_get) },

    { ngx_string("admin_event_bookings"), NULL, NULL,
      ngx_http_evently_page_query, NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Bookings retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(admin_event_bookings) },

    { ngx_null_string, NULL, NULL, NULL, 0, 0, ngx_null_string,
      NGX_HTTP_EVENTLY_NO_SQL }
};


/*
 * KEYS: hold; ARGV: hold id, user id, event id, grace ms.
 * OK with the seat ids, or why not.
 */

static ngx_http_evently_redis_script_t  ngx_http_evently_confirm_script = {
    ngx_string("confirm_begin"),
    ngx_string(
    "local h = redis.call('HMGET', KEYS[1], 'user_id', 'event_id',"
    " 'seat_ids')\n"
    "if not h[1] then\n"
    "  return {'MISSING'}\n"
    "end\n"
    "if h[1] ~= ARGV[2] then\n"
    "  return {'FORBIDDEN'}\n"
    "end\n"
    "if h[2] ~= ARGV[3] then\n"
    "  return {'EVENT_MISMATCH'}\n"
    "end\n"
    "local pttl = redis.call('PTTL', KEYS[1])\n"
    "if pttl <= 0 then\n"
    "  return {'MISSING'}\n"
    "end\n"
    "local keys = {}\n"
    "for seat in string.gmatch(h[3], '[^,]+') do\n"
    "  local k = 'evently:seat:' .. h[2] .. ':' .. seat\n"
    "  if redis.call('GET', k) ~= ARGV[1] then\n"
    "    return {'MISSING'}\n"
    "  end\n"
    "  keys[#keys + 1] = k\n"
    "end\n"
    "local grace = tonumber(ARGV[4])\n"
    "if pttl < grace then\n"
    "  redis.call('PEXPIRE', KEYS[1], grace)\n"
    "  for _, k in ipairs(keys) do\n"
    "    redis.call('PEXPIRE', k, grace)\n"
    "  end\n"
    "end\n"
    "return {'OK', h[3]}\n"),
    "", 0
};


/* KEYS: hold; ARGV: hold id, booking id, marker ms */

static ngx_http_evently_redis_script_t  ngx_http_evently_consume_script = {
    ngx_string("confirm_end"),
    ngx_string(
    "local h = redis.call('HMGET', KEYS[1], 'user_id', 'event_id',"
    " 'seat_ids')\n"
    "if not h[1] then\n"
    "  return 0\n"
    "end\n"
    "local held = 'evently:event_held:' .. h[2]\n"
    "for seat in string.gmatch(h[3], '[^,]+') do\n"
    "  local k = 'evently:seat:' .. h[2] .. ':' .. seat\n"
    "  if redis.call('GET', k) == ARGV[1] then\n"
    "    redis.call('SET', k, 'booked:' .. ARGV[2], 'PX',"
    " tonumber(ARGV[3]))\n"
    "    redis.call('ZREM', held, seat)\n"
    "  end\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('ZREM', 'evently:user_holds:' .. h[1], ARGV[1])\n"
    "return 1\n"),
    "", 0
};


static ngx_int_t
ngx_http_evently_booking_confirm(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    u_char                        *key;
    size_t                         argvlen[5];
    const char                    *argv[5];
    ngx_http_evently_redis_cmd_t  *cmd;

    argv[1] = json_string_value(json_object_get(ctx->args, "hold_id"));
    argv[3] = json_string_value(json_object_get(ctx->args, "event_id"));

    key = ngx_pnalloc(r->pool, sizeof("evently:hold:")
                               + NGX_HTTP_EVENTLY_UUID_LEN);
    if (key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = (char *) key;
    argvlen[0] = ngx_sprintf(key, "evently:hold:%s", argv[1]) - key;
    argvlen[1] = ngx_strlen(argv[1]);
    argv[2] = (char *) ctx->user->id.data;
    argvlen[2] = ctx->user->id.len;
    argvlen[3] = ngx_strlen(argv[3]);
    argv[4] = NGX_HTTP_EVENTLY_CONFIRM_GRACE;
    argvlen[4] = sizeof(NGX_HTTP_EVENTLY_CONFIRM_GRACE) - 1;

    cmd = ngx_http_evently_redis_eval(r->pool, r->connection->log,
                                      ngx_http_evently_confirm_begun, r,
                                      &ngx_http_evently_confirm_script,
                                      1, 5, argv, argvlen);
    if (cmd == NULL) {
        return ngx_http_evently_send_unavailable(r, "REDIS_UNAVAILABLE",
                                                 "Seat holds are "
                                                 "unavailable right now, "
                                                 "retry shortly");
    }

    ctx->pending = cmd;

    return ngx_http_evently_suspend(r);
}


static void
ngx_http_evently_confirm_begun(void *data, redisReply *reply)
{
    ngx_http_request_t *r = data;

    json_t                  *seats;
    ngx_int_t                rc;
    ngx_http_evently_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    ctx->pending = NULL;

    if (ngx_http_evently_hold_reply_is(reply, "FORBIDDEN")) {
        rc = ngx_http_evently_send_error(r, NGX_HTTP_FORBIDDEN, "FORBIDDEN",
                                         "This hold belongs to another "
                                         "user", NULL, 0);
        goto done;
    }

    if (ngx_http_evently_hold_reply_is(reply, "EVENT_MISMATCH")) {
        rc = ngx_http_evently_send_error(r, NGX_HTTP_BAD_REQUEST,
                                         "HOLD_EVENT_MISMATCH",
                                         "The hold is for another event",
                                         NULL, 0);
        goto done;
    }

    if (ngx_http_evently_hold_reply_is(reply, "MISSING")) {
        /* maybe already booked from this hold: SQL answers either way */
        rc = json_object_set_new(ctx->args, "hold_missing", json_true())
             ? NGX_HTTP_INTERNAL_SERVER_ERROR
             : ngx_http_evently_sql_call(r, ctx, &ctx->op->stmt, NULL);
        goto done;
    }

    if (!ngx_http_evently_hold_reply_is(reply, "OK") || reply->elements < 2) {
        rc = ngx_http_evently_send_unavailable(r, "REDIS_UNAVAILABLE",
                                               "Seat holds are unavailable "
                                               "right now, retry shortly");
        goto done;
    }

    seats = ngx_http_evently_hold_seat_list(reply->element[1]);

    if (seats == NULL || json_object_set_new(ctx->args, "seat_ids", seats)) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    rc = ngx_http_evently_sql_call(r, ctx, &ctx->op->stmt,
                                   ngx_http_evently_confirm_booked);

done:

    ngx_http_evently_resume(r, rc);
}


/* booked: consume the hold before answering, unless it was a replay */

static ngx_int_t
ngx_http_evently_confirm_booked(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, PGresult *res)
{
    u_char                        *key;
    json_t                        *data;
    size_t                         argvlen[4];
    const char                    *argv[4], *booking_id;
    ngx_http_evently_redis_cmd_t  *cmd;

    if (!PQgetisnull(res, 0, 1)
        || ngx_http_evently_sql_status(ctx, res) != NGX_HTTP_CREATED)
    {
        return ngx_http_evently_sql_reply(r, ctx, res);
    }

    /* the answer is kept (PGresult dies with this callback) */

    if (ngx_http_evently_sql_keep(r, ctx, res) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    data = ngx_http_evently_pool_json(r->pool,
                                      json_loadb((char *) ctx->kept.data,
                                                 ctx->kept.len, 0, NULL));
    booking_id = json_string_value(json_object_get(data, "booking_id"));
    argv[1] = json_string_value(json_object_get(ctx->args, "hold_id"));

    key = ngx_pnalloc(r->pool, sizeof("evently:hold:")
                               + NGX_HTTP_EVENTLY_UUID_LEN);

    if (booking_id == NULL || argv[1] == NULL || key == NULL) {
        return ngx_http_evently_send_kept(r, ctx);
    }

    argv[0] = (char *) key;
    argvlen[0] = ngx_sprintf(key, "evently:hold:%s", argv[1]) - key;
    argvlen[1] = ngx_strlen(argv[1]);
    argv[2] = booking_id;
    argvlen[2] = ngx_strlen(booking_id);
    argv[3] = NGX_HTTP_EVENTLY_BOOKED_MARKER;
    argvlen[3] = sizeof(NGX_HTTP_EVENTLY_BOOKED_MARKER) - 1;

    cmd = ngx_http_evently_redis_eval(r->pool, r->connection->log,
                                      ngx_http_evently_confirm_consumed, r,
                                      &ngx_http_evently_consume_script,
                                      1, 4, argv, argvlen);
    if (cmd == NULL) {
        /* booked all the same: the hold just runs out by its TTL */
        return ngx_http_evently_send_kept(r, ctx);
    }

    ctx->pending = cmd;

    return ngx_http_evently_suspend(r);
}


static void
ngx_http_evently_confirm_consumed(void *data, redisReply *reply)
{
    ngx_http_request_t *r = data;

    ngx_http_evently_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    ctx->pending = NULL;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "evently: a booked hold was not consumed, "
                      "it expires by its TTL");
    }

    ngx_http_evently_resume(r, ngx_http_evently_send_kept(r, ctx));
}
