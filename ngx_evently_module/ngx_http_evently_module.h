
/*
 * Copyright (C) Evently
 */


#ifndef _NGX_HTTP_EVENTLY_MODULE_H_INCLUDED_
#define _NGX_HTTP_EVENTLY_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_thread_pool.h>
#include <jansson.h>


#define NGX_HTTP_EVENTLY_UNPROCESSABLE   422

#define NGX_HTTP_EVENTLY_AUTH_PUBLIC     0
#define NGX_HTTP_EVENTLY_AUTH_USER       1
#define NGX_HTTP_EVENTLY_AUTH_ADMIN      2

/* op flags */
#define NGX_HTTP_EVENTLY_OP_BODY         0x0001  /* reads a JSON body */
#define NGX_HTTP_EVENTLY_OP_ID           0x0002  /* path id is a UUID */
#define NGX_HTTP_EVENTLY_OP_RAW_ID       0x0004  /* path id is a slug */
#define NGX_HTTP_EVENTLY_OP_IF_MATCH     0x0008  /* honours If-Match */
#define NGX_HTTP_EVENTLY_OP_BODY_OPT     0x0010  /* body may be empty */

/* field types of the declarative validator */
#define NGX_HTTP_EVENTLY_STRING          1
#define NGX_HTTP_EVENTLY_EMAIL           2
#define NGX_HTTP_EVENTLY_INT             3
#define NGX_HTTP_EVENTLY_MONEY           4   /* >= 0, at most 2 decimals */
#define NGX_HTTP_EVENTLY_DECIMAL         5   /* number, 2 decimals max */
#define NGX_HTTP_EVENTLY_BOOL            6
#define NGX_HTTP_EVENTLY_UUID            7
#define NGX_HTTP_EVENTLY_DATETIME        8   /* RFC 3339 */
#define NGX_HTTP_EVENTLY_DATE            9   /* YYYY-MM-DD */
#define NGX_HTTP_EVENTLY_ENUM            10
#define NGX_HTTP_EVENTLY_UUID_ARRAY      11
#define NGX_HTTP_EVENTLY_SLUG_ARRAY      12  /* array, or comma list */
#define NGX_HTTP_EVENTLY_OBJECT          13
#define NGX_HTTP_EVENTLY_OBJECT_ARRAY    14  /* items checked by .fields */
#define NGX_HTTP_EVENTLY_URL             15
#define NGX_HTTP_EVENTLY_COLOR           16  /* #RRGGBB */
#define NGX_HTTP_EVENTLY_ROW             17  /* 1..4 digits or A..Z */

/* field flags */
#define NGX_HTTP_EVENTLY_REQUIRED        0x01
#define NGX_HTTP_EVENTLY_NULLABLE        0x02
#define NGX_HTTP_EVENTLY_BYTES           0x04  /* length in bytes */
#define NGX_HTTP_EVENTLY_FUTURE          0x08  /* datetime in the future */
#define NGX_HTTP_EVENTLY_UPPER           0x10  /* enum: upper-case input */
#define NGX_HTTP_EVENTLY_LOWER           0x20  /* enum: lower-case input */
#define NGX_HTTP_EVENTLY_NO_TRIM         0x40  /* keep surrounding spaces */


struct pg_result;                          /* libpq's PGresult */

typedef struct ngx_http_evently_ctx_s    ngx_http_evently_ctx_t;
typedef struct ngx_http_evently_field_s  ngx_http_evently_field_t;
typedef struct ngx_http_evently_op_s     ngx_http_evently_op_t;
typedef struct ngx_http_evently_idem_s   ngx_http_evently_idem_t;

typedef ngx_int_t (*ngx_http_evently_op_pt)(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
typedef ngx_int_t (*ngx_http_evently_sql_pt)(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, struct pg_result *res);


struct ngx_http_evently_field_s {
    const char                   *name;
    ngx_uint_t                    type;
    ngx_uint_t                    flags;
    double                        min;
    double                        max;
    const char                  **values;   /* ENUM: NULL-terminated */
    ngx_http_evently_field_t     *fields;   /* OBJECT_ARRAY items */
};


typedef struct {
    ngx_str_t                     name;
    ngx_str_t                     sql;
    ngx_uint_t                    nparams;
    ngx_uint_t                    index;    /* per-process, set on use */
} ngx_http_evently_stmt_t;


struct ngx_http_evently_op_s {
    ngx_str_t                     name;
    ngx_http_evently_op_pt        handler;  /* NULL: the SQL function */
    ngx_http_evently_field_t     *body;
    ngx_http_evently_field_t     *query;
    ngx_uint_t                    flags;
    ngx_uint_t                    status;   /* on success */
    ngx_str_t                     message;
    ngx_http_evently_stmt_t       stmt;     /* the SQL function's call */
};


/*
 * The call of the API function of an op without its own handler, see
 * docs/architecture.md: evently.api_<op>(user, role, id, args).
 */
#define NGX_HTTP_EVENTLY_API_SQL(fn)                                          \
    { ngx_string("evently_api_" #fn),                                         \
      ngx_string("SELECT status, code, message, data, etag"                   \
                 " FROM evently.api_" #fn                                     \
                 "($1::uuid, $2::text, $3::uuid, $4::json)"), 4, 0 }

#define NGX_HTTP_EVENTLY_NO_SQL  { ngx_null_string, ngx_null_string, 0, 0 }


typedef struct {
    ngx_uint_t                    methods;  /* NGX_HTTP_GET | ... */
    ngx_http_evently_op_t        *op;
} ngx_http_evently_route_t;


typedef struct {
    /* PostgreSQL */
    ngx_str_t                     pg_conninfo;
    ngx_uint_t                    pg_pool_size;
    ngx_uint_t                    pg_queue_size;
    ngx_msec_t                    pg_queue_timeout;
    ngx_msec_t                    pg_connect_timeout;
    ngx_msec_t                    pg_timeout;
    ngx_msec_t                    pg_statement_timeout;

    /* Redis */
    ngx_str_t                     redis_host;
    in_port_t                     redis_port;
    ngx_str_t                     redis_password;
    ngx_uint_t                    redis_db;
    ngx_msec_t                    redis_connect_timeout;
    ngx_msec_t                    redis_timeout;

    /* Kafka and the outbox relay */
    ngx_str_t                     kafka_brokers;
    ngx_str_t                     kafka_topic_prefix;
    ngx_msec_t                    kafka_poll_interval;
    ngx_msec_t                    outbox_interval;
    ngx_uint_t                    outbox_batch;

    /* tokens and passwords */
    ngx_str_t                     jwt_secret;
    time_t                        jwt_access_ttl;
    time_t                        jwt_refresh_ttl;
    ngx_uint_t                    password_cost;
    ngx_str_t                     thread_pool_name;
    ngx_thread_pool_t            *thread_pool;

    /* seat holds */
    time_t                        hold_ttl;
    ngx_uint_t                    hold_max_seats;
    ngx_uint_t                    hold_max_per_user;
    time_t                        waitlist_offer_ttl;

    /* API documentation, read once at configuration */
    ngx_str_t                     docs_dir;
    ngx_str_t                     openapi;   /* docs/openapi.yaml */
    ngx_str_t                     docs_page; /* docs/index.html */

    ngx_uint_t                    id_hash;   /* hash of "id" */
} ngx_http_evently_main_conf_t;


typedef struct {
    ngx_uint_t                    auth;
    ngx_array_t                  *routes;   /* ngx_http_evently_route_t */
} ngx_http_evently_loc_conf_t;


typedef struct {
    ngx_str_t                     id;       /* "sub" claim, a UUID */
    ngx_str_t                     email;
    ngx_str_t                     role;     /* "USER" or "ADMIN" */
    ngx_uint_t                    admin;    /* unsigned:1 */
} ngx_http_evently_user_t;


struct ngx_http_evently_ctx_s {
    ngx_http_evently_op_t        *op;
    ngx_http_evently_main_conf_t *mcf;
    ngx_http_evently_user_t      *user;     /* NULL when anonymous */
    ngx_str_t                     id;       /* path parameter */
    json_t                       *body;     /* parsed request body */
    json_t                       *args;     /* validated arguments */

    void                         *pending;  /* engine token in flight */
    ngx_http_evently_sql_pt       sql_next; /* gets the API row */
    ngx_uint_t                    kept_status;
    ngx_str_t                     kept;     /* the API row's data */
    void                         *data;     /* op's own state */

    ngx_http_evently_idem_t      *idem;     /* Idempotency-Key */

    unsigned                      suspended:1;
    unsigned                      holds_required:1;
    unsigned                      idem_claimed:1;
};


/* ngx_http_evently_module.c */
extern ngx_module_t  ngx_http_evently_module;

ngx_http_evently_op_t *ngx_http_evently_find_op(ngx_str_t *name);


/* ngx_http_evently_handler.c */
ngx_int_t ngx_http_evently_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_evently_suspend(ngx_http_request_t *r);
void ngx_http_evently_resume(ngx_http_request_t *r, ngx_int_t rc);
ngx_int_t ngx_http_evently_run_op(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
ngx_int_t ngx_http_evently_run_sql_op(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
ngx_int_t ngx_http_evently_sql_call(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, ngx_http_evently_stmt_t *stmt,
    ngx_http_evently_sql_pt next);
ngx_int_t ngx_http_evently_sql_reply(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, struct pg_result *res);
ngx_int_t ngx_http_evently_sql_status(ngx_http_evently_ctx_t *ctx,
    struct pg_result *res);
ngx_int_t ngx_http_evently_sql_keep(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, struct pg_result *res);
ngx_int_t ngx_http_evently_send_kept(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
json_t *ngx_http_evently_pool_json(ngx_pool_t *pool, json_t *json);


/* ngx_http_evently_response.c */
ngx_int_t ngx_http_evently_send_raw(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len);
ngx_int_t ngx_http_evently_send_typed(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, u_char *body, size_t len);
ngx_int_t ngx_http_evently_send_json(ngx_http_request_t *r,
    ngx_uint_t status, json_t *json);
ngx_int_t ngx_http_evently_send_data(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *message, u_char *data, size_t len);
ngx_int_t ngx_http_evently_send_data_json(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *message, json_t *data);
ngx_int_t ngx_http_evently_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message,
    u_char *extra, size_t extra_len);
ngx_int_t ngx_http_evently_send_error_json(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message,
    json_t *extra);
ngx_int_t ngx_http_evently_send_unavailable(ngx_http_request_t *r,
    const char *code, const char *message);
ngx_int_t ngx_http_evently_set_etag(ngx_http_request_t *r, ngx_str_t *etag);
ngx_int_t ngx_http_evently_error_page(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
ngx_int_t ngx_http_evently_route_not_found(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
u_char *ngx_http_evently_time(u_char *buf, time_t t);
ngx_int_t ngx_http_evently_uuid(u_char *buf);

#define NGX_HTTP_EVENTLY_UUID_LEN   36
#define NGX_HTTP_EVENTLY_TIME_LEN   20


/* ngx_http_evently_idempotency.c */
ngx_int_t ngx_http_evently_idem_begin(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
ngx_int_t ngx_http_evently_idem_store(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, ngx_uint_t status, u_char *body,
    size_t len);


/* ngx_http_evently_validate.c */
ngx_int_t ngx_http_evently_validate(ngx_http_request_t *r,
    ngx_http_evently_field_t *fields, json_t *in, json_t *out,
    json_t *errors);
ngx_int_t ngx_http_evently_query_args(ngx_http_request_t *r,
    ngx_http_evently_field_t *fields, json_t *out, json_t *errors);
ngx_int_t ngx_http_evently_is_uuid(u_char *p, size_t len);
ngx_uint_t ngx_http_evently_utf8_valid(u_char *p, size_t len);


/* ngx_http_evently_jwt.c */
ngx_int_t ngx_http_evently_jwt_sign(ngx_pool_t *pool, ngx_str_t *secret,
    json_t *claims, ngx_str_t *token);
ngx_int_t ngx_http_evently_jwt_verify(ngx_pool_t *pool, ngx_str_t *secret,
    ngx_str_t *token, const char *type, json_t **claims,
    const char **reason);
ngx_int_t ngx_http_evently_authenticate(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, ngx_uint_t level);


/* op tables of the domains, each terminated by an empty name */
extern ngx_http_evently_op_t  ngx_http_evently_health_ops[];
extern ngx_http_evently_op_t  ngx_http_evently_auth_ops[];
extern ngx_http_evently_op_t  ngx_http_evently_tags_ops[];
extern ngx_http_evently_op_t  ngx_http_evently_venues_ops[];
extern ngx_http_evently_op_t  ngx_http_evently_events_ops[];
extern ngx_http_evently_op_t  ngx_http_evently_holds_ops[];
extern ngx_http_evently_op_t  ngx_http_evently_bookings_ops[];
extern ngx_http_evently_op_t  ngx_http_evently_cancellations_ops[];
extern ngx_http_evently_op_t  ngx_http_evently_waitlist_ops[];
extern ngx_http_evently_op_t  ngx_http_evently_analytics_ops[];


/* ngx_http_evently_waitlist.c: the offer sweeper's life cycle */
ngx_int_t ngx_http_evently_waitlist_init_process(ngx_cycle_t *cycle,
    ngx_http_evently_main_conf_t *mcf);
void ngx_http_evently_waitlist_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_EVENTLY_MODULE_H_INCLUDED_ */
