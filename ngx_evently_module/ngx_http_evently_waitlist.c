
/*
 * Copyright (C) Evently
 *
 * The waitlist.  PostgreSQL decides every offer, in one function run
 * under a per-event lock (evently.waitlist_round, see
 * sql/functions/80_waitlist.sql for the rules); this file turns a
 * round's outcome into Redis holds in the layout of
 * ngx_http_evently_holds.h:
 *
 *   1. Redis: the seats held now (args._held);
 *   2. PostgreSQL: the change and the round, one transaction;
 *   3. Redis: the holds of withdrawn or expired offers deleted, then a
 *      hold created for each new offer, with the offer's id, for its
 *      user, for the rest of its window -- so that the normal
 *      POST /bookings/confirm books it (the per-user cap of live holds
 *      never refuses an offer);
 *   4. PostgreSQL: the holds that now exist are reported.
 *
 * Leave and the admin notify/cancellation endpoints do this within the
 * request.  A per-worker sweeper does it about every second for the
 * events PostgreSQL queues (joins, offers expired, seats freed by a
 * cancellation, offers whose hold Redis refused, people waiting while
 * seats are held), so the line moves without anyone calling an endpoint;
 * a join kicks the sweeper of its worker at once.
 * Workers and nginx instances claim different events (a lease taken with
 * FOR UPDATE SKIP LOCKED) and the per-event lock keeps two rounds of one
 * event apart, so a seat is never offered twice.
 *
 * A hold Redis refuses (a seat held in between by somebody who passed the
 * hold check before the offer existed) leaves the offer in PostgreSQL,
 * which keeps its seats from everybody else; the sweeper tries again
 * every second until the seat is free, or takes the offer back if the
 * seat was sold.  The offer script is idempotent, so a retry never hurts.
 */


#include "ngx_http_evently_holds.h"
#include "ngx_http_evently_redis.h"
#include "ngx_http_evently_pg.h"
#include "ngx_http_evently_kafka.h"


#define NGX_HTTP_EVENTLY_WAITLIST_INTERVAL     1000   /* ms between sweeps */
#define NGX_HTTP_EVENTLY_WAITLIST_BATCH        16     /* events per sweep */
#define NGX_HTTP_EVENTLY_WAITLIST_LEASE        "10"   /* s a claim lasts */
#define NGX_HTTP_EVENTLY_WAITLIST_PREFS_MAX    4096   /* bytes, serialised */
#define NGX_HTTP_EVENTLY_WAITLIST_PREFS_DEPTH  8
#define NGX_HTTP_EVENTLY_WAITLIST_MAX_SEATS    64     /* per offer, sanity */
#define NGX_HTTP_EVENTLY_WAITLIST_MAX_STALE    64
#define NGX_HTTP_EVENTLY_WAITLIST_MIN_TTL      1000   /* ms left to bother */


typedef void (*ngx_http_evently_waitlist_done_pt)(void *data);


/* step 3 and 4 of a round: Redis holds, then their report */

typedef struct {
    ngx_pool_t                          *pool;
    ngx_log_t                           *log;
    json_t                              *offers;      /* to place */
    json_t                              *placed;      /* hold ids */
    ngx_uint_t                           outstanding;
    ngx_http_evently_waitlist_done_pt    done;
    void                                *data;
    unsigned                             placing:1;
} ngx_http_evently_waitlist_apply_t;


typedef struct {
    ngx_http_evently_waitlist_apply_t   *apply;
    u_char                               hold_id[NGX_HTTP_EVENTLY_UUID_LEN
                                                 + 1];
} ngx_http_evently_waitlist_place_t;


/* an endpoint's answer, kept while Redis works */

typedef struct {
    ngx_uint_t                           status;
    ngx_str_t                            message;
    ngx_str_t                            body;
    ngx_http_evently_waitlist_apply_t    apply;
} ngx_http_evently_waitlist_reply_t;


typedef struct ngx_http_evently_waitlist_sweeper_s
    ngx_http_evently_waitlist_sweeper_t;


/* one sweep: everything it allocates lives and dies with its pool */

typedef struct {
    ngx_http_evently_waitlist_sweeper_t *sw;
    ngx_pool_t                          *pool;
    ngx_str_t                            events;      /* "{id,id}" */
    ngx_http_evently_waitlist_apply_t    apply;
    unsigned                             full:1;
} ngx_http_evently_waitlist_round_t;


struct ngx_http_evently_waitlist_sweeper_s {
    ngx_http_evently_main_conf_t        *mcf;
    ngx_log_t                           *log;
    ngx_event_t                          timer;
    ngx_http_evently_waitlist_round_t   *round;      /* in progress */
    u_char                               ttl[NGX_INT_T_LEN + 1];
    unsigned                             again:1;    /* kicked meanwhile */
    unsigned                             failing:1;  /* said so once */
};


static ngx_int_t ngx_http_evently_waitlist_join(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static ngx_int_t ngx_http_evently_waitlist_joined(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, PGresult *res);
static ngx_int_t ngx_http_evently_waitlist_offer_op(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static ngx_int_t ngx_http_evently_waitlist_prefs(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static ngx_uint_t ngx_http_evently_waitlist_depth(json_t *v,
    ngx_uint_t limit);
static ngx_int_t ngx_http_evently_waitlist_sql_done(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, PGresult *res);
static void ngx_http_evently_waitlist_op_applied(void *data);
static ngx_int_t ngx_http_evently_waitlist_send(ngx_http_request_t *r,
    ngx_http_evently_waitlist_reply_t *rp);

static ngx_int_t ngx_http_evently_waitlist_apply(
    ngx_http_evently_waitlist_apply_t *a, json_t *offers, json_t *release);
static ngx_int_t ngx_http_evently_waitlist_place_all(
    ngx_http_evently_waitlist_apply_t *a);
static ngx_int_t ngx_http_evently_waitlist_withdraw(
    ngx_http_evently_waitlist_apply_t *a, json_t *hold);
static ngx_int_t ngx_http_evently_waitlist_place(
    ngx_http_evently_waitlist_apply_t *a, json_t *offer);
static void ngx_http_evently_waitlist_withdrawn(void *data,
    redisReply *reply);
static void ngx_http_evently_waitlist_placed(void *data, redisReply *reply);
static void ngx_http_evently_waitlist_applied(
    ngx_http_evently_waitlist_apply_t *a);
static void ngx_http_evently_waitlist_marked(void *data, PGresult *res,
    ngx_int_t rc);

static void ngx_http_evently_waitlist_kick(void);
static void ngx_http_evently_waitlist_sweep(ngx_event_t *ev);
static void ngx_http_evently_waitlist_due_done(void *data, PGresult *res,
    ngx_int_t rc);
static void ngx_http_evently_waitlist_sweep_held(void *data,
    redisReply *reply);
static void ngx_http_evently_waitlist_sweep_done(void *data, PGresult *res,
    ngx_int_t rc);
static void ngx_http_evently_waitlist_round_applied(void *data);
static void ngx_http_evently_waitlist_finish(
    ngx_http_evently_waitlist_round_t *rd);
static void ngx_http_evently_waitlist_trouble(
    ngx_http_evently_waitlist_sweeper_t *sw, ngx_uint_t level,
    const char *what, PGresult *res);
static void ngx_http_evently_waitlist_recovered(
    ngx_http_evently_waitlist_sweeper_t *sw);


static ngx_http_evently_field_t  ngx_http_evently_waitlist_join_fields[] = {
    { "event_id", NGX_HTTP_EVENTLY_UUID, NGX_HTTP_EVENTLY_REQUIRED,
      0, 0, NULL, NULL },
    { "quantity", NGX_HTTP_EVENTLY_INT, NGX_HTTP_EVENTLY_REQUIRED,
      1, 10, NULL, NULL },
    { "preferences", NGX_HTTP_EVENTLY_OBJECT, NGX_HTTP_EVENTLY_NULLABLE,
      0, 0, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static ngx_http_evently_field_t  ngx_http_evently_waitlist_notify_fields[] = {
    { "available_tickets", NGX_HTTP_EVENTLY_INT, NGX_HTTP_EVENTLY_REQUIRED,
      1, 1000, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static ngx_http_evently_field_t  ngx_http_evently_waitlist_freed_fields[] = {
    { "freed_tickets", NGX_HTTP_EVENTLY_INT, NGX_HTTP_EVENTLY_REQUIRED,
      1, 1000, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static const char  *ngx_http_evently_waitlist_statuses[] = {
    "ACTIVE", "NOTIFIED", "CONVERTED", "EXPIRED", "CANCELLED", NULL
};


static ngx_http_evently_field_t  ngx_http_evently_waitlist_entries_query[] = {
    { "status", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_UPPER, 0, 0,
      ngx_http_evently_waitlist_statuses, NULL },
    { "page", NGX_HTTP_EVENTLY_INT, 0, 1, 1000000, NULL, NULL },
    { "limit", NGX_HTTP_EVENTLY_INT, 0, 1, 100, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


ngx_http_evently_op_t  ngx_http_evently_waitlist_ops[] = {

    { ngx_string("waitlist_join"), ngx_http_evently_waitlist_join,
      ngx_http_evently_waitlist_join_fields, NULL, NGX_HTTP_EVENTLY_OP_BODY,
      NGX_HTTP_CREATED, ngx_string("Joined the waitlist successfully"),
      NGX_HTTP_EVENTLY_API_SQL(waitlist_join) },

    { ngx_string("waitlist_leave"), ngx_http_evently_waitlist_offer_op,
      NULL, NULL, NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Left the waitlist successfully"),
      NGX_HTTP_EVENTLY_API_SQL(waitlist_leave) },

    { ngx_string("waitlist_status"), NULL, NULL, NULL,
      NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Waitlist status retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(waitlist_status) },

    { ngx_string("admin_waitlist_entries"), NULL, NULL,
      ngx_http_evently_waitlist_entries_query, NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Waitlist entries retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(admin_waitlist_entries) },

    { ngx_string("admin_waitlist_stats"), NULL, NULL, NULL,
      NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Waitlist statistics retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(admin_waitlist_stats) },

    { ngx_string("admin_waitlist_notify"), ngx_http_evently_waitlist_offer_op,
      ngx_http_evently_waitlist_notify_fields, NULL,
      NGX_HTTP_EVENTLY_OP_BODY|NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Waitlist notified successfully"),
      NGX_HTTP_EVENTLY_API_SQL(admin_waitlist_notify) },

    { ngx_string("admin_waitlist_cancellation"),
      ngx_http_evently_waitlist_offer_op,
      ngx_http_evently_waitlist_freed_fields, NULL,
      NGX_HTTP_EVENTLY_OP_BODY|NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Freed seats offered to the waitlist"),
      NGX_HTTP_EVENTLY_API_SQL(admin_waitlist_cancellation) },

    { ngx_null_string, NULL, NULL, NULL, 0, 0, ngx_null_string,
      NGX_HTTP_EVENTLY_NO_SQL }
};


static ngx_http_evently_stmt_t  ngx_http_evently_waitlist_due_stmt = {
    ngx_string("evently_waitlist_due"),
    ngx_string("SELECT evently.waitlist_due($1::int, "
               NGX_HTTP_EVENTLY_WAITLIST_LEASE ")"),
    1, 0
};


static ngx_http_evently_stmt_t  ngx_http_evently_waitlist_sweep_stmt = {
    ngx_string("evently_waitlist_sweep"),
    ngx_string("SELECT evently.waitlist_sweep($1::uuid[], $2::json,"
               " $3::int)"),
    3, 0
};


static ngx_http_evently_stmt_t  ngx_http_evently_waitlist_placed_stmt = {
    ngx_string("evently_waitlist_placed"),
    ngx_string("SELECT evently.waitlist_offers_placed($1::uuid[])"),
    1, 0
};


/*
 * An offer's hold, in the layout of the hold script of
 * ngx_http_evently_holds.c but without its cap on live holds: PostgreSQL
 * already decided, Redis only must not give a seat to two holds.
 *
 * KEYS: hold, user_holds, event_held, held_events, seat keys...
 * ARGV: hold id, user id, event id, ttl ms, seats JSON, total price,
 *       n, n stale seat values ("booked:<cancelled booking>", which do
 *       not refuse the seat), seat ids... (in the order of the seat keys)
 * {'OK', expiry} (also when the hold exists: a retry), {'TAKEN', seat...}
 * or {'EXPIRED'}.
 */

static ngx_http_evently_redis_script_t  ngx_http_evently_waitlist_offer_script
    = {
    ngx_string("waitlist_offer"),
    ngx_string(
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local function touch(k)\n"
    "  local top = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')\n"
    "  if top[2] then\n"
    "    redis.call('PEXPIREAT', k, math.floor(tonumber(top[2])) + 1000)\n"
    "  end\n"
    "end\n"
    "local ttl = tonumber(ARGV[4])\n"
    "if ttl <= 0 then\n"
    "  return {'EXPIRED'}\n"
    "end\n"
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  return {'OK', redis.call('HGET', KEYS[1], 'expires') or ''}\n"
    "end\n"
    "local nstale = tonumber(ARGV[7])\n"
    "local stale = {}\n"
    "for i = 1, nstale do\n"
    "  stale[ARGV[7 + i]] = true\n"
    "end\n"
    "local first = 8 + nstale - 5\n"
    "local taken = {'TAKEN'}\n"
    "for i = 5, #KEYS do\n"
    "  local v = redis.call('GET', KEYS[i])\n"
    "  if v and v ~= ARGV[1] and not stale[v] then\n"
    "    taken[#taken + 1] = ARGV[first + i]\n"
    "  end\n"
    "end\n"
    "if #taken > 1 then\n"
    "  return taken\n"
    "end\n"
    "local exp = now + ttl\n"
    "local ids = {}\n"
    "for i = 5, #KEYS do\n"
    "  redis.call('SET', KEYS[i], ARGV[1], 'PX', ttl)\n"
    "  redis.call('ZADD', KEYS[3], exp, ARGV[first + i])\n"
    "  ids[#ids + 1] = ARGV[first + i]\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'user_id', ARGV[2], 'event_id', ARGV[3],\n"
    "           'seat_ids', table.concat(ids, ','), 'seats', ARGV[5],\n"
    "           'total_price', ARGV[6], 'expires', exp)\n"
    "redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "redis.call('ZADD', KEYS[2], exp, ARGV[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)\n"
    "redis.call('ZADD', KEYS[4], 'GT', exp, ARGV[3])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)\n"
    "touch(KEYS[2])\n"
    "touch(KEYS[3])\n"
    "touch(KEYS[4])\n"
    "return {'OK', tostring(exp)}\n"),
    "", 0
};


/*
 * KEYS: hold; ARGV: hold id.  An offer withdrawn, expired or taken back:
 * its hold goes, and exactly the seat keys that still name it.
 */

static ngx_http_evently_redis_script_t
    ngx_http_evently_waitlist_withdraw_script = {
    ngx_string("waitlist_withdraw"),
    ngx_string(
    "local h = redis.call('HMGET', KEYS[1], 'user_id', 'event_id',"
    " 'seat_ids')\n"
    "if not h[1] then\n"
    "  return {'MISSING'}\n"
    "end\n"
    "local held = 'evently:event_held:' .. h[2]\n"
    "for seat in string.gmatch(h[3], '[^,]+') do\n"
    "  local k = 'evently:seat:' .. h[2] .. ':' .. seat\n"
    "  if redis.call('GET', k) == ARGV[1] then\n"
    "    redis.call('DEL', k)\n"
    "    redis.call('ZREM', held, seat)\n"
    "  end\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('ZREM', 'evently:user_holds:' .. h[1], ARGV[1])\n"
    "return {'OK'}\n"),
    "", 0
};


static ngx_http_evently_waitlist_sweeper_t  *ngx_http_evently_waitlist_sweeper;


/*
 * POST /waitlist: the entry, and the event queued for a round, which the
 * sweeper of this worker makes at once (seats may be free right now).
 */

static ngx_int_t
ngx_http_evently_waitlist_join(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_evently_waitlist_prefs(r, ctx);

    if (rc != NGX_OK || r->header_sent) {
        return rc;
    }

    return ngx_http_evently_sql_call(r, ctx, &ctx->op->stmt,
                                     ngx_http_evently_waitlist_joined);
}


static ngx_int_t
ngx_http_evently_waitlist_joined(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, PGresult *res)
{
    if (PQgetisnull(res, 0, 1)) {
        ngx_http_evently_waitlist_kick();
    }

    return ngx_http_evently_sql_reply(r, ctx, res);
}


/*
 * Leave, notify, cancellation: the held seats of the event first, so
 * that the round in PostgreSQL offers only seats nobody holds.
 */

static ngx_int_t
ngx_http_evently_waitlist_offer_op(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    ngx_uint_t  required;

    if (json_object_set_new(ctx->args, "_offer_ttl",
                            json_integer((json_int_t)
                                         ctx->mcf->waitlist_offer_ttl)))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * The admin endpoints exist to make offers now: without Redis they
     * answer 503.  Leave goes on without offers; the sweeper makes them
     * once Redis answers again.
     */

    required = (ctx->op->body == ngx_http_evently_waitlist_notify_fields
                || ctx->op->body == ngx_http_evently_waitlist_freed_fields);

    return ngx_http_evently_sql_with_holds(r, ctx, &ctx->id,
                                           ngx_http_evently_waitlist_sql_done,
                                           required);
}


/* preferences: at most 4 KiB serialised, 8 levels deep (jsonb must take it) */

static ngx_int_t
ngx_http_evently_waitlist_prefs(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    json_t      *prefs, *extra;
    size_t       len;
    ngx_int_t    rc;
    const char  *error;

    prefs = json_object_get(ctx->args, "preferences");

    if (prefs == NULL || !json_is_object(prefs)) {
        return NGX_OK;
    }

    error = NULL;

    if (ngx_http_evently_waitlist_depth(prefs,
                                        NGX_HTTP_EVENTLY_WAITLIST_PREFS_DEPTH)
        > NGX_HTTP_EVENTLY_WAITLIST_PREFS_DEPTH)
    {
        error = "must be nested at most 8 levels deep";

    } else {
        len = json_dumpb(prefs, NULL, 0, JSON_COMPACT);

        if (len == 0 || len > NGX_HTTP_EVENTLY_WAITLIST_PREFS_MAX) {
            error = "must be at most 4096 bytes when serialised";
        }
    }

    if (error == NULL) {
        return NGX_OK;
    }

    extra = json_pack("{s{ss}}", "fields", "preferences", error);

    rc = ngx_http_evently_send_error_json(r, NGX_HTTP_BAD_REQUEST,
                                          "VALIDATION_FAILED",
                                          "Validation failed", extra);
    json_decref(extra);

    return rc;
}


/* nesting depth (a scalar is 0), not counted beyond limit + 1 */

static ngx_uint_t
ngx_http_evently_waitlist_depth(json_t *v, ngx_uint_t limit)
{
    size_t       i;
    json_t      *item;
    ngx_uint_t   d, max;
    const char  *key;

    if (!json_is_object(v) && !json_is_array(v)) {
        return 0;
    }

    if (limit == 0) {
        return 1;
    }

    max = 0;

    if (json_is_object(v)) {
        json_object_foreach(v, key, item) {
            d = ngx_http_evently_waitlist_depth(item, limit - 1);
            if (d > max) {
                max = d;
            }
        }

    } else {
        json_array_foreach(v, i, item) {
            d = ngx_http_evently_waitlist_depth(item, limit - 1);
            if (d > max) {
                max = d;
            }
        }
    }

    return max + 1;
}


/* data = {"payload": "<answer JSON>", "offers": [...], "release": [...]} */

static ngx_int_t
ngx_http_evently_waitlist_sql_done(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, PGresult *res)
{
    u_char                             *p;
    json_t                             *data;
    size_t                              len;
    ngx_int_t                           rc;
    const char                         *payload;
    ngx_http_evently_waitlist_reply_t  *rp;

    if (!PQgetisnull(res, 0, 1)) {
        return ngx_http_evently_sql_reply(r, ctx, res);
    }

    data = ngx_http_evently_pool_json(r->pool,
                   json_loadb(PQgetvalue(res, 0, 3), PQgetlength(res, 0, 3),
                              0, NULL));

    payload = json_string_value(json_object_get(data, "payload"));

    rp = ngx_pcalloc(r->pool, sizeof(ngx_http_evently_waitlist_reply_t));

    if (payload == NULL || rp == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the answer verbatim: exact money, key order of the SQL */

    len = ngx_strlen(payload);
    rp->body.data = ngx_pnalloc(r->pool, len);
    if (rp->body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(rp->body.data, payload, len);
    rp->body.len = len;

    rp->status = ngx_http_evently_sql_status(ctx, res);

    if (PQgetisnull(res, 0, 2)) {
        rp->message = ctx->op->message;

    } else {
        len = PQgetlength(res, 0, 2);
        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(p, PQgetvalue(res, 0, 2), len);
        rp->message.data = p;
        rp->message.len = len;
    }

    ctx->data = rp;

    /* offers and expiries wrote domain events and e-mails */

    ngx_http_evently_outbox_kick();

    rp->apply.pool = r->pool;
    rp->apply.log = r->connection->log;
    rp->apply.done = ngx_http_evently_waitlist_op_applied;
    rp->apply.data = r;

    rc = ngx_http_evently_waitlist_apply(&rp->apply,
                                         json_object_get(data, "offers"),
                                         json_object_get(data, "release"));

    if (rc == NGX_AGAIN) {
        return NGX_DONE;    /* still suspended: answered once applied */
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_evently_waitlist_send(r, rp);
}


static void
ngx_http_evently_waitlist_op_applied(void *data)
{
    ngx_http_request_t *r = data;

    ngx_http_evently_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);

    ngx_http_evently_resume(r, ngx_http_evently_waitlist_send(r, ctx->data));
}


static ngx_int_t
ngx_http_evently_waitlist_send(ngx_http_request_t *r,
    ngx_http_evently_waitlist_reply_t *rp)
{
    return ngx_http_evently_send_data(r, rp->status, &rp->message,
                                      rp->body.data, rp->body.len);
}


/*
 * Deletes the holds of "release", then creates those of "offers" (only
 * once the deletions have answered: a script that Redis no longer has
 * cached is sent again after its NOSCRIPT reply, behind what followed
 * it), then reports the created ones.  NGX_AGAIN: a->done is called once
 * all that is over; NGX_OK: nothing was sent, a->done is not called.
 */

static ngx_int_t
ngx_http_evently_waitlist_apply(ngx_http_evently_waitlist_apply_t *a,
    json_t *offers, json_t *release)
{
    size_t   i;
    json_t  *v;

    a->placed = ngx_http_evently_pool_json(a->pool, json_array());
    if (a->placed == NULL) {
        return NGX_ERROR;
    }

    a->offers = offers;
    a->outstanding = 0;
    a->placing = 0;

    json_array_foreach(release, i, v) {
        if (ngx_http_evently_waitlist_withdraw(a, v) == NGX_OK) {
            a->outstanding++;
        }
    }

    if (a->outstanding) {
        return NGX_AGAIN;
    }

    return ngx_http_evently_waitlist_place_all(a);
}


static ngx_int_t
ngx_http_evently_waitlist_place_all(ngx_http_evently_waitlist_apply_t *a)
{
    size_t   i;
    json_t  *v;

    a->placing = 1;

    json_array_foreach(a->offers, i, v) {
        if (ngx_http_evently_waitlist_place(a, v) == NGX_OK) {
            a->outstanding++;
        }
    }

    return a->outstanding ? NGX_AGAIN : NGX_OK;
}


static ngx_int_t
ngx_http_evently_waitlist_withdraw(ngx_http_evently_waitlist_apply_t *a,
    json_t *hold)
{
    u_char                        *key;
    size_t                         argvlen[2];
    const char                    *argv[2];
    ngx_http_evently_redis_cmd_t  *cmd;

    argv[1] = json_string_value(hold);

    if (argv[1] == NULL
        || !ngx_http_evently_is_uuid((u_char *) argv[1], ngx_strlen(argv[1])))
    {
        return NGX_DECLINED;
    }

    key = ngx_pnalloc(a->pool, sizeof("evently:hold:")
                               + NGX_HTTP_EVENTLY_UUID_LEN);
    if (key == NULL) {
        return NGX_ERROR;
    }

    argv[0] = (char *) key;
    argvlen[0] = ngx_sprintf(key, "evently:hold:%s", argv[1]) - key;
    argvlen[1] = NGX_HTTP_EVENTLY_UUID_LEN;

    cmd = ngx_http_evently_redis_eval(a->pool, a->log,
                                ngx_http_evently_waitlist_withdrawn, a,
                                &ngx_http_evently_waitlist_withdraw_script,
                                1, 2, argv, argvlen);

    return cmd ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_evently_waitlist_place(ngx_http_evently_waitlist_apply_t *a,
    json_t *offer)
{
    int                                 nkeys, argc, i;
    u_char                             *p;
    json_t                             *ids, *stale;
    size_t                             *argvlen, nseats, nstale;
    json_int_t                          ttl;
    const char                        **argv, *hold, *user, *event, *seats;
    const char                         *total, *s;
    ngx_http_evently_redis_cmd_t       *cmd;
    ngx_http_evently_waitlist_place_t  *pl;

#define ngx_http_evently_waitlist_str(name)                                   \
    json_string_value(json_object_get(offer, name))

    hold = ngx_http_evently_waitlist_str("hold_id");
    user = ngx_http_evently_waitlist_str("user_id");
    event = ngx_http_evently_waitlist_str("event_id");
    seats = ngx_http_evently_waitlist_str("seats");
    total = ngx_http_evently_waitlist_str("total_price");

#undef ngx_http_evently_waitlist_str

    ids = json_object_get(offer, "seat_ids");
    stale = json_object_get(offer, "stale");
    ttl = json_integer_value(json_object_get(offer, "ttl_ms"));

    nseats = json_array_size(ids);
    nstale = json_array_size(stale);

    if (hold == NULL || user == NULL || event == NULL || seats == NULL
        || total == NULL
        || ngx_strlen(hold) != NGX_HTTP_EVENTLY_UUID_LEN
        || ngx_strlen(user) != NGX_HTTP_EVENTLY_UUID_LEN
        || ngx_strlen(event) != NGX_HTTP_EVENTLY_UUID_LEN
        || nseats == 0 || nseats > NGX_HTTP_EVENTLY_WAITLIST_MAX_SEATS
        || nstale > NGX_HTTP_EVENTLY_WAITLIST_MAX_STALE)
    {
        ngx_log_error(NGX_LOG_ERR, a->log, 0,
                      "evently: a waitlist offer is malformed");
        return NGX_DECLINED;
    }

    if (ttl < NGX_HTTP_EVENTLY_WAITLIST_MIN_TTL) {
        /* about to expire: the next round passes it on */
        return NGX_DECLINED;
    }

    pl = ngx_palloc(a->pool, sizeof(ngx_http_evently_waitlist_place_t));
    if (pl == NULL) {
        return NGX_ERROR;
    }

    pl->apply = a;
    ngx_memcpy(pl->hold_id, hold, NGX_HTTP_EVENTLY_UUID_LEN + 1);

    nkeys = 4 + (int) nseats;
    argc = nkeys + 7 + (int) nstale + (int) nseats;

    argv = ngx_palloc(a->pool, argc * sizeof(char *));
    argvlen = ngx_palloc(a->pool, argc * sizeof(size_t));
    p = ngx_pnalloc(a->pool, (4 + nseats) * 128 + 2 * NGX_INT64_LEN);

    if (argv == NULL || argvlen == NULL || p == NULL) {
        return NGX_ERROR;
    }

#define ngx_http_evently_waitlist_arg(i, fmt, ...)                            \
    argv[i] = (char *) p;                                                     \
    p = ngx_sprintf(p, fmt, __VA_ARGS__);                                     \
    argvlen[i] = p - (u_char *) argv[i]

    ngx_http_evently_waitlist_arg(0, "evently:hold:%s", hold);
    ngx_http_evently_waitlist_arg(1, "evently:user_holds:%s", user);
    ngx_http_evently_waitlist_arg(2, "evently:event_held:%s", event);
    ngx_http_evently_waitlist_arg(3, "%s", "evently:held_events");

    for (i = 0; i < (int) nseats; i++) {
        s = json_string_value(json_array_get(ids, i));

        if (s == NULL || ngx_strlen(s) != NGX_HTTP_EVENTLY_UUID_LEN) {
            return NGX_DECLINED;
        }

        ngx_http_evently_waitlist_arg(4 + i, "evently:seat:%s:%s", event, s);
        argv[nkeys + 7 + nstale + i] = s;
        argvlen[nkeys + 7 + nstale + i] = NGX_HTTP_EVENTLY_UUID_LEN;
    }

    argv[nkeys] = hold;
    argvlen[nkeys] = NGX_HTTP_EVENTLY_UUID_LEN;
    argv[nkeys + 1] = user;
    argvlen[nkeys + 1] = NGX_HTTP_EVENTLY_UUID_LEN;
    argv[nkeys + 2] = event;
    argvlen[nkeys + 2] = NGX_HTTP_EVENTLY_UUID_LEN;

    ngx_http_evently_waitlist_arg(nkeys + 3, "%L", (int64_t) ttl);

    argv[nkeys + 4] = seats;
    argvlen[nkeys + 4] = ngx_strlen(seats);
    argv[nkeys + 5] = total;
    argvlen[nkeys + 5] = ngx_strlen(total);

    ngx_http_evently_waitlist_arg(nkeys + 6, "%uz", nstale);

#undef ngx_http_evently_waitlist_arg

    for (i = 0; i < (int) nstale; i++) {
        s = json_string_value(json_array_get(stale, i));
        argv[nkeys + 7 + i] = s ? s : "";
        argvlen[nkeys + 7 + i] = s ? ngx_strlen(s) : 0;
    }

    cmd = ngx_http_evently_redis_eval(a->pool, a->log,
                                      ngx_http_evently_waitlist_placed, pl,
                                      &ngx_http_evently_waitlist_offer_script,
                                      nkeys, argc, argv, argvlen);

    return cmd ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_evently_waitlist_withdrawn(void *data, redisReply *reply)
{
    ngx_http_evently_waitlist_apply_t *a = data;

    ngx_http_evently_waitlist_applied(a);
}


static void
ngx_http_evently_waitlist_placed(void *data, redisReply *reply)
{
    ngx_http_evently_waitlist_place_t *pl = data;

    ngx_http_evently_waitlist_apply_t  *a;

    a = pl->apply;

    if (ngx_http_evently_hold_reply_is(reply, "OK")) {
        (void) json_array_append_new(a->placed,
                                     json_string((char *) pl->hold_id));

    } else if (ngx_http_evently_hold_reply_is(reply, "TAKEN")) {
        ngx_log_error(NGX_LOG_INFO, a->log, 0,
                      "evently: waitlist offer %s waits for a seat held "
                      "elsewhere, retried by the sweeper", pl->hold_id);
    }

    ngx_http_evently_waitlist_applied(a);
}


/*
 * One Redis step done.  When the last deletion is, the offers go; when
 * the last offer is, the holds made are reported.
 */

static void
ngx_http_evently_waitlist_applied(ngx_http_evently_waitlist_apply_t *a)
{
    u_char                       *ids, *p;
    size_t                        i, n;
    json_t                       *v;
    ngx_http_evently_pg_query_t  *q;

    if (--a->outstanding) {
        return;
    }

    if (!a->placing
        && ngx_http_evently_waitlist_place_all(a) == NGX_AGAIN)
    {
        return;
    }

    n = json_array_size(a->placed);

    if (n == 0) {
        a->done(a->data);
        return;
    }

    ids = ngx_pnalloc(a->pool, n * (NGX_HTTP_EVENTLY_UUID_LEN + 1) + 2);
    q = ngx_http_evently_pg_query_create(a->pool, a->log,
                                    &ngx_http_evently_waitlist_placed_stmt);

    if (ids == NULL || q == NULL) {
        a->done(a->data);
        return;
    }

    p = ids;
    *p++ = '{';

    json_array_foreach(a->placed, i, v) {
        p = ngx_sprintf(p, i ? ",%s" : "%s", json_string_value(v));
    }

    *p++ = '}';
    *p = '\0';

    q->values[0] = (char *) ids;
    q->nvalues = 1;
    q->handler = ngx_http_evently_waitlist_marked;
    q->data = a;

    if (ngx_http_evently_pg_send(q) != NGX_OK) {
        /* unreported holds are created again (a no-op) by the sweeper */
        a->done(a->data);
    }
}


static void
ngx_http_evently_waitlist_marked(void *data, PGresult *res, ngx_int_t rc)
{
    ngx_http_evently_waitlist_apply_t *a = data;

    if (rc != NGX_OK || PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_log_error(NGX_LOG_INFO, a->log, 0,
                      "evently: reporting waitlist holds failed, the "
                      "sweeper reports them later");
    }

    a->done(a->data);
}


/* ---- the sweeper ---------------------------------------------------- */


ngx_int_t
ngx_http_evently_waitlist_init_process(ngx_cycle_t *cycle,
    ngx_http_evently_main_conf_t *mcf)
{
    ngx_http_evently_waitlist_sweeper_t  *sw;

    /* offers need both: without them the endpoints answer 503 anyway */

    if (mcf->pg_conninfo.len == 0 || mcf->redis_host.len == 0) {
        return NGX_OK;
    }

    sw = ngx_pcalloc(cycle->pool,
                     sizeof(ngx_http_evently_waitlist_sweeper_t));
    if (sw == NULL) {
        return NGX_ERROR;
    }

    sw->mcf = mcf;
    sw->log = cycle->log;
    ngx_sprintf(sw->ttl, "%T%Z", mcf->waitlist_offer_ttl);

    sw->timer.handler = ngx_http_evently_waitlist_sweep;
    sw->timer.data = sw;
    sw->timer.log = cycle->log;
    sw->timer.cancelable = 1;     /* never delays a graceful exit */

    ngx_http_evently_waitlist_sweeper = sw;

    ngx_add_timer(&sw->timer, NGX_HTTP_EVENTLY_WAITLIST_INTERVAL);

    return NGX_OK;
}


void
ngx_http_evently_waitlist_exit_process(ngx_cycle_t *cycle)
{
    ngx_pool_t                           *pool;
    ngx_http_evently_waitlist_sweeper_t  *sw;

    sw = ngx_http_evently_waitlist_sweeper;
    ngx_http_evently_waitlist_sweeper = NULL;

    if (sw == NULL) {
        return;
    }

    if (sw->timer.timer_set) {
        ngx_del_timer(&sw->timer);
    }

    if (sw->timer.posted) {
        ngx_delete_posted_event(&sw->timer);
    }

    /*
     * A sweep in flight: its pool's cleanups detach its query and its
     * Redis commands (the engines are closed after this).  What it
     * decided is in PostgreSQL; the next sweeper finishes it.
     */

    if (sw->round) {
        pool = sw->round->pool;
        sw->round = NULL;
        ngx_destroy_pool(pool);
    }
}


/* a sweep now, or right after the one in progress */

static void
ngx_http_evently_waitlist_kick(void)
{
    ngx_http_evently_waitlist_sweeper_t  *sw;

    sw = ngx_http_evently_waitlist_sweeper;

    if (sw == NULL || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (sw->round) {
        sw->again = 1;
        return;
    }

    if (sw->timer.timer_set) {
        ngx_del_timer(&sw->timer);
    }

    if (!sw->timer.posted) {
        ngx_post_event(&sw->timer, &ngx_posted_events);
    }
}


static void
ngx_http_evently_waitlist_sweep(ngx_event_t *ev)
{
    u_char                               *limit;
    ngx_int_t                             rc;
    ngx_pool_t                           *pool;
    ngx_http_evently_pg_query_t          *q;
    ngx_http_evently_waitlist_round_t    *rd;
    ngx_http_evently_waitlist_sweeper_t  *sw;

    sw = ev->data;

    /* one sweep at a time; none once the worker is leaving */

    if (ngx_exiting || ngx_quit || ngx_terminate || sw->round) {
        return;
    }

    if (!ngx_http_evently_redis_available()) {
        ngx_http_evently_waitlist_trouble(sw, NGX_LOG_WARN,
                                          "Redis is unavailable", NULL);
        ngx_add_timer(&sw->timer, NGX_HTTP_EVENTLY_WAITLIST_INTERVAL);
        return;
    }

    pool = ngx_create_pool(4096, sw->log);
    if (pool == NULL) {
        ngx_add_timer(&sw->timer, NGX_HTTP_EVENTLY_WAITLIST_INTERVAL);
        return;
    }

    rd = ngx_pcalloc(pool, sizeof(ngx_http_evently_waitlist_round_t));
    limit = ngx_pnalloc(pool, NGX_INT_T_LEN + 1);
    q = ngx_http_evently_pg_query_create(pool, sw->log,
                                       &ngx_http_evently_waitlist_due_stmt);

    if (rd == NULL || limit == NULL || q == NULL) {
        ngx_destroy_pool(pool);
        ngx_add_timer(&sw->timer, NGX_HTTP_EVENTLY_WAITLIST_INTERVAL);
        return;
    }

    rd->sw = sw;
    rd->pool = pool;
    sw->round = rd;

    ngx_sprintf(limit, "%d%Z", NGX_HTTP_EVENTLY_WAITLIST_BATCH);

    q->values[0] = (char *) limit;
    q->nvalues = 1;
    q->handler = ngx_http_evently_waitlist_due_done;
    q->data = rd;

    rc = ngx_http_evently_pg_send(q);

    if (rc != NGX_OK) {
        ngx_http_evently_waitlist_trouble(sw, NGX_LOG_WARN,
                                          rc == NGX_BUSY
                                          ? "PostgreSQL is busy"
                                          : "PostgreSQL is unavailable",
                                          NULL);
        ngx_http_evently_waitlist_finish(rd);
    }
}


/* the events claimed for this sweep: their held seats from Redis next */

static void
ngx_http_evently_waitlist_due_done(void *data, PGresult *res, ngx_int_t rc)
{
    ngx_http_evently_waitlist_round_t *rd = data;

    int                                   i, n;
    u_char                               *p;
    size_t                               *argvlen;
    const char                          **argv;
    ngx_http_evently_redis_cmd_t         *cmd;
    ngx_http_evently_waitlist_sweeper_t  *sw;

    sw = rd->sw;

    if (ngx_exiting || ngx_terminate) {
        ngx_http_evently_waitlist_finish(rd);
        return;
    }

    if (rc != NGX_OK || PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_http_evently_waitlist_trouble(sw,
                                          res ? NGX_LOG_ERR : NGX_LOG_WARN,
                                          "finding due events failed", res);
        ngx_http_evently_waitlist_finish(rd);
        return;
    }

    n = PQntuples(res);

    if (n == 0) {
        ngx_http_evently_waitlist_recovered(sw);
        ngx_http_evently_waitlist_finish(rd);
        return;
    }

    rd->full = (n >= NGX_HTTP_EVENTLY_WAITLIST_BATCH);

    /* the result dies with this callback: copy the ids */

    argv = ngx_palloc(rd->pool, n * sizeof(char *));
    argvlen = ngx_palloc(rd->pool, n * sizeof(size_t));
    p = ngx_pnalloc(rd->pool, n * (NGX_HTTP_EVENTLY_UUID_LEN + 2) + 2);

    if (argv == NULL || argvlen == NULL || p == NULL) {
        ngx_http_evently_waitlist_finish(rd);
        return;
    }

    rd->events.data = p;
    *p++ = '{';

    for (i = 0; i < n; i++) {
        if (PQgetlength(res, i, 0) != NGX_HTTP_EVENTLY_UUID_LEN) {
            ngx_http_evently_waitlist_finish(rd);
            return;
        }

        if (i) {
            *p++ = ',';
        }

        argv[i] = (char *) p;
        argvlen[i] = NGX_HTTP_EVENTLY_UUID_LEN;
        p = ngx_cpymem(p, PQgetvalue(res, i, 0), NGX_HTTP_EVENTLY_UUID_LEN);
    }

    *p++ = '}';
    rd->events.len = p - rd->events.data;
    *p = '\0';

    /* argv[i] point into "{a,b}": their lengths end them */

    cmd = ngx_http_evently_redis_eval(rd->pool, sw->log,
                                      ngx_http_evently_waitlist_sweep_held,
                                      rd,
                                      &ngx_http_evently_held_script,
                                      0, n, argv, argvlen);
    if (cmd == NULL) {
        /* the claims lapse and the events come back in a few seconds */
        ngx_http_evently_waitlist_trouble(sw, NGX_LOG_WARN,
                                          "Redis is unavailable", NULL);
        ngx_http_evently_waitlist_finish(rd);
    }
}


static void
ngx_http_evently_waitlist_sweep_held(void *data, redisReply *reply)
{
    ngx_http_evently_waitlist_round_t *rd = data;

    char                                 *text;
    json_t                               *held;
    size_t                                len;
    ngx_http_evently_pg_query_t          *q;
    ngx_http_evently_waitlist_sweeper_t  *sw;

    sw = rd->sw;

    if (ngx_exiting || ngx_terminate) {
        ngx_http_evently_waitlist_finish(rd);
        return;
    }

    held = ngx_http_evently_held_json(reply);
    held = ngx_http_evently_pool_json(rd->pool, held);
    if (held == NULL) {
        ngx_http_evently_waitlist_trouble(sw, NGX_LOG_WARN,
                                          "reading held seats failed",
                                          NULL);
        ngx_http_evently_waitlist_finish(rd);
        return;
    }

    q = ngx_http_evently_pg_query_create(rd->pool, sw->log,
                                     &ngx_http_evently_waitlist_sweep_stmt);
    text = json_dumps(held, JSON_COMPACT);

    if (q == NULL || text == NULL) {
        free(text);
        ngx_http_evently_waitlist_finish(rd);
        return;
    }

    len = ngx_strlen(text);
    q->values[1] = ngx_pnalloc(rd->pool, len + 1);

    if (q->values[1] != NULL) {
        ngx_memcpy((char *) q->values[1], text, len + 1);
    }

    free(text);

    if (q->values[1] == NULL) {
        ngx_http_evently_waitlist_finish(rd);
        return;
    }

    q->values[0] = (char *) rd->events.data;
    q->values[2] = (char *) sw->ttl;
    q->nvalues = 3;
    q->handler = ngx_http_evently_waitlist_sweep_done;
    q->data = rd;

    if (ngx_http_evently_pg_send(q) != NGX_OK) {
        ngx_http_evently_waitlist_trouble(sw, NGX_LOG_WARN,
                                          "PostgreSQL is unavailable", NULL);
        ngx_http_evently_waitlist_finish(rd);
    }
}


static void
ngx_http_evently_waitlist_sweep_done(void *data, PGresult *res,
    ngx_int_t rc)
{
    ngx_http_evently_waitlist_round_t *rd = data;

    json_t                               *out, *offers, *release;
    ngx_http_evently_waitlist_sweeper_t  *sw;

    sw = rd->sw;

    if (ngx_exiting || ngx_terminate) {
        ngx_http_evently_waitlist_finish(rd);
        return;
    }

    if (rc != NGX_OK || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1)
    {
        ngx_http_evently_waitlist_trouble(sw,
                                          res ? NGX_LOG_ERR : NGX_LOG_WARN,
                                          "the offer rounds failed", res);
        ngx_http_evently_waitlist_finish(rd);
        return;
    }

    out = ngx_http_evently_pool_json(rd->pool,
                   json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0),
                              0, NULL));
    if (out == NULL) {
        ngx_http_evently_waitlist_finish(rd);
        return;
    }

    offers = json_object_get(out, "offers");
    release = json_object_get(out, "release");

    if (json_array_size(offers) || json_array_size(release)) {
        ngx_http_evently_outbox_kick();
    }

    rd->apply.pool = rd->pool;
    rd->apply.log = sw->log;
    rd->apply.done = ngx_http_evently_waitlist_round_applied;
    rd->apply.data = rd;

    if (ngx_http_evently_waitlist_apply(&rd->apply, offers, release)
        == NGX_AGAIN)
    {
        return;
    }

    ngx_http_evently_waitlist_recovered(sw);
    ngx_http_evently_waitlist_finish(rd);
}


static void
ngx_http_evently_waitlist_round_applied(void *data)
{
    ngx_http_evently_waitlist_round_t *rd = data;

    ngx_http_evently_waitlist_recovered(rd->sw);
    ngx_http_evently_waitlist_finish(rd);
}


/* the end of a sweep (the caller must not touch rd afterwards) */

static void
ngx_http_evently_waitlist_finish(ngx_http_evently_waitlist_round_t *rd)
{
    ngx_uint_t                            full;
    ngx_http_evently_waitlist_sweeper_t  *sw;

    sw = rd->sw;
    full = rd->full || sw->again;

    sw->round = NULL;
    sw->again = 0;
    ngx_destroy_pool(rd->pool);

    if (ngx_exiting || ngx_quit || ngx_terminate
        || ngx_http_evently_waitlist_sweeper != sw)
    {
        return;
    }

    /* a full batch or a kick meanwhile: more events are due right now */

    ngx_add_timer(&sw->timer, full ? 1 : NGX_HTTP_EVENTLY_WAITLIST_INTERVAL);
}


/*
 * The sweeper runs every second: an outage is logged once, then it
 * retries quietly until it works again.
 */

static void
ngx_http_evently_waitlist_trouble(ngx_http_evently_waitlist_sweeper_t *sw,
    ngx_uint_t level, const char *what, PGresult *res)
{
    size_t       len;
    const char  *msg;

    msg = res ? PQresultErrorMessage(res) : "";
    len = ngx_strlen(msg);

    while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) {
        len--;
    }

    if (sw->failing) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, sw->log, 0,
                       "evently: waitlist sweeper: %s %*s", what, len, msg);
        return;
    }

    sw->failing = 1;

    ngx_log_error(level, sw->log, 0,
                  "evently: waitlist sweeper: %s%s%*s, retrying quietly",
                  what, len ? ": " : "", len, msg);
}


static void
ngx_http_evently_waitlist_recovered(ngx_http_evently_waitlist_sweeper_t *sw)
{
    if (sw->failing) {
        sw->failing = 0;
        ngx_log_error(NGX_LOG_NOTICE, sw->log, 0,
                      "evently: waitlist sweeper works again");
    }
}
