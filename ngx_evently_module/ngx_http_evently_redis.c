
/*
 * Copyright (C) Evently
 *
 * One hiredis async context per worker on an nginx event adapter.
 *
 * hiredis 0.14 has no timers of its own, so the connect timeout and the
 * per-command timeouts are nginx timers.  hiredis owns and closes the
 * socket: the adapter only registers it (level-triggered, as hiredis
 * reads at most 16 KiB per call) and forgets it in the cleanup hook.
 *
 * A command is a heap token that outlives the request: hiredis calls
 * back exactly once per command, and a request that goes away merely
 * detaches from its token.
 */


#include "ngx_http_evently_redis.h"
#include <openssl/sha.h>


#define NGX_HTTP_EVENTLY_REDIS_BACKOFF_MIN   50
#define NGX_HTTP_EVENTLY_REDIS_BACKOFF_MAX   2000


typedef enum {
    NGX_HTTP_EVENTLY_REDIS_DISCONNECTED = 0,
    NGX_HTTP_EVENTLY_REDIS_CONNECTING,
    NGX_HTTP_EVENTLY_REDIS_CONNECTED
} ngx_http_evently_redis_state_e;


struct ngx_http_evently_redis_cmd_s {
    ngx_http_evently_redis_handler_pt    handler;
    void                                *data;
    ngx_log_t                           *log;
    ngx_event_t                          timer;
    ngx_pool_cleanup_t                  *cln;

    /* kept for a NOSCRIPT retry as EVAL */
    ngx_http_evently_redis_script_t     *script;
    int                                  argc;
    char                               **argv;
    size_t                              *argvlen;
};


typedef struct {
    ngx_http_evently_main_conf_t        *mcf;
    ngx_log_t                           *log;
    redisAsyncContext                   *ac;
    ngx_http_evently_redis_state_e       state;
    ngx_event_t                          timer;
    ngx_msec_t                           backoff;
    char                                *host;
    unsigned                             failing:1;
    unsigned                             exiting:1;
} ngx_http_evently_redis_t;


static void ngx_http_evently_redis_connect(void);
static void ngx_http_evently_redis_timer_handler(ngx_event_t *ev);
static void ngx_http_evently_redis_schedule(void);
static void ngx_http_evently_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_evently_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_evently_redis_setup_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_evently_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_evently_redis_cmd_timeout(ngx_event_t *ev);
static void ngx_http_evently_redis_cmd_free(ngx_http_evently_redis_cmd_t *cmd);
static void ngx_http_evently_redis_cmd_cleanup(void *data);
static ngx_http_evently_redis_cmd_t *ngx_http_evently_redis_cmd_create(
    ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_evently_redis_handler_pt handler, void *data);
static ngx_int_t ngx_http_evently_redis_issue(
    ngx_http_evently_redis_cmd_t *cmd, int argc, const char **argv,
    const size_t *argvlen);

static ngx_int_t ngx_http_evently_redis_attach(redisAsyncContext *ac);
static void ngx_http_evently_redis_add_read(void *privdata);
static void ngx_http_evently_redis_del_read(void *privdata);
static void ngx_http_evently_redis_add_write(void *privdata);
static void ngx_http_evently_redis_del_write(void *privdata);
static void ngx_http_evently_redis_cleanup(void *privdata);
static void ngx_http_evently_redis_read_handler(ngx_event_t *ev);
static void ngx_http_evently_redis_write_handler(ngx_event_t *ev);


static ngx_http_evently_redis_t  *ngx_http_evently_redis;


ngx_int_t
ngx_http_evently_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_evently_main_conf_t *mcf)
{
    ngx_http_evently_redis_t  *rd;

    if (mcf->redis_host.len == 0) {
        return NGX_OK;
    }

    rd = ngx_pcalloc(cycle->pool, sizeof(ngx_http_evently_redis_t));
    if (rd == NULL) {
        return NGX_ERROR;
    }

    rd->host = (char *) ngx_pnalloc(cycle->pool, mcf->redis_host.len + 1);
    if (rd->host == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn((u_char *) rd->host, mcf->redis_host.data,
                       mcf->redis_host.len + 1);

    rd->mcf = mcf;
    rd->log = cycle->log;
    rd->backoff = NGX_HTTP_EVENTLY_REDIS_BACKOFF_MIN;
    rd->timer.handler = ngx_http_evently_redis_timer_handler;
    rd->timer.data = rd;
    rd->timer.log = cycle->log;
    rd->timer.cancelable = 1;

    ngx_http_evently_redis = rd;

    ngx_http_evently_redis_connect();

    return NGX_OK;
}


void
ngx_http_evently_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_evently_redis_t  *rd;

    rd = ngx_http_evently_redis;

    if (rd == NULL) {
        return;
    }

    rd->exiting = 1;

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    if (rd->ac) {
        /* pending tokens are freed without calling their requests */
        redisAsyncFree(rd->ac);
        rd->ac = NULL;
    }

    ngx_http_evently_redis = NULL;
}


ngx_int_t
ngx_http_evently_redis_available(void)
{
    return ngx_http_evently_redis != NULL
           && ngx_http_evently_redis->state
              == NGX_HTTP_EVENTLY_REDIS_CONNECTED;
}


/* NULL: Redis is unavailable or out of memory; nothing was sent */

ngx_http_evently_redis_cmd_t *
ngx_http_evently_redis_command(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_evently_redis_handler_pt handler, void *data,
    int argc, const char **argv, const size_t *argvlen)
{
    ngx_http_evently_redis_cmd_t  *cmd;

    cmd = ngx_http_evently_redis_cmd_create(pool, log, handler, data);
    if (cmd == NULL) {
        return NULL;
    }

    if (ngx_http_evently_redis_issue(cmd, argc, argv, argvlen) != NGX_OK) {
        ngx_http_evently_redis_cmd_free(cmd);
        return NULL;
    }

    return cmd;
}


ngx_http_evently_redis_cmd_t *
ngx_http_evently_redis_eval(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_evently_redis_handler_pt handler, void *data,
    ngx_http_evently_redis_script_t *script, int nkeys,
    int argc, const char **argv, const size_t *argvlen)
{
    int                            i;
    u_char                         digest[SHA_DIGEST_LENGTH];
    u_char                         nkeys_buf[NGX_INT_T_LEN];
    ngx_http_evently_redis_cmd_t  *cmd;

    if (!script->hashed) {
        SHA1(script->source.data, script->source.len, digest);
        ngx_hex_dump(script->sha1, digest, SHA_DIGEST_LENGTH);
        script->sha1[40] = '\0';
        script->hashed = 1;
    }

    cmd = ngx_http_evently_redis_cmd_create(pool, log, handler, data);
    if (cmd == NULL) {
        return NULL;
    }

    /* argv: EVALSHA sha nkeys keys... args... (a heap copy for a retry) */

    cmd->script = script;
    cmd->argc = argc + 3;

    cmd->argv = ngx_alloc(cmd->argc * sizeof(char *), log);
    cmd->argvlen = ngx_alloc(cmd->argc * sizeof(size_t), log);

    if (cmd->argv == NULL || cmd->argvlen == NULL) {
        goto failed;
    }

    ngx_memzero(cmd->argv, cmd->argc * sizeof(char *));

    cmd->argv[0] = (char *) "EVALSHA";
    cmd->argvlen[0] = sizeof("EVALSHA") - 1;
    cmd->argv[1] = (char *) script->sha1;
    cmd->argvlen[1] = 40;

    cmd->argvlen[2] = ngx_sprintf(nkeys_buf, "%d", nkeys) - nkeys_buf;
    cmd->argv[2] = ngx_alloc(cmd->argvlen[2], log);
    if (cmd->argv[2] == NULL) {
        goto failed;
    }

    ngx_memcpy(cmd->argv[2], nkeys_buf, cmd->argvlen[2]);

    for (i = 0; i < argc; i++) {
        cmd->argvlen[i + 3] = argvlen[i];
        cmd->argv[i + 3] = ngx_alloc(argvlen[i] ? argvlen[i] : 1, log);
        if (cmd->argv[i + 3] == NULL) {
            goto failed;
        }

        ngx_memcpy(cmd->argv[i + 3], argv[i], argvlen[i]);
    }

    if (ngx_http_evently_redis_issue(cmd, cmd->argc,
                                     (const char **) cmd->argv,
                                     cmd->argvlen)
        != NGX_OK)
    {
        goto failed;
    }

    return cmd;

failed:

    ngx_http_evently_redis_cmd_free(cmd);
    return NULL;
}


void
ngx_http_evently_redis_cancel(ngx_http_evently_redis_cmd_t *cmd)
{
    /* the token stays with hiredis until its reply arrives */

    cmd->handler = NULL;
    cmd->data = NULL;
    cmd->log = ngx_cycle->log;

    if (cmd->cln) {
        cmd->cln->handler = NULL;
        cmd->cln = NULL;
    }

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }
}


static ngx_http_evently_redis_cmd_t *
ngx_http_evently_redis_cmd_create(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_evently_redis_handler_pt handler, void *data)
{
    ngx_http_evently_redis_cmd_t  *cmd;

    if (ngx_http_evently_redis == NULL
        || ngx_http_evently_redis->state
           == NGX_HTTP_EVENTLY_REDIS_DISCONNECTED)
    {
        return NULL;
    }

    cmd = ngx_calloc(sizeof(ngx_http_evently_redis_cmd_t), log);
    if (cmd == NULL) {
        return NULL;
    }

    if (pool) {
        cmd->cln = ngx_pool_cleanup_add(pool, 0);
        if (cmd->cln == NULL) {
            ngx_free(cmd);
            return NULL;
        }

        cmd->cln->handler = ngx_http_evently_redis_cmd_cleanup;
        cmd->cln->data = cmd;
    }

    cmd->handler = handler;
    cmd->data = data;
    cmd->log = log;
    cmd->timer.handler = ngx_http_evently_redis_cmd_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = ngx_cycle->log;

    return cmd;
}


static ngx_int_t
ngx_http_evently_redis_issue(ngx_http_evently_redis_cmd_t *cmd, int argc,
    const char **argv, const size_t *argvlen)
{
    ngx_http_evently_redis_t  *rd;

    rd = ngx_http_evently_redis;

    if (rd->ac == NULL
        || redisAsyncCommandArgv(rd->ac, ngx_http_evently_redis_reply, cmd,
                                 argc, argv, argvlen)
           != REDIS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, cmd->log, 0,
                      "evently: sending a Redis command failed");
        return NGX_ERROR;
    }

    if (!cmd->timer.timer_set) {
        ngx_add_timer(&cmd->timer, rd->mcf->redis_timeout);
    }

    return NGX_OK;
}


static void
ngx_http_evently_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    void                               *data;
    redisReply                         *reply = r;
    ngx_http_evently_redis_cmd_t       *cmd = privdata;
    ngx_http_evently_redis_handler_pt   handler;

    if (reply
        && reply->type == REDIS_REPLY_ERROR
        && cmd->script
        && cmd->handler
        && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        /* the script cache was flushed: EVAL loads the script again */

        cmd->argv[0] = (char *) "EVAL";
        cmd->argvlen[0] = sizeof("EVAL") - 1;
        cmd->argv[1] = (char *) cmd->script->source.data;
        cmd->argvlen[1] = cmd->script->source.len;

        if (redisAsyncCommandArgv(ac, ngx_http_evently_redis_reply, cmd,
                                  cmd->argc, (const char **) cmd->argv,
                                  cmd->argvlen)
            == REDIS_OK)
        {
            return;
        }

        reply = NULL;
    }

    handler = cmd->handler;
    data = cmd->data;

    if (handler && ngx_http_evently_redis && !ngx_http_evently_redis->exiting)
    {
        if (reply == NULL) {
            ngx_log_error(NGX_LOG_ERR, cmd->log, 0,
                          "evently: Redis command failed: connection lost");

        } else if (reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, cmd->log, 0,
                          "evently: Redis error: %*s",
                          (size_t) reply->len, reply->str);
        }

        ngx_http_evently_redis_cancel(cmd);
        handler(data, reply);
    }

    ngx_http_evently_redis_cmd_free(cmd);
}


static void
ngx_http_evently_redis_cmd_timeout(ngx_event_t *ev)
{
    void                               *data;
    redisAsyncContext                  *ac;
    ngx_http_evently_redis_t           *rd;
    ngx_http_evently_redis_cmd_t       *cmd;
    ngx_http_evently_redis_handler_pt   handler;

    cmd = ev->data;
    rd = ngx_http_evently_redis;

    ngx_log_error(NGX_LOG_ERR, cmd->log, NGX_ETIMEDOUT,
                  "evently: Redis command timed out");

    handler = cmd->handler;
    data = cmd->data;

    ngx_http_evently_redis_cancel(cmd);

    if (handler) {
        handler(data, NULL);
    }

    /*
     * Replies come in order: a late one means the connection is stuck.
     * Freeing the context calls back every pending token (this one
     * included, which frees it) and reconnects.
     */

    if (rd && rd->ac) {
        ac = rd->ac;
        rd->ac = NULL;
        rd->state = NGX_HTTP_EVENTLY_REDIS_DISCONNECTED;

        redisAsyncFree(ac);

        ngx_http_evently_redis_schedule();
    }
}


static void
ngx_http_evently_redis_cmd_cleanup(void *data)
{
    ngx_http_evently_redis_cmd_t  *cmd = data;

    cmd->cln = NULL;
    ngx_http_evently_redis_cancel(cmd);
}


static void
ngx_http_evently_redis_cmd_free(ngx_http_evently_redis_cmd_t *cmd)
{
    int  i;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    if (cmd->cln) {
        cmd->cln->handler = NULL;
    }

    if (cmd->argv) {
        for (i = 2; i < cmd->argc; i++) {
            if (cmd->argv[i]) {
                ngx_free(cmd->argv[i]);
            }
        }

        ngx_free(cmd->argv);
    }

    if (cmd->argvlen) {
        ngx_free(cmd->argvlen);
    }

    ngx_free(cmd);
}


static void
ngx_http_evently_redis_connect(void)
{
    redisAsyncContext             *ac;
    ngx_http_evently_redis_t      *rd;
    ngx_http_evently_main_conf_t  *mcf;

    rd = ngx_http_evently_redis;
    mcf = rd->mcf;

    ac = redisAsyncConnect(rd->host, (int) mcf->redis_port);

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "evently: redisAsyncConnect() failed");
        goto failed;
    }

    if (ac->err) {
        ngx_log_error((rd->failing ? NGX_LOG_INFO : NGX_LOG_ERR),
                      rd->log, 0, "evently: connecting to Redis failed: %s",
                      ac->errstr);
        redisAsyncFree(ac);
        goto failed;
    }

    if (ngx_http_evently_redis_attach(ac) != NGX_OK) {
        redisAsyncFree(ac);
        goto failed;
    }

    ac->data = rd;
    rd->ac = ac;
    rd->state = NGX_HTTP_EVENTLY_REDIS_CONNECTING;

    redisAsyncSetConnectCallback(ac, ngx_http_evently_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_evently_redis_on_disconnect);

    /*
     * Queued before the connection completes; the first command also
     * makes hiredis watch for writability, which is how it learns that
     * the connection is established.
     */

    if (mcf->redis_password.len) {
        (void) redisAsyncCommand(ac, ngx_http_evently_redis_setup_reply,
                                 (void *) "AUTH", "AUTH %b",
                                 mcf->redis_password.data,
                                 mcf->redis_password.len);
    }

    if (mcf->redis_db) {
        (void) redisAsyncCommand(ac, ngx_http_evently_redis_setup_reply,
                                 (void *) "SELECT", "SELECT %d",
                                 (int) mcf->redis_db);

    } else {
        (void) redisAsyncCommand(ac, ngx_http_evently_redis_setup_reply,
                                 (void *) "PING", "PING");
    }

    ngx_add_timer(&rd->timer, mcf->redis_connect_timeout);

    return;

failed:

    rd->state = NGX_HTTP_EVENTLY_REDIS_DISCONNECTED;
    rd->failing = 1;
    ngx_http_evently_redis_schedule();
}


static void
ngx_http_evently_redis_schedule(void)
{
    ngx_http_evently_redis_t  *rd;

    rd = ngx_http_evently_redis;

    if (rd == NULL || rd->exiting || ngx_exiting || ngx_quit
        || ngx_terminate)
    {
        return;
    }

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    ngx_add_timer(&rd->timer, rd->backoff);

    rd->backoff *= 2;
    if (rd->backoff > NGX_HTTP_EVENTLY_REDIS_BACKOFF_MAX) {
        rd->backoff = NGX_HTTP_EVENTLY_REDIS_BACKOFF_MAX;
    }
}


static void
ngx_http_evently_redis_timer_handler(ngx_event_t *ev)
{
    redisAsyncContext         *ac;
    ngx_http_evently_redis_t  *rd;

    rd = ev->data;

    switch (rd->state) {

    case NGX_HTTP_EVENTLY_REDIS_DISCONNECTED:
        ngx_http_evently_redis_connect();
        return;

    case NGX_HTTP_EVENTLY_REDIS_CONNECTING:
        ngx_log_error((rd->failing ? NGX_LOG_INFO : NGX_LOG_ERR),
                      ev->log, NGX_ETIMEDOUT,
                      "evently: connecting to Redis timed out");

        ac = rd->ac;
        rd->ac = NULL;
        rd->state = NGX_HTTP_EVENTLY_REDIS_DISCONNECTED;
        rd->failing = 1;

        if (ac) {
            redisAsyncFree(ac);
        }

        ngx_http_evently_redis_schedule();
        return;

    default:
        return;
    }
}


static void
ngx_http_evently_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_evently_redis_t  *rd;

    rd = ac->data;

    if (rd == NULL || rd->ac != ac) {
        return;
    }

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    if (status != REDIS_OK) {
        ngx_log_error((rd->failing ? NGX_LOG_INFO : NGX_LOG_ERR),
                      rd->log, 0, "evently: connecting to Redis failed: %s",
                      ac->errstr);

        /* hiredis frees the context when this callback returns */

        rd->ac = NULL;
        rd->state = NGX_HTTP_EVENTLY_REDIS_DISCONNECTED;
        rd->failing = 1;
        ngx_http_evently_redis_schedule();
        return;
    }

    if (rd->failing) {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "evently: connected to Redis");
    }

    rd->state = NGX_HTTP_EVENTLY_REDIS_CONNECTED;
    rd->failing = 0;
    rd->backoff = NGX_HTTP_EVENTLY_REDIS_BACKOFF_MIN;
}


static void
ngx_http_evently_redis_on_disconnect(const redisAsyncContext *ac,
    int status)
{
    ngx_http_evently_redis_t  *rd;

    rd = ac->data;

    if (rd == NULL || rd->ac != ac) {
        return;
    }

    if (!rd->exiting) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "evently: Redis connection lost: %s",
                      ac->err ? ac->errstr : "closed");
    }

    rd->ac = NULL;
    rd->state = NGX_HTTP_EVENTLY_REDIS_DISCONNECTED;
    rd->failing = 1;

    ngx_http_evently_redis_schedule();
}


static void
ngx_http_evently_redis_setup_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                *reply = r;
    ngx_http_evently_redis_t  *rd;

    rd = ac->data;

    if (reply && reply->type == REDIS_REPLY_ERROR && rd && !rd->exiting) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "evently: Redis %s failed: %*s", (char *) privdata,
                      (size_t) reply->len, reply->str);
    }
}


static ngx_int_t
ngx_http_evently_redis_attach(redisAsyncContext *ac)
{
    ngx_connection_t          *c;
    ngx_http_evently_redis_t  *rd;

    rd = ngx_http_evently_redis;

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = ac;
    c->read->handler = ngx_http_evently_redis_read_handler;
    c->write->handler = ngx_http_evently_redis_write_handler;
    c->read->log = rd->log;
    c->write->log = rd->log;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_evently_redis_add_read;
    ac->ev.delRead = ngx_http_evently_redis_del_read;
    ac->ev.addWrite = ngx_http_evently_redis_add_write;
    ac->ev.delWrite = ngx_http_evently_redis_del_write;
    ac->ev.cleanup = ngx_http_evently_redis_cleanup;

    return NGX_OK;
}


static void
ngx_http_evently_redis_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        (void) ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_evently_redis_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_evently_redis_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->write->active) {
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_evently_redis_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis closes the socket right after this: never close it here */

static void
ngx_http_evently_redis_cleanup(void *privdata)
{
    ngx_connection_t   *c = privdata;
    redisAsyncContext  *ac;

    if (c == NULL) {
        return;
    }

    ac = c->data;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    ac->ev.data = NULL;
}


static void
ngx_http_evently_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleRead(c->data);
}


static void
ngx_http_evently_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleWrite(c->data);
}
