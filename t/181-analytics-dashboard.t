# The original's analytics family: GET /analytics/admin/dashboard,
# /bookings, /bookings/daily, /bookings/cancellations, /users, /tags,
# /tags/popularity, /tags/trends, /tags/comparisons -- exact figures on a
# known dataset, zero-filled day and month series, validation, admin-only
# access, zeros (never NaN or null) on an empty database, and every report
# on a larger dataset well within the statement timeout.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);
use Evently::Test;
use Evently::Analytics;

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;

my $E = '00000000-0000-4000-8000-000000000';
my $admin = { id => '00000000-0000-4000-8000-000000000001',
              email => 'admin@gmail.com', role => 'ADMIN' };
my $u1 = { id => '00000000-0000-4000-8000-000000000002',
           email => 'mitshah2406@gmail.com', role => 'USER' };
$_->{token} = jwt_for($_) for $admin, $u1;

analytics_start(port => $port, admin => $admin);

my $A = '/api/v1/analytics/admin';

# ---- who may call ----------------------------------------------------------

my @family = map { "$A/$_" } qw(dashboard bookings bookings/daily
    bookings/cancellations users tags tags/popularity tags/trends
    tags/comparisons);
for my $path (@family) {
    err_is(call(GET => $path), 401, 'AUTH_REQUIRED', "$path without token");
    err_is(call(GET => $path, token => $u1->{token}), 403, 'FORBIDDEN',
           "$path as a USER");
    is call(GET => $path, token => $admin->{token})->{status}, 200,
       "$path as an ADMIN: 200";
    my $res = call(DELETE => $path, token => $admin->{token});
    is $res->{status}, 405, "DELETE $path: 405";
}
err_is(call(GET => "$A/nothing", token => $admin->{token}), 404,
       'ROUTE_NOT_FOUND', 'an unknown analytics path');

# ---- dashboard -------------------------------------------------------------

my $d = get_ok("$A/dashboard", 'dashboard');
has_fields($d, {
    total_users => 4, users_by_role => { USER => 3, ADMIN => 1 },
    total_events => 8,
    events_by_status => { draft => 1, published => 6, cancelled => 1,
                          completed => 0 },
    upcoming_events => 6, total_bookings => 6, confirmed_bookings => 5,
    cancelled_bookings => 1, seats_sold => 9, revenue => 13570,
    refunds => 937.50, net_revenue => 12632.50, total_cancellations => 1,
    cancellation_fees => 312.50, cancellation_rate => 0.1667,
    waitlist => { active => 2, notified => 1, converted => 1, expired => 1,
                  cancelled => 0 } }, 'dashboard');
like $d->{generated_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
     'dashboard: generated_at';

# ---- bookings --------------------------------------------------------------

$d = get_ok("$A/bookings", 'bookings');
has_fields($d, {
    total_bookings => 6, confirmed_bookings => 5, cancelled_bookings => 1,
    bookings_by_status => { CONFIRMED => 5, CANCELLED => 1 },
    total_seats => 11, seats_booked => 9, average_seats_per_booking => 1.83,
    average_order_value => 2261.67, cancellation_rate => 0.1667,
    revenue => 13570, refunds => 937.50, net_revenue => 12632.50,
    payment_methods => [
        { method => 'card', payments => 3, amount => 9820 },
        { method => 'mock', payments => 1, amount => 1000 },
        { method => 'upi', payments => 1, amount => 1500 },
        { method => 'wallet', payments => 1, amount => 1250 } ] },
    'bookings');
my $res = call(GET => "$A/bookings", token => $admin->{token});
like $res->{body}, qr/"average_order_value" ?: ?2261\.67\b/,
     'bookings: exact average order value';

# ---- the daily series ------------------------------------------------------

# bookings [day, seats, value], cancellations [day]
my @made = ([-2, 2, 6000], [-2, 1, 1500], [-1, 3, 3040], [-5, 2, 1250],
            [0, 2, 1000], [-40, 1, 780]);

sub daily {
    my ($days) = @_;
    my @out;
    for my $off (-($days - 1) .. 0) {
        my %e = (date => day($off), bookings => 0, seats => 0, revenue => 0,
                 cancellations => $off == -1 ? 1 : 0);
        for (grep { $_->[0] == $off } @made) {
            $e{bookings}++;
            $e{seats} += $_->[1];
            $e{revenue} += $_->[2];
        }
        push @out, \%e;
    }
    return \@out;
}

for my $days (30, 7, 1, 366) {
    my $q = $days == 30 ? '' : "?days=$days";
    my $d = get_ok("$A/bookings/daily$q", "daily $days");
    my $exp = daily($days);
    is_deeply $d->{daily}, $exp, "daily $days: every day, zeros included";
    my %t = (bookings => 0, seats => 0, revenue => 0, cancellations => 0);
    for my $e (@$exp) { $t{$_} += $e->{$_} for keys %t }
    is_deeply $d->{totals}, \%t, "daily $days: totals";
    has_fields($d, { days => $days, from => day(-($days - 1)),
                     to => day(0) }, "daily $days: range");
}
bad_query("$A/bookings/daily?days=0", 'days', 'days=0');
bad_query("$A/bookings/daily?days=367", 'days', 'days=367');
bad_query("$A/bookings/daily?days=x", 'days', 'days=x');

# ---- cancellations ---------------------------------------------------------

$d = get_ok("$A/bookings/cancellations", 'cancellations');
has_fields($d, {
    total_cancellations => 1, cancellation_rate => 0.1667,
    total_refunds => 937.50, total_fees => 312.50, average_refund => 937.50,
    by_status => { PENDING => 0, PROCESSED => 0, REFUNDED => 1,
                   REJECTED => 0 },
    days => 30, from => day(-29), to => day(0),
    top_events => [ { event_id => "${E}403", name => 'Startup Pitch Night',
                      cancellations => 1, refunds => 937.50 } ] },
    'cancellations');
is scalar @{ $d->{daily} }, 30, 'cancellations: 30 days';
is_deeply [ grep { $_->{cancellations} } @{ $d->{daily} } ],
          [ { date => day(-1), cancellations => 1, refunds => 937.50,
              fees => 312.50 } ], 'cancellations: the day of the one';
is_deeply [ grep { $_->{refunds} || $_->{fees} } @{ $d->{daily} } ],
          [ $d->{daily}[-2] ], 'cancellations: other days are zeros';
$d = get_ok("$A/bookings/cancellations?days=1", 'cancellations today');
is_deeply $d->{daily}, [ { date => day(0), cancellations => 0,
                           refunds => 0, fees => 0 } ],
          'cancellations days=1: today, zero';
has_fields($d, { total_cancellations => 1 },
           'cancellations days=1: totals are all-time');
bad_query("$A/bookings/cancellations?days=-1", 'days', 'days=-1');

# ---- users -----------------------------------------------------------------

$d = get_ok("$A/users", 'users');
has_fields($d, { total_users => 4, users_by_role => { USER => 3, ADMIN => 1 },
                 users_with_bookings => 2,
                 users_with_confirmed_bookings => 2,
                 average_bookings_per_user => 3, days => 30,
                 new_users => 3 }, 'users');
is_deeply $d->{new_users_by_day},
          [ map { my $o = $_;
                  { date => day($o),
                    new_users => (grep { $_ == $o } -10, -3, 0) ? 1 : 0 } }
                -29 .. 0 ], 'users: sign-ups of every day';
$d = get_ok("$A/users?days=5", 'users, 5 days');
has_fields($d, { new_users => 2, total_users => 4 }, 'users days=5');
is scalar @{ $d->{new_users_by_day} }, 5, 'users days=5: five days';
$d = get_ok("$A/users?days=200", 'users, 200 days');
has_fields($d, { new_users => 4 }, 'users days=200');
bad_query("$A/users?days=1000", 'days', 'users days=1000');

# ---- tags ------------------------------------------------------------------

my %tag = (
    Arts => { events => 2, bookings => 2, seats => 4, revenue => 3820,
              slug => 'arts', is_active => 1 },
    Business => { events => 3, bookings => 4, seats => 5,
                  revenue => 8812.50 },
    Food => { events => 1, bookings => 0, seats => 0, revenue => 0,
              is_active => 0 },
    Music => { events => 1, bookings => 1, seats => 3, revenue => 3040 },
    Sports => { events => 1, bookings => 0, seats => 0, revenue => 0 },
    Technology => { events => 3, bookings => 4, seats => 5,
                    revenue => 8812.50 },
);
$d = get_ok("$A/tags", 'tags');
has_fields($d, { total_tags => 6, active_tags => 5, tags_with_events => 6,
                 total_count => 6, page => 1, limit => 10,
                 total_pages => 1 }, 'tags');
is_deeply [ map { $_->{name} } @{ $d->{tags} } ], [ sort keys %tag ],
          'tags: by name';
for my $t (@{ $d->{tags} }) {
    my %exp = %{ $tag{ $t->{name} } };
    if (exists $exp{is_active}) {
        ok !!$t->{is_active} == !!$exp{is_active}, "tag $t->{name}: is_active";
        delete $exp{is_active};
    }
    has_fields($t, \%exp, "tag $t->{name}");
}
$d = get_ok("$A/tags?page=2&limit=4", 'tags page 2');
is_deeply [ map { $_->{name} } @{ $d->{tags} } ], [ 'Sports', 'Technology' ],
          'tags page 2';
has_fields($d, { total_pages => 2, total_count => 6 }, 'tags page 2: paging');
bad_query("$A/tags?limit=500", 'limit', 'tags limit=500');

$d = get_ok("$A/tags/popularity", 'popularity');
is_deeply [ map { [ $_->{rank}, $_->{name}, $_->{seats}, $_->{share} ] }
            @{ $d->{tags} } ],
          [ [ 1, 'Business', 5, 0.5556 ], [ 2, 'Technology', 5, 0.5556 ],
            [ 3, 'Arts', 4, 0.4444 ], [ 4, 'Music', 3, 0.3333 ],
            [ 5, 'Food', 0, 0 ], [ 6, 'Sports', 0, 0 ] ],
          'popularity: by seats booked, then bookings, then name';
has_fields($d->{tags}[0], { bookings => 4, events => 3, revenue => 8812.50,
                            slug => 'business' }, 'popularity #1');
has_fields($d, { count => 6, limit => 10, total_seats_booked => 9 },
           'popularity');
$d = get_ok("$A/tags/popularity?limit=2", 'popularity limit=2');
is_deeply [ map { $_->{name} } @{ $d->{tags} } ], [ 'Business', 'Technology' ],
          'popularity limit=2';
bad_query("$A/tags/popularity?limit=0", 'limit', 'popularity limit=0');

# trends: bookings [day, seats, value, tags]
my @tagged = ([-2, 2, 6000, qw(Technology Business)],
              [-2, 1, 1500, qw(Technology Business)],
              [-1, 3, 3040, qw(Music Arts)],
              [-5, 2, 1250, qw(Technology Business)],
              [0, 2, 1000, qw(Technology Business)],
              [-40, 1, 780, qw(Arts)]);

sub trends {
    my ($months, $limit) = @_;
    my @m = month_list($months);
    my %in = map { $_ => 1 } @m;
    my %t;
    for my $name (keys %tag) {
        $t{$name} = { name => $name, bookings => 0,
                      months => [ map { { month => $_, bookings => 0,
                                          seats => 0, revenue => 0 } } @m ] };
    }
    for my $b (@tagged) {
        my ($off, $seats, $value, @names) = @$b;
        my $mon = month_of($off);
        next if !$in{$mon};
        for my $name (@names) {
            my ($e) = grep { $_->{month} eq $mon } @{ $t{$name}{months} };
            $e->{bookings}++;
            $e->{seats} += $seats;
            $e->{revenue} += $value;
            $t{$name}{bookings}++;
        }
    }
    my @order = sort { $t{$b}{bookings} <=> $t{$a}{bookings} || $a cmp $b }
                keys %t;
    splice @order, $limit if @order > $limit;
    return [ map { $t{$_} } @order ];
}

for my $case ([6, 10, ''], [1, 10, '?months=1'], [24, 3, '?months=24&limit=3'],
              [2, 100, '?months=2&limit=100']) {
    my ($months, $limit, $q) = @$case;
    my $d = get_ok("$A/tags/trends$q", "trends $q");
    my @m = month_list($months);
    has_fields($d, { months => $months, from => $m[0], to => $m[-1] },
               "trends $q: range");
    my $got = [ map { { name => $_->{name}, bookings => $_->{bookings},
                        months => $_->{months} } } @{ $d->{tags} } ];
    is_deeply $got, trends($months, $limit),
              "trends $q: per tag, every month, zeros included"
        or diag explain $got;
}
bad_query("$A/tags/trends?months=0", 'months', 'months=0');
bad_query("$A/tags/trends?months=25", 'months', 'months=25');
bad_query("$A/tags/trends?months=six", 'months', 'months=six');
bad_query("$A/tags/trends?limit=101", 'limit', 'trends limit=101');

$d = get_ok("$A/tags/comparisons", 'comparisons');
is_deeply [ map { $_->{name} } @{ $d->{tags} } ],
          [ qw(Business Technology Arts Music Food Sports) ],
          'comparisons: by revenue, then name';
my %cmp = (
    Business => { events => 3, bookings => 4, seats => 5, capacity => 84,
                  utilization => 0.0595, avg_base_price => 1333.33,
                  avg_ticket_price => 1700, revenue => 8812.50,
                  revenue_per_event => 2937.50, cancellation_rate => 0.25 },
    Technology => { events => 3, capacity => 84, avg_base_price => 1333.33,
                    revenue_per_event => 2937.50 },
    Arts => { events => 2, bookings => 2, seats => 4, capacity => 50,
              utilization => 0.08, avg_base_price => 700,
              avg_ticket_price => 955, revenue => 3820,
              revenue_per_event => 1910, cancellation_rate => 0 },
    Music => { events => 1, seats => 3, capacity => 25, utilization => 0.12,
               avg_base_price => 800, avg_ticket_price => 1013.33,
               revenue => 3040, revenue_per_event => 3040 },
    Food => { events => 1, bookings => 0, seats => 0, capacity => 25,
              utilization => 0, avg_base_price => 1200,
              avg_ticket_price => 0, revenue => 0, revenue_per_event => 0,
              cancellation_rate => 0 },
    Sports => { events => 1, capacity => 28, avg_base_price => 2000,
                revenue => 0 },
);
has_fields($_, $cmp{ $_->{name} }, "comparison $_->{name}")
    for @{ $d->{tags} };
$d = get_ok("$A/tags/comparisons?limit=3", 'comparisons limit=3');
is_deeply [ map { $_->{name} } @{ $d->{tags} } ],
          [ qw(Business Technology Arts) ], 'comparisons limit=3';
bad_query("$A/tags/comparisons?limit=-3", 'limit', 'comparisons limit=-3');

# ---- a larger dataset: every report well within the statement timeout ----

psql(<<'_SQL_');
INSERT INTO evently.events (id, name, venue, venue_template_id, date_time,
                            base_price)
SELECT ('00000000-0000-4000-9000-' || lpad(i::text, 12, '0'))::uuid,
       'Load event ' || i, 'Load venue',
       '00000000-0000-4000-8000-000000000202',
       now() + make_interval(days => 1 + i % 300), 100.00
  FROM generate_series(1, 2000) AS i;

INSERT INTO evently.event_tags (event_id, tag_id)
SELECT e.id, t.id
  FROM evently.events e
  JOIN evently.tags t ON t.slug IN ('music', 'sports')
 WHERE e.name LIKE 'Load event %';

CREATE TEMP TABLE load_seats AS
SELECT s.id, s.section_id, s.seat_number, s.row_label, vs.name,
       row_number() OVER (ORDER BY s.seat_number) AS n
  FROM evently.seats s
  JOIN evently.venue_sections vs ON vs.id = s.section_id
 WHERE vs.template_id = '00000000-0000-4000-8000-000000000202';

-- 2000 events x 5 bookings of one seat, made over the last 400 days
INSERT INTO evently.bookings (id, booking_ref, user_id, event_id,
                              total_seats, total_price, created_at)
SELECT ('00000000-0000-4000-a000-' || lpad((e * 10 + k)::text, 12, '0'))
           ::uuid,
       'EVT-20260101-' || lpad(upper(to_hex(e * 10 + k)), 6, '0'),
       CASE WHEN k % 2 = 0 THEN '00000000-0000-4000-8000-000000000002'
            ELSE '00000000-0000-4000-8000-000000000004' END::uuid,
       ('00000000-0000-4000-9000-' || lpad(e::text, 12, '0'))::uuid,
       1, 100.00, now() - make_interval(days => (e * 5 + k) % 400)
  FROM generate_series(1, 2000) AS e, generate_series(1, 5) AS k;

INSERT INTO evently.booking_seats (booking_id, event_id, seat_id,
                                   section_id, seat_number, row_label,
                                   section_name, price)
SELECT b.id, b.event_id, s.id, s.section_id, s.seat_number, s.row_label,
       s.name, 100.00
  FROM evently.bookings b
  JOIN load_seats s
    ON s.n = right(b.id::text, 12)::bigint % 10 + 1
 WHERE b.booking_ref LIKE 'EVT-20260101-0%';

INSERT INTO evently.payments (booking_id, amount, status, payment_method,
                              processed_at)
SELECT b.id, 100.00, 'COMPLETED', 'card', b.created_at
  FROM evently.bookings b
 WHERE b.booking_ref LIKE 'EVT-20260101-0%';

ANALYZE evently.events, evently.event_tags, evently.bookings,
        evently.booking_seats, evently.payments;
_SQL_

is psql(q{SELECT count(*) FROM evently.bookings}), 10006,
   'larger dataset: 10006 bookings';
for my $path ('/api/v1/admin/events/analytics?limit=100&page=3',
              "/api/v1/admin/events/${E}401/analytics",
              '/api/v1/admin/analytics/popular-events?limit=100',
              '/api/v1/admin/analytics/revenue?from=2025-06-01'
              . '&to=2026-06-01',
              (map { "$_?days=366" } grep { /daily|cancel|users/ } @family),
              (grep { !/daily|cancel|users/ } @family),
              "$A/tags/trends?months=24&limit=100",
              '/api/v1/analytics/user/personal?months=24',
              '/api/v1/analytics/user/bookings/history?offset=4000')
{
    my $t0 = time;
    my $token = $path =~ m{/analytics/user/} ? $u1->{token} : undef;
    get_ok($path, "larger dataset: $path", $token);
    my $ms = int((time - $t0) * 1000);
    note "$path: $ms ms";
    cmp_ok $ms, '<', 5000, "larger dataset: $path well within the timeout";
}

# ---- an empty database: zeros everywhere, 200, never NaN or null -----------

stop_nginx('analytics');
reset_db();
start_nginx(name => 'analytics', port => $port,
            http_config => http_config(), main_config => main_config(),
            config => server_config());

my $ghost = jwt(sub => '00000000-0000-4000-8000-0000000000aa',
                user_id => '00000000-0000-4000-8000-0000000000aa',
                email => 'ghost@example.com', role => 'ADMIN');

# every number 0 but the paging/range parameters; null only where allowed
my %param = map { $_ => 1 } qw(page limit days months);
sub all_zero {
    my ($v, $path, $name) = @_;
    if (ref $v eq 'HASH') {
        all_zero($v->{$_}, $_, $name) for sort keys %$v;
    } elsif (ref $v eq 'ARRAY') {
        all_zero($_, $path, $name) for @$v;
    } elsif (!defined $v) {
        ok $path eq 'member_since', "$name: only member_since may be null"
            or diag "$path is null";
    } elsif (!ref $v && $v =~ /^-?\d+(?:\.\d+)?$/ && !$param{$path}) {
        ok $v == 0, "$name: $path is 0" or diag "$path = $v";
    }
}

my %series = ("$A/bookings/daily" => 'daily', "$A/users" => 'new_users_by_day',
              "$A/bookings/cancellations" => 'daily',
              '/api/v1/admin/analytics/revenue' => 'periods');
for my $path (@family, '/api/v1/admin/events/analytics',
              '/api/v1/admin/analytics/popular-events',
              '/api/v1/admin/analytics/revenue',
              '/api/v1/analytics/user/personal',
              '/api/v1/analytics/user/bookings/history')
{
    my $d = get_ok($path, "empty: $path", $ghost);
    all_zero($d, '', "empty: $path");
    if (my $key = $series{$path}) {
        is scalar @{ $d->{$key} }, 30, "empty: $path has its 30 days";
    }
}
$d = get_ok("$A/tags/trends", 'empty trends', $ghost);
is_deeply $d->{tags}, [], 'empty: no tag trends';
$d = get_ok('/api/v1/admin/events/analytics', 'empty events', $ghost);
is_deeply $d->{events}, [], 'empty: no event rows';
has_fields($d, { total_count => 0, total_pages => 0 }, 'empty: paging');
$d = get_ok('/api/v1/analytics/user/personal', 'empty personal', $ghost);
is scalar @{ $d->{spending_by_month} }, 12, 'empty: 12 months of spending';
err_is(call(GET => "/api/v1/admin/events/${E}401/analytics",
            token => $ghost), 404, 'EVENT_NOT_FOUND', 'empty: no event');

ok stop_nginx('analytics'), 'nginx stopped cleanly';
no_alerts_ok('analytics');

done_testing;
