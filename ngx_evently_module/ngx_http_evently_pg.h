
/*
 * Copyright (C) Evently
 */


#ifndef _NGX_HTTP_EVENTLY_PG_H_INCLUDED_
#define _NGX_HTTP_EVENTLY_PG_H_INCLUDED_


#include "ngx_http_evently_module.h"
#include <libpq-fe.h>


#define NGX_HTTP_EVENTLY_PG_MAX_PARAMS  8


typedef struct ngx_http_evently_pg_query_s  ngx_http_evently_pg_query_t;
typedef struct ngx_http_evently_pg_conn_s   ngx_http_evently_pg_conn_t;

/*
 * rc is NGX_OK with a result (which may carry an SQL error), NGX_ERROR
 * when the connection failed, NGX_BUSY when the query waited too long
 * for a free connection, NGX_ETIMEDOUT when the server did not answer in
 * time.  The engine owns res and clears it after the handler returns.
 */
typedef void (*ngx_http_evently_pg_handler_pt)(void *data, PGresult *res,
    ngx_int_t rc);


struct ngx_http_evently_pg_query_s {
    ngx_http_evently_stmt_t          *stmt;
    const char                       *values[NGX_HTTP_EVENTLY_PG_MAX_PARAMS];
    ngx_uint_t                        nvalues;

    ngx_http_evently_pg_handler_pt    handler;
    void                             *data;
    ngx_log_t                        *log;

    ngx_queue_t                       queue;    /* waiting for a conn */
    ngx_event_t                       wait;     /* queue timeout */
    ngx_http_evently_pg_conn_t       *conn;     /* running on */

    unsigned                          queued:1;
    unsigned                          done:1;
};


ngx_int_t ngx_http_evently_pg_init_process(ngx_cycle_t *cycle,
    ngx_http_evently_main_conf_t *mcf);
void ngx_http_evently_pg_exit_process(ngx_cycle_t *cycle);

ngx_http_evently_pg_query_t *ngx_http_evently_pg_query_create(
    ngx_pool_t *pool, ngx_log_t *log, ngx_http_evently_stmt_t *stmt);
ngx_int_t ngx_http_evently_pg_send(ngx_http_evently_pg_query_t *q);
void ngx_http_evently_pg_cancel(ngx_http_evently_pg_query_t *q);

ngx_int_t ngx_http_evently_pg_available(void);

/* ngx_http_evently_handler.c: a request's side of a query */
ngx_int_t ngx_http_evently_pg_start(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, ngx_http_evently_pg_query_t *q);
ngx_int_t ngx_http_evently_pg_failed(ngx_http_request_t *r, PGresult *res,
    ngx_int_t rc);
ngx_uint_t ngx_http_evently_pg_is_unique_violation(PGresult *res);
const char *ngx_http_evently_pg_sqlstate(PGresult *res);


#endif /* _NGX_HTTP_EVENTLY_PG_H_INCLUDED_ */
