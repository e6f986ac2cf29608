# Analytics of events and revenue: GET /admin/events/analytics (and
# /analytics/admin/events), GET /admin/events/{id}/analytics (and
# /analytics/admin/events/{id}), GET /admin/analytics/popular-events,
# GET /admin/analytics/revenue -- exact figures on a known dataset,
# validation, admin-only access.

use strict;
use warnings;

use POSIX qw(strftime);
use Test::More;
use Time::Local qw(timegm);
use Evently::Test;

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;

my $E = '00000000-0000-4000-8000-000000000';   # + 401 .. 406, 481, 482
my $admin = { id => '00000000-0000-4000-8000-000000000001',
              email => 'admin@gmail.com', role => 'ADMIN' };
my $u1 = { id => '00000000-0000-4000-8000-000000000002',
           email => 'mitshah2406@gmail.com', role => 'USER' };
$_->{token} = jwt_for($_) for $admin, $u1;

# ---- the known dataset (on top of sql/seed.sql) ---------------------------
#
# D = today (UTC). Capacities: Conference Hall 28 (VIP 8, General 20),
# Small Theater 25 (Premium 13, Standard 12: seat B13 BLOCKED).
#
#   booking  user  event  seats              value    made       payment
#   B1       U1    0401   VIP A1 A2          6000.00  D-2 10:00  card
#   B2       U2    0401   General B1         1500.00  D-2 15:00  upi
#   B3       U1    0402   Premium A1, B1 B2  3040.00  D-1 09:00  card
#   B4       U2    0403   VIP A1, General B1 1250.00  D-5 12:00  wallet
#            cancelled D-1 18:00: fee 312.50 (25 %), refund 937.50
#   B5       U1    0403   General B2 B3      1000.00  D 00:00    mock
#   B6       U2    0405   Premium A1          780.00  D-40 11:00 card
#
# Events 0481 (draft, Conference Hall) and 0482 (cancelled, Small
# Theater) have nothing. Users: admin D-100, U1 D-10, U2 D-3, U3 today.
# Tag Food is inactive. Waitlist of 0401: U1 ACTIVE, U2 NOTIFIED, admin
# CONVERTED, U3 EXPIRED then ACTIVE again.

my $Fixture = <<'_SQL_';
CREATE FUNCTION pg_temp.at(p_days int, p_hours int) RETURNS timestamptz
LANGUAGE sql AS $$
    SELECT (evently.analytics_today() + p_days)::timestamp
           AT TIME ZONE 'UTC' + make_interval(hours => p_hours)
$$;

CREATE FUNCTION pg_temp.book(p_ref text, p_user uuid, p_event uuid,
    p_seats text[], p_at timestamptz, p_method text) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_id     uuid;
    v_count  int;
    v_total  numeric(12,2);
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS picked (seat_id uuid, section_id uuid,
        seat_number text, row_label text, section_name text,
        price numeric(12,2));
    DELETE FROM picked;
    INSERT INTO picked
    SELECT s.id, vs.id, s.seat_number, s.row_label, vs.name,
           evently.event_price(e.base_price, p.price_multiplier)
      FROM evently.events e
      JOIN evently.venue_sections vs ON vs.template_id = e.venue_template_id
      JOIN evently.seats s ON s.section_id = vs.id
      LEFT JOIN evently.event_section_pricing p
             ON p.event_id = e.id AND p.section_id = vs.id
     WHERE e.id = p_event AND s.seat_number = ANY (p_seats);
    SELECT count(*), sum(price) INTO v_count, v_total FROM picked;
    IF v_count <> cardinality(p_seats) THEN
        RAISE EXCEPTION 'fixture: seats % of % not found', p_seats, p_event;
    END IF;
    INSERT INTO evently.bookings (booking_ref, user_id, event_id,
        total_seats, total_price, created_at, updated_at)
    VALUES (p_ref, p_user, p_event, v_count, v_total, p_at, p_at)
    RETURNING id INTO v_id;
    INSERT INTO evently.booking_seats (booking_id, event_id, seat_id,
        section_id, seat_number, row_label, section_name, price,
        created_at, updated_at)
    SELECT v_id, p_event, seat_id, section_id, seat_number, row_label,
           section_name, price, p_at, p_at
      FROM picked;
    INSERT INTO evently.payments (booking_id, amount, status,
        payment_method, transaction_id, processed_at, created_at,
        updated_at)
    VALUES (v_id, v_total, 'COMPLETED', p_method, 'TXN-' || p_ref, p_at,
            p_at, p_at);
    RETURN v_id;
END $$;

CREATE FUNCTION pg_temp.cancel(p_ref text, p_fee numeric, p_at timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_b  evently.bookings%ROWTYPE;
BEGIN
    UPDATE evently.bookings
       SET status = 'CANCELLED', cancelled_at = p_at, updated_at = p_at,
           version = version + 1
     WHERE booking_ref = p_ref
    RETURNING * INTO v_b;
    UPDATE evently.booking_seats SET active = false, updated_at = p_at
     WHERE booking_id = v_b.id;
    INSERT INTO evently.cancellations (booking_id, user_id, requested_at,
        processed_at, cancellation_fee, refund_amount, refund_due_by,
        reason, status, created_at, updated_at)
    VALUES (v_b.id, v_b.user_id, p_at, p_at, p_fee, v_b.total_price - p_fee,
            p_at + interval '7 days', 'Plans changed', 'REFUNDED', p_at,
            p_at);
    UPDATE evently.payments
       SET status = 'REFUNDED', refund_amount = v_b.total_price - p_fee,
           refunded_at = p_at, updated_at = p_at
     WHERE booking_id = v_b.id;
END $$;

UPDATE evently.seats SET status = 'BLOCKED'
 WHERE section_id = '00000000-0000-4000-8000-000000000302'
   AND seat_number = 'B13';

INSERT INTO evently.events (id, name, venue, venue_template_id, date_time,
                            base_price, status, cancelled_at)
VALUES ('00000000-0000-4000-8000-000000000481', 'Draft Meetup',
        'Back Room', '00000000-0000-4000-8000-000000000202',
        pg_temp.at(100, 19), 100.00, 'draft', NULL),
       ('00000000-0000-4000-8000-000000000482', 'Cancelled Gala',
        'Grand Opera House', '00000000-0000-4000-8000-000000000201',
        pg_temp.at(110, 19), 900.00, 'cancelled', now());

INSERT INTO evently.users (id, first_name, last_name, email, password_hash,
                           role)
VALUES ('00000000-0000-4000-8000-000000000004', 'Third', 'User',
        'third@example.com',
        '$2b$10$a8fwyE4F7NDYEZJtZ5H1OOCwfBwnlhgqxf589PnzDw8KQHdhDqNnW',
        'USER');
UPDATE evently.users SET created_at = pg_temp.at(-100, 9)
 WHERE id = '00000000-0000-4000-8000-000000000001';
UPDATE evently.users SET created_at = pg_temp.at(-10, 9)
 WHERE id = '00000000-0000-4000-8000-000000000002';
UPDATE evently.users SET created_at = pg_temp.at(-3, 9)
 WHERE id = '00000000-0000-4000-8000-000000000003';

UPDATE evently.tags SET is_active = false WHERE slug = 'food';

SELECT pg_temp.book('EVT-20260101-BOOK01',
    '00000000-0000-4000-8000-000000000002',
    '00000000-0000-4000-8000-000000000401', '{A1,A2}',
    pg_temp.at(-2, 10), 'card');
SELECT pg_temp.book('EVT-20260101-BOOK02',
    '00000000-0000-4000-8000-000000000003',
    '00000000-0000-4000-8000-000000000401', '{B1}',
    pg_temp.at(-2, 15), 'upi');
SELECT pg_temp.book('EVT-20260101-BOOK03',
    '00000000-0000-4000-8000-000000000002',
    '00000000-0000-4000-8000-000000000402', '{A1,B1,B2}',
    pg_temp.at(-1, 9), 'card');
SELECT pg_temp.book('EVT-20260101-BOOK04',
    '00000000-0000-4000-8000-000000000003',
    '00000000-0000-4000-8000-000000000403', '{A1,B1}',
    pg_temp.at(-5, 12), 'wallet');
SELECT pg_temp.cancel('EVT-20260101-BOOK04', 312.50, pg_temp.at(-1, 18));
SELECT pg_temp.book('EVT-20260101-BOOK05',
    '00000000-0000-4000-8000-000000000002',
    '00000000-0000-4000-8000-000000000403', '{B2,B3}',
    pg_temp.at(0, 0), 'mock');
SELECT pg_temp.book('EVT-20260101-BOOK06',
    '00000000-0000-4000-8000-000000000003',
    '00000000-0000-4000-8000-000000000405', '{A1}',
    pg_temp.at(-40, 11), 'card');

INSERT INTO evently.waitlist_entries (event_id, user_id, quantity, status,
                                      notified_at, expires_at)
VALUES ('00000000-0000-4000-8000-000000000401',
        '00000000-0000-4000-8000-000000000002', 2, 'ACTIVE', NULL, NULL),
       ('00000000-0000-4000-8000-000000000401',
        '00000000-0000-4000-8000-000000000003', 1, 'NOTIFIED', now(),
        now() + interval '15 minutes'),
       ('00000000-0000-4000-8000-000000000401',
        '00000000-0000-4000-8000-000000000001', 1, 'CONVERTED',
        now() - interval '1 hour', now() - interval '45 minutes'),
       ('00000000-0000-4000-8000-000000000401',
        '00000000-0000-4000-8000-000000000004', 3, 'EXPIRED',
        now() - interval '2 hours', now() - interval '105 minutes'),
       ('00000000-0000-4000-8000-000000000401',
        '00000000-0000-4000-8000-000000000004', 1, 'ACTIVE', NULL, NULL);
_SQL_
reset_db();
seed();
psql($Fixture);

start_nginx(name => 'analytics', port => $port,
            http_config => http_config(), main_config => main_config(),
            config => server_config());

sub call { my ($m, $p, %o) = @_; return api($m, $p, port => $port, %o) }

sub get_ok {
    my ($path, $name, $token) = @_;
    my $res = call(GET => $path, token => $token // $admin->{token});
    is $res->{status}, 200, "$name: 200"
        or diag explain $res->{json} // $res->{body};
    unlike $res->{body} // '', qr/NaN|Infinity/i, "$name: no NaN";
    return $res->{json}{data} // {};
}

sub err_is {
    my ($res, $status, $code, $name) = @_;
    is $res->{status}, $status, "$name: status $status";
    is $res->{json}{errors}{code}, $code, "$name: code $code";
}

sub bad_query {
    my ($path, $field, $name) = @_;
    my $res = call(GET => $path, token => $admin->{token});
    err_is($res, 400, 'VALIDATION_FAILED', $name);
    ok $res->{json}{errors}{fields}{$field}, "$name: errors.fields.$field"
        or diag explain $res->{json};
}

# compare the keys of %$exp in $got: numbers numerically, the rest as strings
sub has_fields {
    my ($got, $exp, $name) = @_;
    for my $k (sort keys %$exp) {
        my ($g, $e) = ($got->{$k}, $exp->{$k});
        if (!defined $g) {
            fail "$name: $k is defined";
        } elsif (ref $e) {
            is_deeply $g, $e, "$name: $k";
        } elsif ($e =~ /^-?\d+(?:\.\d+)?$/) {
            ok $g =~ /^-?\d+(?:\.\d+)?$/ && $g == $e, "$name: $k = $e"
                or diag "got $g";
        } else {
            is $g, $e, "$name: $k";
        }
    }
}

# ---- days relative to today (UTC), as the database sees it ----------------

my $Today = psql('SELECT evently.analytics_today()');
my ($TY, $TM, $TD) = split /-/, $Today;
my $Noon = timegm(0, 0, 12, $TD, $TM - 1, $TY);

sub day { return strftime('%Y-%m-%d', gmtime($Noon + $_[0] * 86400)) }
sub month_of { return substr(day($_[0]), 0, 7) }
sub monday_of {
    my $off = shift;
    my $wday = (gmtime($Noon + $off * 86400))[6];    # 0 = Sunday
    return day($off - ($wday + 6) % 7);
}

# the n months ending with this one, 'YYYY-MM'
sub month_list {
    my ($n) = @_;
    my @m;
    for my $i (reverse 0 .. $n - 1) {
        my $mi = ($TY * 12 + $TM - 1) - $i;
        push @m, sprintf '%04d-%02d', int($mi / 12), $mi % 12 + 1;
    }
    return @m;
}

# ---- who may call ----------------------------------------------------------

my @admin_paths = ('/api/v1/admin/events/analytics',
                   "/api/v1/admin/events/${E}401/analytics",
                   '/api/v1/admin/analytics/revenue',
                   '/api/v1/admin/analytics/popular-events',
                   '/api/v1/analytics/admin/events',
                   "/api/v1/analytics/admin/events/${E}401");
for my $path (@admin_paths) {
    err_is(call(GET => $path), 401, 'AUTH_REQUIRED', "$path without token");
    err_is(call(GET => $path, token => 'not.a.token'), 401, 'INVALID_TOKEN',
           "$path with a bad token");
    err_is(call(GET => $path, token => $u1->{token}), 403, 'FORBIDDEN',
           "$path as a USER");
    is call(GET => $path, token => $admin->{token})->{status}, 200,
       "$path as an ADMIN: 200";
}

my $res = call(POST => '/api/v1/admin/events/analytics',
               token => $admin->{token}, body => {});
err_is($res, 405, 'METHOD_NOT_ALLOWED', 'POST /admin/events/analytics');
like $res->{headers}{allow}, qr/^GET\b/, '405: Allow: GET';

# the exact location does not take the events' {id} routes away
$res = call(GET => "/api/v1/admin/events/${E}401", token => $admin->{token});
is $res->{status}, 200, 'GET /admin/events/{id} is still the event';
is $res->{json}{data}{id}, "${E}401", 'GET /admin/events/{id}: the event';

# ---- per-event rows --------------------------------------------------------

my %row = (
    '403' => { capacity => 28, booked => 2, utilization => 0.0714,
               revenue => 1312.50, gross_revenue => 2250, refunds => 937.50,
               bookings => 2, cancellations => 1,
               name => 'Startup Pitch Night', status => 'published' },
    '405' => { capacity => 25, booked => 1, utilization => 0.04,
               revenue => 780, gross_revenue => 780, refunds => 0,
               bookings => 1, cancellations => 0 },
    '401' => { capacity => 28, booked => 3, utilization => 0.1071,
               revenue => 7500, gross_revenue => 7500, refunds => 0,
               bookings => 2, cancellations => 0 },
    '402' => { capacity => 25, booked => 3, utilization => 0.12,
               revenue => 3040, gross_revenue => 3040, refunds => 0,
               bookings => 1, cancellations => 0 },
    '404' => { capacity => 25, booked => 0, utilization => 0, revenue => 0,
               bookings => 0, cancellations => 0 },
    '406' => { capacity => 28, booked => 0, utilization => 0, revenue => 0,
               bookings => 0, cancellations => 0 },
    '481' => { capacity => 28, booked => 0, utilization => 0, revenue => 0,
               status => 'draft', name => 'Draft Meetup' },
    '482' => { capacity => 25, booked => 0, utilization => 0, revenue => 0,
               status => 'cancelled' },
);
my @by_date = qw(403 405 401 402 404 406 481 482);
my %totals = (events => 8, capacity => 212, booked => 9,
              utilization => 0.0425, revenue => 12632.50,
              gross_revenue => 13570, refunds => 937.50, bookings => 6,
              cancellations => 1);

my $d = get_ok('/api/v1/admin/events/analytics', 'event rows');
is_deeply [ map { $_->{event_id} } @{ $d->{events} } ],
          [ map { "$E$_" } @by_date ], 'event rows: by date_time';
has_fields($d->{events}[$_], $row{ $by_date[$_] },
           "row $by_date[$_]") for 0 .. $#by_date;
is $d->{events}[0]{date_time}, day(15) . 'T19:00:00Z', 'row: date_time';
has_fields($d->{totals}, \%totals, 'totals');
has_fields($d, { total_count => 8, page => 1, limit => 10,
                 total_pages => 1 }, 'event rows: paging');
$res = call(GET => '/api/v1/admin/events/analytics',
            token => $admin->{token});
like $res->{body}, qr/"revenue" ?: ?1312\.50\b/, 'money has two decimals';
like $res->{body}, qr/"utilization" ?: ?0\.0714\b/, 'ratio has 4 decimals';

$d = get_ok('/api/v1/admin/events/analytics?page=2&limit=3', 'page 2');
is_deeply [ map { $_->{event_id} } @{ $d->{events} } ],
          [ map { "$E$_" } @by_date[3 .. 5] ], 'page 2: rows 4..6';
has_fields($d, { total_count => 8, page => 2, limit => 3,
                 total_pages => 3 }, 'page 2: paging');
has_fields($d->{totals}, \%totals, 'page 2: totals of every event');

$d = get_ok('/api/v1/admin/events/analytics?page=9', 'a page past the end');
is_deeply $d->{events}, [], 'a page past the end: no rows';

$d = get_ok('/api/v1/admin/events/analytics?status=DRAFT', 'status=draft');
is_deeply [ map { $_->{event_id} } @{ $d->{events} } ], [ "${E}481" ],
          'status=draft: the draft only';
has_fields($d->{totals}, { events => 1, capacity => 28, booked => 0,
                           utilization => 0, revenue => 0 },
           'status=draft: totals');

my $same = get_ok('/api/v1/analytics/admin/events?page=2&limit=3',
                  '/analytics/admin/events');
$d = get_ok('/api/v1/admin/events/analytics?page=2&limit=3', 'again');
is_deeply $same, $d, '/analytics/admin/events = /admin/events/analytics';

bad_query('/api/v1/admin/events/analytics?limit=101', 'limit', 'limit=101');
bad_query('/api/v1/admin/events/analytics?limit=0', 'limit', 'limit=0');
bad_query('/api/v1/admin/events/analytics?page=0', 'page', 'page=0');
bad_query('/api/v1/admin/events/analytics?page=abc', 'page', 'page=abc');
bad_query('/api/v1/admin/events/analytics?status=open', 'status',
          'status=open');

# ---- one event -------------------------------------------------------------

$d = get_ok("/api/v1/admin/events/${E}401/analytics", 'event 401');
has_fields($d, { event_id => "${E}401", event_name => 'Tech Conference 2024',
                 total_bookings => 2, confirmed_bookings => 2,
                 cancelled_bookings => 0, total_seats_booked => 3,
                 capacity => 28, total_revenue => 7500,
                 gross_revenue => 7500, refunds => 0,
                 cancellation_fees => 0, capacity_utilization => 0.1071,
                 cancellation_rate => 0 }, 'event 401');
is_deeply $d->{bookings_by_day},
          [ { date => day(-2), bookings => 2, seats => 3,
              revenue => 7500 } ], 'event 401: bookings_by_day';
is_deeply $d->{sections},
          [ { section_id => "${E}304", name => 'General', booked => 1,
              capacity => 20, utilization => 0.05, revenue => 1500 },
            { section_id => "${E}303", name => 'VIP', booked => 2,
              capacity => 8, utilization => 0.25, revenue => 6000 } ],
          'event 401: sections';
is_deeply $d->{waitlist}, { active => 2, notified => 1, converted => 1,
                            expired => 1, cancelled => 0 },
          'event 401: waitlist';

$d = get_ok("/api/v1/admin/events/${E}403/analytics", 'event 403');
has_fields($d, { total_bookings => 2, confirmed_bookings => 1,
                 cancelled_bookings => 1, total_seats_booked => 2,
                 total_revenue => 1312.50, gross_revenue => 2250,
                 refunds => 937.50, cancellation_fees => 312.50,
                 capacity_utilization => 0.0714,
                 cancellation_rate => 0.5 }, 'event 403');
is_deeply $d->{bookings_by_day},
          [ { date => day(-5), bookings => 1, seats => 2, revenue => 1250 },
            { date => day(0), bookings => 1, seats => 2, revenue => 1000 } ],
          'event 403: bookings_by_day (days with bookings)';
is_deeply [ map { [ $_->{name}, $_->{booked}, $_->{capacity},
                    $_->{revenue} ] } @{ $d->{sections} } ],
          [ [ 'General', 2, 20, 1000 ], [ 'VIP', 0, 8, 0 ] ],
          'event 403: sections (the cancelled seats are free again)';
my $sections = 0;
$sections += $_->{revenue} for @{ $d->{sections} };
is $sections + $d->{cancellation_fees}, $d->{total_revenue},
   'event 403: revenue = seats still sold + fees kept';
is_deeply $d->{waitlist}, { active => 0, notified => 0, converted => 0,
                            expired => 0, cancelled => 0 },
          'event 403: no waitlist';

$d = get_ok("/api/v1/admin/events/${E}402/analytics", 'event 402');
is_deeply [ map { [ $_->{name}, $_->{booked}, $_->{capacity},
                    $_->{utilization}, $_->{revenue} ] }
            @{ $d->{sections} } ],
          [ [ 'Premium', 1, 13, 0.0769, 1440 ],
            [ 'Standard', 2, 12, 0.1667, 1600 ] ],
          'event 402: sections (a BLOCKED seat is no capacity)';

$d = get_ok("/api/v1/admin/events/${E}482/analytics", 'cancelled event');
has_fields($d, { total_bookings => 0, total_seats_booked => 0,
                 capacity => 25, total_revenue => 0,
                 capacity_utilization => 0, cancellation_rate => 0,
                 status => 'cancelled' }, 'cancelled event: zeros');
is_deeply $d->{bookings_by_day}, [], 'cancelled event: no days';

$same = get_ok("/api/v1/analytics/admin/events/${E}403",
               '/analytics/admin/events/{id}');
$d = get_ok("/api/v1/admin/events/${E}403/analytics", 'event 403 again');
is_deeply $same, $d, '/analytics/admin/events/{id} = the same analytics';

for my $path ("/api/v1/admin/events/${E}999/analytics",
              "/api/v1/analytics/admin/events/${E}999") {
    err_is(call(GET => $path, token => $admin->{token}), 404,
           'EVENT_NOT_FOUND', "$path: unknown event");
}
for my $path ('/api/v1/admin/events/not-a-uuid/analytics',
              '/api/v1/analytics/admin/events/123',
              "/api/v1/analytics/admin/events/${E}40%27") {
    err_is(call(GET => $path, token => $admin->{token}), 400, 'INVALID_ID',
           "$path: bad id");
}

# ---- popular events --------------------------------------------------------

my @popular = qw(401 402 403 405 404 406 481 482);
$d = get_ok('/api/v1/admin/analytics/popular-events', 'popular events');
is_deeply [ map { $_->{event_id} } @{ $d->{events} } ],
          [ map { "$E$_" } @popular ],
          'popular: by seats booked, then revenue, then date';
is_deeply [ map { $_->{rank} } @{ $d->{events} } ], [ 1 .. 8 ],
          'popular: ranks';
has_fields($d->{events}[0], { booked => 3, capacity => 28,
                              utilization => 0.1071, revenue => 7500,
                              bookings => 2,
                              name => 'Tech Conference 2024' },
           'popular #1');
has_fields($d->{events}[2], { booked => 2, revenue => 1312.50,
                              bookings => 2 }, 'popular #3');
has_fields($d, { count => 8, limit => 10 }, 'popular: count and limit');

$d = get_ok('/api/v1/admin/analytics/popular-events?limit=2', 'limit=2');
is_deeply [ map { $_->{event_id} } @{ $d->{events} } ],
          [ "${E}401", "${E}402" ], 'popular limit=2: the top two';
bad_query('/api/v1/admin/analytics/popular-events?limit=0', 'limit',
          'popular limit=0');
bad_query('/api/v1/admin/analytics/popular-events?limit=101', 'limit',
          'popular limit=101');
bad_query('/api/v1/admin/analytics/popular-events?limit=1.5', 'limit',
          'popular limit=1.5');

# ---- revenue ---------------------------------------------------------------

# payments [day, amount] and refunds [day, amount] of the dataset
my @paid = ([-2, 6000], [-2, 1500], [-1, 3040], [-5, 1250], [0, 1000],
            [-40, 780]);
my @refunded = ([-1, 937.50]);

# the expected periods of from..to (day offsets) under a grouping
sub periods {
    my ($from, $to, $label) = @_;
    my (@order, %p);
    for my $off ($from .. $to) {
        my $k = $label->($off);
        push @order, $k if !$p{$k}++;
    }
    my %sum = map { $_ => { period => $_, revenue => 0, refunds => 0 } }
              @order;
    for (@paid) {
        $sum{ $label->($_->[0]) }{revenue} += $_->[1]
            if $_->[0] >= $from && $_->[0] <= $to;
    }
    for (@refunded) {
        $sum{ $label->($_->[0]) }{refunds} += $_->[1]
            if $_->[0] >= $from && $_->[0] <= $to;
    }
    $_->{net} = $_->{revenue} - $_->{refunds} for values %sum;
    return [ map { $sum{$_} } @order ];
}

sub revenue_is {
    my ($query, $from, $to, $group, $label, $name) = @_;
    my $d = get_ok("/api/v1/admin/analytics/revenue$query", $name);
    is $d->{from}, day($from), "$name: from";
    is $d->{to}, day($to), "$name: to";
    is $d->{group_by}, $group, "$name: group_by";
    my $exp = periods($from, $to, $label);
    is_deeply $d->{periods}, $exp, "$name: every period, zeros included"
        or diag explain $d->{periods};
    my %t = (revenue => 0, refunds => 0, net => 0);
    for my $p (@$exp) { $t{$_} += $p->{$_} for keys %t }
    is_deeply $d->{totals}, \%t, "$name: totals";
    return $d;
}

$d = revenue_is('', -29, 0, 'day', \&day, 'revenue, last 30 days');
is scalar @{ $d->{periods} }, 30, 'revenue default: 30 days';
is_deeply $d->{totals}, { revenue => 12790, refunds => 937.50,
                          net => 11852.50 }, 'revenue default: the sums';
$res = call(GET => '/api/v1/admin/analytics/revenue',
            token => $admin->{token});
like $res->{body}, qr/"net" ?: ?2102\.50\b/, 'revenue: exact money';

revenue_is('?from=' . day(-2) . '&to=' . day(-1), -2, -1, 'day', \&day,
           'revenue, two days');
revenue_is('?to=' . day(-1), -30, -1, 'day', \&day, 'revenue, to only');
revenue_is('?from=' . day(-3), -3, 0, 'day', \&day, 'revenue, from only');
revenue_is('?from=' . day(-13) . '&to=' . day(0) . '&group_by=week',
           -13, 0, 'week', \&monday_of, 'revenue by week');
revenue_is('?from=' . day(-45) . '&to=' . day(0) . '&group_by=MONTH',
           -45, 0, 'month', \&month_of, 'revenue by month');
revenue_is('?from=' . day(-40) . '&to=' . day(-40), -40, -40, 'day', \&day,
           'revenue, one day');

$d = get_ok('/api/v1/admin/analytics/revenue?from=2025-01-01&to=2026-01-01',
            '366 days');
is scalar @{ $d->{periods} }, 366, '366 day periods are allowed';
$d = get_ok('/api/v1/admin/analytics/revenue?from=1990-01-15'
            . '&to=2020-06-30&group_by=month', '366 months');
is scalar @{ $d->{periods} }, 366, '366 month periods are allowed';
is $d->{periods}[0]{period}, '1990-01', 'months: labelled YYYY-MM';
$d = get_ok('/api/v1/admin/analytics/revenue?from=2026-06-03'
            . '&to=2026-06-03&group_by=week', 'a week');
is_deeply [ map { $_->{period} } @{ $d->{periods} } ], [ '2026-06-01' ],
          'weeks: labelled by their Monday';

bad_query('/api/v1/admin/analytics/revenue?group_by=year', 'group_by',
          'group_by=year');
bad_query('/api/v1/admin/analytics/revenue?from=2026-02-30', 'from',
          'from=2026-02-30');
bad_query('/api/v1/admin/analytics/revenue?from=yesterday', 'from',
          'from=yesterday');
bad_query('/api/v1/admin/analytics/revenue?to=2026-13-01', 'to',
          'to=2026-13-01');
bad_query('/api/v1/admin/analytics/revenue?to=2026-01-01T00:00:00Z', 'to',
          'to with a time');
bad_query('/api/v1/admin/analytics/revenue?from=2026-05-02&to=2026-05-01',
          'to', 'to before from');
bad_query('/api/v1/admin/analytics/revenue?from=2024-01-01&to=2025-01-01',
          'to', '367 days');
bad_query('/api/v1/admin/analytics/revenue?from=1990-01-01'
          . '&to=2020-07-01&group_by=month', 'to', '367 months');
bad_query('/api/v1/admin/analytics/revenue?from=1970-01-01'
          . '&to=9999-12-31&group_by=week', 'to', 'a range of millennia');

ok stop_nginx('analytics'), 'nginx stopped cleanly';
no_alerts_ok('analytics');

done_testing;
