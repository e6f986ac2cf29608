
/*
 * Copyright (C) Evently
 *
 * Tags: every route is a plain SQL op (sql/functions/20_tags.sql); this
 * table only declares the fields the validator checks first.  A "slug"
 * sent in a create or update body is not a field: the slug is always
 * derived from the name in SQL.
 */


#include "ngx_http_evently_module.h"


#define NGX_HTTP_EVENTLY_TAG_NAME_MIN     2
#define NGX_HTTP_EVENTLY_TAG_NAME_MAX     100
#define NGX_HTTP_EVENTLY_TAG_DESC_MAX     500
#define NGX_HTTP_EVENTLY_TAG_SEARCH_MAX   100
#define NGX_HTTP_EVENTLY_TAG_PAGE_MAX     1000000
#define NGX_HTTP_EVENTLY_TAG_LIMIT_MAX    100


static const char  *ngx_http_evently_tags_sort_by[] = {
    "name", "created_at", "updated_at", NULL
};

static const char  *ngx_http_evently_tags_sort_order[] = {
    "asc", "desc", NULL
};


/* POST /admin/tags: a null description or colour is the same as none */

static ngx_http_evently_field_t  ngx_http_evently_tag_create_body[] = {

    { "name", NGX_HTTP_EVENTLY_STRING, NGX_HTTP_EVENTLY_REQUIRED,
      NGX_HTTP_EVENTLY_TAG_NAME_MIN, NGX_HTTP_EVENTLY_TAG_NAME_MAX,
      NULL, NULL },

    { "description", NGX_HTTP_EVENTLY_STRING, NGX_HTTP_EVENTLY_NULLABLE,
      0, NGX_HTTP_EVENTLY_TAG_DESC_MAX, NULL, NULL },

    { "color", NGX_HTTP_EVENTLY_COLOR, NGX_HTTP_EVENTLY_NULLABLE,
      0, 0, NULL, NULL },

    { NULL, 0, 0, 0, 0, NULL, NULL }
};


/* PUT /admin/tags/{id}: every field optional; null clears description */

static ngx_http_evently_field_t  ngx_http_evently_tag_update_body[] = {

    { "name", NGX_HTTP_EVENTLY_STRING, 0,
      NGX_HTTP_EVENTLY_TAG_NAME_MIN, NGX_HTTP_EVENTLY_TAG_NAME_MAX,
      NULL, NULL },

    { "description", NGX_HTTP_EVENTLY_STRING, NGX_HTTP_EVENTLY_NULLABLE,
      0, NGX_HTTP_EVENTLY_TAG_DESC_MAX, NULL, NULL },

    { "color", NGX_HTTP_EVENTLY_COLOR, 0, 0, 0, NULL, NULL },

    { "is_active", NGX_HTTP_EVENTLY_BOOL, 0, 0, 0, NULL, NULL },

    { NULL, 0, 0, 0, 0, NULL, NULL }
};


/* GET /admin/tags: defaults (page 1, limit 10, name asc) are SQL's */

static ngx_http_evently_field_t  ngx_http_evently_tags_list_query[] = {

    { "page", NGX_HTTP_EVENTLY_INT, 0,
      1, NGX_HTTP_EVENTLY_TAG_PAGE_MAX, NULL, NULL },

    { "limit", NGX_HTTP_EVENTLY_INT, 0,
      1, NGX_HTTP_EVENTLY_TAG_LIMIT_MAX, NULL, NULL },

    { "search", NGX_HTTP_EVENTLY_STRING, 0,
      0, NGX_HTTP_EVENTLY_TAG_SEARCH_MAX, NULL, NULL },

    { "is_active", NGX_HTTP_EVENTLY_BOOL, 0, 0, 0, NULL, NULL },

    { "sort_by", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_LOWER, 0, 0,
      ngx_http_evently_tags_sort_by, NULL },

    { "sort_order", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_LOWER, 0, 0,
      ngx_http_evently_tags_sort_order, NULL },

    { NULL, 0, 0, 0, 0, NULL, NULL }
};


ngx_http_evently_op_t  ngx_http_evently_tags_ops[] = {

    { ngx_string("tags_active"), NULL, NULL, NULL, 0,
      NGX_HTTP_OK, ngx_string("Active tags retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(tags_active) },

    { ngx_string("tag_by_slug"), NULL, NULL, NULL,
      NGX_HTTP_EVENTLY_OP_RAW_ID,
      NGX_HTTP_OK, ngx_string("Tag retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(tag_by_slug) },

    { ngx_string("tag_create"), NULL, ngx_http_evently_tag_create_body,
      NULL, NGX_HTTP_EVENTLY_OP_BODY,
      NGX_HTTP_CREATED, ngx_string("Tag created successfully"),
      NGX_HTTP_EVENTLY_API_SQL(tag_create) },

    { ngx_string("tags_list"), NULL, NULL, ngx_http_evently_tags_list_query,
      0,
      NGX_HTTP_OK, ngx_string("Tags retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(tags_list) },

    { ngx_string("tag_get"), NULL, NULL, NULL, NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Tag retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(tag_get) },

    { ngx_string("tag_update"), NULL, ngx_http_evently_tag_update_body,
      NULL, NGX_HTTP_EVENTLY_OP_BODY | NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Tag updated successfully"),
      NGX_HTTP_EVENTLY_API_SQL(tag_update) },

    { ngx_string("tag_delete"), NULL, NULL, NULL, NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Tag deleted successfully"),
      NGX_HTTP_EVENTLY_API_SQL(tag_delete) },

    { ngx_null_string, NULL, NULL, NULL, 0, 0, ngx_null_string,
      NGX_HTTP_EVENTLY_NO_SQL }
};
