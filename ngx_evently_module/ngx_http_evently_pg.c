
/*
 * Copyright (C) Evently
 *
 * A per-worker pool of libpq connections in non-blocking pipeline mode,
 * their sockets registered level-triggered on the nginx event loop.
 *
 * Each query is one pipeline: [Parse,] Bind/Execute, Sync -- one round
 * trip, one implicit transaction.  Statements are prepared lazily per
 * connection.  A request that goes away only detaches from its query:
 * the connection drains the result and goes back to the pool.
 *
 * Connections are opened in the thread pool: the login may resolve a
 * host name, negotiate TLS and run SCRAM-SHA-256 (4096 HMAC rounds), all
 * of which would stall every request of the worker.  The event loop takes
 * over the established connection.
 */


#include "ngx_http_evently_pg.h"


#define NGX_HTTP_EVENTLY_PG_MAX_STMTS      512
#define NGX_HTTP_EVENTLY_PG_BACKOFF_MIN    50
#define NGX_HTTP_EVENTLY_PG_BACKOFF_MAX    2000


typedef enum {
    NGX_HTTP_EVENTLY_PG_CLOSED = 0,
    NGX_HTTP_EVENTLY_PG_CONNECTING,
    NGX_HTTP_EVENTLY_PG_IDLE,
    NGX_HTTP_EVENTLY_PG_BUSY
} ngx_http_evently_pg_state_e;


typedef enum {
    NGX_HTTP_EVENTLY_PG_PHASE_PREPARE = 0,
    NGX_HTTP_EVENTLY_PG_PHASE_QUERY,
    NGX_HTTP_EVENTLY_PG_PHASE_SYNC
} ngx_http_evently_pg_phase_e;


struct ngx_http_evently_pg_conn_s {
    PGconn                         *pgconn;
    ngx_connection_t               *c;
    ngx_http_evently_pg_state_e     state;
    ngx_http_evently_pg_phase_e     phase;
    ngx_http_evently_pg_query_t    *query;
    PGresult                       *result;
    ngx_event_t                     timer;
    ngx_msec_t                      backoff;
    ngx_uint_t                      id;
    ngx_uint_t                      stmt_index;
    ngx_thread_task_t              *task;      /* the login, in a thread */
    uint64_t                        prepared[NGX_HTTP_EVENTLY_PG_MAX_STMTS
                                             / 64];
};


/* a thread's own view: it never reads the per-worker globals */

typedef struct {
    const char                    **keywords;
    const char                    **values;
    PGconn                         *pgconn;
} ngx_http_evently_pg_login_t;


typedef struct {
    ngx_http_evently_main_conf_t   *mcf;
    ngx_log_t                      *log;
    ngx_http_evently_pg_conn_t     *conns;
    ngx_uint_t                      nconns;
    ngx_queue_t                     waiting;
    ngx_uint_t                      nwaiting;
    ngx_uint_t                      healthy;
    ngx_uint_t                      failing;   /* unsigned:1 */
    const char                     *keywords[5];
    const char                     *values[5];
} ngx_http_evently_pg_pool_t;


static void ngx_http_evently_pg_connect(ngx_http_evently_pg_conn_t *pc);
static ngx_int_t ngx_http_evently_pg_wrap(ngx_http_evently_pg_conn_t *pc);
static void ngx_http_evently_pg_unwrap(ngx_http_evently_pg_conn_t *pc);
static void ngx_http_evently_pg_event_handler(ngx_event_t *ev);
static void ngx_http_evently_pg_timer_handler(ngx_event_t *ev);
static void ngx_http_evently_pg_login_thread(void *data, ngx_log_t *log);
static void ngx_http_evently_pg_login_done(ngx_event_t *ev);
static void ngx_http_evently_pg_connected(ngx_http_evently_pg_conn_t *pc);
static ngx_int_t ngx_http_evently_pg_run(ngx_http_evently_pg_conn_t *pc,
    ngx_http_evently_pg_query_t *q);
static ngx_int_t ngx_http_evently_pg_flush(ngx_http_evently_pg_conn_t *pc);
static void ngx_http_evently_pg_read(ngx_http_evently_pg_conn_t *pc);
static void ngx_http_evently_pg_complete(ngx_http_evently_pg_conn_t *pc);
static void ngx_http_evently_pg_close(ngx_http_evently_pg_conn_t *pc,
    ngx_int_t rc);
static void ngx_http_evently_pg_dispatch(void);
static ngx_uint_t ngx_http_evently_pg_logging_in(void);
static void ngx_http_evently_pg_fail_waiting(void);
static void ngx_http_evently_pg_wait_handler(ngx_event_t *ev);
static void ngx_http_evently_pg_query_cleanup(void *data);
static void ngx_http_evently_pg_notice(void *arg, const char *message);


static ngx_http_evently_pg_pool_t  *ngx_http_evently_pg_pool;
static ngx_uint_t                   ngx_http_evently_pg_nstmts;


ngx_int_t
ngx_http_evently_pg_init_process(ngx_cycle_t *cycle,
    ngx_http_evently_main_conf_t *mcf)
{
    u_char                       *p;
    size_t                        len;
    ngx_uint_t                    i;
    ngx_http_evently_pg_conn_t   *pc;
    ngx_http_evently_pg_pool_t   *pool;
    ngx_http_evently_pg_login_t  *login;

    if (mcf->pg_conninfo.len == 0) {
        return NGX_OK;
    }

    pool = ngx_pcalloc(cycle->pool, sizeof(ngx_http_evently_pg_pool_t));
    if (pool == NULL) {
        return NGX_ERROR;
    }

    pool->mcf = mcf;
    pool->log = cycle->log;
    pool->nconns = mcf->pg_pool_size;
    ngx_queue_init(&pool->waiting);

    pool->conns = ngx_pcalloc(cycle->pool,
                       pool->nconns * sizeof(ngx_http_evently_pg_conn_t));
    if (pool->conns == NULL) {
        return NGX_ERROR;
    }

    /*
     * The configured conninfo is expanded from "dbname"; the keywords
     * after it override it, so the session always has our settings.
     */

    len = sizeof("-c statement_timeout= -c timezone=UTC") + NGX_INT_T_LEN;
    p = ngx_pnalloc(cycle->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_snprintf(p, len, "-c statement_timeout=%M -c timezone=UTC%Z",
                 mcf->pg_statement_timeout);

    pool->keywords[0] = "dbname";
    pool->values[0] = (const char *) mcf->pg_conninfo.data;
    pool->keywords[1] = "application_name";
    pool->values[1] = "evently";
    pool->keywords[2] = "options";
    pool->values[2] = (const char *) p;

    /* libpq counts whole seconds, and at least 2 */

    p = ngx_pnalloc(cycle->pool, NGX_INT_T_LEN + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(p, "%M%Z", ngx_max((mcf->pg_connect_timeout + 999) / 1000,
                                   (ngx_msec_t) 2));

    pool->keywords[3] = "connect_timeout";
    pool->values[3] = (const char *) p;
    pool->keywords[4] = NULL;
    pool->values[4] = NULL;

    if (mcf->thread_pool == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "evently: thread pool \"%V\" not found",
                      &mcf->thread_pool_name);
        return NGX_ERROR;
    }

    ngx_http_evently_pg_pool = pool;

    for (i = 0; i < pool->nconns; i++) {
        pc = &pool->conns[i];
        pc->id = i;
        pc->timer.handler = ngx_http_evently_pg_timer_handler;
        pc->timer.data = pc;
        pc->timer.log = cycle->log;
        pc->backoff = NGX_HTTP_EVENTLY_PG_BACKOFF_MIN;

        pc->task = ngx_thread_task_alloc(cycle->pool,
                                         sizeof(ngx_http_evently_pg_login_t));
        if (pc->task == NULL) {
            return NGX_ERROR;
        }

        login = pc->task->ctx;
        login->keywords = pool->keywords;
        login->values = pool->values;

        pc->task->handler = ngx_http_evently_pg_login_thread;
        pc->task->event.handler = ngx_http_evently_pg_login_done;
        pc->task->event.data = pc;
        pc->task->event.log = cycle->log;

        ngx_http_evently_pg_connect(pc);
    }

    return NGX_OK;
}


void
ngx_http_evently_pg_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                    i;
    ngx_queue_t                  *qq;
    ngx_http_evently_pg_conn_t   *pc;
    ngx_http_evently_pg_pool_t   *pool;
    ngx_http_evently_pg_query_t  *q;
    ngx_http_evently_pg_login_t  *login;

    pool = ngx_http_evently_pg_pool;

    if (pool == NULL) {
        return;
    }

    /* the requests die with the worker: detach them, never call back */

    while (!ngx_queue_empty(&pool->waiting)) {
        qq = ngx_queue_head(&pool->waiting);
        q = ngx_queue_data(qq, ngx_http_evently_pg_query_t, queue);
        ngx_http_evently_pg_cancel(q);
    }

    for (i = 0; i < pool->nconns; i++) {
        pc = &pool->conns[i];

        /*
         * nginx's thread pools exit first (a core module) and join their
         * threads: a login that finished without being taken over is
         * still in its task.
         */

        login = pc->task->ctx;

        if (login->pgconn) {
            PQfinish(login->pgconn);
            login->pgconn = NULL;
        }

        if (pc->query) {
            pc->query->conn = NULL;
            pc->query = NULL;
        }

        if (pc->timer.timer_set) {
            ngx_del_timer(&pc->timer);
        }

        if (pc->pgconn) {
            ngx_http_evently_pg_close(pc, NGX_DONE);
        }
    }

    ngx_http_evently_pg_pool = NULL;
}


ngx_http_evently_pg_query_t *
ngx_http_evently_pg_query_create(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_evently_stmt_t *stmt)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_evently_pg_query_t  *q;

    q = ngx_pcalloc(pool, sizeof(ngx_http_evently_pg_query_t));
    if (q == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_evently_pg_query_cleanup;
    cln->data = q;

    q->stmt = stmt;
    q->log = log;
    q->wait.handler = ngx_http_evently_pg_wait_handler;
    q->wait.data = q;
    q->wait.log = log;

    return q;
}


/*
 * NGX_OK: the handler will be called later, never from within this call;
 * NGX_DECLINED: PostgreSQL is unavailable; NGX_BUSY: the queue is full.
 */

ngx_int_t
ngx_http_evently_pg_send(ngx_http_evently_pg_query_t *q)
{
    ngx_uint_t                   i;
    ngx_http_evently_pg_conn_t  *pc;
    ngx_http_evently_pg_pool_t  *pool;

    pool = ngx_http_evently_pg_pool;

    if (pool == NULL) {
        return NGX_DECLINED;
    }

    if (q->stmt->index == 0) {
        if (ngx_http_evently_pg_nstmts + 1 >= NGX_HTTP_EVENTLY_PG_MAX_STMTS) {
            ngx_log_error(NGX_LOG_ALERT, q->log, 0,
                          "evently: too many prepared statements");
            return NGX_ERROR;
        }

        q->stmt->index = ++ngx_http_evently_pg_nstmts;
    }

    q->done = 0;

    for (i = 0; i < pool->nconns; i++) {
        pc = &pool->conns[i];

        if (pc->state != NGX_HTTP_EVENTLY_PG_IDLE) {
            continue;
        }

        if (ngx_http_evently_pg_run(pc, q) == NGX_OK) {
            return NGX_OK;
        }

        ngx_http_evently_pg_close(pc, NGX_ERROR);
    }

    if (pool->healthy == 0 && pool->failing) {
        return NGX_DECLINED;
    }

    if (pool->nwaiting >= pool->mcf->pg_queue_size) {
        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "evently: PostgreSQL queue is full (%ui waiting)",
                      pool->nwaiting);
        return NGX_BUSY;
    }

    ngx_queue_insert_tail(&pool->waiting, &q->queue);
    pool->nwaiting++;
    q->queued = 1;

    ngx_add_timer(&q->wait, pool->mcf->pg_queue_timeout);

    return NGX_OK;
}


void
ngx_http_evently_pg_cancel(ngx_http_evently_pg_query_t *q)
{
    if (q->queued) {
        ngx_queue_remove(&q->queue);
        ngx_http_evently_pg_pool->nwaiting--;
        q->queued = 0;
    }

    if (q->wait.timer_set) {
        ngx_del_timer(&q->wait);
    }

    if (q->conn) {
        /* the connection drains the result and returns to the pool */
        q->conn->query = NULL;
        q->conn = NULL;
    }

    q->done = 1;
}


ngx_int_t
ngx_http_evently_pg_available(void)
{
    return ngx_http_evently_pg_pool != NULL
           && ngx_http_evently_pg_pool->healthy > 0;
}


const char *
ngx_http_evently_pg_sqlstate(PGresult *res)
{
    const char  *state;

    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    return state ? state : "";
}


ngx_uint_t
ngx_http_evently_pg_is_unique_violation(PGresult *res)
{
    return ngx_strcmp(ngx_http_evently_pg_sqlstate(res), "23505") == 0;
}


static void
ngx_http_evently_pg_query_cleanup(void *data)
{
    ngx_http_evently_pg_query_t  *q = data;

    if (ngx_http_evently_pg_pool) {
        ngx_http_evently_pg_cancel(q);

    } else if (q->wait.timer_set) {
        ngx_del_timer(&q->wait);
    }
}


static void
ngx_http_evently_pg_connect(ngx_http_evently_pg_conn_t *pc)
{
    ngx_http_evently_pg_pool_t  *pool;

    pool = ngx_http_evently_pg_pool;

    if (pc->task->event.active) {
        /* the slot's previous login still runs: look again later */
        pc->timer.cancelable = 1;
        ngx_add_timer(&pc->timer, pc->backoff);
        return;
    }

    if (ngx_thread_task_post(pool->mcf->thread_pool, pc->task) != NGX_OK) {
        ngx_http_evently_pg_close(pc, NGX_ERROR);
        return;
    }

    pc->state = NGX_HTTP_EVENTLY_PG_CONNECTING;
}


/* runs in a pool thread: a blocking login, bounded by connect_timeout */

static void
ngx_http_evently_pg_login_thread(void *data, ngx_log_t *log)
{
    ngx_http_evently_pg_login_t  *login = data;

    login->pgconn = PQconnectdbParams(login->keywords, login->values, 1);
}


/* back on the event loop: take the connection over, or retry later */

static void
ngx_http_evently_pg_login_done(ngx_event_t *ev)
{
    PGconn                       *pgconn;
    ngx_http_evently_pg_conn_t   *pc;
    ngx_http_evently_pg_pool_t   *pool;
    ngx_http_evently_pg_login_t  *login;

    pc = ev->data;
    login = pc->task->ctx;
    pgconn = login->pgconn;
    login->pgconn = NULL;

    pool = ngx_http_evently_pg_pool;

    if (pool == NULL || pc->state != NGX_HTTP_EVENTLY_PG_CONNECTING
        || pc->pgconn != NULL)
    {
        /* the worker is leaving, or the slot was closed meanwhile */
        if (pgconn) {
            PQfinish(pgconn);
        }

        return;
    }

    pc->pgconn = pgconn;

    if (pgconn == NULL || PQstatus(pgconn) != CONNECTION_OK) {
        ngx_log_error((pool->failing ? NGX_LOG_INFO : NGX_LOG_ERR),
                      pool->log, 0,
                      "evently: connecting to PostgreSQL failed: %s",
                      pgconn ? PQerrorMessage(pgconn) : "out of memory");
        ngx_http_evently_pg_close(pc, NGX_ERROR);
        return;
    }

    if (PQsetnonblocking(pgconn, 1) == -1) {
        ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                      "evently: PQsetnonblocking() failed: %s",
                      PQerrorMessage(pgconn));
        ngx_http_evently_pg_close(pc, NGX_ERROR);
        return;
    }

    PQsetNoticeProcessor(pgconn, ngx_http_evently_pg_notice, pc);

    if (ngx_http_evently_pg_wrap(pc) != NGX_OK) {
        ngx_http_evently_pg_close(pc, NGX_ERROR);
        return;
    }

    ngx_http_evently_pg_connected(pc);
}


static ngx_int_t
ngx_http_evently_pg_wrap(ngx_http_evently_pg_conn_t *pc)
{
    int                          fd;
    ngx_connection_t            *c;
    ngx_http_evently_pg_pool_t  *pool;

    pool = ngx_http_evently_pg_pool;

    fd = PQsocket(pc->pgconn);
    if (fd == -1) {
        ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                      "evently: PostgreSQL connection has no socket");
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, pool->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = pc;
    c->read->handler = ngx_http_evently_pg_event_handler;
    c->write->handler = ngx_http_evently_pg_event_handler;
    c->read->log = pool->log;
    c->write->log = pool->log;

    pc->c = c;

    /*
     * Level-triggered: one PQconsumeInput() per readiness report is not
     * guaranteed to drain the socket.
     */

    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        ngx_http_evently_pg_unwrap(pc);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * libpq owns the socket: nginx only forgets it, never closes it.  When
 * libpq has already dropped the socket (a failed read closes it), the
 * kernel has removed it from epoll and the descriptor may even belong to
 * somebody else by now, so it must not be touched.
 */

static void
ngx_http_evently_pg_unwrap(ngx_http_evently_pg_conn_t *pc)
{
    ngx_uint_t         flags;
    ngx_connection_t  *c;

    c = pc->c;

    if (c == NULL) {
        return;
    }

    flags = (pc->pgconn && PQsocket(pc->pgconn) == c->fd)
            ? 0 : NGX_CLOSE_EVENT;

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, flags);
    }

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, flags);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    pc->c = NULL;
}


static void
ngx_http_evently_pg_event_handler(ngx_event_t *ev)
{
    ngx_connection_t            *c;
    ngx_http_evently_pg_conn_t  *pc;

    c = ev->data;
    pc = c->data;

    switch (pc->state) {

    case NGX_HTTP_EVENTLY_PG_BUSY:

        if (ev->write) {
            if (ngx_http_evently_pg_flush(pc) != NGX_OK) {
                ngx_http_evently_pg_close(pc, NGX_ERROR);
            }

            return;
        }

        if (!PQconsumeInput(pc->pgconn)) {
            ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                          "evently: PostgreSQL read failed: %s",
                          PQerrorMessage(pc->pgconn));
            ngx_http_evently_pg_close(pc, NGX_ERROR);
            return;
        }

        /* libpq may need to send while receiving: keep flushing */

        if (ngx_http_evently_pg_flush(pc) != NGX_OK) {
            ngx_http_evently_pg_close(pc, NGX_ERROR);
            return;
        }

        ngx_http_evently_pg_read(pc);
        return;

    case NGX_HTTP_EVENTLY_PG_IDLE:

        if (ev->write) {
            return;
        }

        /* an idle connection only reads when the server goes away */

        if (!PQconsumeInput(pc->pgconn)
            || PQstatus(pc->pgconn) == CONNECTION_BAD)
        {
            ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                          "evently: idle PostgreSQL connection lost: %s",
                          PQerrorMessage(pc->pgconn));
            ngx_http_evently_pg_close(pc, NGX_ERROR);
        }

        return;

    default:
        return;
    }
}


static void
ngx_http_evently_pg_connected(ngx_http_evently_pg_conn_t *pc)
{
    ngx_http_evently_pg_pool_t  *pool;

    pool = ngx_http_evently_pg_pool;

    if (!PQenterPipelineMode(pc->pgconn)) {
        ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                      "evently: PQenterPipelineMode() failed: %s",
                      PQerrorMessage(pc->pgconn));
        ngx_http_evently_pg_close(pc, NGX_ERROR);
        return;
    }

    if (pool->failing || pool->healthy == 0) {
        ngx_log_error(NGX_LOG_NOTICE, pool->log, 0,
                      "evently: connected to PostgreSQL");
    }

    ngx_memzero(pc->prepared, sizeof(pc->prepared));

    pc->state = NGX_HTTP_EVENTLY_PG_IDLE;
    pc->backoff = NGX_HTTP_EVENTLY_PG_BACKOFF_MIN;
    pool->healthy++;
    pool->failing = 0;

    ngx_http_evently_pg_dispatch();
}


static ngx_int_t
ngx_http_evently_pg_run(ngx_http_evently_pg_conn_t *pc,
    ngx_http_evently_pg_query_t *q)
{
    ngx_uint_t                   idx, prepared;
    ngx_http_evently_stmt_t     *stmt;
    ngx_http_evently_pg_pool_t  *pool;

    pool = ngx_http_evently_pg_pool;
    stmt = q->stmt;
    idx = stmt->index;

    prepared = pc->prepared[idx / 64] & ((uint64_t) 1 << (idx % 64));

    if (!prepared) {
        if (!PQsendPrepare(pc->pgconn, (char *) stmt->name.data,
                           (char *) stmt->sql.data, (int) stmt->nparams,
                           NULL))
        {
            goto failed;
        }

        pc->phase = NGX_HTTP_EVENTLY_PG_PHASE_PREPARE;

    } else {
        pc->phase = NGX_HTTP_EVENTLY_PG_PHASE_QUERY;
    }

    /* libpq copies the parameters into its buffer here */

    if (!PQsendQueryPrepared(pc->pgconn, (char *) stmt->name.data,
                             (int) q->nvalues, q->values, NULL, NULL, 0))
    {
        goto failed;
    }

    if (!PQpipelineSync(pc->pgconn)) {
        goto failed;
    }

    pc->state = NGX_HTTP_EVENTLY_PG_BUSY;
    pc->stmt_index = idx;
    pc->query = q;
    q->conn = pc;

    if (ngx_http_evently_pg_flush(pc) != NGX_OK) {
        pc->query = NULL;
        q->conn = NULL;
        return NGX_ERROR;
    }

    /* not cancelable: graceful shutdown waits for the answer */

    pc->timer.cancelable = 0;
    ngx_add_timer(&pc->timer, pool->mcf->pg_timeout);

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_ERR, q->log, 0,
                  "evently: sending query \"%V\" failed: %s",
                  &stmt->name, PQerrorMessage(pc->pgconn));

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_evently_pg_flush(ngx_http_evently_pg_conn_t *pc)
{
    int                rc;
    ngx_connection_t  *c;

    c = pc->c;

    rc = PQflush(pc->pgconn);

    if (rc == -1) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "evently: PostgreSQL write failed: %s",
                      PQerrorMessage(pc->pgconn));
        return NGX_ERROR;
    }

    if (rc == 1) {
        if (!c->write->active
            && ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (c->write->active) {
        if (ngx_del_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_evently_pg_read(ngx_http_evently_pg_conn_t *pc)
{
    PGresult        *res;
    ExecStatusType   status;

    for ( ;; ) {

        if (PQisBusy(pc->pgconn)) {
            return;
        }

        res = PQgetResult(pc->pgconn);

        switch (pc->phase) {

        case NGX_HTTP_EVENTLY_PG_PHASE_PREPARE:

            if (res == NULL) {
                pc->phase = NGX_HTTP_EVENTLY_PG_PHASE_QUERY;
                continue;
            }

            if (PQresultStatus(res) == PGRES_COMMAND_OK) {
                pc->prepared[pc->stmt_index / 64]
                    |= (uint64_t) 1 << (pc->stmt_index % 64);
                PQclear(res);
                continue;
            }

            /* the query that follows is aborted: keep the real error */

            if (pc->result == NULL) {
                pc->result = res;

            } else {
                PQclear(res);
            }

            continue;

        case NGX_HTTP_EVENTLY_PG_PHASE_QUERY:

            if (res == NULL) {
                pc->phase = NGX_HTTP_EVENTLY_PG_PHASE_SYNC;
                continue;
            }

            if (pc->result == NULL) {
                pc->result = res;

            } else {
                PQclear(res);
            }

            continue;

        default: /* NGX_HTTP_EVENTLY_PG_PHASE_SYNC */

            if (res == NULL) {
                return;
            }

            status = PQresultStatus(res);
            PQclear(res);

            if (status == PGRES_PIPELINE_SYNC) {
                ngx_http_evently_pg_complete(pc);
                return;
            }

            continue;
        }
    }
}


static void
ngx_http_evently_pg_complete(ngx_http_evently_pg_conn_t *pc)
{
    PGresult                     *res;
    ngx_http_evently_pg_query_t  *q;

    q = pc->query;
    res = pc->result;

    pc->query = NULL;
    pc->result = NULL;
    pc->state = NGX_HTTP_EVENTLY_PG_IDLE;

    if (pc->timer.timer_set) {
        ngx_del_timer(&pc->timer);
    }

    if (q) {
        q->conn = NULL;
        q->done = 1;

        if (res == NULL) {
            ngx_log_error(NGX_LOG_ERR, q->log, 0,
                          "evently: query \"%V\" returned no result",
                          &q->stmt->name);
            q->handler(q->data, NULL, NGX_ERROR);

        } else {
            q->handler(q->data, res, NGX_OK);
        }
    }

    if (res) {
        PQclear(res);
    }

    ngx_http_evently_pg_dispatch();
}


static void
ngx_http_evently_pg_close(ngx_http_evently_pg_conn_t *pc, ngx_int_t rc)
{
    ngx_uint_t                    was_healthy;
    ngx_http_evently_pg_pool_t   *pool;
    ngx_http_evently_pg_query_t  *q;

    pool = ngx_http_evently_pg_pool;

    was_healthy = (pc->state == NGX_HTTP_EVENTLY_PG_IDLE
                   || pc->state == NGX_HTTP_EVENTLY_PG_BUSY);

    q = pc->query;
    pc->query = NULL;

    if (pc->result) {
        PQclear(pc->result);
        pc->result = NULL;
    }

    if (pc->timer.timer_set) {
        ngx_del_timer(&pc->timer);
    }

    ngx_http_evently_pg_unwrap(pc);

    if (pc->pgconn) {
        PQfinish(pc->pgconn);
        pc->pgconn = NULL;
    }

    pc->state = NGX_HTTP_EVENTLY_PG_CLOSED;

    if (was_healthy) {
        pool->healthy--;
    }

    if (rc == NGX_DONE) {
        return;     /* worker exit */
    }

    if (pool->healthy == 0 && !was_healthy
        && !ngx_http_evently_pg_logging_in())
    {
        /*
         * Every login failed and none is still trying: fail fast instead
         * of letting requests wait for the queue timeout.
         */
        pool->failing = 1;
    }

    /* reconnect later: a cancelable timer never delays worker exit */

    pc->timer.cancelable = 1;
    ngx_add_timer(&pc->timer, pc->backoff);

    pc->backoff *= 2;
    if (pc->backoff > NGX_HTTP_EVENTLY_PG_BACKOFF_MAX) {
        pc->backoff = NGX_HTTP_EVENTLY_PG_BACKOFF_MAX;
    }

    if (q) {
        q->conn = NULL;
        q->done = 1;
        q->handler(q->data, NULL, rc);
    }

    if (pool->failing) {
        ngx_http_evently_pg_fail_waiting();
    }
}


static void
ngx_http_evently_pg_timer_handler(ngx_event_t *ev)
{
    ngx_http_evently_pg_conn_t  *pc;

    pc = ev->data;

    switch (pc->state) {

    case NGX_HTTP_EVENTLY_PG_CLOSED:
        if (ngx_exiting || ngx_terminate || ngx_quit) {
            return;
        }

        ngx_http_evently_pg_connect(pc);
        return;

    case NGX_HTTP_EVENTLY_PG_BUSY:
        ngx_log_error(NGX_LOG_ERR, ev->log, NGX_ETIMEDOUT,
                      "evently: PostgreSQL query timed out");

        /* closing is the only non-blocking way to abandon the query */

        pc->backoff = NGX_HTTP_EVENTLY_PG_BACKOFF_MIN;
        ngx_http_evently_pg_close(pc, NGX_ETIMEDOUT);
        return;

    default:
        return;
    }
}


static void
ngx_http_evently_pg_dispatch(void)
{
    ngx_uint_t                    i;
    ngx_queue_t                  *qq;
    ngx_http_evently_pg_conn_t   *pc;
    ngx_http_evently_pg_pool_t   *pool;
    ngx_http_evently_pg_query_t  *q;

    pool = ngx_http_evently_pg_pool;

    for (i = 0; i < pool->nconns && !ngx_queue_empty(&pool->waiting); i++) {
        pc = &pool->conns[i];

        if (pc->state != NGX_HTTP_EVENTLY_PG_IDLE) {
            continue;
        }

        qq = ngx_queue_head(&pool->waiting);
        q = ngx_queue_data(qq, ngx_http_evently_pg_query_t, queue);

        ngx_queue_remove(qq);
        pool->nwaiting--;
        q->queued = 0;

        if (q->wait.timer_set) {
            ngx_del_timer(&q->wait);
        }

        if (ngx_http_evently_pg_run(pc, q) != NGX_OK) {
            /* put it back first: closing may fail the waiting queries */
            ngx_queue_insert_head(&pool->waiting, &q->queue);
            pool->nwaiting++;
            q->queued = 1;
            ngx_add_timer(&q->wait, pool->mcf->pg_queue_timeout);

            ngx_http_evently_pg_close(pc, NGX_ERROR);
        }
    }
}


static ngx_uint_t
ngx_http_evently_pg_logging_in(void)
{
    ngx_uint_t                   i;
    ngx_http_evently_pg_pool_t  *pool;

    pool = ngx_http_evently_pg_pool;

    for (i = 0; i < pool->nconns; i++) {
        if (pool->conns[i].state == NGX_HTTP_EVENTLY_PG_CONNECTING) {
            return 1;
        }
    }

    return 0;
}


static void
ngx_http_evently_pg_fail_waiting(void)
{
    ngx_queue_t                  *qq;
    ngx_http_evently_pg_pool_t   *pool;
    ngx_http_evently_pg_query_t  *q;

    pool = ngx_http_evently_pg_pool;

    while (!ngx_queue_empty(&pool->waiting)) {
        qq = ngx_queue_head(&pool->waiting);
        q = ngx_queue_data(qq, ngx_http_evently_pg_query_t, queue);

        ngx_http_evently_pg_cancel(q);
        q->handler(q->data, NULL, NGX_ERROR);
    }
}


static void
ngx_http_evently_pg_wait_handler(ngx_event_t *ev)
{
    ngx_http_evently_pg_query_t  *q;

    q = ev->data;

    ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                  "evently: no PostgreSQL connection became free in time");

    ngx_http_evently_pg_cancel(q);
    q->handler(q->data, NULL, NGX_BUSY);
}


static void
ngx_http_evently_pg_notice(void *arg, const char *message)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "evently: PostgreSQL notice: %s", message);
}
