# Waitlist under contention: two nginx instances of two workers each, all
# sweeping the same event with a 2 s offer window, while admins notify on
# both and users join, leave and confirm concurrently.  A seat is never in
# two live offers, never offered while sold, every conversion is a real
# booking of the offered seats, and the line drains to the end by itself.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use Evently::Test;

my $port = $ENV{TEST_NGINX_PORT} // 1984;
my $port2 = $port + 50;
my @ports = ($port, $port2);

my $tpl = '00000000-0000-4000-8000-00000000d201';
my $sec = '00000000-0000-4000-8000-00000000d301';
my $ev = '00000000-0000-4000-8000-00000000d401';
my $nusers = 24;

reset_db();
seed();

psql(q{
    INSERT INTO evently.venue_templates (id, name, default_rows,
                                         default_seats_per_row, layout_type)
    VALUES (:'tpl', 'Race Room', 1, 8, 'GENERAL');
    INSERT INTO evently.venue_sections (id, template_id, name, row_start,
                                        row_end, seats_per_row, total_seats)
    VALUES (:'sec', :'tpl', 'Floor', 'A', 'A', 8, 8);
    SELECT evently.generate_seats(:'sec');
    INSERT INTO evently.events (id, name, venue, venue_template_id,
                                date_time, base_price, status)
    VALUES (:'ev', 'Race Show', 'Race Room', :'tpl',
            now() + interval '10 days', 10, 'published');
}, { tpl => $tpl, sec => $sec, ev => $ev });

my @seats = map { $_->[0] } @{ psql_rows(q{
    SELECT id FROM evently.seats WHERE section_id = :'sec'
     ORDER BY position}, { sec => $sec }) };

my $buyer = create_user(email => 'race-buyer@example.com');
my $admin = create_user(email => 'race-admin@example.com', role => 'ADMIN');
my @u = map { create_user(email => "race-$_\@example.com") } 1 .. $nusers;
my $twice = create_user(email => 'race-twice@example.com');

my %ng;
for my $i (0, 1) {
    $ng{$i} = start_nginx(name => "wl-race$i", port => $ports[$i],
                          workers => 2,
                          http_config => http_config(
                              extra => 'evently_waitlist_offer_ttl 2s;'),
                          main_config => main_config(),
                          config => server_config());
}

sub on { my ($i, $m, $p, %o) = @_; return api($m, $p, port => $ports[$i % 2],
                                               %o) }

# sold out: one booking per seat
my @bookings;
for my $s (@seats) {
    my $res = on(0, POST => '/api/v1/seats/hold', token => $buyer->{token},
                 body => { event_id => $ev, seat_ids => [ $s ] });
    $res = on(1, POST => '/api/v1/bookings/confirm', token => $buyer->{token},
              body => { hold_id => $res->{json}{data}{hold_id},
                        event_id => $ev });
    push @bookings, $res->{json}{data}{booking_id};
}
is scalar(grep { defined } @bookings), 8, 'sold out: 8 bookings';

# ---- joining concurrently on both instances --------------------------------

my $res = race(n => $nusers, timeout => 60, run => sub {
    my $i = shift;
    my $r = on($i, POST => '/api/v1/waitlist', token => $u[$i]{token},
               body => { event_id => $ev, quantity => $i % 3 + 1 });
    return "$r->{status}";
});
is_deeply [ sort { $a <=> $b } @$res ], [ (201) x $nusers ],
    "$nusers users join concurrently: all 201";
my $list = on(0, GET => "/api/v1/admin/waitlist/entries/$ev?limit=100",
              token => $admin->{token})->{json}{data}{entries};
is_deeply [ map { $_->{position} } @$list ], [ 1 .. $nusers ],
    'positions 1..N, no gap, no duplicate';

$res = race(n => 10, timeout => 60, run => sub {
    my $i = shift;
    my $r = on($i, POST => '/api/v1/waitlist', token => $twice->{token},
               body => { event_id => $ev, quantity => 1 });
    return $r->{json}{errors}{code} // "$r->{status}";
});
is_deeply [ sort @$res ], [ 201, ('ALREADY_WAITING') x 9 ],
    'one user joining 10 times at once: one entry, nine 409s';
on(0, DELETE => "/api/v1/waitlist/$ev", token => $twice->{token});

# ---- the contention --------------------------------------------------------

# every booking cancelled (the waitlist told, as a cancellation does)
for my $b (@bookings) {
    psql(q{
        UPDATE evently.bookings SET status = 'CANCELLED',
               cancelled_at = now(), version = version + 1
         WHERE id = :'b';
        UPDATE evently.booking_seats SET active = false
         WHERE booking_id = :'b';
        SELECT evently.waitlist_seats_freed(:'e',
                   ARRAY(SELECT seat_id FROM evently.booking_seats
                          WHERE booking_id = :'b'));
    }, { b => $b, e => $ev });
}

my $overlap_sql = q{
    SELECT count(*) FROM (
        SELECT s FROM evently.waitlist_entries e, unnest(e.offer_seat_ids) s
         WHERE e.event_id = :'e' AND e.status = 'NOTIFIED'
         GROUP BY s HAVING count(*) > 1) d};
my $sold_offer_sql = q{
    SELECT count(*)
      FROM evently.waitlist_entries e, unnest(e.offer_seat_ids) s
     WHERE e.event_id = :'e' AND e.status = 'NOTIFIED'
       AND EXISTS (SELECT 1 FROM evently.booking_seats bs
                    WHERE bs.event_id = e.event_id AND bs.seat_id = s
                      AND bs.active)};

# child 0 watches the invariants; 1..6 are admins notifying on both
# instances; the others are the first waiting users: when notified, a
# third of them confirm, a third leave, a third let the offer expire
my $t0 = time;
$res = race(n => 18, timeout => 120, run => sub {
    my $i = shift;

    if ($i == 0) {
        my ($samples, $bad) = (0, 0);
        for (1 .. 200) {
            last if time - $t0 > 8;
            $samples++;
            $bad++ if psql($overlap_sql, { e => $ev })
                      + psql($sold_offer_sql, { e => $ev });
            sleep 0.03;
        }
        return { samples => $samples, bad => $bad };
    }

    if ($i <= 6) {
        my @codes;
        for (1 .. 4) {
            my $r = on($i, POST => "/api/v1/admin/waitlist/"
                                  . ($i % 2 ? 'notify' : 'cancellation')
                                  . "/$ev", token => $admin->{token},
                       body => { ($i % 2 ? 'available_tickets'
                                         : 'freed_tickets') => 3 });
            push @codes, $r->{status};
            sleep 0.3;
        }
        return join ',', @codes;
    }

    my $user = $u[$i - 7];
    for (1 .. 400) {
        my $st = on($i, GET => "/api/v1/waitlist/status/$ev",
                    token => $user->{token})->{json}{data};
        return 'ended:' . ($st ? $st->{status} : 'none')
            if !$st || $st->{status} ne 'ACTIVE'
                       && $st->{status} ne 'NOTIFIED';
        if ($st->{status} eq 'NOTIFIED' && $st->{offer}) {
            if ($i % 3 == 0) {
                my $r = on($i + 1, DELETE => "/api/v1/waitlist/$ev",
                           token => $user->{token});
                return "left:$r->{status}";
            }
            if ($i % 3 == 1) {
                my $r = on($i + 1, POST => '/api/v1/bookings/confirm',
                           token => $user->{token},
                           body => { hold_id => $st->{offer}{hold_id},
                                     event_id => $ev });
                return 'confirm:'
                       . ($r->{json}{errors}{code} // $r->{status});
            }
        }
        sleep 0.1;
    }
    return 'never served';
});

my $watch = $res->[0];
ok ref $watch && $watch->{samples} > 10,
   "the invariants were sampled ($watch->{samples} times)";
is $watch->{bad}, 0,
   'never a seat in two live offers, never a live offer of a sold seat';
is scalar(grep { !/^(200,)*200$/ } @$res[1 .. 6]), 0,
   'every admin notify/cancellation answered 200';
my @outcomes = @$res[7 .. 17];
note "users: @outcomes";
is scalar(grep { !/^(confirm:(201|HOLD_EXPIRED)|left:200|ended:EXPIRED)$/ }
           @outcomes), 0,
   'every waiting user was served: booked, left, or let the offer expire';
ok scalar(grep { /^confirm:201$/ } @outcomes) >= 1,
   'some offers were booked under contention';

# ---- the line drains by itself ---------------------------------------------

ok wait_until(sub {
       psql(q{SELECT count(*) FROM evently.waitlist_entries
               WHERE event_id = :'e' AND status IN ('ACTIVE', 'NOTIFIED')},
            { e => $ev }) == 0
   }, timeout => 60, interval => 0.2),
   'every entry was offered seats and used or lost them: nothing stalls';
note sprintf 'the line drained %.1f s after the contention began',
     time - $t0;

is psql(q{SELECT count(*) FROM (SELECT event_id, seat_id
            FROM evently.booking_seats WHERE active
           GROUP BY 1, 2 HAVING count(*) > 1) d}), 0, 'no seat sold twice';

# the history: two offers of one seat never overlap in time
is psql(q{
    SELECT count(*)
      FROM evently.waitlist_entries a, unnest(a.offer_seat_ids) sa,
           evently.waitlist_entries b, unnest(b.offer_seat_ids) sb
     WHERE a.event_id = :'e' AND b.event_id = :'e' AND a.id <> b.id
       AND sa = sb AND a.notified_at <= b.notified_at
       AND b.notified_at < CASE a.status
                             WHEN 'EXPIRED' THEN a.expires_at
                             WHEN 'CANCELLED' THEN a.left_at
                             ELSE 'infinity'::timestamptz END
}, { e => $ev }), 0, 'history: no seat was ever offered twice at once';

is psql(q{
    SELECT count(*) FROM evently.waitlist_entries e
     WHERE e.event_id = :'e' AND e.status = 'CONVERTED'
       AND NOT EXISTS (
           SELECT 1 FROM evently.bookings b
            WHERE b.user_id = e.user_id AND b.event_id = e.event_id
              AND b.hold_id = e.offer_hold_id AND b.status = 'CONFIRMED'
              AND b.total_seats = e.quantity)
}, { e => $ev }), 0, 'every conversion is a booking of the offered hold';
is psql(q{SELECT count(*) FROM evently.waitlist_entries
           WHERE event_id = :'e' AND status = 'CONVERTED'}, { e => $ev }),
   scalar(grep { /^confirm:201$/ } @outcomes),
   'as many conversions as confirmations';

ok wait_until(sub { redis('ZCARD', "evently:event_held:$ev") == 0 },
              timeout => 5), 'no offer hold left in Redis';
ok wait_until(sub {
       psql(q{SELECT count(*) FROM evently.waitlist_pending
               WHERE event_id = :'e'}, { e => $ev }) == 0
   }, timeout => 10), 'nothing left due';

for my $i (0, 1) {
    ok stop_nginx("wl-race$i"), "nginx $i stopped cleanly";
    no_alerts_ok($ng{$i});
}

done_testing;
