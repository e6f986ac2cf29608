# The caller's own analytics: GET /analytics/user/bookings/history and
# GET /analytics/user/personal -- exact figures for two users with known
# bookings (one cancelled with a refund), nothing of anyone else's, paging
# and validation, zeros for a user without bookings.

use strict;
use warnings;

use Test::More;
use Evently::Test;
use Evently::Analytics;

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;

my $E = '00000000-0000-4000-8000-000000000';
my $admin = { id => '00000000-0000-4000-8000-000000000001',
              email => 'admin@gmail.com', role => 'ADMIN' };
my $u1 = { id => '00000000-0000-4000-8000-000000000002',
           email => 'mitshah2406@gmail.com', role => 'USER' };
my $u2 = { id => '00000000-0000-4000-8000-000000000003',
           email => 'mitshah2406.work@gmail.com', role => 'USER' };
my $u3 = { id => '00000000-0000-4000-8000-000000000004',
           email => 'third@example.com', role => 'USER' };
$_->{token} = jwt_for($_) for $admin, $u1, $u2, $u3;

analytics_start(port => $port, admin => $admin);

my $H = '/api/v1/analytics/user/bookings/history';
my $P = '/api/v1/analytics/user/personal';

my %ref = map { @$_ } @{ psql_rows(q{
    SELECT booking_ref, id FROM evently.bookings}) };
my %booking = map { $_ => $ref{"EVT-20260101-BOOK0$_"} } 1 .. 6;

# ---- who may call ----------------------------------------------------------

for my $path ($H, $P) {
    err_is(call(GET => $path), 401, 'AUTH_REQUIRED', "$path without token");
    err_is(call(GET => $path, token => 'x.y.z'), 401, 'INVALID_TOKEN',
           "$path with a bad token");
    my $expired = jwt_for($u1, exp => time - 60, iat => time - 1000);
    err_is(call(GET => $path, token => $expired), 401, 'TOKEN_EXPIRED',
           "$path with an expired token");
    is call(GET => $path, token => $admin->{token})->{status}, 200,
       "$path: an ADMIN may call it too";
    is call(POST => $path, token => $u1->{token}, body => {})->{status}, 405,
       "POST $path: 405";
}

# ---- history ---------------------------------------------------------------

sub history_is {
    my ($user, $query, $exp, $total, $name) = @_;
    my $d = get_ok("$H$query", $name, $user->{token});
    is_deeply [ map { $_->{booking_id} } @{ $d->{bookings} } ],
              [ map { $booking{$_} } @$exp ], "$name: the bookings";
    has_fields($d, { count => scalar @$exp, total_count => $total },
               "$name: counts");
    return $d;
}

my $d = history_is($u1, '', [5, 3, 1], 3, 'history of U1');
has_fields($d, { limit => 10, offset => 0 }, 'history: default paging');
has_fields($d->{bookings}[0], {
    booking_ref => 'EVT-20260101-BOOK05', event_id => "${E}403",
    event_name => 'Startup Pitch Night', venue => 'Innovation Center',
    event_date => day(15) . 'T19:00:00Z', status => 'CONFIRMED',
    total_seats => 2, total_price => 1000, currency => 'INR',
    refund_amount => 0, booked_at => day(0) . 'T00:00:00Z' },
    'history of U1: newest first');
ok exists $d->{bookings}[0]{cancelled_at}
   && !defined $d->{bookings}[0]{cancelled_at},
   'history: cancelled_at null for a confirmed booking';
has_fields($d->{bookings}[2], { total_seats => 2, total_price => 6000,
                                booked_at => day(-2) . 'T10:00:00Z' },
           'history of U1: the oldest');

$d = history_is($u2, '', [2, 4, 6], 3, 'history of U2');
has_fields($d->{bookings}[1], {
    status => 'CANCELLED', total_price => 1250, refund_amount => 937.50,
    cancelled_at => day(-1) . 'T18:00:00Z' }, 'history of U2: the refund');
my $res = call(GET => $H, token => $u2->{token});
like $res->{body}, qr/"refund_amount" ?: ?937\.50\b/,
     'history: exact refund';
my $theirs = join '|', map { quotemeta $booking{$_} } 1, 3, 5;
unlike $res->{body}, qr/$theirs/, "history of U2: nothing of U1's";

history_is($u1, '?limit=2', [5, 3], 3, 'history limit=2');
history_is($u1, '?limit=2&offset=2', [1], 3, 'history offset=2');
history_is($u1, '?offset=3', [], 3, 'history past the end');
history_is($u1, "?user_id=$u2->{id}", [5, 3, 1], 3,
           'history: a user_id parameter changes nothing');
history_is($u3, '', [], 0, 'history of a user without bookings');
history_is($admin, '', [], 0, 'history of the admin: their own (none)');

for my $q ('limit=0', 'limit=101', 'limit=x', 'offset=-1', 'offset=1.5',
           'offset=1000001') {
    my ($field) = $q =~ /^(\w+)/;
    my $res = call(GET => "$H?$q", token => $u1->{token});
    err_is($res, 400, 'VALIDATION_FAILED', "history $q");
    ok $res->{json}{errors}{fields}{$field}, "history $q: errors.fields";
}

# ---- personal --------------------------------------------------------------

# payments [day, amount], refunds [day, amount], bookings made [day]
my %money = (
    $u1->{id} => { paid => [[-2, 6000], [-1, 3040], [0, 1000]],
                   refunded => [], made => [-2, -1, 0] },
    $u2->{id} => { paid => [[-2, 1500], [-5, 1250], [-40, 780]],
                   refunded => [[-1, 937.50]], made => [-2, -5, -40] },
);

sub spending {
    my ($user, $months) = @_;
    my $m = $money{ $user->{id} } // { paid => [], refunded => [],
                                       made => [] };
    my @out;
    for my $mon (month_list($months)) {
        my %e = (month => $mon, bookings => 0, spent => 0, refunded => 0);
        $e{bookings} += grep { month_of($_) eq $mon } @{ $m->{made} };
        $e{spent} += $_->[1] for grep { month_of($_->[0]) eq $mon }
                                 @{ $m->{paid} };
        $e{refunded} += $_->[1] for grep { month_of($_->[0]) eq $mon }
                                    @{ $m->{refunded} };
        $e{net} = $e{spent} - $e{refunded};
        push @out, \%e;
    }
    return \@out;
}

sub personal_is {
    my ($user, $months, $exp, $fav, $name) = @_;
    my $q = $months == 12 ? '' : "?months=$months";
    my $d = get_ok("$P$q", $name, $user->{token});
    has_fields($d, { %$exp, user_id => $user->{id}, months => $months },
               $name);
    is_deeply $d->{spending_by_month}, spending($user, $months),
              "$name: every month, zeros included"
        or diag explain $d->{spending_by_month};
    is_deeply [ map { [ $_->{name}, $_->{bookings}, $_->{seats} ] }
                @{ $d->{favorite_tags} } ], $fav, "$name: favorite tags";
    return $d;
}

my %p1 = (total_bookings => 3, confirmed_bookings => 3,
          cancelled_bookings => 0, upcoming_bookings => 3,
          seats_booked => 7, total_spent => 10040, total_refunded => 0,
          net_spent => 10040, average_booking_value => 3346.67,
          member_since => day(-10) . 'T09:00:00Z');
my @f1 = ([ 'Business', 2, 4 ], [ 'Technology', 2, 4 ], [ 'Arts', 1, 3 ],
          [ 'Music', 1, 3 ]);
personal_is($u1, 12, \%p1, \@f1, 'personal U1');
personal_is($u1, 1, \%p1, \@f1, 'personal U1, this month');
personal_is($u1, 24, \%p1, \@f1, 'personal U1, 24 months');

my %p2 = (total_bookings => 3, confirmed_bookings => 2,
          cancelled_bookings => 1, upcoming_bookings => 2,
          seats_booked => 2, total_spent => 3530, total_refunded => 937.50,
          net_spent => 2592.50, average_booking_value => 1176.67,
          member_since => day(-3) . 'T09:00:00Z');
my @f2 = ([ 'Arts', 1, 1 ], [ 'Business', 1, 1 ], [ 'Technology', 1, 1 ]);
$d = personal_is($u2, 12, \%p2, \@f2, 'personal U2');
$res = call(GET => $P, token => $u2->{token});
like $res->{body}, qr/"net_spent" ?: ?2592\.50\b/, 'personal: exact money';
personal_is($u2, 2, \%p2, \@f2, 'personal U2, 2 months');

personal_is($u3, 12, { total_bookings => 0, seats_booked => 0,
                       total_spent => 0, net_spent => 0,
                       average_booking_value => 0 }, [],
            'personal of a user without bookings');

$d = get_ok("$P?user_id=$u2->{id}", 'personal with user_id', $u1->{token});
has_fields($d, { user_id => $u1->{id}, total_spent => 10040 },
           'personal: a user_id parameter changes nothing');

for my $q ('months=0', 'months=25', 'months=twelve') {
    my $res = call(GET => "$P?$q", token => $u1->{token});
    err_is($res, 400, 'VALIDATION_FAILED', "personal $q");
    ok $res->{json}{errors}{fields}{months}, "personal $q: errors.fields";
}

# a new booking shows at once (nothing cached)
psql(q{
    UPDATE evently.bookings SET user_id = :'u'
     WHERE booking_ref = 'EVT-20260101-BOOK06'}, { u => $u3->{id} });
history_is($u3, '', [6], 1, 'history follows the data');
history_is($u2, '', [2, 4], 2, 'history of U2 without it');

ok stop_nginx('analytics'), 'nginx stopped cleanly';
no_alerts_ok('analytics');

done_testing;
