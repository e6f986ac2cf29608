# Analytics of events and revenue: GET /admin/events/analytics (and
# /analytics/admin/events), GET /admin/events/{id}/analytics (and
# /analytics/admin/events/{id}), GET /admin/analytics/popular-events,
# GET /admin/analytics/revenue -- exact figures on a known dataset,
# validation, admin-only access.

use strict;
use warnings;

use Test::More;
use Evently::Test;
use Evently::Analytics;

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;

my $E = '00000000-0000-4000-8000-000000000';   # + 401 .. 406, 481, 482
my $admin = { id => '00000000-0000-4000-8000-000000000001',
              email => 'admin@gmail.com', role => 'ADMIN' };
my $u1 = { id => '00000000-0000-4000-8000-000000000002',
           email => 'mitshah2406@gmail.com', role => 'USER' };
$_->{token} = jwt_for($_) for $admin, $u1;

analytics_start(port => $port, admin => $admin);

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
