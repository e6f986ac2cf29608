
/*
 * Copyright (C) Evently
 */


#ifndef _NGX_HTTP_EVENTLY_PASSWORD_H_INCLUDED_
#define _NGX_HTTP_EVENTLY_PASSWORD_H_INCLUDED_


#include "ngx_http_evently_module.h"


#define NGX_HTTP_EVENTLY_PASSWORD_MAX  72     /* bcrypt reads 72 bytes */


/*
 * rc: NGX_OK (hashed, or the password matches), NGX_DECLINED (it does
 * not match), NGX_ERROR.  Called on the event loop; the op continues from
 * here and eventually calls ngx_http_evently_resume().
 */
typedef void (*ngx_http_evently_password_pt)(ngx_http_request_t *r,
    ngx_int_t rc, ngx_str_t *hash);


ngx_int_t ngx_http_evently_password_hash(ngx_http_request_t *r,
    ngx_str_t *password, ngx_http_evently_password_pt done);
ngx_int_t ngx_http_evently_password_verify(ngx_http_request_t *r,
    ngx_str_t *password, ngx_str_t *stored,
    ngx_http_evently_password_pt done);


#endif /* _NGX_HTTP_EVENTLY_PASSWORD_H_INCLUDED_ */
