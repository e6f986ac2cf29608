
/*
 * Copyright (C) Evently
 *
 * Idempotency-Key on every mutation of an authenticated caller: the key
 * is claimed before the op runs, and the op's response is stored before
 * it is sent, so a retry gets the very same answer (or 409 while the
 * first attempt is still running).  The same key with another request
 * is 422.
 */


#include "ngx_http_evently_module.h"
#include "ngx_http_evently_pg.h"
#include <openssl/evp.h>
#include <openssl/hmac.h>


#define NGX_HTTP_EVENTLY_IDEM_KEY_MAX  255


struct ngx_http_evently_idem_s {
    ngx_str_t                      key;
    ngx_uint_t                     status;
    ngx_str_t                      body;
    ngx_str_t                      etag;
    u_char                         status_text[NGX_INT_T_LEN + 1];
};


static ngx_table_elt_t *ngx_http_evently_idem_find(ngx_list_t *headers,
    ngx_str_t *name);
static u_char *ngx_http_evently_idem_etag(ngx_http_request_t *r);
static ngx_int_t ngx_http_evently_idem_hash(ngx_http_request_t *r,
    ngx_str_t *secret, u_char *hex);
static void ngx_http_evently_idem_begun(void *data, PGresult *res,
    ngx_int_t rc);
static void ngx_http_evently_idem_stored(void *data, PGresult *res,
    ngx_int_t rc);


static ngx_http_evently_stmt_t  ngx_http_evently_idem_begin_stmt = {
    ngx_string("evently_idem_begin"),
    ngx_string("SELECT state, status, body, etag"
               " FROM evently.idem_begin($1::uuid, $2, $3)"),
    3, 0
};


static ngx_http_evently_stmt_t  ngx_http_evently_idem_finish_stmt = {
    ngx_string("evently_idem_finish"),
    ngx_string("SELECT evently.idem_finish($1::uuid, $2, $3::int, $4, $5)"),
    5, 0
};


/*
 * NGX_DECLINED: no key (or not a mutation of a known caller), run the op;
 * NGX_DONE: suspended until the key is claimed; else the response rc.
 */

ngx_int_t
ngx_http_evently_idem_begin(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    u_char                       *hash;
    ngx_uint_t                    i;
    ngx_table_elt_t              *h;
    ngx_http_evently_idem_t      *idem;
    ngx_http_evently_pg_query_t  *q;

    static ngx_str_t  header = ngx_string("Idempotency-Key");

    if (ctx->user == NULL
        || !(r->method & (NGX_HTTP_POST | NGX_HTTP_PUT | NGX_HTTP_PATCH
                          | NGX_HTTP_DELETE)))
    {
        return NGX_DECLINED;
    }

    h = ngx_http_evently_idem_find(&r->headers_in.headers, &header);
    if (h == NULL) {
        return NGX_DECLINED;
    }

    if (h->value.len == 0 || h->value.len > NGX_HTTP_EVENTLY_IDEM_KEY_MAX) {
        goto invalid;
    }

    for (i = 0; i < h->value.len; i++) {
        if (h->value.data[i] < 0x21 || h->value.data[i] > 0x7e) {
            goto invalid;
        }
    }

    idem = ngx_pcalloc(r->pool, sizeof(ngx_http_evently_idem_t));
    hash = ngx_pnalloc(r->pool, EVP_MAX_MD_SIZE * 2 + 1);
    if (idem == NULL || hash == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    idem->key.data = ngx_pnalloc(r->pool, h->value.len + 1);
    if (idem->key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    idem->key.len = h->value.len;
    *ngx_cpymem(idem->key.data, h->value.data, h->value.len) = '\0';

    if (ngx_http_evently_idem_hash(r, &ctx->mcf->jwt_secret, hash)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q = ngx_http_evently_pg_query_create(r->pool, r->connection->log,
                                         &ngx_http_evently_idem_begin_stmt);
    if (q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q->values[0] = (char *) ctx->user->id.data;
    q->values[1] = (char *) idem->key.data;
    q->values[2] = (char *) hash;
    q->nvalues = 3;
    q->handler = ngx_http_evently_idem_begun;
    q->data = r;

    ctx->idem = idem;

    return ngx_http_evently_pg_start(r, ctx, q);

invalid:

    return ngx_http_evently_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       "INVALID_IDEMPOTENCY_KEY",
                                       "Idempotency-Key must be 1 to 255 "
                                       "visible ASCII characters", NULL, 0);
}


/*
 * Called by ngx_http_evently_send_raw() for a claimed key: the response
 * is stored first and sent when that is done.  NGX_DECLINED: send now.
 */

ngx_int_t
ngx_http_evently_idem_store(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx, ngx_uint_t status, u_char *body,
    size_t len)
{
    ngx_http_evently_idem_t      *idem;
    ngx_http_evently_pg_query_t  *q;

    idem = ctx->idem;
    ctx->idem_claimed = 0;

    idem->status = status;
    idem->body.data = ngx_pnalloc(r->pool, len + 1);
    if (idem->body.data == NULL) {
        return NGX_DECLINED;
    }

    idem->body.len = len;
    *ngx_cpymem(idem->body.data, body, len) = '\0';

    ngx_sprintf(idem->status_text, "%ui%Z", status);

    q = ngx_http_evently_pg_query_create(r->pool, r->connection->log,
                                         &ngx_http_evently_idem_finish_stmt);
    if (q == NULL) {
        return NGX_DECLINED;
    }

    idem->etag.data = ngx_http_evently_idem_etag(r);

    q->values[0] = (char *) ctx->user->id.data;
    q->values[1] = (char *) idem->key.data;
    q->values[2] = (char *) idem->status_text;
    q->values[3] = (char *) idem->body.data;
    q->values[4] = (char *) idem->etag.data;
    q->nvalues = 5;
    q->handler = ngx_http_evently_idem_stored;
    q->data = r;

    if (ngx_http_evently_pg_send(q) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "evently: the response for an Idempotency-Key "
                      "could not be stored");
        return NGX_DECLINED;
    }

    ctx->pending = q;

    return ngx_http_evently_suspend(r);
}


static void
ngx_http_evently_idem_begun(void *data, PGresult *res, ngx_int_t rc)
{
    ngx_http_request_t *r = data;

    u_char                   *state;
    ngx_int_t                 status;
    ngx_table_elt_t          *h;
    ngx_http_evently_ctx_t   *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    ctx->pending = NULL;

    if (rc != NGX_OK || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1)
    {
        ngx_http_evently_resume(r, ngx_http_evently_pg_failed(r, res, rc));
        return;
    }

    state = (u_char *) PQgetvalue(res, 0, 0);

    if (ngx_strcmp(state, "new") == 0) {
        ctx->idem_claimed = 1;
        ngx_http_evently_resume(r, ngx_http_evently_run_op(r, ctx));
        return;
    }

    if (ngx_strcmp(state, "mismatch") == 0) {
        ngx_http_evently_resume(r, ngx_http_evently_send_error(r,
                                   NGX_HTTP_EVENTLY_UNPROCESSABLE,
                                   "IDEMPOTENCY_KEY_REUSED",
                                   "This Idempotency-Key was used for "
                                   "another request", NULL, 0));
        return;
    }

    if (ngx_strcmp(state, "in_progress") == 0) {
        ngx_http_evently_resume(r, ngx_http_evently_send_error(r,
                                   NGX_HTTP_CONFLICT,
                                   "IDEMPOTENCY_IN_PROGRESS",
                                   "The first request with this "
                                   "Idempotency-Key is still running",
                                   NULL, 0));
        return;
    }

    /* replay: the stored response, marked as such */

    status = ngx_atoi((u_char *) PQgetvalue(res, 0, 1),
                      PQgetlength(res, 0, 1));

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL || status == NGX_ERROR) {
        ngx_http_evently_resume(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Idempotent-Replayed");
    ngx_str_set(&h->value, "true");

    if (!PQgetisnull(res, 0, 3)) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            ngx_http_evently_resume(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "ETag");
        h->value.len = PQgetlength(res, 0, 3);
        h->value.data = ngx_pnalloc(r->pool, h->value.len);
        if (h->value.data == NULL) {
            ngx_http_evently_resume(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_memcpy(h->value.data, PQgetvalue(res, 0, 3), h->value.len);
    }

    ctx->idem->body.len = PQgetlength(res, 0, 2);
    ctx->idem->body.data = ngx_pnalloc(r->pool, ctx->idem->body.len);
    if (ctx->idem->body.data == NULL) {
        ngx_http_evently_resume(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(ctx->idem->body.data, PQgetvalue(res, 0, 2),
               ctx->idem->body.len);

    ngx_http_evently_resume(r, ngx_http_evently_send_raw(r, status,
                                   ctx->idem->body.data,
                                   ctx->idem->body.len));
}


static void
ngx_http_evently_idem_stored(void *data, PGresult *res, ngx_int_t rc)
{
    ngx_http_request_t *r = data;

    ngx_http_evently_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_evently_module);
    ctx->pending = NULL;

    if (rc != NGX_OK || PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "evently: the response for an Idempotency-Key "
                      "could not be stored");
    }

    ngx_http_evently_resume(r, ngx_http_evently_send_raw(r,
                                   ctx->idem->status, ctx->idem->body.data,
                                   ctx->idem->body.len));
}


/* a header by name (case-insensitive) in a request's or answer's list */

static ngx_table_elt_t *
ngx_http_evently_idem_find(ngx_list_t *headers, ngx_str_t *name)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &headers->part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash && h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            return &h[i];
        }
    }
}


/* the ETag the answer carries (NUL-terminated copy), or NULL */

static u_char *
ngx_http_evently_idem_etag(ngx_http_request_t *r)
{
    u_char           *p;
    ngx_table_elt_t  *h;

    static ngx_str_t  etag = ngx_string("ETag");

    h = ngx_http_evently_idem_find(&r->headers_out.headers, &etag);
    if (h == NULL) {
        return NULL;
    }

    p = ngx_pnalloc(r->pool, h->value.len + 1);
    if (p == NULL) {
        return NULL;
    }

    *ngx_cpymem(p, h->value.data, h->value.len) = '\0';

    return p;
}


/* the request's identity: method, URI and body bytes, keyed */

static ngx_int_t
ngx_http_evently_idem_hash(ngx_http_request_t *r, ngx_str_t *secret,
    u_char *hex)
{
    u_char        md[EVP_MAX_MD_SIZE];
    ngx_int_t     rc;
    EVP_MD_CTX   *sha;
    ngx_chain_t  *cl;
    unsigned int  len;

    sha = EVP_MD_CTX_new();
    if (sha == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(sha, r->method_name.data, r->method_name.len)
           != 1
        || EVP_DigestUpdate(sha, " ", 1) != 1
        || EVP_DigestUpdate(sha, r->unparsed_uri.data, r->unparsed_uri.len)
           != 1
        || EVP_DigestUpdate(sha, "\n", 1) != 1)
    {
        goto done;
    }

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            if (!ngx_buf_in_memory(cl->buf)
                || EVP_DigestUpdate(sha, cl->buf->pos,
                                    cl->buf->last - cl->buf->pos) != 1)
            {
                goto done;
            }
        }
    }

    if (EVP_DigestFinal_ex(sha, md, &len) != 1) {
        goto done;
    }

    /*
     * Keyed: a body may hold passwords (change-password), and a plain
     * digest stored in the database could be brute-forced offline.
     */

    if (HMAC(EVP_sha256(), secret->data, (int) secret->len, md, len, md,
             &len)
        == NULL)
    {
        goto done;
    }

    *ngx_hex_dump(hex, md, len) = '\0';
    rc = NGX_OK;

done:

    EVP_MD_CTX_free(sha);

    return rc;
}
