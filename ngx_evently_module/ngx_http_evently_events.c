
/*
 * Copyright (C) Evently
 *
 * Events: public and admin lists, detail, create, update, delete, and the
 * per-event sections and venue layout.  Everything is in the SQL
 * functions of sql/functions/40_events.sql; the only C here is the field
 * tables and, for every answer that reports availability, a handler that
 * first reads the live seat holds from Redis (holds never reach
 * PostgreSQL) and hands them to the SQL function as args._held.
 */


#include "ngx_http_evently_module.h"
#include "ngx_http_evently_holds.h"


#define NGX_HTTP_EVENTLY_EVENTS_MAX_PAGE     100000
#define NGX_HTTP_EVENTLY_EVENTS_MAX_TAGS     20
#define NGX_HTTP_EVENTLY_EVENTS_MAX_PRICING  100
#define NGX_HTTP_EVENTLY_EVENTS_MAX_PRICE    9999999999.99


static ngx_int_t ngx_http_evently_events_with_holds(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);


static const char  *ngx_http_evently_events_public_status[] = {
    "published", "cancelled", "completed", NULL
};

static const char  *ngx_http_evently_events_any_status[] = {
    "draft", "published", "cancelled", "completed", NULL
};

static const char  *ngx_http_evently_events_new_status[] = {
    "draft", "published", NULL
};


static ngx_http_evently_field_t  ngx_http_evently_events_list_query[] = {
    { "page", NGX_HTTP_EVENTLY_INT, 0,
      1, NGX_HTTP_EVENTLY_EVENTS_MAX_PAGE, NULL, NULL },
    { "limit", NGX_HTTP_EVENTLY_INT, 0, 1, 100, NULL, NULL },
    { "search", NGX_HTTP_EVENTLY_STRING, 0, 1, 255, NULL, NULL },
    { "venue", NGX_HTTP_EVENTLY_STRING, 0, 1, 255, NULL, NULL },
    { "date_from", NGX_HTTP_EVENTLY_DATE, 0, 0, 0, NULL, NULL },
    { "date_to", NGX_HTTP_EVENTLY_DATE, 0, 0, 0, NULL, NULL },
    { "status", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_LOWER, 0, 0,
      ngx_http_evently_events_public_status, NULL },
    { "tags", NGX_HTTP_EVENTLY_SLUG_ARRAY, 0,
      1, NGX_HTTP_EVENTLY_EVENTS_MAX_TAGS, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


/* the admin list also sees drafts */

static ngx_http_evently_field_t  ngx_http_evently_events_admin_query[] = {
    { "page", NGX_HTTP_EVENTLY_INT, 0,
      1, NGX_HTTP_EVENTLY_EVENTS_MAX_PAGE, NULL, NULL },
    { "limit", NGX_HTTP_EVENTLY_INT, 0, 1, 100, NULL, NULL },
    { "search", NGX_HTTP_EVENTLY_STRING, 0, 1, 255, NULL, NULL },
    { "venue", NGX_HTTP_EVENTLY_STRING, 0, 1, 255, NULL, NULL },
    { "date_from", NGX_HTTP_EVENTLY_DATE, 0, 0, 0, NULL, NULL },
    { "date_to", NGX_HTTP_EVENTLY_DATE, 0, 0, 0, NULL, NULL },
    { "status", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_LOWER, 0, 0,
      ngx_http_evently_events_any_status, NULL },
    { "tags", NGX_HTTP_EVENTLY_SLUG_ARRAY, 0,
      1, NGX_HTTP_EVENTLY_EVENTS_MAX_TAGS, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static ngx_http_evently_field_t  ngx_http_evently_events_upcoming_query[] = {
    { "page", NGX_HTTP_EVENTLY_INT, 0,
      1, NGX_HTTP_EVENTLY_EVENTS_MAX_PAGE, NULL, NULL },
    { "limit", NGX_HTTP_EVENTLY_INT, 0, 1, 100, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static ngx_http_evently_field_t  ngx_http_evently_events_pricing[] = {
    { "section_id", NGX_HTTP_EVENTLY_UUID, NGX_HTTP_EVENTLY_REQUIRED,
      0, 0, NULL, NULL },
    { "price_multiplier", NGX_HTTP_EVENTLY_DECIMAL,
      NGX_HTTP_EVENTLY_REQUIRED, 0.1, 10, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static ngx_http_evently_field_t  ngx_http_evently_events_create_body[] = {
    { "name", NGX_HTTP_EVENTLY_STRING, NGX_HTTP_EVENTLY_REQUIRED,
      3, 255, NULL, NULL },
    { "description", NGX_HTTP_EVENTLY_STRING, NGX_HTTP_EVENTLY_NULLABLE,
      0, 2000, NULL, NULL },
    { "venue", NGX_HTTP_EVENTLY_STRING, NGX_HTTP_EVENTLY_REQUIRED,
      3, 255, NULL, NULL },
    { "venue_template_id", NGX_HTTP_EVENTLY_UUID, NGX_HTTP_EVENTLY_REQUIRED,
      0, 0, NULL, NULL },
    { "date_time", NGX_HTTP_EVENTLY_DATETIME,
      NGX_HTTP_EVENTLY_REQUIRED | NGX_HTTP_EVENTLY_FUTURE, 0, 0, NULL, NULL },
    { "base_price", NGX_HTTP_EVENTLY_MONEY, NGX_HTTP_EVENTLY_REQUIRED,
      0, NGX_HTTP_EVENTLY_EVENTS_MAX_PRICE, NULL, NULL },
    { "currency", NGX_HTTP_EVENTLY_STRING, 0, 3, 3, NULL, NULL },
    { "image_url", NGX_HTTP_EVENTLY_URL, NGX_HTTP_EVENTLY_NULLABLE,
      0, 2048, NULL, NULL },
    { "status", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_LOWER, 0, 0,
      ngx_http_evently_events_new_status, NULL },
    { "tags", NGX_HTTP_EVENTLY_SLUG_ARRAY, 0,
      0, NGX_HTTP_EVENTLY_EVENTS_MAX_TAGS, NULL, NULL },
    { "section_pricing", NGX_HTTP_EVENTLY_OBJECT_ARRAY, 0,
      0, NGX_HTTP_EVENTLY_EVENTS_MAX_PRICING, NULL,
      ngx_http_evently_events_pricing },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


/*
 * Every field optional.  date_time has no FUTURE flag: an unchanged past
 * date_time is fine, a changed one must be in the future (checked in SQL,
 * which knows the current value).
 */

static ngx_http_evently_field_t  ngx_http_evently_events_update_body[] = {
    { "name", NGX_HTTP_EVENTLY_STRING, 0, 3, 255, NULL, NULL },
    { "description", NGX_HTTP_EVENTLY_STRING, NGX_HTTP_EVENTLY_NULLABLE,
      0, 2000, NULL, NULL },
    { "venue", NGX_HTTP_EVENTLY_STRING, 0, 3, 255, NULL, NULL },
    { "venue_template_id", NGX_HTTP_EVENTLY_UUID, 0, 0, 0, NULL, NULL },
    { "date_time", NGX_HTTP_EVENTLY_DATETIME, 0, 0, 0, NULL, NULL },
    { "base_price", NGX_HTTP_EVENTLY_MONEY, 0,
      0, NGX_HTTP_EVENTLY_EVENTS_MAX_PRICE, NULL, NULL },
    { "currency", NGX_HTTP_EVENTLY_STRING, 0, 3, 3, NULL, NULL },
    { "image_url", NGX_HTTP_EVENTLY_URL, NGX_HTTP_EVENTLY_NULLABLE,
      0, 2048, NULL, NULL },
    { "status", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_LOWER, 0, 0,
      ngx_http_evently_events_any_status, NULL },
    { "tags", NGX_HTTP_EVENTLY_SLUG_ARRAY, 0,
      0, NGX_HTTP_EVENTLY_EVENTS_MAX_TAGS, NULL, NULL },
    { "section_pricing", NGX_HTTP_EVENTLY_OBJECT_ARRAY, 0,
      0, NGX_HTTP_EVENTLY_EVENTS_MAX_PRICING, NULL,
      ngx_http_evently_events_pricing },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


ngx_http_evently_op_t  ngx_http_evently_events_ops[] = {

    { ngx_string("events_list"), ngx_http_evently_events_with_holds,
      NULL, ngx_http_evently_events_list_query, 0,
      NGX_HTTP_OK, ngx_string("Events retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(events_list) },

    { ngx_string("events_upcoming"), ngx_http_evently_events_with_holds,
      NULL, ngx_http_evently_events_upcoming_query, 0,
      NGX_HTTP_OK, ngx_string("Upcoming events retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(events_upcoming) },

    { ngx_string("events_get"), ngx_http_evently_events_with_holds,
      NULL, NULL, NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Event retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(events_get) },

    { ngx_string("events_admin_list"), ngx_http_evently_events_with_holds,
      NULL, ngx_http_evently_events_admin_query, 0,
      NGX_HTTP_OK, ngx_string("Events retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(events_admin_list) },

    { ngx_string("events_admin_get"), ngx_http_evently_events_with_holds,
      NULL, NULL, NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Event retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(events_admin_get) },

    { ngx_string("events_create"), NULL,
      ngx_http_evently_events_create_body, NULL, NGX_HTTP_EVENTLY_OP_BODY,
      NGX_HTTP_CREATED, ngx_string("Event created successfully"),
      NGX_HTTP_EVENTLY_API_SQL(events_create) },

    { ngx_string("events_update"), ngx_http_evently_events_with_holds,
      ngx_http_evently_events_update_body, NULL,
      NGX_HTTP_EVENTLY_OP_BODY | NGX_HTTP_EVENTLY_OP_ID
      | NGX_HTTP_EVENTLY_OP_IF_MATCH,
      NGX_HTTP_OK, ngx_string("Event updated successfully"),
      NGX_HTTP_EVENTLY_API_SQL(events_update) },

    { ngx_string("events_delete"), NULL, NULL, NULL,
      NGX_HTTP_EVENTLY_OP_ID | NGX_HTTP_EVENTLY_OP_IF_MATCH,
      NGX_HTTP_OK, ngx_string("Event deleted successfully"),
      NGX_HTTP_EVENTLY_API_SQL(events_delete) },

    { ngx_string("events_sections"), ngx_http_evently_events_with_holds,
      NULL, NULL, NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Event sections retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(events_sections) },

    { ngx_string("events_layout"), ngx_http_evently_events_with_holds,
      NULL, NULL, NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Venue layout retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(events_layout) },

    { ngx_null_string, NULL, NULL, NULL, 0, 0, ngx_null_string,
      NGX_HTTP_EVENTLY_NO_SQL }
};


/*
 * Availability is capacity - booked - held, and holds live in Redis
 * only: read the held seats of this event (path id) or of every event
 * (lists) first, then run the op's SQL function with them.
 */

static ngx_int_t
ngx_http_evently_events_with_holds(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    ngx_str_t  *event_id;

    event_id = (ctx->op->flags & NGX_HTTP_EVENTLY_OP_ID) ? &ctx->id : NULL;

    return ngx_http_evently_run_sql_op_with_holds(r, ctx, event_id);
}
