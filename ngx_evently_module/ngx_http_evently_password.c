
/*
 * Copyright (C) Evently
 *
 * bcrypt ($2b$, libxcrypt's crypt_r) in the nginx thread pool: the event
 * loop never runs a hash.  Verifying against no account hashes anyway,
 * with the configured cost, so an unknown e-mail costs the same time as
 * a wrong password.
 */


#include "ngx_http_evently_module.h"
#include "ngx_http_evently_password.h"
#include <crypt.h>
#include <openssl/crypto.h>


#define NGX_HTTP_EVENTLY_HASH_LEN   128


typedef struct {
    ngx_http_request_t            *request;
    ngx_http_evently_password_pt   done;
    ngx_int_t                      rc;
    ngx_uint_t                     verify;
    ngx_uint_t                     cost;
    char                           password[NGX_HTTP_EVENTLY_PASSWORD_MAX
                                            + 1];
    char                           stored[NGX_HTTP_EVENTLY_HASH_LEN];
    char                           hash[NGX_HTTP_EVENTLY_HASH_LEN];
    struct crypt_data              data;
} ngx_http_evently_password_task_t;


static ngx_int_t ngx_http_evently_password_post(ngx_http_request_t *r,
    ngx_str_t *password, ngx_str_t *stored, ngx_uint_t verify,
    ngx_http_evently_password_pt done);
static void ngx_http_evently_password_thread(void *data, ngx_log_t *log);
static void ngx_http_evently_password_event(ngx_event_t *ev);


ngx_int_t
ngx_http_evently_password_hash(ngx_http_request_t *r, ngx_str_t *password,
    ngx_http_evently_password_pt done)
{
    return ngx_http_evently_password_post(r, password, NULL, 0, done);
}


ngx_int_t
ngx_http_evently_password_verify(ngx_http_request_t *r, ngx_str_t *password,
    ngx_str_t *stored, ngx_http_evently_password_pt done)
{
    return ngx_http_evently_password_post(r, password, stored, 1, done);
}


/* NGX_OK: posted, done() will be called; the caller suspends the request */

static ngx_int_t
ngx_http_evently_password_post(ngx_http_request_t *r, ngx_str_t *password,
    ngx_str_t *stored, ngx_uint_t verify, ngx_http_evently_password_pt done)
{
    ngx_thread_task_t                 *task;
    ngx_http_evently_main_conf_t      *mcf;
    ngx_http_evently_password_task_t  *t;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_evently_module);

    if (mcf->thread_pool == NULL
        || password->len > NGX_HTTP_EVENTLY_PASSWORD_MAX
        || (stored && stored->len >= NGX_HTTP_EVENTLY_HASH_LEN))
    {
        return NGX_ERROR;
    }

    task = ngx_thread_task_alloc(r->pool,
                                 sizeof(ngx_http_evently_password_task_t));
    if (task == NULL) {
        return NGX_ERROR;
    }

    t = task->ctx;

    t->request = r;
    t->done = done;
    t->verify = verify;
    t->cost = mcf->password_cost;

    ngx_memcpy(t->password, password->data, password->len);
    t->password[password->len] = '\0';

    if (stored) {
        ngx_memcpy(t->stored, stored->data, stored->len);
        t->stored[stored->len] = '\0';
    }

    task->handler = ngx_http_evently_password_thread;
    task->event.handler = ngx_http_evently_password_event;
    task->event.data = t;

    if (ngx_thread_task_post(mcf->thread_pool, task) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the request must outlive the task */

    r->main->blocked++;
    r->aio = 1;

    return NGX_OK;
}


/* runs in a pool thread: no nginx API, no pools, no logging */

static void
ngx_http_evently_password_thread(void *data, ngx_log_t *log)
{
    ngx_http_evently_password_task_t  *t = data;

    char    setting[NGX_HTTP_EVENTLY_HASH_LEN];
    char   *out;
    size_t  len;

    t->rc = NGX_ERROR;

    if (!t->verify || t->stored[0] == '\0') {
        if (crypt_gensalt_rn("$2b$", t->cost, NULL, 0, setting,
                             sizeof(setting))
            == NULL)
        {
            return;
        }

    } else {
        ngx_memcpy(setting, t->stored, sizeof(setting));
    }

    out = crypt_r(t->password, setting, &t->data);

    if (out == NULL || out[0] != '$') {
        if (t->verify) {
            t->rc = NGX_DECLINED;   /* a stored hash we cannot read */
        }

        return;
    }

    len = ngx_strlen(out);

    if (len >= sizeof(t->hash)) {
        return;
    }

    ngx_memcpy(t->hash, out, len + 1);

    if (!t->verify) {
        t->rc = NGX_OK;
        return;
    }

    if (t->stored[0] == '\0') {
        t->rc = NGX_DECLINED;       /* no such account: same cost */
        return;
    }

    t->rc = (len == ngx_strlen(t->stored)
             && CRYPTO_memcmp(out, t->stored, len) == 0)
            ? NGX_OK : NGX_DECLINED;
}


static void
ngx_http_evently_password_event(ngx_event_t *ev)
{
    ngx_str_t                          hash;
    ngx_connection_t                  *c;
    ngx_http_request_t                *r;
    ngx_http_evently_password_task_t  *t;

    t = ev->data;
    r = t->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    r->aio = 0;

    /* the password is no longer needed anywhere */
    ngx_explicit_memzero(t->password, sizeof(t->password));

    if (c->error) {
        /* terminated meanwhile: let nginx finish closing it */
        r->write_event_handler(r);
        ngx_http_run_posted_requests(c);
        return;
    }

    hash.data = (u_char *) t->hash;
    hash.len = ngx_strlen(t->hash);

    t->done(r, t->rc, &hash);
}
