-- 90_analytics.sql: the analytics routes (admin reports and the caller's
-- own figures). Re-applied on every migrate (CREATE OR REPLACE only).
-- Read-only: every function is STABLE; one call per request.
--
-- Every figure is computed here, in exact arithmetic:
--   * money is numeric rounded to 2 decimals (evently.analytics_money),
--     never a binary float; an empty sum is 0.00, never NULL;
--   * a ratio is numeric rounded to 4 decimals (evently.analytics_ratio),
--     0 when its denominator is 0 (no NaN, no division by zero);
--   * days, weeks and months are UTC; a date range from..to includes
--     both days; weeks start on Monday (ISO), labelled by that Monday.
--
-- Definitions (the same in every report):
--   capacity      seats of the event's venue template that are not BLOCKED
--                 (evently.template_capacity, as the events' total_capacity)
--   booked        seats of the event's active booking_seats (seats sold now;
--                 a cancelled booking's seats no longer count)
--   utilization   booked / capacity
--   bookings      bookings made, whatever their status now; confirmed_ and
--                 cancelled_ say which
--   gross revenue amounts of payments that went through (status COMPLETED,
--                 or REFUNDED: those were completed first), by processed_at
--   refunds       refund_amount of refunded payments, by refunded_at
--   net revenue   gross - refunds: what the event keeps, i.e. the value of
--                 the seats still sold plus the cancellation fees kept
--   revenue       of an event, a section or a tag: the net revenue (of a
--                 section: the value of its seats still sold); of a period
--                 in a time series: what was sold or paid in that period
--                 (gross), with refunds and net beside it where relevant
--   cancellation_rate  cancelled bookings / bookings
-- Sums of money add amounts of every currency together (the events are
-- all INR today; a multi-currency report would group by currency).
--
-- Contract points decided here:
--   * Lists: page (default 1), limit (default 10, at most 100: C refuses
--     more); the reports that rank (popular events, tag popularity,
--     comparisons, trends) take limit (default 10) instead of pages.
--   * Time series have one entry per period, zeros included
--     (generate_series): revenue (from/to, default the last 30 days up to
--     today; at most 366 periods), the daily bookings, cancellations and
--     sign-ups (days, default 30, at most 366), tag trends (months, default
--     6, at most 24) and personal spending (months, default 12).
--   * The per-event day series (bookings_by_day) lists the days with
--     bookings only: it spans the event's whole sale period.
--   * Popular events rank every event (any status) by booked seats, then
--     net revenue, then date.
--
-- Cost: the per-event, per-user and time-window figures read through
-- indexes (bookings by event, user or created_at, payments by processed_at
-- or refunded_at, booking_seats and waitlist entries by event) and are
-- bounded by the window (at most 366 days or 24 months). The all-time
-- figures (dashboard, booking and cancellation totals, the totals of the
-- event list, popular events, the tag reports, user counts) aggregate
-- whole tables: 10-250 ms at 100k bookings on the development server,
-- linear beyond; at many millions of bookings they would need rollup
-- tables refreshed in the background.


-- ---------------------------------------------------------------------------
-- Helpers

-- money: 2 decimals, 0.00 for nothing
CREATE OR REPLACE FUNCTION evently.analytics_money(p numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT round(coalesce(p, 0), 2)
$$;


-- p_num / p_den rounded to p_digits; 0 when the denominator is 0 or NULL
CREATE OR REPLACE FUNCTION evently.analytics_ratio(p_num numeric,
    p_den numeric, p_digits int DEFAULT 4)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN coalesce(p_den, 0) = 0 THEN round(0::numeric, p_digits)
                ELSE round(coalesce(p_num, 0) / p_den, p_digits)
           END
$$;


-- today, in UTC
CREATE OR REPLACE FUNCTION evently.analytics_today()
RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT (now() AT TIME ZONE 'UTC')::date
$$;


-- the first instant of a UTC day
CREATE OR REPLACE FUNCTION evently.analytics_day_start(p_day date)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT p_day::timestamp AT TIME ZONE 'UTC'
$$;


-- the UTC day of an instant, as 'YYYY-MM-DD'
CREATE OR REPLACE FUNCTION evently.analytics_day(p_t timestamptz)
RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT (p_t AT TIME ZONE 'UTC')::date
$$;


-- Figures of one event. Indexes: bookings_event_created_idx,
-- booking_seats_event_seat_active_key, payments_booking_idx,
-- cancellations_booking_key: work proportional to the event's bookings.
CREATE OR REPLACE FUNCTION evently.analytics_event_figures(p_event uuid,
    OUT bookings bigint, OUT confirmed bigint, OUT cancelled bigint,
    OUT booked bigint, OUT gross numeric, OUT refunds numeric,
    OUT fees numeric)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT b.n, b.confirmed, b.cancelled, s.n,
           evently.analytics_money(p.gross),
           evently.analytics_money(p.refunds),
           evently.analytics_money(c.fees)
      FROM (SELECT count(*) AS n,
                   count(*) FILTER (WHERE status = 'CONFIRMED') AS confirmed,
                   count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled
              FROM evently.bookings
             WHERE event_id = p_event) b,
           (SELECT count(*) AS n
              FROM evently.booking_seats
             WHERE event_id = p_event AND active) s,
           (SELECT sum(p.amount)
                       FILTER (WHERE p.status IN ('COMPLETED', 'REFUNDED')
                               AND p.processed_at IS NOT NULL) AS gross,
                   sum(p.refund_amount)
                       FILTER (WHERE p.refunded_at IS NOT NULL) AS refunds
              FROM evently.bookings b
              JOIN evently.payments p ON p.booking_id = b.id
             WHERE b.event_id = p_event) p,
           (SELECT sum(c.cancellation_fee) AS fees
              FROM evently.bookings b
              JOIN evently.cancellations c ON c.booking_id = b.id
             WHERE b.event_id = p_event) c
$$;


-- Figures of every event at once (the tag reports and the popular events
-- rank all events): one grouped pass over bookings, active booking seats
-- and payments, i.e. work proportional to all bookings (see "Cost" at
-- the top). seats_ordered = seats of the bookings made;
-- seat_value = prices of the seats still sold.
CREATE OR REPLACE FUNCTION evently.analytics_all_event_figures()
RETURNS TABLE (event_id uuid, bookings bigint, confirmed bigint,
               cancelled bigint, seats_ordered bigint, booked bigint,
               seat_value numeric, gross numeric, refunds numeric)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    WITH b AS (
        SELECT b.event_id, count(*) AS n,
               count(*) FILTER (WHERE b.status = 'CONFIRMED') AS confirmed,
               count(*) FILTER (WHERE b.status = 'CANCELLED') AS cancelled,
               sum(b.total_seats) AS seats
          FROM evently.bookings b
         GROUP BY b.event_id
    ), s AS (
        SELECT bs.event_id, count(*) AS n, sum(bs.price) AS value
          FROM evently.booking_seats bs
         WHERE bs.active
         GROUP BY bs.event_id
    ), p AS (
        SELECT b.event_id,
               sum(p.amount)
                   FILTER (WHERE p.status IN ('COMPLETED', 'REFUNDED')
                           AND p.processed_at IS NOT NULL) AS gross,
               sum(p.refund_amount)
                   FILTER (WHERE p.refunded_at IS NOT NULL) AS refunds
          FROM evently.payments p
          JOIN evently.bookings b ON b.id = p.booking_id
         GROUP BY b.event_id
    )
    SELECT e.id, coalesce(b.n, 0), coalesce(b.confirmed, 0),
           coalesce(b.cancelled, 0), coalesce(b.seats, 0),
           coalesce(s.n, 0), evently.analytics_money(s.value),
           evently.analytics_money(p.gross),
           evently.analytics_money(p.refunds)
      FROM evently.events e
      LEFT JOIN b ON b.event_id = e.id
      LEFT JOIN s ON s.event_id = e.id
      LEFT JOIN p ON p.event_id = e.id
$$;


-- One row of the per-event report
CREATE OR REPLACE FUNCTION evently.analytics_event_row(p_e evently.events)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'event_id', p_e.id,
        'name', p_e.name,
        'date_time', evently.ts(p_e.date_time),
        'status', p_e.status,
        'capacity', c.capacity,
        'booked', f.booked,
        'utilization', evently.analytics_ratio(f.booked, c.capacity),
        'revenue', evently.analytics_money(f.gross - f.refunds),
        'gross_revenue', f.gross,
        'refunds', f.refunds,
        'bookings', f.bookings,
        'cancellations', f.cancelled)
      FROM evently.analytics_event_figures(p_e.id) f,
           (SELECT evently.template_capacity(p_e.venue_template_id)
                   AS capacity) c
$$;


-- The analytics of one event (both routes)
CREATE OR REPLACE FUNCTION evently.analytics_event_json(p_e evently.events)
RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT json_build_object(
        'event_id', p_e.id,
        'event_name', p_e.name,
        'status', p_e.status,
        'date_time', evently.ts(p_e.date_time),
        'total_bookings', f.bookings,
        'confirmed_bookings', f.confirmed,
        'cancelled_bookings', f.cancelled,
        'total_seats_booked', f.booked,
        'capacity', c.capacity,
        'total_revenue', evently.analytics_money(f.gross - f.refunds),
        'gross_revenue', f.gross,
        'refunds', f.refunds,
        'cancellation_fees', f.fees,
        'capacity_utilization', evently.analytics_ratio(f.booked,
                                                        c.capacity),
        'cancellation_rate', evently.analytics_ratio(f.cancelled,
                                                     f.bookings),
        'bookings_by_day', (
            SELECT coalesce(json_agg(json_build_object(
                       'date', d.day,
                       'bookings', d.bookings,
                       'seats', d.seats,
                       'revenue', evently.analytics_money(d.revenue))
                       ORDER BY d.day), '[]')
              FROM (SELECT evently.analytics_day(b.created_at) AS day,
                           count(*) AS bookings,
                           sum(b.total_seats) AS seats,
                           sum(b.total_price) AS revenue
                      FROM evently.bookings b
                     WHERE b.event_id = p_e.id
                     GROUP BY 1) d),
        'sections', (
            SELECT coalesce(json_agg(json_build_object(
                       'section_id', vs.id,
                       'name', vs.name,
                       'booked', sold.n,
                       'capacity', cap.n,
                       'utilization', evently.analytics_ratio(sold.n, cap.n),
                       'revenue', evently.analytics_money(sold.value))
                       ORDER BY vs.name, vs.id), '[]')
              FROM evently.venue_sections vs
             CROSS JOIN LATERAL (
                   SELECT count(*) AS n
                     FROM evently.seats s
                    WHERE s.section_id = vs.id
                      AND s.status <> 'BLOCKED') cap
             CROSS JOIN LATERAL (
                   SELECT count(*) AS n, sum(bs.price) AS value
                     FROM evently.booking_seats bs
                    WHERE bs.event_id = p_e.id
                      AND bs.section_id = vs.id
                      AND bs.active) sold
             WHERE vs.template_id = p_e.venue_template_id),
        'waitlist', (
            SELECT json_build_object(
                       'active', count(*) FILTER (WHERE w.status = 'ACTIVE'),
                       'notified',
                           count(*) FILTER (WHERE w.status = 'NOTIFIED'),
                       'converted',
                           count(*) FILTER (WHERE w.status = 'CONVERTED'),
                       'expired',
                           count(*) FILTER (WHERE w.status = 'EXPIRED'),
                       'cancelled',
                           count(*) FILTER (WHERE w.status = 'CANCELLED'))
              FROM evently.waitlist_entries w
             WHERE w.event_id = p_e.id))
      FROM evently.analytics_event_figures(p_e.id) f,
           (SELECT evently.template_capacity(p_e.venue_template_id)
                   AS capacity) c
$$;


-- A day series: every day of p_from..p_to (both included)
CREATE OR REPLACE FUNCTION evently.analytics_days(p_from date, p_to date)
RETURNS SETOF date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT g::date
      FROM generate_series(p_from::timestamp, p_to::timestamp,
                           interval '1 day') AS g
$$;


-- A month series: the p_months months ending with this one, first days
CREATE OR REPLACE FUNCTION evently.analytics_months(p_months int)
RETURNS SETOF date
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT g::date
      FROM generate_series(
               date_trunc('month', evently.analytics_today()::timestamp)
                   - make_interval(months => p_months - 1),
               date_trunc('month', evently.analytics_today()::timestamp),
               interval '1 month') AS g
$$;


-- ---------------------------------------------------------------------------
-- Events

-- GET /admin/events/analytics, GET /analytics/admin/events:
-- page, limit, status; rows by date_time; totals over every event of the
-- filter (not only the page)
CREATE OR REPLACE FUNCTION evently.api_analytics_events(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_page    int := coalesce((p_args->>'page')::int, 1);
    v_limit   int := coalesce((p_args->>'limit')::int, 10);
    v_status  text := p_args->>'status';
    v_total   bigint;
    v_items   json;
    v_totals  json;
BEGIN
    SELECT count(*) INTO v_total
      FROM evently.events e
     WHERE v_status IS NULL OR e.status = v_status;

    SELECT coalesce(json_agg(evently.analytics_event_row(e)
                             ORDER BY e.date_time, e.id), '[]')
      INTO v_items
      FROM (SELECT * FROM evently.events e
             WHERE v_status IS NULL OR e.status = v_status
             ORDER BY e.date_time, e.id
             LIMIT v_limit OFFSET (v_page - 1)::bigint * v_limit) e;

    -- capacity once per template, not once per event
    WITH ev AS (
        SELECT e.id FROM evently.events e
         WHERE v_status IS NULL OR e.status = v_status
    ), cap AS (
        SELECT sum(t.n * evently.template_capacity(t.venue_template_id))
                   AS capacity
          FROM (SELECT e.venue_template_id, count(*) AS n
                  FROM evently.events e
                 WHERE v_status IS NULL OR e.status = v_status
                 GROUP BY e.venue_template_id) t
    ), sold AS (
        SELECT count(*) AS booked
          FROM evently.booking_seats bs
          JOIN ev ON ev.id = bs.event_id
         WHERE bs.active
    ), bk AS (
        SELECT count(*) AS bookings,
               count(*) FILTER (WHERE b.status = 'CANCELLED') AS cancelled
          FROM evently.bookings b
          JOIN ev ON ev.id = b.event_id
    ), pay AS (
        SELECT evently.analytics_money(sum(p.amount)
                   FILTER (WHERE p.status IN ('COMPLETED', 'REFUNDED')
                           AND p.processed_at IS NOT NULL)) AS gross,
               evently.analytics_money(sum(p.refund_amount)
                   FILTER (WHERE p.refunded_at IS NOT NULL)) AS refunds
          FROM evently.payments p
          JOIN evently.bookings b ON b.id = p.booking_id
          JOIN ev ON ev.id = b.event_id
    )
    SELECT json_build_object(
               'events', v_total,
               'capacity', coalesce(cap.capacity, 0),
               'booked', sold.booked,
               'utilization', evently.analytics_ratio(sold.booked,
                                                      cap.capacity),
               'revenue', evently.analytics_money(pay.gross - pay.refunds),
               'gross_revenue', pay.gross,
               'refunds', pay.refunds,
               'bookings', bk.bookings,
               'cancellations', bk.cancelled)
      INTO v_totals
      FROM cap, sold, bk, pay;

    RETURN evently.ok(json_build_object(
        'events', v_items,
        'totals', v_totals,
        'total_count', v_total,
        'page', v_page,
        'limit', v_limit,
        'total_pages', evently.total_pages(v_total, v_limit)));
END $$;


-- GET /admin/events/{id}/analytics, GET /analytics/admin/events/{id}
CREATE OR REPLACE FUNCTION evently.api_analytics_event(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_event  evently.events%ROWTYPE;
BEGIN
    SELECT * INTO v_event FROM evently.events WHERE id = p_id;

    IF NOT FOUND THEN
        RETURN evently.fail(404, 'EVENT_NOT_FOUND', 'Event not found');
    END IF;

    RETURN evently.ok(evently.analytics_event_json(v_event));
END $$;


-- GET /admin/analytics/popular-events: limit 1..100 (default 10)
CREATE OR REPLACE FUNCTION evently.api_analytics_popular_events(
    p_user uuid, p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_limit  int := coalesce((p_args->>'limit')::int, 10);
    v_items  json;
BEGIN
    WITH top AS (
        SELECT e.*, f.bookings, f.booked,
               f.gross - f.refunds AS net,
               row_number() OVER (ORDER BY f.booked DESC,
                                           f.gross - f.refunds DESC,
                                           e.date_time, e.id) AS rank
          FROM evently.events e
          JOIN evently.analytics_all_event_figures() f ON f.event_id = e.id
         ORDER BY rank
         LIMIT v_limit
    )
    SELECT coalesce(json_agg(json_build_object(
               'rank', t.rank,
               'event_id', t.id,
               'name', t.name,
               'venue', t.venue,
               'date_time', evently.ts(t.date_time),
               'status', t.status,
               'capacity', c.capacity,
               'booked', t.booked,
               'utilization', evently.analytics_ratio(t.booked, c.capacity),
               'bookings', t.bookings,
               'revenue', evently.analytics_money(t.net))
               ORDER BY t.rank), '[]')
      INTO v_items
      FROM top t
     CROSS JOIN LATERAL (
           SELECT evently.template_capacity(t.venue_template_id)
                  AS capacity) c;

    RETURN evently.ok(json_build_object(
        'events', v_items,
        'count', json_array_length(v_items),
        'limit', v_limit));
END $$;


-- ---------------------------------------------------------------------------
-- Revenue

-- GET /admin/analytics/revenue: from, to (YYYY-MM-DD, both included,
-- default the last 30 days up to today), group_by day|week|month (default
-- day); one entry per period, at most 366 periods. Indexes:
-- payments_processed_at_idx, payments_refunded_at_idx (range scans).
CREATE OR REPLACE FUNCTION evently.api_analytics_revenue(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c_max      constant int := 366;
    v_group    text := coalesce(p_args->>'group_by', 'day');
    v_to       date := coalesce((p_args->>'to')::date,
                                evently.analytics_today());
    v_from     date := coalesce((p_args->>'from')::date, v_to - 29);
    v_step     interval;
    v_first    date;
    v_last     date;
    v_count    bigint;
    v_lo       timestamptz;
    v_hi       timestamptz;
    v_periods  json;
    v_totals   json;
BEGIN
    IF v_to < v_from THEN
        RETURN evently.fail(400, 'VALIDATION_FAILED', 'Validation failed',
                   json_build_object('fields', json_build_object(
                       'to', 'must not be before from ('
                             || to_char(v_from, 'YYYY-MM-DD') || ')')));
    END IF;

    v_step := CASE v_group WHEN 'week' THEN interval '1 week'
                           WHEN 'month' THEN interval '1 month'
                           ELSE interval '1 day' END;
    v_first := date_trunc(v_group, v_from::timestamp)::date;
    v_last := date_trunc(v_group, v_to::timestamp)::date;

    v_count := CASE v_group
               WHEN 'week' THEN (v_last - v_first) / 7 + 1
               WHEN 'month' THEN (extract(year FROM v_last)
                                  - extract(year FROM v_first)) * 12
                                 + extract(month FROM v_last)
                                 - extract(month FROM v_first) + 1
               ELSE v_last - v_first + 1
               END;

    IF v_count > c_max THEN
        RETURN evently.fail(400, 'VALIDATION_FAILED', 'Validation failed',
                   json_build_object('fields', json_build_object(
                       'to', 'the range from..to spans ' || v_count || ' '
                             || v_group || 's; at most ' || c_max
                             || ' are allowed')));
    END IF;

    v_lo := evently.analytics_day_start(v_from);
    v_hi := evently.analytics_day_start(v_to + 1);

    WITH buckets AS (
        SELECT g::date AS start
          FROM generate_series(v_first::timestamp, v_last::timestamp,
                               v_step) AS g
    ), paid AS (
        SELECT date_trunc(v_group, p.processed_at AT TIME ZONE 'UTC')::date
                   AS start,
               sum(p.amount) AS amount
          FROM evently.payments p
         WHERE p.processed_at >= v_lo AND p.processed_at < v_hi
           AND p.status IN ('COMPLETED', 'REFUNDED')
         GROUP BY 1
    ), refunded AS (
        SELECT date_trunc(v_group, p.refunded_at AT TIME ZONE 'UTC')::date
                   AS start,
               sum(p.refund_amount) AS amount
          FROM evently.payments p
         WHERE p.refunded_at >= v_lo AND p.refunded_at < v_hi
         GROUP BY 1
    ), rows AS (
        SELECT b.start,
               evently.analytics_money(paid.amount) AS revenue,
               evently.analytics_money(refunded.amount) AS refunds
          FROM buckets b
          LEFT JOIN paid ON paid.start = b.start
          LEFT JOIN refunded ON refunded.start = b.start
    )
    SELECT json_agg(json_build_object(
               'period', CASE v_group
                         WHEN 'month' THEN to_char(r.start, 'YYYY-MM')
                         ELSE to_char(r.start, 'YYYY-MM-DD') END,
               'revenue', r.revenue,
               'refunds', r.refunds,
               'net', r.revenue - r.refunds)
               ORDER BY r.start),
           json_build_object(
               'revenue', evently.analytics_money(sum(r.revenue)),
               'refunds', evently.analytics_money(sum(r.refunds)),
               'net', evently.analytics_money(sum(r.revenue)
                                              - sum(r.refunds)))
      INTO v_periods, v_totals
      FROM rows r;

    RETURN evently.ok(json_build_object(
        'from', v_from,
        'to', v_to,
        'group_by', v_group,
        'periods', coalesce(v_periods, '[]'),
        'totals', v_totals));
END $$;


-- ---------------------------------------------------------------------------
-- The original's family: /analytics/admin/...

-- GET /analytics/admin/dashboard: overview totals. Full counts of the
-- tables (the sums read every payment and booking once).
CREATE OR REPLACE FUNCTION evently.api_analytics_dashboard(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_data  json;
BEGIN
    WITH u AS (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE role = 'ADMIN') AS admins,
               count(*) FILTER (WHERE role = 'USER') AS users
          FROM evently.users
    ), e AS (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status = 'draft') AS draft,
               count(*) FILTER (WHERE status = 'published') AS published,
               count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
               count(*) FILTER (WHERE status = 'completed') AS completed,
               count(*) FILTER (WHERE status = 'published'
                                AND date_time > now()) AS upcoming
          FROM evently.events
    ), b AS (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status = 'CONFIRMED') AS confirmed,
               count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled
          FROM evently.bookings
    ), s AS (
        SELECT count(*) AS sold
          FROM evently.booking_seats WHERE active
    ), p AS (
        SELECT evently.analytics_money(sum(amount)
                   FILTER (WHERE status IN ('COMPLETED', 'REFUNDED')
                           AND processed_at IS NOT NULL)) AS gross,
               evently.analytics_money(sum(refund_amount)
                   FILTER (WHERE refunded_at IS NOT NULL)) AS refunds
          FROM evently.payments
    ), c AS (
        SELECT count(*) AS total,
               evently.analytics_money(sum(cancellation_fee)) AS fees
          FROM evently.cancellations
    ), w AS (
        SELECT count(*) FILTER (WHERE status = 'ACTIVE') AS active,
               count(*) FILTER (WHERE status = 'NOTIFIED') AS notified,
               count(*) FILTER (WHERE status = 'CONVERTED') AS converted,
               count(*) FILTER (WHERE status = 'EXPIRED') AS expired,
               count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled
          FROM evently.waitlist_entries
    )
    SELECT json_build_object(
               'total_users', u.total,
               'users_by_role', json_build_object('USER', u.users,
                                                  'ADMIN', u.admins),
               'total_events', e.total,
               'events_by_status', json_build_object(
                   'draft', e.draft,
                   'published', e.published,
                   'cancelled', e.cancelled,
                   'completed', e.completed),
               'upcoming_events', e.upcoming,
               'total_bookings', b.total,
               'confirmed_bookings', b.confirmed,
               'cancelled_bookings', b.cancelled,
               'seats_sold', s.sold,
               'revenue', p.gross,
               'refunds', p.refunds,
               'net_revenue', evently.analytics_money(p.gross - p.refunds),
               'total_cancellations', c.total,
               'cancellation_fees', c.fees,
               'cancellation_rate', evently.analytics_ratio(b.cancelled,
                                                            b.total),
               'waitlist', json_build_object(
                   'active', w.active,
                   'notified', w.notified,
                   'converted', w.converted,
                   'expired', w.expired,
                   'cancelled', w.cancelled),
               'generated_at', evently.ts(now()))
      INTO v_data
      FROM u, e, b, s, p, c, w;

    RETURN evently.ok(v_data);
END $$;


-- GET /analytics/admin/bookings: totals by status, averages, payment
-- methods
CREATE OR REPLACE FUNCTION evently.api_analytics_bookings(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_data  json;
BEGIN
    WITH b AS (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status = 'CONFIRMED') AS confirmed,
               count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled,
               coalesce(sum(total_seats), 0) AS seats,
               evently.analytics_money(sum(total_price)) AS value
          FROM evently.bookings
    ), s AS (
        SELECT count(*) AS booked
          FROM evently.booking_seats WHERE active
    ), p AS (
        SELECT evently.analytics_money(sum(amount)
                   FILTER (WHERE status IN ('COMPLETED', 'REFUNDED')
                           AND processed_at IS NOT NULL)) AS gross,
               evently.analytics_money(sum(refund_amount)
                   FILTER (WHERE refunded_at IS NOT NULL)) AS refunds
          FROM evently.payments
    ), m AS (
        SELECT coalesce(json_agg(json_build_object(
                   'method', x.payment_method,
                   'payments', x.n,
                   'amount', evently.analytics_money(x.amount))
                   ORDER BY x.payment_method), '[]') AS methods
          FROM (SELECT payment_method, count(*) AS n, sum(amount) AS amount
                  FROM evently.payments
                 WHERE status IN ('COMPLETED', 'REFUNDED')
                   AND processed_at IS NOT NULL
                 GROUP BY payment_method) x
    )
    SELECT json_build_object(
               'total_bookings', b.total,
               'confirmed_bookings', b.confirmed,
               'cancelled_bookings', b.cancelled,
               'bookings_by_status', json_build_object(
                   'CONFIRMED', b.confirmed,
                   'CANCELLED', b.cancelled),
               'total_seats', b.seats,
               'seats_booked', s.booked,
               'average_seats_per_booking', evently.analytics_ratio(b.seats,
                                                                    b.total,
                                                                    2),
               'average_order_value', evently.analytics_ratio(b.value,
                                                              b.total, 2),
               'cancellation_rate', evently.analytics_ratio(b.cancelled,
                                                            b.total),
               'revenue', p.gross,
               'refunds', p.refunds,
               'net_revenue', evently.analytics_money(p.gross - p.refunds),
               'payment_methods', m.methods)
      INTO v_data
      FROM b, s, p, m;

    RETURN evently.ok(v_data);
END $$;


-- GET /analytics/admin/bookings/daily: days 1..366 (default 30) ending
-- today; bookings made that day, their seats and value (gross, before any
-- refund), cancellations made that day. Indexes: bookings_created_idx,
-- cancellations_created_idx.
CREATE OR REPLACE FUNCTION evently.api_analytics_bookings_daily(
    p_user uuid, p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_days    int := coalesce((p_args->>'days')::int, 30);
    v_to      date := evently.analytics_today();
    v_from    date := v_to - (v_days - 1);
    v_lo      timestamptz := evently.analytics_day_start(v_from);
    v_hi      timestamptz := evently.analytics_day_start(v_to + 1);
    v_series  json;
    v_totals  json;
BEGIN
    WITH bk AS (
        SELECT evently.analytics_day(b.created_at) AS day,
               count(*) AS n, sum(b.total_seats) AS seats,
               sum(b.total_price) AS value
          FROM evently.bookings b
         WHERE b.created_at >= v_lo AND b.created_at < v_hi
         GROUP BY 1
    ), cn AS (
        SELECT evently.analytics_day(c.created_at) AS day, count(*) AS n
          FROM evently.cancellations c
         WHERE c.created_at >= v_lo AND c.created_at < v_hi
         GROUP BY 1
    ), rows AS (
        SELECT d.day, coalesce(bk.n, 0) AS bookings,
               coalesce(bk.seats, 0) AS seats,
               evently.analytics_money(bk.value) AS revenue,
               coalesce(cn.n, 0) AS cancellations
          FROM evently.analytics_days(v_from, v_to) AS d(day)
          LEFT JOIN bk ON bk.day = d.day
          LEFT JOIN cn ON cn.day = d.day
    )
    SELECT json_agg(json_build_object(
               'date', r.day,
               'bookings', r.bookings,
               'seats', r.seats,
               'revenue', r.revenue,
               'cancellations', r.cancellations)
               ORDER BY r.day),
           json_build_object(
               'bookings', coalesce(sum(r.bookings), 0),
               'seats', coalesce(sum(r.seats), 0),
               'revenue', evently.analytics_money(sum(r.revenue)),
               'cancellations', coalesce(sum(r.cancellations), 0))
      INTO v_series, v_totals
      FROM rows r;

    RETURN evently.ok(json_build_object(
        'days', v_days,
        'from', v_from,
        'to', v_to,
        'daily', coalesce(v_series, '[]'),
        'totals', v_totals));
END $$;


-- GET /analytics/admin/bookings/cancellations: days 1..366 (default 30)
-- for the day series; totals over all time
CREATE OR REPLACE FUNCTION evently.api_analytics_cancellations(
    p_user uuid, p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_days    int := coalesce((p_args->>'days')::int, 30);
    v_to      date := evently.analytics_today();
    v_from    date := v_to - (v_days - 1);
    v_lo      timestamptz := evently.analytics_day_start(v_from);
    v_hi      timestamptz := evently.analytics_day_start(v_to + 1);
    v_data    json;
BEGIN
    WITH c AS (
        SELECT count(*) AS total,
               evently.analytics_money(sum(refund_amount)) AS refunds,
               evently.analytics_money(sum(cancellation_fee)) AS fees,
               count(*) FILTER (WHERE status = 'PENDING') AS pending,
               count(*) FILTER (WHERE status = 'PROCESSED') AS processed,
               count(*) FILTER (WHERE status = 'REFUNDED') AS refunded,
               count(*) FILTER (WHERE status = 'REJECTED') AS rejected
          FROM evently.cancellations
    ), b AS (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled
          FROM evently.bookings
    ), day AS (
        SELECT evently.analytics_day(c.created_at) AS day, count(*) AS n,
               sum(c.refund_amount) AS refunds,
               sum(c.cancellation_fee) AS fees
          FROM evently.cancellations c
         WHERE c.created_at >= v_lo AND c.created_at < v_hi
         GROUP BY 1
    ), series AS (
        SELECT json_agg(json_build_object(
                   'date', d.day,
                   'cancellations', coalesce(day.n, 0),
                   'refunds', evently.analytics_money(day.refunds),
                   'fees', evently.analytics_money(day.fees))
                   ORDER BY d.day) AS daily
          FROM evently.analytics_days(v_from, v_to) AS d(day)
          LEFT JOIN day ON day.day = d.day
    ), top AS (
        SELECT coalesce(json_agg(json_build_object(
                   'event_id', t.event_id,
                   'name', t.name,
                   'cancellations', t.n,
                   'refunds', evently.analytics_money(t.refunds))
                   ORDER BY t.n DESC, t.refunds DESC, t.name, t.event_id),
                   '[]') AS events
          FROM (SELECT b.event_id, e.name, count(*) AS n,
                       sum(c.refund_amount) AS refunds
                  FROM evently.cancellations c
                  JOIN evently.bookings b ON b.id = c.booking_id
                  JOIN evently.events e ON e.id = b.event_id
                 GROUP BY b.event_id, e.name
                 ORDER BY count(*) DESC, sum(c.refund_amount) DESC,
                          e.name, b.event_id
                 LIMIT 10) t
    )
    SELECT json_build_object(
               'total_cancellations', c.total,
               'cancellation_rate', evently.analytics_ratio(b.cancelled,
                                                            b.total),
               'total_refunds', c.refunds,
               'total_fees', c.fees,
               'average_refund', evently.analytics_ratio(c.refunds, c.total,
                                                         2),
               'by_status', json_build_object(
                   'PENDING', c.pending,
                   'PROCESSED', c.processed,
                   'REFUNDED', c.refunded,
                   'REJECTED', c.rejected),
               'days', v_days,
               'from', v_from,
               'to', v_to,
               'daily', coalesce(series.daily, '[]'),
               'top_events', top.events)
      INTO v_data
      FROM c, b, series, top;

    RETURN evently.ok(v_data);
END $$;


-- GET /analytics/admin/users: counts by role, users with bookings, sign-ups
-- per day over days 1..366 (default 30; index users_created_at_idx)
CREATE OR REPLACE FUNCTION evently.api_analytics_users(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_days  int := coalesce((p_args->>'days')::int, 30);
    v_to    date := evently.analytics_today();
    v_from  date := v_to - (v_days - 1);
    v_lo    timestamptz := evently.analytics_day_start(v_from);
    v_hi    timestamptz := evently.analytics_day_start(v_to + 1);
    v_data  json;
BEGIN
    WITH u AS (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE role = 'ADMIN') AS admins,
               count(*) FILTER (WHERE role = 'USER') AS users
          FROM evently.users
    ), b AS (
        SELECT count(DISTINCT user_id) AS bookers,
               count(DISTINCT user_id) FILTER (WHERE status = 'CONFIRMED')
                   AS holders,
               count(*) AS bookings
          FROM evently.bookings
    ), day AS (
        SELECT evently.analytics_day(created_at) AS day, count(*) AS n
          FROM evently.users
         WHERE created_at >= v_lo AND created_at < v_hi
         GROUP BY 1
    ), series AS (
        SELECT json_agg(json_build_object(
                   'date', d.day,
                   'new_users', coalesce(day.n, 0))
                   ORDER BY d.day) AS daily,
               coalesce(sum(day.n), 0) AS new_users
          FROM evently.analytics_days(v_from, v_to) AS d(day)
          LEFT JOIN day ON day.day = d.day
    )
    SELECT json_build_object(
               'total_users', u.total,
               'users_by_role', json_build_object('USER', u.users,
                                                  'ADMIN', u.admins),
               'users_with_bookings', b.bookers,
               'users_with_confirmed_bookings', b.holders,
               'average_bookings_per_user', evently.analytics_ratio(
                   b.bookings, b.bookers, 2),
               'days', v_days,
               'from', v_from,
               'to', v_to,
               'new_users', series.new_users,
               'new_users_by_day', coalesce(series.daily, '[]'))
      INTO v_data
      FROM u, b, series;

    RETURN evently.ok(v_data);
END $$;


-- ---------------------------------------------------------------------------
-- Tags

-- Figures per tag over its events: events, bookings made, seats booked,
-- capacity, net revenue, value of the seats sold, cancelled bookings,
-- sum of the events' base prices. Tags without events get zeros.
CREATE OR REPLACE FUNCTION evently.analytics_tag_figures()
RETURNS TABLE (tag_id uuid, events bigint, bookings bigint,
               cancelled bigint, booked bigint, capacity bigint,
               revenue numeric, seat_value numeric, base_prices numeric)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    WITH cap AS (
        SELECT t.venue_template_id,
               evently.template_capacity(t.venue_template_id) AS n
          FROM (SELECT DISTINCT venue_template_id FROM evently.events) t
    ), f AS (
        SELECT f.*, e.base_price, cap.n AS capacity
          FROM evently.analytics_all_event_figures() f
          JOIN evently.events e ON e.id = f.event_id
          JOIN cap ON cap.venue_template_id = e.venue_template_id
    )
    SELECT t.id, count(f.event_id), coalesce(sum(f.bookings), 0),
           coalesce(sum(f.cancelled), 0), coalesce(sum(f.booked), 0),
           coalesce(sum(f.capacity), 0),
           evently.analytics_money(sum(f.gross - f.refunds)),
           evently.analytics_money(sum(f.seat_value)),
           coalesce(sum(f.base_price), 0)
      FROM evently.tags t
      LEFT JOIN evently.event_tags et ON et.tag_id = t.id
      LEFT JOIN f ON f.event_id = et.event_id
     GROUP BY t.id
$$;


-- GET /analytics/admin/tags: page, limit; every tag by name
CREATE OR REPLACE FUNCTION evently.api_analytics_tags(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_page     int := coalesce((p_args->>'page')::int, 1);
    v_limit    int := coalesce((p_args->>'limit')::int, 10);
    v_data     json;
BEGIN
    WITH f AS (
        SELECT t.*, f.events, f.bookings, f.booked, f.revenue
          FROM evently.tags t
          JOIN evently.analytics_tag_figures() f ON f.tag_id = t.id
    ), page AS (
        SELECT * FROM f
         ORDER BY f.name, f.id
         LIMIT v_limit OFFSET (v_page - 1)::bigint * v_limit
    ), total AS (
        SELECT count(*) AS n,
               count(*) FILTER (WHERE is_active) AS active,
               count(*) FILTER (WHERE events > 0) AS used
          FROM f
    )
    SELECT json_build_object(
               'total_tags', total.n,
               'active_tags', total.active,
               'tags_with_events', total.used,
               'tags', (SELECT coalesce(json_agg(json_build_object(
                                  'tag_id', p.id,
                                  'name', p.name,
                                  'slug', p.slug,
                                  'color', p.color,
                                  'is_active', p.is_active,
                                  'events', p.events,
                                  'bookings', p.bookings,
                                  'seats', p.booked,
                                  'revenue', p.revenue)
                                  ORDER BY p.name, p.id), '[]')
                          FROM page p),
               'total_count', total.n,
               'page', v_page,
               'limit', v_limit,
               'total_pages', evently.total_pages(total.n, v_limit))
      INTO v_data
      FROM total;

    RETURN evently.ok(v_data);
END $$;


-- GET /analytics/admin/tags/popularity: limit 1..100 (default 10); tags
-- with events ranked by seats booked, then bookings, then name. share =
-- the tag's seats / all seats booked (an event with two tags counts for
-- both, so shares may add up to more than 1).
CREATE OR REPLACE FUNCTION evently.api_analytics_tags_popularity(
    p_user uuid, p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_limit  int := coalesce((p_args->>'limit')::int, 10);
    v_sold   bigint;
    v_items  json;
BEGIN
    SELECT count(*) INTO v_sold
      FROM evently.booking_seats WHERE active;

    WITH ranked AS (
        SELECT t.id, t.name, t.slug, t.color, f.events, f.bookings,
               f.booked, f.revenue,
               row_number() OVER (ORDER BY f.booked DESC, f.bookings DESC,
                                           t.name, t.id) AS rank
          FROM evently.tags t
          JOIN evently.analytics_tag_figures() f ON f.tag_id = t.id
         WHERE f.events > 0
    )
    SELECT coalesce(json_agg(json_build_object(
               'rank', r.rank,
               'tag_id', r.id,
               'name', r.name,
               'slug', r.slug,
               'color', r.color,
               'events', r.events,
               'bookings', r.bookings,
               'seats', r.booked,
               'share', evently.analytics_ratio(r.booked, v_sold),
               'revenue', r.revenue)
               ORDER BY r.rank), '[]')
      INTO v_items
      FROM ranked r
     WHERE r.rank <= v_limit;

    RETURN evently.ok(json_build_object(
        'tags', v_items,
        'count', json_array_length(v_items),
        'limit', v_limit,
        'total_seats_booked', v_sold));
END $$;


-- GET /analytics/admin/tags/trends: months 1..24 (default 6) ending with
-- this month, limit 1..100 (default 10) tags with events, the most booked
-- in the window first. Per month per tag: bookings made, their seats and
-- value (gross). Index: bookings_created_idx (the window).
CREATE OR REPLACE FUNCTION evently.api_analytics_tags_trends(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_months  int := coalesce((p_args->>'months')::int, 6);
    v_limit   int := coalesce((p_args->>'limit')::int, 10);
    v_first   date;
    v_lo      timestamptz;
    v_items   json;
BEGIN
    v_first := date_trunc('month', evently.analytics_today()::timestamp)
               - make_interval(months => v_months - 1);
    v_lo := evently.analytics_day_start(v_first);

    WITH bk AS (
        SELECT et.tag_id,
               date_trunc('month', b.created_at AT TIME ZONE 'UTC')::date
                   AS month,
               count(*) AS n, sum(b.total_seats) AS seats,
               sum(b.total_price) AS value
          FROM evently.bookings b
          JOIN evently.event_tags et ON et.event_id = b.event_id
         WHERE b.created_at >= v_lo
         GROUP BY 1, 2
    ), top AS (
        SELECT t.id, t.name, t.slug, t.color,
               coalesce((SELECT sum(bk.n) FROM bk WHERE bk.tag_id = t.id),
                        0) AS n
          FROM evently.tags t
         WHERE EXISTS (SELECT 1 FROM evently.event_tags et
                        WHERE et.tag_id = t.id)
         ORDER BY 5 DESC, t.name, t.id
         LIMIT v_limit
    )
    SELECT coalesce(json_agg(json_build_object(
               'tag_id', top.id,
               'name', top.name,
               'slug', top.slug,
               'color', top.color,
               'bookings', top.n,
               'months', (SELECT json_agg(json_build_object(
                                  'month', to_char(m.month, 'YYYY-MM'),
                                  'bookings', coalesce(bk.n, 0),
                                  'seats', coalesce(bk.seats, 0),
                                  'revenue',
                                      evently.analytics_money(bk.value))
                                  ORDER BY m.month)
                            FROM evently.analytics_months(v_months)
                                 AS m(month)
                            LEFT JOIN bk ON bk.tag_id = top.id
                                        AND bk.month = m.month))
               ORDER BY top.n DESC, top.name, top.id), '[]')
      INTO v_items
      FROM top;

    RETURN evently.ok(json_build_object(
        'months', v_months,
        'from', to_char(v_first, 'YYYY-MM'),
        'to', to_char(evently.analytics_today(), 'YYYY-MM'),
        'tags', v_items));
END $$;


-- GET /analytics/admin/tags/comparisons: limit 1..100 (default 10) tags
-- with events, by net revenue then name, side by side
CREATE OR REPLACE FUNCTION evently.api_analytics_tags_comparisons(
    p_user uuid, p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_limit  int := coalesce((p_args->>'limit')::int, 10);
    v_items  json;
BEGIN
    WITH ranked AS (
        SELECT t.id, t.name, t.slug, t.color, f.*
          FROM evently.tags t
          JOIN evently.analytics_tag_figures() f ON f.tag_id = t.id
         WHERE f.events > 0
         ORDER BY f.revenue DESC, t.name, t.id
         LIMIT v_limit
    )
    SELECT coalesce(json_agg(json_build_object(
               'tag_id', r.id,
               'name', r.name,
               'slug', r.slug,
               'color', r.color,
               'events', r.events,
               'bookings', r.bookings,
               'seats', r.booked,
               'capacity', r.capacity,
               'utilization', evently.analytics_ratio(r.booked, r.capacity),
               'avg_base_price', evently.analytics_ratio(r.base_prices,
                                                         r.events, 2),
               'avg_ticket_price', evently.analytics_ratio(r.seat_value,
                                                           r.booked, 2),
               'revenue', r.revenue,
               'revenue_per_event', evently.analytics_ratio(r.revenue,
                                                            r.events, 2),
               'cancellation_rate', evently.analytics_ratio(r.cancelled,
                                                            r.bookings))
               ORDER BY r.revenue DESC, r.name, r.id), '[]')
      INTO v_items
      FROM ranked r;

    RETURN evently.ok(json_build_object(
        'tags', v_items,
        'count', json_array_length(v_items),
        'limit', v_limit));
END $$;


-- ---------------------------------------------------------------------------
-- The caller's own figures (p_user from the token; nobody else's)

-- GET /analytics/user/bookings/history: limit 1..100 (default 10),
-- offset; newest first (index bookings_user_created_idx)
CREATE OR REPLACE FUNCTION evently.api_analytics_user_history(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_limit   int := coalesce((p_args->>'limit')::int, 10);
    v_offset  int := coalesce((p_args->>'offset')::int, 0);
    v_total   bigint;
    v_items   json;
BEGIN
    SELECT count(*) INTO v_total
      FROM evently.bookings WHERE user_id = p_user;

    SELECT coalesce(json_agg(json_build_object(
               'booking_id', b.id,
               'booking_ref', b.booking_ref,
               'event_id', b.event_id,
               'event_name', e.name,
               'venue', e.venue,
               'event_date', evently.ts(e.date_time),
               'status', b.status,
               'total_seats', b.total_seats,
               'total_price', b.total_price,
               'currency', b.currency,
               'refund_amount', evently.analytics_money(c.refund_amount),
               'booked_at', evently.ts(b.created_at),
               'cancelled_at', evently.ts(b.cancelled_at))
               ORDER BY b.created_at DESC, b.id), '[]')
      INTO v_items
      FROM (SELECT * FROM evently.bookings
             WHERE user_id = p_user
             ORDER BY created_at DESC, id
             LIMIT v_limit OFFSET v_offset) b
      JOIN evently.events e ON e.id = b.event_id
      LEFT JOIN evently.cancellations c ON c.booking_id = b.id;

    RETURN evently.ok(json_build_object(
        'bookings', v_items,
        'count', json_array_length(v_items),
        'total_count', v_total,
        'limit', v_limit,
        'offset', v_offset));
END $$;


-- GET /analytics/user/personal: months 1..24 (default 12) for the monthly
-- series; spent = payments that went through, refunded = refunds, by the
-- month they happened; favourite tags = the tags of the caller's confirmed
-- bookings, most booked first (at most 5)
CREATE OR REPLACE FUNCTION evently.api_analytics_user_personal(p_user uuid,
    p_role text, p_id uuid, p_args json)
RETURNS evently.api_result
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_months  int := coalesce((p_args->>'months')::int, 12);
    v_lo      timestamptz;
    v_data    json;
BEGIN
    v_lo := evently.analytics_day_start(
                (date_trunc('month', evently.analytics_today()::timestamp)
                 - make_interval(months => v_months - 1))::date);

    WITH mine AS (
        SELECT * FROM evently.bookings WHERE user_id = p_user
    ), b AS (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status = 'CONFIRMED') AS confirmed,
               count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled,
               count(*) FILTER (WHERE status = 'CONFIRMED'
                                AND EXISTS (
                                    SELECT 1 FROM evently.events e
                                     WHERE e.id = mine.event_id
                                       AND e.date_time > now()))
                   AS upcoming
          FROM mine
    ), s AS (
        SELECT count(*) AS booked
          FROM evently.booking_seats bs
          JOIN mine ON mine.id = bs.booking_id
         WHERE bs.active
    ), pay AS (
        SELECT p.* FROM evently.payments p
          JOIN mine ON mine.id = p.booking_id
    ), p AS (
        SELECT evently.analytics_money(sum(amount)
                   FILTER (WHERE status IN ('COMPLETED', 'REFUNDED')
                           AND processed_at IS NOT NULL)) AS spent,
               evently.analytics_money(sum(refund_amount)
                   FILTER (WHERE refunded_at IS NOT NULL)) AS refunded
          FROM pay
    ), mb AS (
        SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date
                   AS month, count(*) AS n
          FROM mine WHERE created_at >= v_lo GROUP BY 1
    ), ms AS (
        SELECT date_trunc('month', processed_at AT TIME ZONE 'UTC')::date
                   AS month, sum(amount) AS amount
          FROM pay
         WHERE processed_at >= v_lo
           AND status IN ('COMPLETED', 'REFUNDED')
         GROUP BY 1
    ), mr AS (
        SELECT date_trunc('month', refunded_at AT TIME ZONE 'UTC')::date
                   AS month, sum(refund_amount) AS amount
          FROM pay WHERE refunded_at >= v_lo GROUP BY 1
    ), months AS (
        SELECT json_agg(json_build_object(
                   'month', to_char(m.month, 'YYYY-MM'),
                   'bookings', coalesce(mb.n, 0),
                   'spent', evently.analytics_money(ms.amount),
                   'refunded', evently.analytics_money(mr.amount),
                   'net', evently.analytics_money(coalesce(ms.amount, 0)
                                                  - coalesce(mr.amount, 0)))
                   ORDER BY m.month) AS series
          FROM evently.analytics_months(v_months) AS m(month)
          LEFT JOIN mb ON mb.month = m.month
          LEFT JOIN ms ON ms.month = m.month
          LEFT JOIN mr ON mr.month = m.month
    ), fav AS (
        SELECT coalesce(json_agg(json_build_object(
                   'tag_id', x.id,
                   'name', x.name,
                   'slug', x.slug,
                   'bookings', x.n,
                   'seats', x.seats)
                   ORDER BY x.n DESC, x.seats DESC, x.name, x.id), '[]')
                   AS tags
          FROM (SELECT t.id, t.name, t.slug, count(*) AS n,
                       sum(mine.total_seats) AS seats
                  FROM mine
                  JOIN evently.event_tags et ON et.event_id = mine.event_id
                  JOIN evently.tags t ON t.id = et.tag_id
                 WHERE mine.status = 'CONFIRMED'
                 GROUP BY t.id, t.name, t.slug
                 ORDER BY count(*) DESC, sum(mine.total_seats) DESC,
                          t.name, t.id
                 LIMIT 5) x
    )
    SELECT json_build_object(
               'user_id', p_user,
               'member_since', (SELECT evently.ts(u.created_at)
                                  FROM evently.users u
                                 WHERE u.id = p_user),
               'total_bookings', b.total,
               'confirmed_bookings', b.confirmed,
               'cancelled_bookings', b.cancelled,
               'upcoming_bookings', b.upcoming,
               'seats_booked', s.booked,
               'total_spent', p.spent,
               'total_refunded', p.refunded,
               'net_spent', evently.analytics_money(p.spent - p.refunded),
               'average_booking_value', evently.analytics_ratio(p.spent,
                                                                b.total, 2),
               'months', v_months,
               'spending_by_month', coalesce(months.series, '[]'),
               'favorite_tags', fav.tags)
      INTO v_data
      FROM b, s, p, months, fav;

    RETURN evently.ok(v_data);
END $$;
