# Flash crowd: 500 clients with distinct accounts race for the same 50
# seats (hold, then confirm; 1 to 4 seats each, overlapping), first
# through one nginx with two workers, then through two nginx instances
# sharing PostgreSQL and Redis.  Every seat is sold at most once, the
# seats booked are exactly those of the successful confirmations, losers
# get 409, nobody gets a 5xx, no hold is left behind.

use strict;
use warnings;

use Test::More;
use Evently::Test;
use JSON::PP;

my $port = $ENV{TEST_NGINX_PORT} // 1984;
my $clients = 500;

reset_db();

# a 50-seat venue (rows A..E x 10) and an event on sale
my $event = psql(q{
    WITH t AS (
        INSERT INTO evently.venue_templates (name, default_rows,
                                             default_seats_per_row,
                                             layout_type)
        VALUES ('Crowd Hall', 5, 10, 'THEATER') RETURNING id),
    s AS (
        INSERT INTO evently.venue_sections (template_id, name, row_start,
                                            row_end, seats_per_row,
                                            total_seats)
        SELECT id, 'Floor', 'A', 'E', 10, 50 FROM t RETURNING id),
    g AS (SELECT evently.generate_seats(id) FROM s)
    INSERT INTO evently.events (name, venue, venue_template_id, date_time,
                                base_price)
    SELECT 'Flash Sale Gig', 'Crowd Hall', t.id, now() + interval '7 days',
           250.00
      FROM t, g
    RETURNING id});
my @seats = map { $_->[0] } @{ psql_rows(q{
    SELECT s.id FROM evently.seats s
      JOIN evently.venue_sections sec ON sec.id = s.section_id
      JOIN evently.events e ON e.venue_template_id = sec.template_id
     WHERE e.id = :'e' ORDER BY s.row_index, s.position}, { e => $event }) };
is scalar @seats, 50, '50 seats';

# 500 distinct accounts
my @users = map { { id => $_->[0], email => $_->[1] } } @{ psql_rows(q{
    INSERT INTO evently.users (first_name, last_name, email, password_hash)
    SELECT 'Fan', 'Number' || g, 'fan' || g || '@crowd.example', :'h'
      FROM generate_series(1, :'n') g
    RETURNING id, email},
    { h => $Evently::Test::PasswordHash, n => $clients }) };
is scalar @users, $clients, "$clients accounts";
$_->{token} = jwt(sub => $_->{id}, user_id => $_->{id}, email => $_->{email},
                  role => 'USER', exp => time + 3600) for @users;

# correctness, not latency, is the point: generous engine timeouts keep a
# slow build (ASan) from answering 503 while the crowd queues
my $crowd_http = http_config(extra => join "\n",
                             'evently_redis_timeout 15s;',
                             'evently_postgres_queue_timeout 60s;',
                             'evently_postgres_timeout 60s;');

sub crowd {
    my (@ports) = @_;

    for my $p (@ports) {
        ok wait_until(sub { api(GET => '/health', port => $p)->{status}
                            == 200 }, timeout => 20),
           "instance on $p is healthy before the crowd";
    }

    my $results = race(n => $clients, timeout => 120, run => sub {
        my ($i) = @_;
        my $u = $users[$i];
        my $p = $ports[$i % @ports];

        # 1..4 seats, drawn from the same 50: heavy overlap
        srand($i * 7919 + @ports);
        my %pick;
        my $want = 1 + $i % 4;
        $pick{ $seats[int rand @seats] } = 1 while keys %pick < $want;
        my @mine = sort keys %pick;

        my $h = api(POST => '/api/v1/seats/hold', port => $p,
                    token => $u->{token}, timeout => 60,
                    body => { event_id => $event, seat_ids => \@mine });
        my %r = (hold => $h->{status}, seats => \@mine,
                 hold_code => $h->{json} ? $h->{json}{errors}{code} : undef);
        return \%r if $h->{status} != 201;

        my $c = api(POST => '/api/v1/bookings/confirm', port => $p,
                    token => $u->{token}, timeout => 60,
                    body => { hold_id => $h->{json}{data}{hold_id},
                              event_id => $event,
                              payment_method => 'mock' });
        $r{confirm} = $c->{status};
        $r{booking} = $c->{json} ? $c->{json}{data}{booking_id} : undef;
        $r{booked} = $c->{json}
                     ? [ sort map { $_->{seat_id} }
                         @{ $c->{json}{data}{seats} || [] } ] : [];
        return \%r;
    });

    return $results;
}

sub verify {
    my ($label, $results) = @_;

    my @done = grep { ref $_ eq 'HASH' } @$results;
    is scalar @done, $clients, "$label: every client finished";

    my @fivexx = grep { $_->{hold} >= 500
                        || ($_->{confirm} // 0) >= 500 } @done;
    is scalar @fivexx, 0, "$label: no 5xx"
        or diag explain [ map { { hold => $_->{hold},
                                  code => $_->{hold_code},
                                  confirm => $_->{confirm} } }
                          @fivexx[0 .. ($#fivexx < 4 ? $#fivexx : 4)] ];

    my @won = grep { ($_->{confirm} // 0) == 201 } @done;
    my @lost = grep { $_->{hold} == 409 } @done;
    my @odd = grep { $_->{hold} != 201 && $_->{hold} != 409 } @done;
    is scalar @odd, 0, "$label: every hold is 201 or 409";
    ok !(grep { $_->{hold_code} ne 'SEATS_UNAVAILABLE' } @lost),
       "$label: losers get 409 SEATS_UNAVAILABLE";
    is scalar(grep { $_->{hold} == 201 } @done), scalar @won,
       "$label: every hold that won was confirmed (201)";
    ok scalar @won > 0, "$label: some clients won (" . @won . ")";
    ok scalar @lost > 0, "$label: some clients lost (" . @lost . ")";

    my %sold;
    $sold{$_}++ for map { @{ $_->{booked} } } @won;
    ok !(grep { $_ > 1 } values %sold),
       "$label: no seat in two successful confirmations";
    my $won_seats = 0;
    $won_seats += @{ $_->{booked} } for @won;
    is_deeply [ map { join ',', @{ $_->{booked} } } @won ],
              [ map { join ',', @{ $_->{seats} } } @won ],
              "$label: each winner got exactly the seats it held";

    is psql(q{SELECT count(*) FROM evently.booking_seats
               WHERE event_id = :'e' AND active}, { e => $event }),
       $won_seats, "$label: seats booked in PostgreSQL = seats confirmed "
                   . "($won_seats)";
    is psql(q{SELECT count(*) FROM (
                SELECT seat_id FROM evently.booking_seats
                 WHERE event_id = :'e' AND active
                 GROUP BY seat_id HAVING count(*) > 1) d}, { e => $event }),
       0, "$label: every seat booked at most once";
    is psql(q{SELECT count(*) FROM evently.bookings WHERE event_id = :'e'},
            { e => $event }), scalar @won,
       "$label: one booking per winner";
    is psql(q{SELECT count(*) FROM evently.payments p
                JOIN evently.bookings b ON b.id = p.booking_id
               WHERE b.event_id = :'e' AND p.status = 'COMPLETED'},
            { e => $event }), scalar @won,
       "$label: one completed payment per booking";
    is psql(q{SELECT count(*) FROM evently.outbox
               WHERE event_type = 'booking.confirmed'
                 AND event_key = :'e'}, { e => $event }), scalar @won,
       "$label: one booking.confirmed event per booking";

    is redis('EVAL', "return #redis.call('KEYS', 'evently:hold:*')", 0), 0,
       "$label: no hold left behind in Redis";
    is redis('ZCARD', "evently:event_held:$event"), 0,
       "$label: no seat left marked as held";
    return;
}

# ---- one nginx, two workers -------------------------------------------------------

start_nginx(name => 'crowd', port => $port, workers => 2,
            worker_connections => 2048,
            http_config => $crowd_http, main_config => main_config(),
            config => server_config());

verify('one instance', crowd($port));

ok stop_nginx('crowd'), 'nginx stopped cleanly';
no_alerts_ok('crowd');

# ---- the same race across two nginx instances ----------------------------------------

psql(q{DELETE FROM evently.bookings WHERE event_id = :'e'}, { e => $event });
psql(q{DELETE FROM evently.outbox WHERE event_key = :'e'}, { e => $event });
redis('FLUSHDB');

start_nginx(name => 'crowd-a', port => $port, workers => 2,
            worker_connections => 2048,
            http_config => $crowd_http, main_config => main_config(),
            config => server_config());
start_nginx(name => 'crowd-b', port => $port + 1, workers => 2,
            worker_connections => 2048,
            http_config => $crowd_http, main_config => main_config(),
            config => server_config());

verify('two instances', crowd($port, $port + 1));

ok stop_nginx('crowd-a'), 'nginx A stopped cleanly';
ok stop_nginx('crowd-b'), 'nginx B stopped cleanly';
no_alerts_ok('crowd-a');
no_alerts_ok('crowd-b');

done_testing;
