
/*
 * Copyright (C) Evently
 *
 * Analytics: every route is a plain SQL op (sql/functions/90_analytics.sql)
 * computing its figures in one call; this table only declares the query
 * parameters the validator checks first.  Each parameter has a bound, so
 * no report can be asked to scan or return an unbounded range: at most
 * 100 rows a page, 366 days, 24 months.  The order of from/to and the
 * number of periods they span are checked in SQL (400 there too).
 */


#include "ngx_http_evently_module.h"


#define NGX_HTTP_EVENTLY_ANALYTICS_PAGE_MAX     1000000
#define NGX_HTTP_EVENTLY_ANALYTICS_LIMIT_MAX    100
#define NGX_HTTP_EVENTLY_ANALYTICS_OFFSET_MAX   1000000
#define NGX_HTTP_EVENTLY_ANALYTICS_DAYS_MAX     366
#define NGX_HTTP_EVENTLY_ANALYTICS_MONTHS_MAX   24


static const char  *ngx_http_evently_analytics_event_status[] = {
    "draft", "published", "cancelled", "completed", NULL
};

static const char  *ngx_http_evently_analytics_group_by[] = {
    "day", "week", "month", NULL
};


/* GET /admin/events/analytics, /analytics/admin/events */

static ngx_http_evently_field_t  ngx_http_evently_analytics_events_query[] = {

    { "page", NGX_HTTP_EVENTLY_INT, 0,
      1, NGX_HTTP_EVENTLY_ANALYTICS_PAGE_MAX, NULL, NULL },

    { "limit", NGX_HTTP_EVENTLY_INT, 0,
      1, NGX_HTTP_EVENTLY_ANALYTICS_LIMIT_MAX, NULL, NULL },

    { "status", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_LOWER, 0, 0,
      ngx_http_evently_analytics_event_status, NULL },

    { NULL, 0, 0, 0, 0, NULL, NULL }
};


/* GET /analytics/admin/tags */

static ngx_http_evently_field_t  ngx_http_evently_analytics_page_query[] = {

    { "page", NGX_HTTP_EVENTLY_INT, 0,
      1, NGX_HTTP_EVENTLY_ANALYTICS_PAGE_MAX, NULL, NULL },

    { "limit", NGX_HTTP_EVENTLY_INT, 0,
      1, NGX_HTTP_EVENTLY_ANALYTICS_LIMIT_MAX, NULL, NULL },

    { NULL, 0, 0, 0, 0, NULL, NULL }
};


/* the rankings: popular events, tag popularity, tag comparisons */

static ngx_http_evently_field_t  ngx_http_evently_analytics_limit_query[] = {

    { "limit", NGX_HTTP_EVENTLY_INT, 0,
      1, NGX_HTTP_EVENTLY_ANALYTICS_LIMIT_MAX, NULL, NULL },

    { NULL, 0, 0, 0, 0, NULL, NULL }
};


/* GET /admin/analytics/revenue: dates default in SQL (last 30 days) */

static ngx_http_evently_field_t  ngx_http_evently_analytics_revenue_query[] = {

    { "from", NGX_HTTP_EVENTLY_DATE, 0, 0, 0, NULL, NULL },

    { "to", NGX_HTTP_EVENTLY_DATE, 0, 0, 0, NULL, NULL },

    { "group_by", NGX_HTTP_EVENTLY_ENUM, NGX_HTTP_EVENTLY_LOWER, 0, 0,
      ngx_http_evently_analytics_group_by, NULL },

    { NULL, 0, 0, 0, 0, NULL, NULL }
};


/* the day series: bookings/daily, bookings/cancellations, users */

static ngx_http_evently_field_t  ngx_http_evently_analytics_days_query[] = {

    { "days", NGX_HTTP_EVENTLY_INT, 0,
      1, NGX_HTTP_EVENTLY_ANALYTICS_DAYS_MAX, NULL, NULL },

    { NULL, 0, 0, 0, 0, NULL, NULL }
};


/* GET /analytics/admin/tags/trends */

static ngx_http_evently_field_t  ngx_http_evently_analytics_trends_query[] = {

    { "months", NGX_HTTP_EVENTLY_INT, 0,
      1, NGX_HTTP_EVENTLY_ANALYTICS_MONTHS_MAX, NULL, NULL },

    { "limit", NGX_HTTP_EVENTLY_INT, 0,
      1, NGX_HTTP_EVENTLY_ANALYTICS_LIMIT_MAX, NULL, NULL },

    { NULL, 0, 0, 0, 0, NULL, NULL }
};


/* GET /analytics/user/bookings/history */

static ngx_http_evently_field_t  ngx_http_evently_analytics_history_query[] = {

    { "limit", NGX_HTTP_EVENTLY_INT, 0,
      1, NGX_HTTP_EVENTLY_ANALYTICS_LIMIT_MAX, NULL, NULL },

    { "offset", NGX_HTTP_EVENTLY_INT, 0,
      0, NGX_HTTP_EVENTLY_ANALYTICS_OFFSET_MAX, NULL, NULL },

    { NULL, 0, 0, 0, 0, NULL, NULL }
};


/* GET /analytics/user/personal */

static ngx_http_evently_field_t  ngx_http_evently_analytics_months_query[] = {

    { "months", NGX_HTTP_EVENTLY_INT, 0,
      1, NGX_HTTP_EVENTLY_ANALYTICS_MONTHS_MAX, NULL, NULL },

    { NULL, 0, 0, 0, 0, NULL, NULL }
};


ngx_http_evently_op_t  ngx_http_evently_analytics_ops[] = {

    { ngx_string("analytics_events"), NULL, NULL,
      ngx_http_evently_analytics_events_query, 0,
      NGX_HTTP_OK, ngx_string("Event analytics retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(analytics_events) },

    { ngx_string("analytics_event"), NULL, NULL, NULL,
      NGX_HTTP_EVENTLY_OP_ID,
      NGX_HTTP_OK, ngx_string("Event analytics retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(analytics_event) },

    { ngx_string("analytics_revenue"), NULL, NULL,
      ngx_http_evently_analytics_revenue_query, 0,
      NGX_HTTP_OK, ngx_string("Revenue analytics retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(analytics_revenue) },

    { ngx_string("analytics_popular_events"), NULL, NULL,
      ngx_http_evently_analytics_limit_query, 0,
      NGX_HTTP_OK, ngx_string("Popular events retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(analytics_popular_events) },

    { ngx_string("analytics_dashboard"), NULL, NULL, NULL, 0,
      NGX_HTTP_OK, ngx_string("Dashboard analytics retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(analytics_dashboard) },

    { ngx_string("analytics_bookings"), NULL, NULL, NULL, 0,
      NGX_HTTP_OK, ngx_string("Booking analytics retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(analytics_bookings) },

    { ngx_string("analytics_bookings_daily"), NULL, NULL,
      ngx_http_evently_analytics_days_query, 0,
      NGX_HTTP_OK, ngx_string("Daily booking statistics retrieved "
                              "successfully"),
      NGX_HTTP_EVENTLY_API_SQL(analytics_bookings_daily) },

    { ngx_string("analytics_cancellations"), NULL, NULL,
      ngx_http_evently_analytics_days_query, 0,
      NGX_HTTP_OK, ngx_string("Cancellation analytics retrieved "
                              "successfully"),
      NGX_HTTP_EVENTLY_API_SQL(analytics_cancellations) },

    { ngx_string("analytics_users"), NULL, NULL,
      ngx_http_evently_analytics_days_query, 0,
      NGX_HTTP_OK, ngx_string("User analytics retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(analytics_users) },

    { ngx_string("analytics_tags"), NULL, NULL,
      ngx_http_evently_analytics_page_query, 0,
      NGX_HTTP_OK, ngx_string("Tag analytics retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(analytics_tags) },

    { ngx_string("analytics_tags_popularity"), NULL, NULL,
      ngx_http_evently_analytics_limit_query, 0,
      NGX_HTTP_OK, ngx_string("Tag popularity retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(analytics_tags_popularity) },

    { ngx_string("analytics_tags_trends"), NULL, NULL,
      ngx_http_evently_analytics_trends_query, 0,
      NGX_HTTP_OK, ngx_string("Tag trends retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(analytics_tags_trends) },

    { ngx_string("analytics_tags_comparisons"), NULL, NULL,
      ngx_http_evently_analytics_limit_query, 0,
      NGX_HTTP_OK, ngx_string("Tag comparisons retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(analytics_tags_comparisons) },

    { ngx_string("analytics_user_history"), NULL, NULL,
      ngx_http_evently_analytics_history_query, 0,
      NGX_HTTP_OK, ngx_string("Booking history retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(analytics_user_history) },

    { ngx_string("analytics_user_personal"), NULL, NULL,
      ngx_http_evently_analytics_months_query, 0,
      NGX_HTTP_OK, ngx_string("Personal analytics retrieved successfully"),
      NGX_HTTP_EVENTLY_API_SQL(analytics_user_personal) },

    { ngx_null_string, NULL, NULL, NULL, 0, 0, ngx_null_string,
      NGX_HTTP_EVENTLY_NO_SQL }
};
