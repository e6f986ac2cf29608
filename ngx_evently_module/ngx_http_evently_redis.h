
/*
 * Copyright (C) Evently
 */


#ifndef _NGX_HTTP_EVENTLY_REDIS_H_INCLUDED_
#define _NGX_HTTP_EVENTLY_REDIS_H_INCLUDED_


#include "ngx_http_evently_module.h"
#include <hiredis/hiredis.h>
#include <hiredis/async.h>


typedef struct ngx_http_evently_redis_cmd_s  ngx_http_evently_redis_cmd_t;

/*
 * reply is NULL when Redis failed or timed out; hiredis frees the reply
 * after the handler returns.
 */
typedef void (*ngx_http_evently_redis_handler_pt)(void *data,
    redisReply *reply);


typedef struct ngx_http_evently_redis_script_s {
    ngx_str_t                            name;
    ngx_str_t                            source;   /* Lua */
    u_char                               sha1[41];
    unsigned                             hashed:1;
} ngx_http_evently_redis_script_t;


ngx_int_t ngx_http_evently_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_evently_main_conf_t *mcf);
void ngx_http_evently_redis_exit_process(ngx_cycle_t *cycle);

ngx_http_evently_redis_cmd_t *ngx_http_evently_redis_command(
    ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_evently_redis_handler_pt handler, void *data,
    int argc, const char **argv, const size_t *argvlen);
ngx_http_evently_redis_cmd_t *ngx_http_evently_redis_eval(
    ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_evently_redis_handler_pt handler, void *data,
    ngx_http_evently_redis_script_t *script, int nkeys,
    int argc, const char **argv, const size_t *argvlen);
void ngx_http_evently_redis_cancel(ngx_http_evently_redis_cmd_t *cmd);
ngx_int_t ngx_http_evently_redis_available(void);


#endif /* _NGX_HTTP_EVENTLY_REDIS_H_INCLUDED_ */
