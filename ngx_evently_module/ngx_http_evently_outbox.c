
/*
 * Copyright (C) Evently
 *
 * The transactional outbox relay.  Business functions insert their
 * domain events into evently.outbox in the same transaction as the
 * change; every worker claims a batch of unsent rows (FOR UPDATE SKIP
 * LOCKED, with a lease, in one statement), produces them to Kafka, and
 * marks the acknowledged ones sent.  A row whose lease runs out without
 * an acknowledgement is claimed again: delivery is at-least-once and
 * consumers dedupe by the event "id".
 */


#include "ngx_http_evently_kafka.h"
#include "ngx_http_evently_pg.h"


#define NGX_HTTP_EVENTLY_OUTBOX_LEASE   "30"


typedef struct {
    ngx_http_evently_main_conf_t  *mcf;
    ngx_log_t                     *log;
    ngx_pool_t                    *pool;
    ngx_event_t                    timer;
    ngx_http_evently_pg_query_t   *claim;
    ngx_http_evently_pg_query_t   *mark;
    u_char                         batch[NGX_INT_T_LEN + 1];
    int64_t                       *sent;
    ngx_uint_t                     nsent;
    ngx_uint_t                     nalloc;
    u_char                        *ids;      /* "{1,2,3}" being marked */
    unsigned                       claiming:1;
    unsigned                       marking:1;
} ngx_http_evently_outbox_t;


static void ngx_http_evently_outbox_handler(ngx_event_t *ev);
static void ngx_http_evently_outbox_claimed(void *data, PGresult *res,
    ngx_int_t rc);
static void ngx_http_evently_outbox_marked(void *data, PGresult *res,
    ngx_int_t rc);
static void ngx_http_evently_outbox_delivered(int64_t id, ngx_uint_t ok);
static void ngx_http_evently_outbox_send_marks(ngx_http_evently_outbox_t *ob);


static ngx_http_evently_stmt_t  ngx_http_evently_outbox_claim_stmt = {
    ngx_string("evently_outbox_claim"),
    ngx_string("SELECT id, topic, event_key, payload"
               " FROM evently.outbox_claim($1::int, "
               NGX_HTTP_EVENTLY_OUTBOX_LEASE ")"),
    1, 0
};


static ngx_http_evently_stmt_t  ngx_http_evently_outbox_mark_stmt = {
    ngx_string("evently_outbox_mark"),
    ngx_string("SELECT evently.outbox_mark_sent($1::bigint[])"),
    1, 0
};


static ngx_http_evently_outbox_t  *ngx_http_evently_outbox;


ngx_int_t
ngx_http_evently_outbox_init_process(ngx_cycle_t *cycle,
    ngx_http_evently_main_conf_t *mcf)
{
    ngx_http_evently_outbox_t  *ob;

    if (ngx_http_evently_kafka_init_process(cycle, mcf,
                                  ngx_http_evently_outbox_delivered)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* without brokers or a database the rows simply wait in the outbox */

    if (mcf->kafka_brokers.len == 0 || mcf->pg_conninfo.len == 0) {
        return NGX_OK;
    }

    ob = ngx_pcalloc(cycle->pool, sizeof(ngx_http_evently_outbox_t));
    if (ob == NULL) {
        return NGX_ERROR;
    }

    ob->pool = ngx_create_pool(4096, cycle->log);
    if (ob->pool == NULL) {
        return NGX_ERROR;
    }

    ob->mcf = mcf;
    ob->log = cycle->log;
    ob->nalloc = mcf->outbox_batch * 4;

    ob->sent = ngx_palloc(ob->pool, ob->nalloc * sizeof(int64_t));
    ob->ids = ngx_pnalloc(ob->pool, ob->nalloc * (NGX_INT64_LEN + 1) + 3);

    ob->claim = ngx_http_evently_pg_query_create(ob->pool, cycle->log,
                                       &ngx_http_evently_outbox_claim_stmt);
    ob->mark = ngx_http_evently_pg_query_create(ob->pool, cycle->log,
                                       &ngx_http_evently_outbox_mark_stmt);

    if (ob->sent == NULL || ob->ids == NULL || ob->claim == NULL
        || ob->mark == NULL)
    {
        ngx_destroy_pool(ob->pool);
        return NGX_ERROR;
    }

    ngx_sprintf(ob->batch, "%ui%Z", mcf->outbox_batch);

    ob->claim->handler = ngx_http_evently_outbox_claimed;
    ob->claim->data = ob;
    ob->claim->values[0] = (char *) ob->batch;
    ob->claim->nvalues = 1;

    ob->mark->handler = ngx_http_evently_outbox_marked;
    ob->mark->data = ob;
    ob->mark->values[0] = (char *) ob->ids;
    ob->mark->nvalues = 1;

    ob->timer.handler = ngx_http_evently_outbox_handler;
    ob->timer.data = ob;
    ob->timer.log = cycle->log;
    ob->timer.cancelable = 1;

    ngx_http_evently_outbox = ob;

    ngx_add_timer(&ob->timer, mcf->outbox_interval);

    return NGX_OK;
}


void
ngx_http_evently_outbox_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_evently_outbox_t  *ob;

    ob = ngx_http_evently_outbox;
    ngx_http_evently_outbox = NULL;

    if (ob) {
        if (ob->timer.timer_set) {
            ngx_del_timer(&ob->timer);
        }

        if (ob->timer.posted) {
            ngx_delete_posted_event(&ob->timer);
        }
    }

    /* the producer flushes; late acknowledgements are no longer marked */

    ngx_http_evently_kafka_exit_process(cycle);

    if (ob) {
        ngx_destroy_pool(ob->pool);
    }
}


/* a business change wrote to the outbox: relay it now, not at the tick */

void
ngx_http_evently_outbox_kick(void)
{
    ngx_http_evently_outbox_t  *ob;

    ob = ngx_http_evently_outbox;

    if (ob && !ob->timer.posted && !ngx_exiting) {
        ngx_post_event(&ob->timer, &ngx_posted_events);
    }
}


static void
ngx_http_evently_outbox_handler(ngx_event_t *ev)
{
    ngx_http_evently_outbox_t  *ob;

    ob = ev->data;

    if (ngx_exiting) {
        return;
    }

    if (ob->nsent && !ob->marking) {
        ngx_http_evently_outbox_send_marks(ob);
    }

    /* back-pressure: claim no more while the producer is still busy */

    if (!ob->claiming
        && ngx_http_evently_kafka_state() == NGX_HTTP_EVENTLY_KAFKA_UP
        && ngx_http_evently_kafka_in_flight() + ob->mcf->outbox_batch
           <= ob->nalloc - ob->nsent)
    {
        if (ngx_http_evently_pg_send(ob->claim) == NGX_OK) {
            ob->claiming = 1;
        }
    }

    ngx_add_timer(&ob->timer, ob->mcf->outbox_interval);
}


static void
ngx_http_evently_outbox_claimed(void *data, PGresult *res, ngx_int_t rc)
{
    ngx_http_evently_outbox_t *ob = data;

    int        i, n;
    int64_t    id;
    ngx_str_t  topic, key, value;

    ob->claiming = 0;

    if (rc != NGX_OK || PQresultStatus(res) != PGRES_TUPLES_OK) {
        if (res) {
            ngx_log_error(NGX_LOG_ERR, ob->log, 0,
                          "evently: claiming outbox rows failed: %s",
                          PQresultErrorMessage(res));
        }

        return;
    }

    n = PQntuples(res);

    for (i = 0; i < n; i++) {
        id = ngx_atoof((u_char *) PQgetvalue(res, i, 0),
                       PQgetlength(res, i, 0));

        topic.data = (u_char *) PQgetvalue(res, i, 1);
        topic.len = PQgetlength(res, i, 1);
        key.data = (u_char *) PQgetvalue(res, i, 2);
        key.len = PQgetlength(res, i, 2);
        value.data = (u_char *) PQgetvalue(res, i, 3);
        value.len = PQgetlength(res, i, 3);

        /* a refused message keeps its lease and is claimed again later */

        (void) ngx_http_evently_kafka_produce(&topic, &key, &value, id);
    }

    if ((ngx_uint_t) n == ob->mcf->outbox_batch) {
        ngx_http_evently_outbox_kick();
    }
}


static void
ngx_http_evently_outbox_delivered(int64_t id, ngx_uint_t ok)
{
    ngx_http_evently_outbox_t  *ob;

    ob = ngx_http_evently_outbox;

    if (ob == NULL || !ok) {
        return;
    }

    if (ob->nsent == ob->nalloc) {
        /* cannot happen with the back-pressure above; the lease resends */
        return;
    }

    ob->sent[ob->nsent++] = id;

    if (!ob->marking) {
        ngx_http_evently_outbox_kick();
    }
}


static void
ngx_http_evently_outbox_send_marks(ngx_http_evently_outbox_t *ob)
{
    u_char      *p;
    ngx_uint_t   i;

    p = ob->ids;
    *p++ = '{';

    for (i = 0; i < ob->nsent; i++) {
        p = ngx_sprintf(p, i ? ",%L" : "%L", ob->sent[i]);
    }

    *p++ = '}';
    *p = '\0';

    if (ngx_http_evently_pg_send(ob->mark) != NGX_OK) {
        return;
    }

    /* if marking fails the rows are sent again after their lease */

    ob->nsent = 0;
    ob->marking = 1;
}


static void
ngx_http_evently_outbox_marked(void *data, PGresult *res, ngx_int_t rc)
{
    ngx_http_evently_outbox_t *ob = data;

    ob->marking = 0;

    if (rc != NGX_OK || PQresultStatus(res) != PGRES_TUPLES_OK) {
        if (res) {
            ngx_log_error(NGX_LOG_ERR, ob->log, 0,
                          "evently: marking outbox rows sent failed: %s",
                          PQresultErrorMessage(res));
        }

        return;
    }

    if (ob->nsent) {
        ngx_http_evently_outbox_kick();
    }
}
