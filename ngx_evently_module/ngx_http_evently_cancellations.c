
/*
 * Copyright (C) Evently
 *
 * Cancellation policies and cancellations.  Everything but one step is
 * SQL (sql/functions/70_cancellations.sql).
 *
 * A booking's cancellation (request-cancel and cancel, one path: the same
 * SQL function, evently.api_booking_cancel) is two steps:
 *
 *   1. PostgreSQL, one transaction in one round trip: booking CANCELLED,
 *      its seats inactive, the cancellation row, the payment refunded,
 *      the outbox events, and the waitlist hook.
 *   2. Redis, best effort: after a confirmation the seat keys say
 *      "booked:<booking>" for a minute (ngx_http_evently_bookings.c),
 *      which would refuse a hold on the freed seats until then.  Exactly
 *      the keys that still name this booking are deleted, so the seats
 *      can be held again at once.  When Redis is down the markers simply
 *      expire; the cancellation stands either way.
 */


#include "ngx_http_evently_module.h"
#include "ngx_http_evently_redis.h"
#include "ngx_http_evently_pg.h"


#define NGX_HTTP_EVENTLY_CANCEL_MAX_SEATS  1000


static ngx_int_t ngx_http_evently_booking_cancel(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static ngx_int_t ngx_http_evently_booking_cancelled(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, PGresult *res);
static ngx_int_t ngx_http_evently_cancel_unmark(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, json_t *freed);
static void ngx_http_evently_cancel_unmarked(void *data, redisReply *reply);


static const char  *ngx_http_evently_fee_types[] = {
    "NONE", "FIXED", "PERCENTAGE", NULL
};


/* POST and PUT (a full replace): the same fields */

static ngx_http_evently_field_t  ngx_http_evently_policy_fields[] = {
    { "allow_cancellation", NGX_HTTP_EVENTLY_BOOL,
      NGX_HTTP_EVENTLY_REQUIRED, 0, 0, NULL, NULL },
    { "cancellation_deadline", NGX_HTTP_EVENTLY_DATETIME,
      NGX_HTTP_EVENTLY_NULLABLE, 0, 0, NULL, NULL },
    { "fee_type", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_UPPER,
      0, 0, ngx_http_evently_fee_types, NULL },
    { "fee_amount", NGX_HTTP_EVENTLY_MONEY, 0,
      0, 9999999999.99, NULL, NULL },
    { "refund_processing_days", NGX_HTTP_EVENTLY_INT, 0,
      0, 30, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static ngx_http_evently_field_t  ngx_http_evently_request_cancel_fields[] = {
    { "reason", NGX_HTTP_EVENTLY_STRING, NGX_HTTP_EVENTLY_REQUIRED,
      1, 500, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


/* POST /bookings/{id}/cancel: the body and its reason are optional */

static ngx_http_evently_field_t  ngx_http_evently_cancel_fields[] = {
    { "reason", NGX_HTTP_EVENTLY_STRING, NGX_HTTP_EVENTLY_NULLABLE,
      0, 500, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static ngx_http_evently_field_t  ngx_http_evently_cancellations_query[] = {
    { "limit", NGX_HTTP_EVENTLY_INT, 0, 1, 100, NULL, NULL },
    { "offset", NGX_HTTP_EVENTLY_INT, 0, 0, 1000000, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


ngx_http_evently_op_t  ngx_http_evently_cancellations_ops[] = {

    { ngx_string("cancellation_policy_create"), NULL,
      ngx_http_evently_policy_fields, NULL,
      NGX_HTTP_EVENTLY_OP_BODY | NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_CREATED,
      ngx_string("Cancellation policy created successfully"),
      NGX_HTTP_EVENTLY_API_SQL(cancellation_policy_create) },

    { ngx_string("cancellation_policy_get"), NULL, NULL, NULL,
      NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK,
      ngx_string("Cancellation policy retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(cancellation_policy_get) },

    { ngx_string("cancellation_policy_update"), NULL,
      ngx_http_evently_policy_fields, NULL,
      NGX_HTTP_EVENTLY_OP_BODY | NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK,
      ngx_string("Cancellation policy updated successfully"),
      NGX_HTTP_EVENTLY_API_SQL(cancellation_policy_update) },

    { ngx_string("event_cancellation_policy"), NULL, NULL, NULL,
      NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK,
      ngx_string("Cancellation policy retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(event_cancellation_policy) },

    { ngx_string("booking_request_cancel"), ngx_http_evently_booking_cancel,
      ngx_http_evently_request_cancel_fields, NULL,
      NGX_HTTP_EVENTLY_OP_BODY | NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_CREATED, ngx_string("Booking cancelled successfully"),
      NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_string("booking_cancel"), ngx_http_evently_booking_cancel,
      ngx_http_evently_cancel_fields, NULL,
      NGX_HTTP_EVENTLY_OP_BODY | NGX_HTTP_EVENTLY_OP_BODY_OPT
      | NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_CREATED, ngx_string("Booking cancelled successfully"),
      NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_string("cancellation_get"), NULL, NULL, NULL,
      NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Cancellation retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(cancellation_get) },

    { ngx_string("user_cancellations"), NULL, NULL,
      ngx_http_evently_cancellations_query, 0,
      NGX_HTTP_OK, ngx_string("Cancellations retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(user_cancellations) },

    { ngx_null_string, NULL, NULL, NULL, 0, 0, ngx_null_string,
      NGX_HTTP_EVENTLY_NO_SQL }
};


/*
 * Both cancel routes share this call of evently.api_booking_cancel.  Its
 * data is {"cancellation":{...},"freed":{...}}: the statement splits it,
 * the cancellation (as PostgreSQL wrote it: exact money) in the data
 * column, "freed" in the fifth column, which is no ETag here.  An error
 * row passes through unchanged.
 */

static ngx_http_evently_stmt_t  ngx_http_evently_cancel_stmt = {
    ngx_string("evently_api_booking_cancel"),
    ngx_string("SELECT r.status, r.code, r.message,"
               " CASE WHEN r.code IS NULL"
               " THEN r.data -> 'cancellation' ELSE r.data END,"
               " CASE WHEN r.code IS NULL"
               " THEN (r.data -> 'freed')::text END"
               " FROM evently.api_booking_cancel"
               "($1::uuid, $2::text, $3::uuid, $4::json) r"),
    4, 0
};


/*
 * KEYS: the freed seats' keys; ARGV: "booked:<booking>".  Only a marker
 * of this very booking is removed: a key that holds anything else (a new
 * hold, another booking's marker) is somebody else's.
 */

static ngx_http_evently_redis_script_t  ngx_http_evently_unmark_script = {
    ngx_string("cancel_unmark"),
    ngx_string(
    "local n = 0\n"
    "for _, k in ipairs(KEYS) do\n"
    "  if redis.call('GET', k) == ARGV[1] then\n"
    "    redis.call('DEL', k)\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "return n\n"),
    "", 0
};


static ngx_int_t
ngx_http_evently_booking_cancel(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    return ngx_http_evently_sql_call(r, ctx, &ngx_http_evently_cancel_stmt,
                                     ngx_http_evently_booking_cancelled);
}


/* cancelled and committed: free the seats' markers, then answer */

static ngx_int_t
ngx_http_evently_booking_cancelled(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, PGresult *res)
{
    json_t  *freed;

    if (!PQgetisnull(res, 0, 1) || PQgetisnull(res, 0, 3)) {
        return ngx_http_evently_sql_reply(r, ctx, res);
    }

    /* the answer is kept: the PGresult dies with this callback */

    if (ngx_http_evently_sql_keep(r, ctx, res) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    freed = NULL;

    if (!PQgetisnull(res, 0, 4)) {
        freed = ngx_http_evently_pool_json(r->pool,
                            json_loadb(PQgetvalue(res, 0, 4),
                                       PQgetlength(res, 0, 4), 0, NULL));
    }

    if (freed == NULL) {
        return ngx_http_evently_send_kept(r, ctx);
    }

    /*
     * THE HOOK of the waitlist, C side.  evently.waitlist_seats_freed()
     * ran in the cancellation's transaction; once the waitlist reserves
     * freed seats for the head of the line (a hold in Redis), that hold
     * must take these keys here, in the same script that drops the
     * markers, or somebody else could hold the seats in between.
     */

    return ngx_http_evently_cancel_unmark(r, ctx, freed);
}


static ngx_int_t
ngx_http_evently_cancel_unmark(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, json_t *freed)
{
    int                            argc, i, n;
    u_char                        *p;
    size_t                        *argvlen;
    json_t                        *seats;
    const char                   **argv, *event_id, *booking_id, *seat;
    ngx_http_evently_redis_cmd_t  *cmd;

    event_id = json_string_value(json_object_get(freed, "event_id"));
    booking_id = json_string_value(json_object_get(freed, "booking_id"));
    seats = json_object_get(freed, "seat_ids");

    n = (int) json_array_size(seats);

    if (event_id == NULL || booking_id == NULL || n == 0
        || n > NGX_HTTP_EVENTLY_CANCEL_MAX_SEATS
        || ngx_strlen(event_id) != NGX_HTTP_EVENTLY_UUID_LEN
        || ngx_strlen(booking_id) != NGX_HTTP_EVENTLY_UUID_LEN)
    {
        return ngx_http_evently_send_kept(r, ctx);
    }

    argc = n + 1;

    argv = ngx_palloc(r->pool, argc * sizeof(char *));
    argvlen = ngx_palloc(r->pool, argc * sizeof(size_t));
    p = ngx_pnalloc(r->pool,
                    n * (sizeof("evently:seat::") - 1
                         + 2 * NGX_HTTP_EVENTLY_UUID_LEN)
                    + sizeof("booked:") - 1 + NGX_HTTP_EVENTLY_UUID_LEN);

    if (argv == NULL || argvlen == NULL || p == NULL) {
        return ngx_http_evently_send_kept(r, ctx);
    }

    for (i = 0; i < n; i++) {
        seat = json_string_value(json_array_get(seats, i));

        if (seat == NULL || ngx_strlen(seat) != NGX_HTTP_EVENTLY_UUID_LEN) {
            return ngx_http_evently_send_kept(r, ctx);
        }

        argv[i] = (char *) p;
        p = ngx_sprintf(p, "evently:seat:%s:%s", event_id, seat);
        argvlen[i] = p - (u_char *) argv[i];
    }

    argv[n] = (char *) p;
    p = ngx_sprintf(p, "booked:%s", booking_id);
    argvlen[n] = p - (u_char *) argv[n];

    cmd = ngx_http_evently_redis_eval(r->pool, r->connection->log,
                                      ngx_http_evently_cancel_unmarked, r,
                                      &ngx_http_evently_unmark_script,
                                      n, argc, argv, argvlen);
    if (cmd == NULL) {
        /* Redis is down: the markers expire by themselves */
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "evently: the seats of a cancelled booking stay "
                      "marked booked until their markers expire");

        return ngx_http_evently_send_kept(r, ctx);
    }

    ctx->pending = cmd;

    return ngx_http_evently_suspend(r);
}


static void
ngx_http_evently_cancel_unmarked(void *data, redisReply *reply)
{
    ngx_http_request_t *r = data;

    ngx_http_evently_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    ctx->pending = NULL;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "evently: the seats of a cancelled booking stay "
                      "marked booked until their markers expire");
    }

    ngx_http_evently_resume(r, ngx_http_evently_send_kept(r, ctx));
}
