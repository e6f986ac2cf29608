
/*
 * Copyright (C) Evently
 */


#include "ngx_http_evently_module.h"


ngx_http_evently_op_t  ngx_http_evently_waitlist_ops[] = {

    { ngx_null_string, NULL, NULL, NULL, 0, 0, ngx_null_string,
      NGX_HTTP_EVENTLY_NO_SQL }
};


ngx_int_t
ngx_http_evently_waitlist_init_process(ngx_cycle_t *cycle,
    ngx_http_evently_main_conf_t *mcf)
{
    return NGX_OK;
}


void
ngx_http_evently_waitlist_exit_process(ngx_cycle_t *cycle)
{
}
