
/*
 * Copyright (C) Evently
 */


#include "ngx_http_evently_module.h"


ngx_http_evently_op_t  ngx_http_evently_analytics_ops[] = {

    { ngx_null_string, NULL, NULL, NULL, 0, 0, ngx_null_string,
      NGX_HTTP_EVENTLY_NO_SQL }
};
