
/*
 * Copyright (C) Evently
 */


#ifndef _NGX_HTTP_EVENTLY_KAFKA_H_INCLUDED_
#define _NGX_HTTP_EVENTLY_KAFKA_H_INCLUDED_


#include "ngx_http_evently_module.h"


#define NGX_HTTP_EVENTLY_KAFKA_OFF       0   /* no brokers configured */
#define NGX_HTTP_EVENTLY_KAFKA_DOWN      1
#define NGX_HTTP_EVENTLY_KAFKA_UP        2


/* called on the event loop for every message the broker acknowledged */
typedef void (*ngx_http_evently_kafka_delivered_pt)(int64_t id,
    ngx_uint_t ok);


ngx_int_t ngx_http_evently_kafka_init_process(ngx_cycle_t *cycle,
    ngx_http_evently_main_conf_t *mcf,
    ngx_http_evently_kafka_delivered_pt delivered);
void ngx_http_evently_kafka_exit_process(ngx_cycle_t *cycle);

ngx_uint_t ngx_http_evently_kafka_state(void);
ngx_uint_t ngx_http_evently_kafka_in_flight(void);
ngx_int_t ngx_http_evently_kafka_produce(ngx_str_t *topic, ngx_str_t *key,
    ngx_str_t *value, int64_t id);


/* ngx_http_evently_outbox.c */
ngx_int_t ngx_http_evently_outbox_init_process(ngx_cycle_t *cycle,
    ngx_http_evently_main_conf_t *mcf);
void ngx_http_evently_outbox_exit_process(ngx_cycle_t *cycle);
void ngx_http_evently_outbox_kick(void);


#endif /* _NGX_HTTP_EVENTLY_KAFKA_H_INCLUDED_ */
