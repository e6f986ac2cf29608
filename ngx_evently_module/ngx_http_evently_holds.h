
/*
 * Copyright (C) Evently
 */


#ifndef _NGX_HTTP_EVENTLY_HOLDS_H_INCLUDED_
#define _NGX_HTTP_EVENTLY_HOLDS_H_INCLUDED_


#include "ngx_http_evently_module.h"
#include <hiredis/hiredis.h>


/*
 * Seat holds live in Redis only, with TTLs (db selected by
 * evently_redis_db):
 *
 *   evently:seat:<event>:<seat>   hold id (or "booked:<booking>" for a
 *                                 minute after a confirm), PX = expiry
 *   evently:hold:<hold>           hash: user_id, event_id, seat_ids
 *                                 (comma list), seats (JSON), total_price,
 *                                 expires (ms), PX = expiry
 *   evently:user_holds:<user>     zset hold id -> expiry (ms)
 *   evently:event_held:<event>    zset seat id -> expiry (ms)
 *   evently:held_events           zset event id -> latest expiry (ms)
 *
 * PostgreSQL never learns about holds; what is BOOKED comes from
 * PostgreSQL only.
 */


/*
 * Runs the op's SQL function with args._held set to the seats held right
 * now: {"<event_id>":["<seat_id>", ...], ...}.  event_id NULL: every event
 * with live holds.  When Redis is unavailable _held is {} and
 * args._holds_unknown is true (and the answer says Evently-Holds:
 * unknown), unless required: then 503 REDIS_UNAVAILABLE.  next gets the
 * SQL row as with ngx_http_evently_sql_call().  Returns like an op
 * handler.
 */
ngx_int_t ngx_http_evently_sql_with_holds(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, ngx_str_t *event_id,
    ngx_http_evently_sql_pt next, ngx_uint_t required);

#define ngx_http_evently_run_sql_op_with_holds(r, ctx, event_id)              \
    ngx_http_evently_sql_with_holds(r, ctx, event_id, NULL, 0)


/*
 * The script that reads the seats held now (ARGV: event ids; none: every
 * event with live holds), and its answer as {"<event>":["<seat>", ...]}
 * (NULL when Redis failed).
 */
struct ngx_http_evently_redis_script_s;
extern struct ngx_http_evently_redis_script_s  ngx_http_evently_held_script;
json_t *ngx_http_evently_held_json(redisReply *reply);


/* a hold script's answer: an array whose first element is a status word */
ngx_uint_t ngx_http_evently_hold_reply_is(redisReply *reply,
    const char *status);

/* a hold's "seat_ids" field (a comma list) as a JSON array, or NULL */
json_t *ngx_http_evently_hold_seat_list(redisReply *seat_ids);


#endif /* _NGX_HTTP_EVENTLY_HOLDS_H_INCLUDED_ */
