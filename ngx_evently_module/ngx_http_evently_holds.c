
/*
 * Copyright (C) Evently
 *
 * Seat holds: all-or-nothing, per (event, seat), with TTLs, in Redis Lua
 * scripts so that each step is atomic.  See ngx_http_evently_holds.h for
 * the keys.
 *
 * Placing a hold is two round trips: PostgreSQL first (the event is on
 * sale, the seats are of its venue, not blocked, not booked; their
 * prices), then one Redis script that takes every seat or none.  A
 * confirmation made between the two cannot sell a seat twice: its seat
 * key still exists (as "booked:<id>" for a minute) and the unique index
 * of booking_seats is the final guard.
 */


#include "ngx_http_evently_holds.h"
#include "ngx_http_evently_redis.h"
#include "ngx_http_evently_pg.h"


typedef struct {
    u_char                         hold_id[NGX_HTTP_EVENTLY_UUID_LEN + 1];
    ngx_str_t                      event_id;
    ngx_str_t                      seats;        /* JSON text */
    ngx_str_t                      total_price;  /* numeric text */
    ngx_str_t                      currency;
} ngx_http_evently_hold_t;


static ngx_int_t ngx_http_evently_hold_seats(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static ngx_int_t ngx_http_evently_hold_checked(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, PGresult *res);
static void ngx_http_evently_hold_placed(void *data, redisReply *reply);
static ngx_int_t ngx_http_evently_hold_release(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static void ngx_http_evently_hold_released(void *data, redisReply *reply);
static ngx_int_t ngx_http_evently_hold_validate(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static void ngx_http_evently_hold_read(void *data, redisReply *reply);
static ngx_int_t ngx_http_evently_user_holds(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static void ngx_http_evently_user_holds_read(void *data, redisReply *reply);
static ngx_int_t ngx_http_evently_seat_availability(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static ngx_int_t ngx_http_evently_hold_script(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, ngx_http_evently_redis_script_t *script,
    ngx_http_evently_redis_handler_pt handler);
static json_t *ngx_http_evently_hold_details(ngx_str_t *hold_id,
    redisReply *user, redisReply *event, redisReply *seats,
    redisReply *pttl);
static ngx_int_t ngx_http_evently_redis_down(ngx_http_request_t *r);
static void ngx_http_evently_held_done(void *data, redisReply *reply);
static ngx_int_t ngx_http_evently_held_run(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, json_t *held);
static ngx_int_t ngx_http_evently_holds_unknown(ngx_http_request_t *r);


static ngx_http_evently_field_t  ngx_http_evently_hold_fields[] = {
    { "event_id", NGX_HTTP_EVENTLY_UUID, NGX_HTTP_EVENTLY_REQUIRED,
      0, 0, NULL, NULL },
    { "seat_ids", NGX_HTTP_EVENTLY_UUID_ARRAY, NGX_HTTP_EVENTLY_REQUIRED,
      1, 100, NULL, NULL },
    { "user_id", NGX_HTTP_EVENTLY_UUID, 0, 0, 0, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static ngx_http_evently_field_t  ngx_http_evently_availability_fields[] = {
    { "event_id", NGX_HTTP_EVENTLY_UUID, NGX_HTTP_EVENTLY_REQUIRED,
      0, 0, NULL, NULL },
    { "seat_ids", NGX_HTTP_EVENTLY_UUID_ARRAY, NGX_HTTP_EVENTLY_REQUIRED,
      1, 100, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


ngx_http_evently_op_t  ngx_http_evently_holds_ops[] = {

    { ngx_string("hold_seats"), ngx_http_evently_hold_seats,
      ngx_http_evently_hold_fields, NULL, NGX_HTTP_EVENTLY_OP_BODY,
      NGX_HTTP_CREATED, ngx_string("Seats held successfully"),
      NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_string("hold_release"), ngx_http_evently_hold_release,
      NULL, NULL, NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Hold released successfully"),
      NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_string("hold_validate"), ngx_http_evently_hold_validate,
      NULL, NULL, NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Hold is valid"),
      NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_string("seat_availability"), ngx_http_evently_seat_availability,
      ngx_http_evently_availability_fields, NULL,
      NGX_HTTP_EVENTLY_OP_BODY,
      NGX_HTTP_OK, ngx_string("Seat availability retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(seat_availability) },

    { ngx_string("user_holds"), ngx_http_evently_user_holds,
      NULL, NULL, NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Holds retrieved successfully"),
      NGX_HTTP_EVENTLY_NO_SQL },

    { ngx_null_string, NULL, NULL, NULL, 0, 0, ngx_null_string,
      NGX_HTTP_EVENTLY_NO_SQL }
};


static ngx_http_evently_stmt_t  ngx_http_evently_hold_check_stmt =
    NGX_HTTP_EVENTLY_API_SQL(hold_check);


/*
 * KEYS: hold, user_holds, event_held, held_events, seat keys...
 * ARGV: hold id, user id, event id, ttl ms, max live holds, seats JSON,
 *       total price, seat ids... (in the order of the seat keys)
 * All or nothing: any seat key present (held, reserved for a waitlist
 * offer, or just booked) refuses the whole hold.
 */

static ngx_http_evently_redis_script_t  ngx_http_evently_hold_script_src = {
    ngx_string("hold"),
    ngx_string(
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local function touch(k)\n"
    "  local top = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')\n"
    "  if top[2] then\n"
    "    redis.call('PEXPIREAT', k, math.floor(tonumber(top[2])) + 1000)\n"
    "  end\n"
    "end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)\n"
    "if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then\n"
    "  return {'LIMIT'}\n"
    "end\n"
    "local taken = {'TAKEN'}\n"
    "for i = 5, #KEYS do\n"
    "  if redis.call('EXISTS', KEYS[i]) == 1 then\n"
    "    taken[#taken + 1] = ARGV[i + 3]\n"
    "  end\n"
    "end\n"
    "if #taken > 1 then\n"
    "  return taken\n"
    "end\n"
    "local ttl = tonumber(ARGV[4])\n"
    "local exp = now + ttl\n"
    "local ids = {}\n"
    "for i = 5, #KEYS do\n"
    "  redis.call('SET', KEYS[i], ARGV[1], 'PX', ttl)\n"
    "  redis.call('ZADD', KEYS[3], exp, ARGV[i + 3])\n"
    "  ids[#ids + 1] = ARGV[i + 3]\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'user_id', ARGV[2], 'event_id', ARGV[3],\n"
    "           'seat_ids', table.concat(ids, ','), 'seats', ARGV[6],\n"
    "           'total_price', ARGV[7], 'expires', exp)\n"
    "redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "redis.call('ZADD', KEYS[2], exp, ARGV[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)\n"
    "redis.call('ZADD', KEYS[4], 'GT', exp, ARGV[3])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)\n"
    "touch(KEYS[2])\n"
    "touch(KEYS[3])\n"
    "touch(KEYS[4])\n"
    "return {'OK', tostring(exp)}\n"),
    "", 0
};


/* KEYS: hold, user_holds; ARGV: hold id, user id */

static ngx_http_evently_redis_script_t  ngx_http_evently_release_script = {
    ngx_string("release"),
    ngx_string(
    "local h = redis.call('HMGET', KEYS[1], 'user_id', 'event_id',"
    " 'seat_ids')\n"
    "if not h[1] then\n"
    "  return {'MISSING'}\n"
    "end\n"
    "if h[1] ~= ARGV[2] then\n"
    "  return {'FORBIDDEN'}\n"
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
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "return {'OK', h[2], h[3]}\n"),
    "", 0
};


/* KEYS: hold; the hold's fields and its remaining time */

static ngx_http_evently_redis_script_t  ngx_http_evently_read_script = {
    ngx_string("read"),
    ngx_string(
    "local h = redis.call('HMGET', KEYS[1], 'user_id', 'event_id',"
    " 'seat_ids')\n"
    "local pttl = redis.call('PTTL', KEYS[1])\n"
    "if not h[1] or pttl <= 0 then\n"
    "  return {'MISSING'}\n"
    "end\n"
    "return {'OK', h[1], h[2], h[3], pttl}\n"),
    "", 0
};


/* KEYS: user_holds; a user's live holds, 4 fields each */

static ngx_http_evently_redis_script_t  ngx_http_evently_user_holds_script = {
    ngx_string("user_holds"),
    ngx_string(
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "local out = {}\n"
    "for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "  local hk = 'evently:hold:' .. id\n"
    "  local h = redis.call('HMGET', hk, 'event_id', 'seat_ids')\n"
    "  local pttl = redis.call('PTTL', hk)\n"
    "  if h[1] and pttl > 0 then\n"
    "    out[#out + 1] = id\n"
    "    out[#out + 1] = h[1]\n"
    "    out[#out + 1] = h[2]\n"
    "    out[#out + 1] = pttl\n"
    "  end\n"
    "end\n"
    "return out\n"),
    "", 0
};


/*
 * The seats held now, for the events named in ARGV (none: every event
 * with live holds): [event, [seat, ...], event, [seat, ...], ...].
 * Expired entries are pruned on the way (their score is their expiry).
 */

ngx_http_evently_redis_script_t  ngx_http_evently_held_script = {
    ngx_string("held"),
    ngx_string(
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local function seats(ev)\n"
    "  local k = 'evently:event_held:' .. ev\n"
    "  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)\n"
    "  return redis.call('ZRANGE', k, 0, -1)\n"
    "end\n"
    "local evs = ARGV\n"
    "if #evs == 0 then\n"
    "  redis.call('ZREMRANGEBYSCORE', 'evently:held_events', '-inf', now)\n"
    "  evs = redis.call('ZRANGE', 'evently:held_events', 0, 9999)\n"
    "end\n"
    "local out = {}\n"
    "for _, ev in ipairs(evs) do\n"
    "  out[#out + 1] = ev\n"
    "  out[#out + 1] = seats(ev)\n"
    "end\n"
    "return out\n"),
    "", 0
};


static ngx_int_t
ngx_http_evently_hold_seats(ngx_http_request_t *r, ngx_http_evently_ctx_t *ctx)
{
    json_t       *v, *errors;
    ngx_int_t     rc;
    const char   *user_id;
    u_char        msg[64];

    /* the holder is the caller, never somebody named in the body */

    v = json_object_get(ctx->args, "user_id");
    user_id = json_string_value(v);

    if (user_id && ngx_strcmp(user_id, ctx->user->id.data) != 0) {
        return ngx_http_evently_send_error(r, NGX_HTTP_FORBIDDEN,
                                           "FORBIDDEN",
                                           "Seats can only be held for "
                                           "yourself", NULL, 0);
    }

    if (json_array_size(json_object_get(ctx->args, "seat_ids"))
        > ctx->mcf->hold_max_seats)
    {
        ngx_sprintf(msg, "must have at most %ui seats%Z",
                    ctx->mcf->hold_max_seats);

        errors = json_pack("{s{ss}}", "fields", "seat_ids", (char *) msg);
        rc = ngx_http_evently_send_error_json(r, NGX_HTTP_BAD_REQUEST,
                                              "VALIDATION_FAILED",
                                              "Validation failed", errors);
        json_decref(errors);

        return rc;
    }

    return ngx_http_evently_sql_call(r, ctx,
                                     &ngx_http_evently_hold_check_stmt,
                                     ngx_http_evently_hold_checked);
}


/* PostgreSQL said yes: take the seats in Redis, all or none */

static ngx_int_t
ngx_http_evently_hold_checked(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, PGresult *res)
{
    int                             argc, nkeys, i;
    u_char                         *p;
    json_t                         *data, *ids;
    size_t                         *argvlen, n;
    ngx_str_t                      *uid;
    const char                    **argv;
    ngx_http_evently_hold_t        *h;
    ngx_http_evently_redis_cmd_t   *cmd;

    if (!PQgetisnull(res, 0, 1)) {
        return ngx_http_evently_sql_reply(r, ctx, res);
    }

    data = ngx_http_evently_pool_json(r->pool,
                   json_loadb(PQgetvalue(res, 0, 3), PQgetlength(res, 0, 3),
                              0, NULL));
    h = ngx_pcalloc(r->pool, sizeof(ngx_http_evently_hold_t));

    if (data == NULL || h == NULL
        || ngx_http_evently_uuid(h->hold_id) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = h;

#define ngx_http_evently_hold_str(field, s)                                   \
    (s)->data = (u_char *) json_string_value(json_object_get(data, field));   \
    (s)->len = (s)->data ? ngx_strlen((s)->data) : 0

    ngx_http_evently_hold_str("event_id", &h->event_id);
    ngx_http_evently_hold_str("seats", &h->seats);
    ngx_http_evently_hold_str("total_price", &h->total_price);
    ngx_http_evently_hold_str("currency", &h->currency);

#undef ngx_http_evently_hold_str

    if (h->event_id.len == 0 || h->seats.len == 0
        || h->total_price.len == 0 || h->currency.len == 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ids = json_object_get(ctx->args, "seat_ids");
    uid = &ctx->user->id;

    nkeys = 4 + (int) json_array_size(ids);
    argc = nkeys + 7 + (int) json_array_size(ids);

    argv = ngx_palloc(r->pool, argc * sizeof(char *));
    argvlen = ngx_palloc(r->pool, argc * sizeof(size_t));
    p = ngx_pnalloc(r->pool, 4 * 128 + json_array_size(ids) * 128 + 64);

    if (argv == NULL || argvlen == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

#define ngx_http_evently_hold_arg(i, fmt, ...)                                \
    argv[i] = (char *) p;                                                     \
    p = ngx_sprintf(p, fmt, __VA_ARGS__);                                     \
    argvlen[i] = p - (u_char *) argv[i]

    ngx_http_evently_hold_arg(0, "evently:hold:%s", h->hold_id);
    ngx_http_evently_hold_arg(1, "evently:user_holds:%V", uid);
    ngx_http_evently_hold_arg(2, "evently:event_held:%V", &h->event_id);
    ngx_http_evently_hold_arg(3, "%s", "evently:held_events");

    for (i = 4; i < nkeys; i++) {
        ngx_http_evently_hold_arg(i, "evently:seat:%V:%s", &h->event_id,
                                  json_string_value(json_array_get(ids,
                                                                   i - 4)));
    }

    ngx_http_evently_hold_arg(nkeys, "%s", h->hold_id);
    ngx_http_evently_hold_arg(nkeys + 1, "%V", uid);
    ngx_http_evently_hold_arg(nkeys + 2, "%V", &h->event_id);
    ngx_http_evently_hold_arg(nkeys + 3, "%T",
                              ctx->mcf->hold_ttl * 1000);
    ngx_http_evently_hold_arg(nkeys + 4, "%ui", ctx->mcf->hold_max_per_user);

#undef ngx_http_evently_hold_arg

    argv[nkeys + 5] = (char *) h->seats.data;
    argvlen[nkeys + 5] = h->seats.len;
    argv[nkeys + 6] = (char *) h->total_price.data;
    argvlen[nkeys + 6] = h->total_price.len;

    for (i = 0; i < (int) json_array_size(ids); i++) {
        argv[nkeys + 7 + i] = json_string_value(json_array_get(ids, i));
        n = ngx_strlen(argv[nkeys + 7 + i]);
        argvlen[nkeys + 7 + i] = n;
    }

    cmd = ngx_http_evently_redis_eval(r->pool, r->connection->log,
                                      ngx_http_evently_hold_placed, r,
                                      &ngx_http_evently_hold_script_src,
                                      nkeys, argc, argv, argvlen);
    if (cmd == NULL) {
        return ngx_http_evently_redis_down(r);
    }

    ctx->pending = cmd;

    return ngx_http_evently_suspend(r);
}


static void
ngx_http_evently_hold_placed(void *data, redisReply *reply)
{
    ngx_http_request_t *r = data;

    u_char                   *body, *p, expires[NGX_HTTP_EVENTLY_TIME_LEN];
    json_t                   *taken, *extra;
    size_t                    i;
    int64_t                   exp;
    ngx_int_t                 rc;
    ngx_http_evently_ctx_t   *ctx;
    ngx_http_evently_hold_t  *h;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    ctx->pending = NULL;
    h = ctx->data;

    if (ngx_http_evently_hold_reply_is(reply, "LIMIT")) {
        rc = ngx_http_evently_send_error(r, NGX_HTTP_CONFLICT,
                                         "HOLD_LIMIT_REACHED",
                                         "You have reached the maximum "
                                         "number of live holds", NULL, 0);
        goto done;
    }

    if (ngx_http_evently_hold_reply_is(reply, "TAKEN")) {
        taken = json_array();

        for (i = 1; taken && i < reply->elements; i++) {
            (void) json_array_append_new(taken,
                       json_stringn(reply->element[i]->str,
                                    reply->element[i]->len));
        }

        extra = json_pack("{so}", "seat_ids", taken);
        rc = ngx_http_evently_send_error_json(r, NGX_HTTP_CONFLICT,
                                              "SEATS_UNAVAILABLE",
                                              "Seats are not available",
                                              extra);
        json_decref(extra);
        goto done;
    }

    if (!ngx_http_evently_hold_reply_is(reply, "OK") || reply->elements < 2) {
        rc = ngx_http_evently_redis_down(r);
        goto done;
    }

    exp = ngx_atoof((u_char *) reply->element[1]->str,
                    reply->element[1]->len);

    ngx_http_evently_time(expires, (time_t) (exp / 1000));

    body = ngx_pnalloc(r->pool, 512 + h->seats.len + h->total_price.len);
    if (body == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    /* ids, currency and time are plain tokens; seats and money are JSON */

    p = ngx_sprintf(body, "{\"hold_id\":\"%s\",\"event_id\":\"%V\","
                          "\"user_id\":\"%V\",\"seats\":%V,"
                          "\"total_price\":%V,\"currency\":\"%V\","
                          "\"expires_at\":\"%*s\",\"ttl_seconds\":%T}",
                    h->hold_id, &h->event_id, &ctx->user->id, &h->seats,
                    &h->total_price, &h->currency,
                    (size_t) NGX_HTTP_EVENTLY_TIME_LEN, expires,
                    ctx->mcf->hold_ttl);

    rc = ngx_http_evently_send_data(r, NGX_HTTP_CREATED, &ctx->op->message,
                                    body, p - body);

done:

    ngx_http_evently_resume(r, rc);
}


static ngx_int_t
ngx_http_evently_hold_release(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    return ngx_http_evently_hold_script(r, ctx,
                                        &ngx_http_evently_release_script,
                                        ngx_http_evently_hold_released);
}


static void
ngx_http_evently_hold_released(void *data, redisReply *reply)
{
    ngx_http_request_t *r = data;

    json_t                  *out, *seats;
    ngx_int_t                rc;
    ngx_http_evently_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    ctx->pending = NULL;

    if (ngx_http_evently_hold_reply_is(reply, "MISSING")) {
        rc = ngx_http_evently_send_error(r, NGX_HTTP_NOT_FOUND,
                                         "HOLD_NOT_FOUND",
                                         "Hold not found or expired",
                                         NULL, 0);

    } else if (ngx_http_evently_hold_reply_is(reply, "FORBIDDEN")) {
        rc = ngx_http_evently_send_error(r, NGX_HTTP_FORBIDDEN, "FORBIDDEN",
                                         "This hold belongs to another "
                                         "user", NULL, 0);

    } else if (!ngx_http_evently_hold_reply_is(reply, "OK")
               || reply->elements < 3)
    {
        rc = ngx_http_evently_redis_down(r);

    } else {
        seats = ngx_http_evently_hold_seat_list(reply->element[2]);

        out = json_pack("{s:s%, s:s%, s:o, s:b}",
                        "hold_id", ctx->id.data, ctx->id.len,
                        "event_id", reply->element[1]->str,
                        reply->element[1]->len,
                        "seat_ids", seats ? seats : json_array(),
                        "released", 1);

        rc = out ? ngx_http_evently_send_data_json(r, NGX_HTTP_OK,
                                                   &ctx->op->message, out)
                 : NGX_ERROR;
        json_decref(out);
    }

    ngx_http_evently_resume(r, rc);
}


static ngx_int_t
ngx_http_evently_hold_validate(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    return ngx_http_evently_hold_script(r, ctx,
                                        &ngx_http_evently_read_script,
                                        ngx_http_evently_hold_read);
}


static void
ngx_http_evently_hold_read(void *data, redisReply *reply)
{
    ngx_http_request_t *r = data;

    json_t                  *details, *out;
    ngx_int_t                rc;
    ngx_http_evently_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    ctx->pending = NULL;

    if (ngx_http_evently_hold_reply_is(reply, "MISSING")) {
        rc = ngx_http_evently_send_error(r, NGX_HTTP_NOT_FOUND,
                                         "HOLD_NOT_FOUND",
                                         "Hold not found or expired",
                                         NULL, 0);
        goto done;
    }

    if (!ngx_http_evently_hold_reply_is(reply, "OK") || reply->elements < 5) {
        rc = ngx_http_evently_redis_down(r);
        goto done;
    }

    if (reply->element[1]->len != ctx->user->id.len
        || ngx_strncmp(reply->element[1]->str, ctx->user->id.data,
                       ctx->user->id.len) != 0)
    {
        rc = ngx_http_evently_send_error(r, NGX_HTTP_FORBIDDEN, "FORBIDDEN",
                                         "This hold belongs to another "
                                         "user", NULL, 0);
        goto done;
    }

    details = ngx_http_evently_hold_details(&ctx->id, reply->element[1],
                                            reply->element[2],
                                            reply->element[3],
                                            reply->element[4]);

    out = details ? json_pack("{s:b, s:O, s:O}", "valid", 1,
                              "details", details, "ttl_seconds",
                              json_object_get(details, "ttl_seconds"))
                  : NULL;

    rc = out ? ngx_http_evently_send_data_json(r, NGX_HTTP_OK,
                                               &ctx->op->message, out)
             : NGX_ERROR;

    json_decref(details);
    json_decref(out);

done:

    ngx_http_evently_resume(r, rc);
}


/* GET /users/{id}/holds: the user themself or an admin */

static ngx_int_t
ngx_http_evently_user_holds(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    if (!ctx->user->admin
        && (ctx->id.len != ctx->user->id.len
            || ngx_strncmp(ctx->id.data, ctx->user->id.data, ctx->id.len)
               != 0))
    {
        return ngx_http_evently_send_error(r, NGX_HTTP_FORBIDDEN,
                                           "FORBIDDEN",
                                           "You may only see your own "
                                           "holds", NULL, 0);
    }

    return ngx_http_evently_hold_script(r, ctx,
                                        &ngx_http_evently_user_holds_script,
                                        ngx_http_evently_user_holds_read);
}


static void
ngx_http_evently_user_holds_read(void *data, redisReply *reply)
{
    ngx_http_request_t *r = data;

    json_t                  *holds, *hold;
    size_t                   i;
    ngx_str_t                hold_id;
    ngx_int_t                rc;
    ngx_http_evently_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    ctx->pending = NULL;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        ngx_http_evently_resume(r, ngx_http_evently_redis_down(r));
        return;
    }

    holds = json_array();

    for (i = 0; holds && i + 3 < reply->elements; i += 4) {
        hold_id.data = (u_char *) reply->element[i]->str;
        hold_id.len = reply->element[i]->len;

        hold = ngx_http_evently_hold_details(&hold_id, NULL,
                                             reply->element[i + 1],
                                             reply->element[i + 2],
                                             reply->element[i + 3]);
        if (hold == NULL
            || json_object_set_new(hold, "user_id",
                                   json_stringn((char *) ctx->id.data,
                                                ctx->id.len))
            || json_array_append_new(holds, hold))
        {
            json_decref(holds);
            holds = NULL;
        }
    }

    rc = holds ? ngx_http_evently_send_data_json(r, NGX_HTTP_OK,
                                                 &ctx->op->message, holds)
               : NGX_ERROR;

    json_decref(holds);

    ngx_http_evently_resume(r, rc);
}


static ngx_int_t
ngx_http_evently_seat_availability(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    ngx_str_t  event_id;

    event_id.data = (u_char *) json_string_value(
                                   json_object_get(ctx->args, "event_id"));
    event_id.len = ngx_strlen(event_id.data);

    return ngx_http_evently_run_sql_op_with_holds(r, ctx, &event_id);
}


/* runs a script on the path's hold: KEYS hold[, user_holds], ARGV id, user */

static ngx_int_t
ngx_http_evently_hold_script(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, ngx_http_evently_redis_script_t *script,
    ngx_http_evently_redis_handler_pt handler)
{
    u_char                        *p;
    size_t                         argvlen[4];
    const char                    *argv[4];
    ngx_http_evently_redis_cmd_t  *cmd;

    p = ngx_pnalloc(r->pool, 2 * 128);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (script == &ngx_http_evently_user_holds_script) {
        argv[0] = (char *) p;
        argvlen[0] = ngx_sprintf(p, "evently:user_holds:%V", &ctx->id) - p;

        cmd = ngx_http_evently_redis_eval(r->pool, r->connection->log,
                                          handler, r, script, 1, 1, argv,
                                          argvlen);

    } else {
        argv[0] = (char *) p;
        p = ngx_sprintf(p, "evently:hold:%V", &ctx->id);
        argvlen[0] = p - (u_char *) argv[0];

        argv[1] = (char *) p;
        p = ngx_sprintf(p, "evently:user_holds:%V", &ctx->user->id);
        argvlen[1] = p - (u_char *) argv[1];

        argv[2] = (char *) ctx->id.data;
        argvlen[2] = ctx->id.len;
        argv[3] = (char *) ctx->user->id.data;
        argvlen[3] = ctx->user->id.len;

        cmd = ngx_http_evently_redis_eval(r->pool, r->connection->log,
                                          handler, r, script, 2, 4, argv,
                                          argvlen);
    }

    if (cmd == NULL) {
        return ngx_http_evently_redis_down(r);
    }

    ctx->pending = cmd;

    return ngx_http_evently_suspend(r);
}


/* {hold_id, user_id, event_id, seat_ids, ttl_seconds} */

static json_t *
ngx_http_evently_hold_details(ngx_str_t *hold_id, redisReply *user,
    redisReply *event, redisReply *seats, redisReply *pttl)
{
    json_t     *ids, *out;
    long long   ms;

    ids = ngx_http_evently_hold_seat_list(seats);
    if (ids == NULL) {
        return NULL;
    }

    ms = pttl->type == REDIS_REPLY_INTEGER ? pttl->integer : 0;

    out = json_pack("{s:s%, s:s%, s:o, s:I}",
                    "hold_id", hold_id->data, hold_id->len,
                    "event_id", event->str, event->len,
                    "seat_ids", ids,
                    "ttl_seconds", (json_int_t) ((ms + 999) / 1000));

    if (out && user) {
        if (json_object_set_new(out, "user_id",
                                json_stringn(user->str, user->len)))
        {
            json_decref(out);
            return NULL;
        }
    }

    return out;
}


static ngx_int_t
ngx_http_evently_redis_down(ngx_http_request_t *r)
{
    return ngx_http_evently_send_unavailable(r, "REDIS_UNAVAILABLE",
                                             "Seat holds are unavailable "
                                             "right now, retry shortly");
}


ngx_uint_t
ngx_http_evently_hold_reply_is(redisReply *reply, const char *status)
{
    redisReply  *first;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements == 0)
    {
        return 0;
    }

    first = reply->element[0];

    return first->type == REDIS_REPLY_STRING
           && first->len == ngx_strlen(status)
           && ngx_strncmp(first->str, status, first->len) == 0;
}


json_t *
ngx_http_evently_hold_seat_list(redisReply *seat_ids)
{
    u_char  *s, *last, *comma;
    json_t  *ids;

    if (seat_ids == NULL || seat_ids->type != REDIS_REPLY_STRING) {
        return NULL;
    }

    ids = json_array();
    if (ids == NULL) {
        return NULL;
    }

    s = (u_char *) seat_ids->str;
    last = s + seat_ids->len;

    while (s < last) {
        comma = ngx_strlchr(s, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        if (json_array_append_new(ids, json_stringn((char *) s, comma - s))) {
            json_decref(ids);
            return NULL;
        }

        s = comma + 1;
    }

    return ids;
}


ngx_int_t
ngx_http_evently_sql_with_holds(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, ngx_str_t *event_id,
    ngx_http_evently_sql_pt next, ngx_uint_t required)
{
    const char                    *argv[1];
    size_t                         argvlen[1];
    ngx_http_evently_redis_cmd_t  *cmd;

    if (event_id) {
        argv[0] = (char *) event_id->data;
        argvlen[0] = event_id->len;
    }

    ctx->sql_next = next;
    ctx->holds_required = required;

    cmd = ngx_http_evently_redis_eval(r->pool, r->connection->log,
                                      ngx_http_evently_held_done, r,
                                      &ngx_http_evently_held_script, 0,
                                      event_id ? 1 : 0, argv, argvlen);

    if (cmd == NULL) {
        return ngx_http_evently_held_run(r, ctx, NULL);
    }

    ctx->pending = cmd;

    return ngx_http_evently_suspend(r);
}


static void
ngx_http_evently_held_done(void *data, redisReply *reply)
{
    ngx_http_request_t *r = data;

    ngx_http_evently_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    ctx->pending = NULL;

    ngx_http_evently_resume(r, ngx_http_evently_held_run(r, ctx,
                                       ngx_http_evently_held_json(reply)));
}


/* held NULL: Redis did not say; answer from PostgreSQL alone, and say so */

static ngx_int_t
ngx_http_evently_held_run(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, json_t *held)
{
    if (held == NULL) {
        if (ctx->holds_required) {
            return ngx_http_evently_send_unavailable(r, "REDIS_UNAVAILABLE",
                                                     "Seat holds are "
                                                     "unavailable right now, "
                                                     "retry shortly");
        }

        held = json_object();

        if (held == NULL
            || json_object_set_new(ctx->args, "_holds_unknown", json_true())
            || ngx_http_evently_holds_unknown(r) != NGX_OK)
        {
            json_decref(held);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (json_object_set_new(ctx->args, "_held", held) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_evently_sql_call(r, ctx, &ctx->op->stmt, ctx->sql_next);
}


/* the held script's answer as {"<event>":["<seat>", ...]}, or NULL */

json_t *
ngx_http_evently_held_json(redisReply *reply)
{
    size_t       i, j;
    json_t      *held, *seats;
    redisReply  *ev, *list, *seat;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        return NULL;
    }

    held = json_object();

    for (i = 0; held && i + 1 < reply->elements; i += 2) {
        ev = reply->element[i];
        list = reply->element[i + 1];

        if (ev->type != REDIS_REPLY_STRING
            || list->type != REDIS_REPLY_ARRAY
            || !ngx_http_evently_is_uuid((u_char *) ev->str, ev->len))
        {
            continue;
        }

        seats = json_array();
        if (seats == NULL) {
            json_decref(held);
            return NULL;
        }

        for (j = 0; j < list->elements; j++) {
            seat = list->element[j];

            /* what PostgreSQL casts to uuid[] must be UUIDs */

            if (seat->type == REDIS_REPLY_STRING
                && ngx_http_evently_is_uuid((u_char *) seat->str, seat->len))
            {
                (void) json_array_append_new(seats,
                                     json_stringn(seat->str, seat->len));
            }
        }

        if (json_object_set_new(held, ev->str, seats) != 0) {
            json_decref(held);
            return NULL;
        }
    }

    return held;
}


/*
 * Availability answered without Redis counts held seats as free: the
 * client is told (Evently-Holds: unknown) rather than misled.
 */

static ngx_int_t
ngx_http_evently_holds_unknown(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Evently-Holds");
    ngx_str_set(&h->value, "unknown");

    return NGX_OK;
}
