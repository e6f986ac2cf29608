
/*
 * Copyright (C) Evently
 *
 * One librdkafka producer per worker.  Everything librdkafka hands back
 * (delivery reports, errors, statistics, its log lines) is served by
 * rd_kafka_poll() from a cancelable nginx timer, so it runs on the event
 * loop and never delays a graceful shutdown.  The broker state shown by
 * /health comes from the statistics librdkafka emits.
 */


#include "ngx_http_evently_kafka.h"
#include <librdkafka/rdkafka.h>


#define NGX_HTTP_EVENTLY_KAFKA_STATS_MS     "500"
#define NGX_HTTP_EVENTLY_KAFKA_FLUSH_MS     2000
#define NGX_HTTP_EVENTLY_KAFKA_LOG_EVERY    10   /* seconds */


typedef struct {
    ngx_http_evently_main_conf_t         *mcf;
    ngx_log_t                            *log;
    rd_kafka_t                           *rk;
    ngx_event_t                           poll;
    ngx_uint_t                            state;
    ngx_uint_t                            in_flight;
    time_t                                logged;
    ngx_http_evently_kafka_delivered_pt   delivered;
} ngx_http_evently_kafka_t;


static void ngx_http_evently_kafka_poll_handler(ngx_event_t *ev);
static void ngx_http_evently_kafka_dr(rd_kafka_t *rk,
    const rd_kafka_message_t *msg, void *opaque);
static void ngx_http_evently_kafka_error(rd_kafka_t *rk, int err,
    const char *reason, void *opaque);
static int ngx_http_evently_kafka_stats(rd_kafka_t *rk, char *json,
    size_t json_len, void *opaque);
static void ngx_http_evently_kafka_log(const rd_kafka_t *rk, int level,
    const char *fac, const char *buf);
static ngx_int_t ngx_http_evently_kafka_set(rd_kafka_conf_t *conf,
    const char *name, const char *value, ngx_log_t *log);


static ngx_http_evently_kafka_t  *ngx_http_evently_kafka;


ngx_int_t
ngx_http_evently_kafka_init_process(ngx_cycle_t *cycle,
    ngx_http_evently_main_conf_t *mcf,
    ngx_http_evently_kafka_delivered_pt delivered)
{
    char                       errstr[512];
    u_char                    *brokers;
    rd_kafka_t                *rk;
    rd_kafka_conf_t           *conf;
    ngx_http_evently_kafka_t  *k;

    if (mcf->kafka_brokers.len == 0) {
        return NGX_OK;
    }

    k = ngx_pcalloc(cycle->pool, sizeof(ngx_http_evently_kafka_t));
    if (k == NULL) {
        return NGX_ERROR;
    }

    brokers = ngx_pnalloc(cycle->pool, mcf->kafka_brokers.len + 1);
    if (brokers == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(brokers, mcf->kafka_brokers.data,
                       mcf->kafka_brokers.len + 1);

    conf = rd_kafka_conf_new();

    /*
     * The outbox keeps every event until the broker acknowledges it, so
     * librdkafka only needs to retry for a bounded time; log lines are
     * queued to the main queue so that they reach us on the event loop.
     */

    if (ngx_http_evently_kafka_set(conf, "bootstrap.servers",
                                   (char *) brokers, cycle->log) != NGX_OK
        || ngx_http_evently_kafka_set(conf, "client.id", "evently-nginx",
                                      cycle->log) != NGX_OK
        || ngx_http_evently_kafka_set(conf, "acks", "all", cycle->log)
           != NGX_OK
        || ngx_http_evently_kafka_set(conf, "linger.ms", "5", cycle->log)
           != NGX_OK
        || ngx_http_evently_kafka_set(conf, "message.timeout.ms", "10000",
                                      cycle->log) != NGX_OK
        || ngx_http_evently_kafka_set(conf, "reconnect.backoff.max.ms",
                                      "1000", cycle->log) != NGX_OK
        || ngx_http_evently_kafka_set(conf, "statistics.interval.ms",
                                      NGX_HTTP_EVENTLY_KAFKA_STATS_MS,
                                      cycle->log) != NGX_OK
        || ngx_http_evently_kafka_set(conf, "log.queue", "true", cycle->log)
           != NGX_OK)
    {
        rd_kafka_conf_destroy(conf);
        return NGX_ERROR;
    }

    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_dr_msg_cb(conf, ngx_http_evently_kafka_dr);
    rd_kafka_conf_set_error_cb(conf, ngx_http_evently_kafka_error);
    rd_kafka_conf_set_stats_cb(conf, ngx_http_evently_kafka_stats);
    rd_kafka_conf_set_log_cb(conf, ngx_http_evently_kafka_log);

    /* rd_kafka_new() takes the conf over on success only */

    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "evently: rd_kafka_new() failed: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return NGX_ERROR;
    }

    (void) rd_kafka_set_log_queue(rk, NULL);

    k->mcf = mcf;
    k->log = cycle->log;
    k->rk = rk;
    k->state = NGX_HTTP_EVENTLY_KAFKA_DOWN;
    k->delivered = delivered;

    k->poll.handler = ngx_http_evently_kafka_poll_handler;
    k->poll.data = k;
    k->poll.log = cycle->log;
    k->poll.cancelable = 1;

    ngx_http_evently_kafka = k;

    ngx_add_timer(&k->poll, mcf->kafka_poll_interval);

    return NGX_OK;
}


void
ngx_http_evently_kafka_exit_process(ngx_cycle_t *cycle)
{
    rd_kafka_resp_err_t        err;
    ngx_http_evently_kafka_t  *k;

    k = ngx_http_evently_kafka;

    if (k == NULL) {
        return;
    }

    if (k->poll.timer_set) {
        ngx_del_timer(&k->poll);
    }

    /*
     * Bounded: what is not acknowledged now stays unsent in the outbox
     * and another worker (or the next start) sends it again.
     */

    k->delivered = NULL;

    err = rd_kafka_flush(k->rk, NGX_HTTP_EVENTLY_KAFKA_FLUSH_MS);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "evently: %d Kafka messages left unsent at exit, "
                      "the outbox keeps them", rd_kafka_outq_len(k->rk));

        (void) rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE
                                     | RD_KAFKA_PURGE_F_INFLIGHT);
        (void) rd_kafka_poll(k->rk, 0);
    }

    rd_kafka_destroy(k->rk);

    ngx_http_evently_kafka = NULL;
}


ngx_uint_t
ngx_http_evently_kafka_state(void)
{
    if (ngx_http_evently_kafka == NULL) {
        return NGX_HTTP_EVENTLY_KAFKA_OFF;
    }

    return ngx_http_evently_kafka->state;
}


ngx_uint_t
ngx_http_evently_kafka_in_flight(void)
{
    return ngx_http_evently_kafka ? ngx_http_evently_kafka->in_flight : 0;
}


ngx_int_t
ngx_http_evently_kafka_produce(ngx_str_t *topic, ngx_str_t *key,
    ngx_str_t *value, int64_t id)
{
    u_char                     name[256];
    ngx_str_t                 *prefix;
    rd_kafka_resp_err_t        err;
    ngx_http_evently_kafka_t  *k;

    k = ngx_http_evently_kafka;

    if (k == NULL) {
        return NGX_DECLINED;
    }

    prefix = &k->mcf->kafka_topic_prefix;

    if (prefix->len + topic->len + 1 > sizeof(name)) {
        ngx_log_error(NGX_LOG_ERR, k->log, 0,
                      "evently: Kafka topic name too long: \"%V\"", topic);
        return NGX_ERROR;
    }

    ngx_sprintf(name, "%V%V%Z", prefix, topic);

    err = rd_kafka_producev(k->rk,
                            RD_KAFKA_V_TOPIC((char *) name),
                            RD_KAFKA_V_KEY(key->data, key->len),
                            RD_KAFKA_V_VALUE(value->data, value->len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_OPAQUE((void *) (intptr_t) id),
                            RD_KAFKA_V_END);

    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ngx_log_error(NGX_LOG_WARN, k->log, 0,
                      "evently: producing to Kafka topic \"%s\" failed: %s",
                      name, rd_kafka_err2str(err));
        return NGX_ERROR;
    }

    k->in_flight++;

    return NGX_OK;
}


static void
ngx_http_evently_kafka_poll_handler(ngx_event_t *ev)
{
    ngx_http_evently_kafka_t  *k;

    k = ev->data;

    (void) rd_kafka_poll(k->rk, 0);

    if (!ngx_exiting) {
        ngx_add_timer(&k->poll, k->mcf->kafka_poll_interval);
    }
}


static void
ngx_http_evently_kafka_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg,
    void *opaque)
{
    ngx_http_evently_kafka_t  *k = opaque;

    if (k->in_flight) {
        k->in_flight--;
    }

    if (msg->err) {
        /* an outage fails a whole backlog: one line now and then */

        if (ngx_time() - k->logged >= NGX_HTTP_EVENTLY_KAFKA_LOG_EVERY) {
            k->logged = ngx_time();
            ngx_log_error(NGX_LOG_WARN, k->log, 0,
                          "evently: Kafka delivery failed: %s (the outbox "
                          "sends it again)", rd_kafka_err2str(msg->err));
        }

    } else {
        k->state = NGX_HTTP_EVENTLY_KAFKA_UP;
    }

    if (k->delivered) {
        k->delivered((int64_t) (intptr_t) msg->_private, msg->err == 0);
    }
}


static void
ngx_http_evently_kafka_error(rd_kafka_t *rk, int err, const char *reason,
    void *opaque)
{
    ngx_http_evently_kafka_t  *k = opaque;

    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        k->state = NGX_HTTP_EVENTLY_KAFKA_DOWN;
    }

    if (ngx_time() - k->logged >= NGX_HTTP_EVENTLY_KAFKA_LOG_EVERY) {
        k->logged = ngx_time();
        ngx_log_error(NGX_LOG_WARN, k->log, 0, "evently: Kafka: %s",
                      reason);
    }
}


/* any broker in state "UP" means Kafka takes our messages */

static int
ngx_http_evently_kafka_stats(rd_kafka_t *rk, char *json, size_t json_len,
    void *opaque)
{
    ngx_http_evently_kafka_t *k = opaque;

    json_t      *stats, *brokers, *broker;
    ngx_uint_t   up;
    const char  *name, *state;

    stats = json_loadb(json, json_len, 0, NULL);
    if (stats == NULL) {
        return 0;
    }

    up = 0;
    brokers = json_object_get(stats, "brokers");

    json_object_foreach(brokers, name, broker) {
        state = json_string_value(json_object_get(broker, "state"));

        if (state && ngx_strcmp(state, "UP") == 0) {
            up = 1;
            break;
        }
    }

    json_decref(stats);

    if (up != (k->state == NGX_HTTP_EVENTLY_KAFKA_UP)) {
        ngx_log_error((up ? NGX_LOG_NOTICE : NGX_LOG_WARN), k->log, 0,
                      "evently: Kafka is %s", up ? "up" : "down");
    }

    k->state = up ? NGX_HTTP_EVENTLY_KAFKA_UP : NGX_HTTP_EVENTLY_KAFKA_DOWN;

    return 0;   /* librdkafka frees json */
}


static void
ngx_http_evently_kafka_log(const rd_kafka_t *rk, int level, const char *fac,
    const char *buf)
{
    ngx_http_evently_kafka_t  *k;

    k = rd_kafka_opaque(rk);

    /* errors are already reported by the error callback, rate-limited */

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, k->log, 0,
                   "evently: librdkafka [%d] %s: %s", level, fac, buf);
}


static ngx_int_t
ngx_http_evently_kafka_set(rd_kafka_conf_t *conf, const char *name,
    const char *value, ngx_log_t *log)
{
    char  errstr[512];

    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr))
        != RD_KAFKA_CONF_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "evently: Kafka setting \"%s\" failed: %s",
                      name, errstr);
        return NGX_ERROR;
    }

    return NGX_OK;
}
