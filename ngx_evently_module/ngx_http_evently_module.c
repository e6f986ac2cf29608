
/*
 * Copyright (C) Evently
 *
 * ngx_http_evently_module: the Evently ticketing API served from inside
 * nginx.  This file holds the directives, the configuration and the
 * per-worker life cycle of the engines; the request pipeline is in
 * ngx_http_evently_handler.c and the domains in their own files.
 */


#include "ngx_http_evently_module.h"
#include "ngx_http_evently_pg.h"
#include "ngx_http_evently_redis.h"
#include "ngx_http_evently_kafka.h"


static void *ngx_http_evently_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_evently_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_evently_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_evently_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_evently(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_evently_redis_addr(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_evently_jwt_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_evently_read_doc(ngx_conf_t *cf, ngx_str_t *dir,
    const char *name, ngx_str_t *out);
static ngx_int_t ngx_http_evently_init_process(ngx_cycle_t *cycle);
static void ngx_http_evently_exit_process(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_evently_auth_levels[] = {
    { ngx_string("public"), NGX_HTTP_EVENTLY_AUTH_PUBLIC },
    { ngx_string("user"), NGX_HTTP_EVENTLY_AUTH_USER },
    { ngx_string("admin"), NGX_HTTP_EVENTLY_AUTH_ADMIN },
    { ngx_null_string, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_evently_password_cost_bounds = {
    ngx_conf_check_num_bounds, 10, 15
};


static ngx_command_t  ngx_http_evently_commands[] = {

    /* configuration values are NUL-terminated: libpq reads them as is */

    { ngx_string("evently_postgres"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, pg_conninfo),
      NULL },

    { ngx_string("evently_postgres_pool_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, pg_pool_size),
      NULL },

    { ngx_string("evently_postgres_queue"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, pg_queue_size),
      NULL },

    { ngx_string("evently_postgres_queue_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, pg_queue_timeout),
      NULL },

    { ngx_string("evently_postgres_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, pg_connect_timeout),
      NULL },

    { ngx_string("evently_postgres_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, pg_timeout),
      NULL },

    { ngx_string("evently_postgres_statement_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, pg_statement_timeout),
      NULL },

    { ngx_string("evently_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_evently_redis_addr,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("evently_redis_password"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, redis_password),
      NULL },

    { ngx_string("evently_redis_db"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, redis_db),
      NULL },

    { ngx_string("evently_redis_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, redis_connect_timeout),
      NULL },

    { ngx_string("evently_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, redis_timeout),
      NULL },

    { ngx_string("evently_kafka_brokers"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, kafka_brokers),
      NULL },

    { ngx_string("evently_kafka_topic_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, kafka_topic_prefix),
      NULL },

    { ngx_string("evently_kafka_poll_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, kafka_poll_interval),
      NULL },

    { ngx_string("evently_outbox_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, outbox_interval),
      NULL },

    { ngx_string("evently_outbox_batch"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, outbox_batch),
      NULL },

    { ngx_string("evently_jwt_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_evently_jwt_secret,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("evently_jwt_access_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, jwt_access_ttl),
      NULL },

    { ngx_string("evently_jwt_refresh_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, jwt_refresh_ttl),
      NULL },

    { ngx_string("evently_password_cost"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, password_cost),
      &ngx_http_evently_password_cost_bounds },

    { ngx_string("evently_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, thread_pool_name),
      NULL },

    { ngx_string("evently_hold_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, hold_ttl),
      NULL },

    { ngx_string("evently_hold_max_seats"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, hold_max_seats),
      NULL },

    { ngx_string("evently_hold_max_per_user"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, hold_max_per_user),
      NULL },

    { ngx_string("evently_waitlist_offer_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, waitlist_offer_ttl),
      NULL },

    { ngx_string("evently_docs"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_evently_main_conf_t, docs_dir),
      NULL },

    { ngx_string("evently_auth"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_evently_loc_conf_t, auth),
      &ngx_http_evently_auth_levels },

    { ngx_string("evently"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_evently,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_evently_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_evently_create_main_conf,     /* create main configuration */
    ngx_http_evently_init_main_conf,       /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_evently_create_loc_conf,      /* create location configuration */
    ngx_http_evently_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_evently_module = {
    NGX_MODULE_V1,
    &ngx_http_evently_module_ctx,          /* module context */
    ngx_http_evently_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_evently_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_evently_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* every domain's operations, looked up by name by the "evently" directive */

static ngx_http_evently_op_t  *ngx_http_evently_op_tables[] = {
    ngx_http_evently_health_ops,
    ngx_http_evently_auth_ops,
    ngx_http_evently_tags_ops,
    ngx_http_evently_venues_ops,
    ngx_http_evently_events_ops,
    ngx_http_evently_holds_ops,
    ngx_http_evently_bookings_ops,
    ngx_http_evently_cancellations_ops,
    ngx_http_evently_waitlist_ops,
    ngx_http_evently_analytics_ops,
    NULL
};


static ngx_str_t  ngx_http_evently_id_name = ngx_string("id");


ngx_http_evently_op_t *
ngx_http_evently_find_op(ngx_str_t *name)
{
    ngx_uint_t              i;
    ngx_http_evently_op_t  *op;

    for (i = 0; ngx_http_evently_op_tables[i]; i++) {
        for (op = ngx_http_evently_op_tables[i]; op->name.len; op++) {
            if (op->name.len == name->len
                && ngx_strncmp(op->name.data, name->data, name->len) == 0)
            {
                return op;
            }
        }
    }

    return NULL;
}


static void *
ngx_http_evently_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_evently_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_evently_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->pg_conninfo = { 0, NULL };
     *     mcf->redis_host = { 0, NULL };
     *     mcf->redis_password = { 0, NULL };
     *     mcf->kafka_brokers = { 0, NULL };
     *     mcf->kafka_topic_prefix = { 0, NULL };
     *     mcf->jwt_secret = { 0, NULL };
     *     mcf->thread_pool_name = { 0, NULL };
     *     mcf->thread_pool = NULL;
     */

    mcf->pg_pool_size = NGX_CONF_UNSET_UINT;
    mcf->pg_queue_size = NGX_CONF_UNSET_UINT;
    mcf->pg_queue_timeout = NGX_CONF_UNSET_MSEC;
    mcf->pg_connect_timeout = NGX_CONF_UNSET_MSEC;
    mcf->pg_timeout = NGX_CONF_UNSET_MSEC;
    mcf->pg_statement_timeout = NGX_CONF_UNSET_MSEC;

    mcf->redis_db = NGX_CONF_UNSET_UINT;
    mcf->redis_connect_timeout = NGX_CONF_UNSET_MSEC;
    mcf->redis_timeout = NGX_CONF_UNSET_MSEC;

    mcf->kafka_poll_interval = NGX_CONF_UNSET_MSEC;
    mcf->outbox_interval = NGX_CONF_UNSET_MSEC;
    mcf->outbox_batch = NGX_CONF_UNSET_UINT;

    mcf->jwt_access_ttl = NGX_CONF_UNSET;
    mcf->jwt_refresh_ttl = NGX_CONF_UNSET;
    mcf->password_cost = NGX_CONF_UNSET_UINT;

    mcf->hold_ttl = NGX_CONF_UNSET;
    mcf->hold_max_seats = NGX_CONF_UNSET_UINT;
    mcf->hold_max_per_user = NGX_CONF_UNSET_UINT;
    mcf->waitlist_offer_ttl = NGX_CONF_UNSET;

    return mcf;
}


static char *
ngx_http_evently_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_evently_main_conf_t *mcf = conf;

    ngx_conf_init_uint_value(mcf->pg_pool_size, 8);
    ngx_conf_init_uint_value(mcf->pg_queue_size, 2048);
    ngx_conf_init_msec_value(mcf->pg_queue_timeout, 5000);
    ngx_conf_init_msec_value(mcf->pg_connect_timeout, 3000);
    ngx_conf_init_msec_value(mcf->pg_timeout, 15000);
    ngx_conf_init_msec_value(mcf->pg_statement_timeout, 10000);

    ngx_conf_init_uint_value(mcf->redis_db, 0);
    ngx_conf_init_msec_value(mcf->redis_connect_timeout, 1000);
    ngx_conf_init_msec_value(mcf->redis_timeout, 2000);

    ngx_conf_init_msec_value(mcf->kafka_poll_interval, 50);
    ngx_conf_init_msec_value(mcf->outbox_interval, 250);
    ngx_conf_init_uint_value(mcf->outbox_batch, 100);

    ngx_conf_init_value(mcf->jwt_access_ttl, 900);
    ngx_conf_init_value(mcf->jwt_refresh_ttl, 7 * 24 * 3600);
    ngx_conf_init_uint_value(mcf->password_cost, 10);

    ngx_conf_init_value(mcf->hold_ttl, 600);
    ngx_conf_init_uint_value(mcf->hold_max_seats, 10);
    ngx_conf_init_uint_value(mcf->hold_max_per_user, 5);
    ngx_conf_init_value(mcf->waitlist_offer_ttl, 900);

    if (mcf->kafka_topic_prefix.data == NULL) {
        ngx_str_set(&mcf->kafka_topic_prefix, "evently.");
    }

    if (mcf->pg_pool_size == 0 || mcf->pg_pool_size > 256) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"evently_postgres_pool_size\" must be 1..256");
        return NGX_CONF_ERROR;
    }

    if (mcf->outbox_batch == 0 || mcf->outbox_batch > 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"evently_outbox_batch\" must be 1..1000");
        return NGX_CONF_ERROR;
    }

    if (mcf->hold_max_seats == 0 || mcf->hold_max_per_user == 0
        || mcf->hold_ttl <= 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "evently hold limits must be positive");
        return NGX_CONF_ERROR;
    }

    if (mcf->thread_pool_name.len == 0) {
        ngx_str_set(&mcf->thread_pool_name, "default");
    }

    mcf->thread_pool = ngx_thread_pool_add(cf, &mcf->thread_pool_name);
    if (mcf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    mcf->id_hash = ngx_hash_key(ngx_http_evently_id_name.data,
                                ngx_http_evently_id_name.len);

    /* served from memory: the worker never touches the disk for them */

    if (mcf->docs_dir.len
        && (ngx_http_evently_read_doc(cf, &mcf->docs_dir, "openapi.yaml",
                                      &mcf->openapi) != NGX_OK
            || ngx_http_evently_read_doc(cf, &mcf->docs_dir, "index.html",
                                         &mcf->docs_page) != NGX_OK))
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_evently_read_doc(ngx_conf_t *cf, ngx_str_t *dir, const char *name,
    ngx_str_t *out)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_str_t        path;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    path.len = dir->len + 1 + ngx_strlen(name);
    path.data = ngx_pnalloc(cf->pool, path.len + 1);
    if (path.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(path.data, "%V/%s%Z", dir, name);

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &path);
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = path;
    file.log = cf->log;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 4 * 1024 * 1024)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" cannot be read or exceeds 4 MiB", &path);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    out->len = (size_t) ngx_file_size(&fi);
    out->data = ngx_pnalloc(cf->pool, out->len ? out->len : 1);

    n = out->data ? ngx_read_file(&file, out->data, out->len, 0) : -1;

    (void) ngx_close_file(fd);

    if (n != (ssize_t) out->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "reading \"%V\" failed",
                           &path);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void *
ngx_http_evently_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_evently_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_evently_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lcf->routes = NULL;
     */

    lcf->auth = NGX_CONF_UNSET_UINT;

    return lcf;
}


static char *
ngx_http_evently_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_evently_loc_conf_t *prev = parent;
    ngx_http_evently_loc_conf_t *conf = child;

    ngx_conf_merge_uint_value(conf->auth, prev->auth,
                              NGX_HTTP_EVENTLY_AUTH_PUBLIC);

    /* routes are never inherited: each location names its own */

    return NGX_CONF_OK;
}


/*
 * evently [METHOD ...] operation;
 *
 * Without methods the operation answers every method.
 */

static char *
ngx_http_evently(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_evently_loc_conf_t *lcf = conf;

    ngx_str_t                 *value;
    ngx_uint_t                 i, j, methods;
    ngx_http_evently_op_t     *op;
    ngx_http_evently_route_t  *route, *routes;
    ngx_http_core_loc_conf_t  *clcf;

    static ngx_conf_bitmask_t  method_names[] = {
        { ngx_string("GET"), NGX_HTTP_GET | NGX_HTTP_HEAD },
        { ngx_string("HEAD"), NGX_HTTP_HEAD },
        { ngx_string("POST"), NGX_HTTP_POST },
        { ngx_string("PUT"), NGX_HTTP_PUT },
        { ngx_string("PATCH"), NGX_HTTP_PATCH },
        { ngx_string("DELETE"), NGX_HTTP_DELETE },
        { ngx_string("OPTIONS"), NGX_HTTP_OPTIONS },
        { ngx_null_string, 0 }
    };

    value = cf->args->elts;

    op = ngx_http_evently_find_op(&value[cf->args->nelts - 1]);
    if (op == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown evently operation \"%V\"",
                           &value[cf->args->nelts - 1]);
        return NGX_CONF_ERROR;
    }

    methods = 0;

    for (i = 1; i < cf->args->nelts - 1; i++) {
        for (j = 0; method_names[j].name.len; j++) {
            if (method_names[j].name.len == value[i].len
                && ngx_strncmp(method_names[j].name.data, value[i].data,
                               value[i].len) == 0)
            {
                methods |= method_names[j].mask;
                break;
            }
        }

        if (method_names[j].name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid method \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    if (methods == 0) {
        methods = (ngx_uint_t) ~0;
    }

    if (lcf->routes == NULL) {
        lcf->routes = ngx_array_create(cf->pool, 4,
                                       sizeof(ngx_http_evently_route_t));
        if (lcf->routes == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    routes = lcf->routes->elts;

    for (i = 0; i < lcf->routes->nelts; i++) {
        if (routes[i].methods & methods) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "a method of \"%V\" is already routed "
                               "to \"%V\"", &op->name, &routes[i].op->name);
            return NGX_CONF_ERROR;
        }
    }

    route = ngx_array_push(lcf->routes);
    if (route == NULL) {
        return NGX_CONF_ERROR;
    }

    route->methods = methods;
    route->op = op;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_evently_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_evently_redis_addr(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_evently_main_conf_t *mcf = conf;

    ngx_str_t  *value;
    ngx_url_t   u;

    if (mcf->redis_host.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = value[1];
    u.default_port = 6379;

    /*
     * Resolved now, by the master: hiredis would otherwise call the
     * blocking getaddrinfo() in a worker on every reconnect.
     */

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid Redis address \"%V\"%s%s", &u.url,
                           u.err ? ": " : "", u.err ? u.err : "");
        return NGX_CONF_ERROR;
    }

    mcf->redis_host.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (mcf->redis_host.data == NULL) {
        return NGX_CONF_ERROR;
    }

    /* the address without the port, NUL-terminated for hiredis */

    mcf->redis_host.len = ngx_sock_ntop(u.addrs[0].sockaddr,
                                        u.addrs[0].socklen,
                                        mcf->redis_host.data,
                                        NGX_SOCKADDR_STRLEN, 0);
    mcf->redis_host.data[mcf->redis_host.len] = '\0';
    mcf->redis_port = u.port;

    return NGX_CONF_OK;
}


static char *
ngx_http_evently_jwt_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_evently_main_conf_t *mcf = conf;

    ngx_str_t  *value;

    if (mcf->jwt_secret.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* RFC 7518 3.2: an HS256 key must be at least 256 bits */

    if (value[1].len < 32) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"evently_jwt_secret\" must be at least "
                           "32 bytes long");
        return NGX_CONF_ERROR;
    }

    mcf->jwt_secret = value[1];

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_evently_init_process(ngx_cycle_t *cycle)
{
    ngx_http_evently_main_conf_t  *mcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_evently_module);

    if (mcf == NULL) {
        return NGX_OK;
    }

    mcf->thread_pool = ngx_thread_pool_get(cycle, &mcf->thread_pool_name);

    if (ngx_http_evently_pg_init_process(cycle, mcf) != NGX_OK
        || ngx_http_evently_redis_init_process(cycle, mcf) != NGX_OK
        || ngx_http_evently_outbox_init_process(cycle, mcf) != NGX_OK
        || ngx_http_evently_waitlist_init_process(cycle, mcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* runs before nginx checks for sockets left open: close them all here */

static void
ngx_http_evently_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return;
    }

    ngx_http_evently_waitlist_exit_process(cycle);
    ngx_http_evently_outbox_exit_process(cycle);
    ngx_http_evently_redis_exit_process(cycle);
    ngx_http_evently_pg_exit_process(cycle);
}
