
/*
 * Copyright (C) Evently
 *
 * Venue templates, their sections and seats: declared ops served by the
 * evently.api_venue_* functions of sql/functions/30_venues.sql.  Only the
 * routes that need the seat holds of Redis have a handler of their own:
 * the available seats of a section for an event, and the admin routes
 * that delete seats (a held seat must not disappear under its hold).
 */


#include "ngx_http_evently_module.h"
#include "ngx_http_evently_holds.h"


static ngx_int_t ngx_http_evently_venues_all_holds(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);
static ngx_int_t ngx_http_evently_venues_available(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx);


static const char  *ngx_http_evently_venues_layouts[] = {
    "THEATER", "STADIUM", "CONFERENCE", "GENERAL", NULL
};

static const char  *ngx_http_evently_venues_sort_by[] = {
    "name", "created_at", "updated_at", NULL
};

static const char  *ngx_http_evently_venues_sort_order[] = {
    "asc", "desc", NULL
};

static const char  *ngx_http_evently_venues_seat_status[] = {
    "AVAILABLE", "BLOCKED", NULL
};


static ngx_http_evently_field_t  ngx_http_evently_venues_template_create[] = {
    { "name", NGX_HTTP_EVENTLY_STRING, NGX_HTTP_EVENTLY_REQUIRED,
      3, 255, NULL, NULL },
    { "description", NGX_HTTP_EVENTLY_STRING, NGX_HTTP_EVENTLY_NULLABLE,
      0, 1000, NULL, NULL },
    { "default_rows", NGX_HTTP_EVENTLY_INT, NGX_HTTP_EVENTLY_REQUIRED,
      1, 50, NULL, NULL },
    { "default_seats_per_row", NGX_HTTP_EVENTLY_INT,
      NGX_HTTP_EVENTLY_REQUIRED, 1, 100, NULL, NULL },
    { "layout_type", NGX_HTTP_EVENTLY_ENUM,
      NGX_HTTP_EVENTLY_REQUIRED | NGX_HTTP_EVENTLY_UPPER, 0, 0,
      ngx_http_evently_venues_layouts, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static ngx_http_evently_field_t  ngx_http_evently_venues_template_update[] = {
    { "name", NGX_HTTP_EVENTLY_STRING, 0, 3, 255, NULL, NULL },
    { "description", NGX_HTTP_EVENTLY_STRING, NGX_HTTP_EVENTLY_NULLABLE,
      0, 1000, NULL, NULL },
    { "default_rows", NGX_HTTP_EVENTLY_INT, 0, 1, 50, NULL, NULL },
    { "default_seats_per_row", NGX_HTTP_EVENTLY_INT, 0, 1, 100, NULL,
      NULL },
    { "layout_type", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_UPPER, 0, 0,
      ngx_http_evently_venues_layouts, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static ngx_http_evently_field_t  ngx_http_evently_venues_template_query[] = {
    { "page", NGX_HTTP_EVENTLY_INT, 0, 1, 1000000, NULL, NULL },
    { "limit", NGX_HTTP_EVENTLY_INT, 0, 1, 100, NULL, NULL },
    { "search", NGX_HTTP_EVENTLY_STRING, 0, 1, 255, NULL, NULL },
    { "layout_type", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_UPPER, 0, 0,
      ngx_http_evently_venues_layouts, NULL },
    { "sort_by", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_LOWER, 0, 0,
      ngx_http_evently_venues_sort_by, NULL },
    { "sort_order", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_LOWER, 0, 0,
      ngx_http_evently_venues_sort_order, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


/*
 * The original API also sent "template_id" in the body of a new section:
 * not declared, so ignored; the path says which template.  The row range
 * and total_seats are checked together in SQL.
 */

static ngx_http_evently_field_t  ngx_http_evently_venues_section_create[] = {
    { "name", NGX_HTTP_EVENTLY_STRING, NGX_HTTP_EVENTLY_REQUIRED,
      1, 255, NULL, NULL },
    { "description", NGX_HTTP_EVENTLY_STRING, NGX_HTTP_EVENTLY_NULLABLE,
      0, 500, NULL, NULL },
    { "row_start", NGX_HTTP_EVENTLY_ROW, NGX_HTTP_EVENTLY_REQUIRED,
      0, 0, NULL, NULL },
    { "row_end", NGX_HTTP_EVENTLY_ROW, NGX_HTTP_EVENTLY_REQUIRED,
      0, 0, NULL, NULL },
    { "seats_per_row", NGX_HTTP_EVENTLY_INT, NGX_HTTP_EVENTLY_REQUIRED,
      1, 100, NULL, NULL },
    { "total_seats", NGX_HTTP_EVENTLY_INT, 0, 1, 999900, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static ngx_http_evently_field_t  ngx_http_evently_venues_section_update[] = {
    { "name", NGX_HTTP_EVENTLY_STRING, 0, 1, 255, NULL, NULL },
    { "description", NGX_HTTP_EVENTLY_STRING, NGX_HTTP_EVENTLY_NULLABLE,
      0, 500, NULL, NULL },
    { "row_start", NGX_HTTP_EVENTLY_ROW, 0, 0, 0, NULL, NULL },
    { "row_end", NGX_HTTP_EVENTLY_ROW, 0, 0, 0, NULL, NULL },
    { "seats_per_row", NGX_HTTP_EVENTLY_INT, 0, 1, 100, NULL, NULL },
    { "total_seats", NGX_HTTP_EVENTLY_INT, 0, 1, 999900, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


/* "is_available" is the original API's name for the status */

static ngx_http_evently_field_t  ngx_http_evently_venues_seat_update[] = {
    { "status", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_UPPER, 0, 0,
      ngx_http_evently_venues_seat_status, NULL },
    { "is_available", NGX_HTTP_EVENTLY_BOOL, 0, 0, 0, NULL, NULL },
    { "seat_number", NGX_HTTP_EVENTLY_STRING, 0, 1, 20, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


static ngx_http_evently_field_t  ngx_http_evently_venues_available_query[] = {
    { "event_id", NGX_HTTP_EVENTLY_UUID, NGX_HTTP_EVENTLY_REQUIRED,
      0, 0, NULL, NULL },
    { NULL, 0, 0, 0, 0, NULL, NULL }
};


ngx_http_evently_op_t  ngx_http_evently_venues_ops[] = {

    { ngx_string("venue_template_create"), NULL,
      ngx_http_evently_venues_template_create, NULL,
      NGX_HTTP_EVENTLY_OP_BODY,
      NGX_HTTP_CREATED, ngx_string("Venue template created successfully"),
      NGX_HTTP_EVENTLY_API_SQL(venue_template_create) },

    { ngx_string("venue_template_list"), NULL,
      NULL, ngx_http_evently_venues_template_query, 0,
      NGX_HTTP_OK, ngx_string("Venue templates retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(venue_template_list) },

    { ngx_string("venue_template_get"), NULL, NULL, NULL,
      NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Venue template retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(venue_template_get) },

    { ngx_string("venue_template_update"), NULL,
      ngx_http_evently_venues_template_update, NULL,
      NGX_HTTP_EVENTLY_OP_BODY | NGX_HTTP_EVENTLY_OP_ID
      | NGX_HTTP_EVENTLY_OP_IF_MATCH,
      NGX_HTTP_OK, ngx_string("Venue template updated successfully"),
      NGX_HTTP_EVENTLY_API_SQL(venue_template_update) },

    { ngx_string("venue_template_delete"), NULL,
      NULL, NULL,
      NGX_HTTP_EVENTLY_OP_ID | NGX_HTTP_EVENTLY_OP_IF_MATCH,
      NGX_HTTP_OK, ngx_string("Venue template deleted successfully"),
      NGX_HTTP_EVENTLY_API_SQL(venue_template_delete) },

    { ngx_string("venue_section_create"), NULL,
      ngx_http_evently_venues_section_create, NULL,
      NGX_HTTP_EVENTLY_OP_BODY | NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_CREATED, ngx_string("Section created successfully"),
      NGX_HTTP_EVENTLY_API_SQL(venue_section_create) },

    { ngx_string("venue_section_list"), NULL, NULL, NULL,
      NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Sections retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(venue_section_list) },

    { ngx_string("venue_section_update"), ngx_http_evently_venues_all_holds,
      ngx_http_evently_venues_section_update, NULL,
      NGX_HTTP_EVENTLY_OP_BODY | NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Section updated successfully"),
      NGX_HTTP_EVENTLY_API_SQL(venue_section_update) },

    { ngx_string("venue_section_delete"), ngx_http_evently_venues_all_holds,
      NULL, NULL,
      NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Section deleted successfully"),
      NGX_HTTP_EVENTLY_API_SQL(venue_section_delete) },

    { ngx_string("venue_seat_get"), NULL, NULL, NULL,
      NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Seat retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(venue_seat_get) },

    { ngx_string("venue_section_seats"), NULL, NULL, NULL,
      NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Seats retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(venue_section_seats) },

    { ngx_string("venue_section_seats_available"),
      ngx_http_evently_venues_available,
      NULL, ngx_http_evently_venues_available_query,
      NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Available seats retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(venue_section_seats_available) },

    { ngx_string("venue_seat_update"), NULL,
      ngx_http_evently_venues_seat_update, NULL,
      NGX_HTTP_EVENTLY_OP_BODY | NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Seat updated successfully"),
      NGX_HTTP_EVENTLY_API_SQL(venue_seat_update) },

    { ngx_string("venue_seat_delete"), ngx_http_evently_venues_all_holds,
      NULL, NULL,
      NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Seat deleted successfully"),
      NGX_HTTP_EVENTLY_API_SQL(venue_seat_delete) },

    { ngx_null_string, NULL, NULL, NULL, 0, 0, ngx_null_string,
      NGX_HTTP_EVENTLY_NO_SQL }
};


/*
 * Section update/delete and seat delete may remove seats: the SQL function
 * refuses while one of them is held for an event, so it needs every live
 * hold (the events of the template are only known in PostgreSQL).
 */

static ngx_int_t
ngx_http_evently_venues_all_holds(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    return ngx_http_evently_run_sql_op_with_holds(r, ctx, NULL);
}


/* the seats held for the requested event only */

static ngx_int_t
ngx_http_evently_venues_available(ngx_http_request_t *r,
    ngx_http_evently_ctx_t *ctx)
{
    json_t     *v;
    ngx_str_t   event_id;

    v = json_object_get(ctx->args, "event_id");

    if (!json_is_string(v)) {
        /* the validator requires it: never reached */
        return ngx_http_evently_send_error(r, NGX_HTTP_BAD_REQUEST,
                                           "VALIDATION_FAILED",
                                           "event_id is required", NULL, 0);
    }

    event_id.data = (u_char *) json_string_value(v);
    event_id.len = json_string_length(v);

    return ngx_http_evently_run_sql_op_with_holds(r, ctx, &event_id);
}
