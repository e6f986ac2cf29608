# Waitlist offers: freed seats are HELD for the FIFO head whose quantity
# fits, as a real hold booked through the normal confirm; nobody else can
# take them; leaving passes them on at once; an offer expires and passes
# on with no request at all; a hold Redis refused is retried until it
# exists, or the offer is taken back when its seat was sold.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use Evently::Test;

my $port = $ENV{TEST_NGINX_PORT} // 1984;

my $tpl = '00000000-0000-4000-8000-00000000b201';
my $floor = '00000000-0000-4000-8000-00000000b301';    # A1..A4, x1.0
my $vip = '00000000-0000-4000-8000-00000000b302';      # B1..B2, x2.0
my $ev = '00000000-0000-4000-8000-00000000b401';
my $ev2 = '00000000-0000-4000-8000-00000000b402';
my $ev3 = '00000000-0000-4000-8000-00000000b403';

reset_db();
seed();

psql(q{
    INSERT INTO evently.venue_templates (id, name, default_rows,
                                         default_seats_per_row, layout_type)
    VALUES (:'tpl', 'Offer Room', 2, 4, 'GENERAL');
    INSERT INTO evently.venue_sections (id, template_id, name, row_start,
                                        row_end, seats_per_row, total_seats)
    VALUES (:'floor', :'tpl', 'Floor', 'A', 'A', 4, 4),
           (:'vip', :'tpl', 'VIP', 'B', 'B', 2, 2);
    SELECT evently.generate_seats(:'floor');
    SELECT evently.generate_seats(:'vip');
    INSERT INTO evently.events (id, name, venue, venue_template_id,
                                date_time, base_price, status)
    SELECT e, 'Offer Show ' || n, 'Offer Room', :'tpl',
           now() + interval '20 days', 100, 'published'
      FROM unnest(ARRAY[:'ev', :'ev2', :'ev3']::uuid[]) WITH ORDINALITY
           AS x (e, n);
    INSERT INTO evently.event_section_pricing (event_id, section_id,
                                               price_multiplier)
    SELECT e, :'vip', 2.0
      FROM unnest(ARRAY[:'ev', :'ev2', :'ev3']::uuid[]) AS e;
    INSERT INTO evently.cancellation_policies (event_id, allow_cancellation,
                                               fee_type, fee_amount,
                                               refund_processing_days)
    VALUES (:'ev', true, 'NONE', 0, 1);
}, { tpl => $tpl, floor => $floor, vip => $vip, ev => $ev, ev2 => $ev2,
     ev3 => $ev3 });

my %seat = map { $_->[1] => $_->[0] } @{ psql_rows(q{
    SELECT s.id, s.seat_number FROM evently.seats s
      JOIN evently.venue_sections sec ON sec.id = s.section_id
     WHERE sec.template_id = :'tpl'}, { tpl => $tpl }) };
my %number = reverse %seat;

my $buyer = create_user(email => 'offer-buyer@example.com');
my $outsider = create_user(email => 'offer-outsider@example.com');
my $admin = create_user(email => 'offer-admin@example.com', role => 'ADMIN');
my %w = map { $_ => create_user(email => "offer-$_\@example.com") }
        qw(w1 w2 w3 w4 w5 w6 x1 x2 x3 p1 p2 y1 y2);

sub call { my ($m, $p, %o) = @_; return api($m, $p, port => $port, %o) }

sub err_is {
    my ($res, $status, $code, $name) = @_;
    is $res->{status}, $status, "$name: status $status";
    is $res->{json}{errors}{code}, $code, "$name: code $code";
}

sub hold {
    my ($user, $event, @seats) = @_;
    return call(POST => '/api/v1/seats/hold', token => $user->{token},
                body => { event_id => $event,
                          seat_ids => [ map { $seat{$_} } @seats ] });
}

sub book {
    my ($user, $event, @seats) = @_;
    my $res = hold($user, $event, @seats);
    die "hold of @seats failed: $res->{body}\n" if $res->{status} != 201;
    $res = call(POST => '/api/v1/bookings/confirm', token => $user->{token},
                body => { hold_id => $res->{json}{data}{hold_id},
                          event_id => $event });
    die "confirm of @seats failed: $res->{body}\n" if $res->{status} != 201;
    return $res->{json}{data}{booking_id};
}

sub join_wl {
    my ($user, $event, $quantity, %more) = @_;
    return call(POST => '/api/v1/waitlist', token => $user->{token},
                body => { event_id => $event, quantity => $quantity,
                          %more });
}

sub entry {
    my ($user, $event) = @_;
    my $res = call(GET => "/api/v1/waitlist/status/$event",
                   token => $user->{token});
    return $res->{json}{data};
}

sub db_entry {
    my ($user, $event) = @_;
    my $rows = psql_rows(q{
        SELECT status, offer_hold_id, array_to_string(offer_seat_ids, ','),
               offer_placed_at IS NOT NULL,
               extract(epoch FROM expires_at - notified_at)::int
          FROM evently.waitlist_entries
         WHERE user_id = :'u' AND event_id = :'e'
         ORDER BY seq DESC LIMIT 1}, { u => $user->{id}, e => $event });
    my $r = $rows->[0] or return {};
    return { status => $r->[0], hold => $r->[1],
             seats => [ sort map { $number{$_} } split /,/, $r->[2] // '' ],
             placed => $r->[3] eq 't', window => $r->[4] };
}

# frees a booking's seats as a cancellation does, in SQL; $hook: also
# tell the waitlist (evently.waitlist_seats_freed), as the real one does;
# unless $keep, the seats' "booked:<booking>" markers go from Redis, as
# the real one's second step does
sub sql_cancel {
    my ($booking, $hook, $keep) = @_;
    if (!$keep) {
        for my $s (@{ psql_rows(q{SELECT event_id, seat_id
                                    FROM evently.booking_seats
                                   WHERE booking_id = :'b'},
                                { b => $booking }) }) {
            redis('DEL', "evently:seat:$s->[0]:$s->[1]");
        }
    }
    psql(q{
        UPDATE evently.bookings
           SET status = 'CANCELLED', cancelled_at = now(),
               version = version + 1, updated_at = now()
         WHERE id = :'b';
        UPDATE evently.booking_seats SET active = false, updated_at = now()
         WHERE booking_id = :'b';
    }, { b => $booking });
    psql(q{
        SELECT evently.waitlist_seats_freed(b.event_id, array_agg(bs.seat_id))
          FROM evently.bookings b
          JOIN evently.booking_seats bs ON bs.booking_id = b.id
         WHERE b.id = :'b' GROUP BY b.event_id}, { b => $booking })
        if $hook;
}

sub redis_hold_user {
    my $hold = shift;
    return redis('HGET', "evently:hold:$hold", 'user_id');
}

# ===== A: offers, with a 60 s window ========================================

my $ng_offers = start_nginx(name => 'offers', port => $port,
            http_config => http_config(
                extra => 'evently_waitlist_offer_ttl 60s;'),
            main_config => main_config(), config => server_config());

my $bx = book($buyer, $ev, qw(A1 A2 A3 A4));
my $by = book($buyer, $ev, 'B1');
book($buyer, $ev, 'B2');
pass('the event is sold out (three bookings)');

# the events of parts B and C sell out too
my $bq = book($buyer, $ev2, qw(A1 A2));
book($buyer, $ev2, qw(A3 A4 B1 B2));
my %k = (k1 => book($buyer, $ev3, 'A1'), k2 => book($buyer, $ev3, 'A2'),
         k3 => book($buyer, $ev3, 'B1'),
         k4 => book($buyer, $ev3, qw(A3 A4 B2)));

is join_wl($w{w1}, $ev, 1)->{json}{data}{position}, 1, 'w1 waits first';
is join_wl($w{w2}, $ev, 2)->{json}{data}{position}, 2, 'w2 (2 seats) next';
is join_wl($w{w3}, $ev, 1)->{json}{data}{position}, 3, 'w3 next';
is join_wl($w{w4}, $ev, 3)->{json}{data}{position}, 4, 'w4 (3 seats) last';

# a cancellation through the real API frees B1: it is the line's at once
my $res = call(POST => "/api/v1/bookings/$by/cancel", token => $buyer->{token},
               body => { reason => 'cannot come' });
is $res->{status}, 201, 'a booking of B1 is cancelled';
$res = hold($outsider, $ev, 'B1');
err_is($res, 409, 'SEATS_UNAVAILABLE',
       'the freed seat cannot be grabbed before the line is served');

ok wait_until(sub { db_entry($w{w1}, $ev)->{placed} }, timeout => 5),
   'the sweeper offers it to the head of the line, with its hold';
my $o1 = entry($w{w1}, $ev);
is $o1->{status}, 'NOTIFIED', 'w1: NOTIFIED';
ok !defined $o1->{position}, 'w1: no position while notified';
like $o1->{notified_at}, qr/Z$/, 'w1: notified_at';
like $o1->{expires_at}, qr/Z$/, 'w1: expires_at';
my $offer = $o1->{offer};
like $offer->{hold_id}, qr/^[0-9a-f-]{36}$/, 'w1: the offered hold id';
is_deeply $offer->{seat_ids}, [ $seat{B1} ], 'w1: the freed seat';
is $offer->{seats}[0]{seat_number}, 'B1', 'w1: seat number';
is $offer->{seats}[0]{price}, 200, 'w1: seat price (VIP x2.0)';
is $offer->{total_price}, 200, 'w1: total price';
is $offer->{expires_at}, $o1->{expires_at}, 'w1: the offer\'s expiry';
ok $offer->{ttl_seconds} > 50 && $offer->{ttl_seconds} <= 60,
   'w1: a 60 s window';
is db_entry($w{w1}, $ev)->{window}, 60, 'the window is the configured one';

$res = call(GET => "/api/v1/seats/hold/$offer->{hold_id}/validate",
            token => $w{w1}{token});
is $res->{status}, 200, 'the offer is a real hold in Redis';
is $res->{json}{data}{details}{user_id}, $w{w1}{id}, 'held for w1';
is_deeply $res->{json}{data}{details}{seat_ids}, [ $seat{B1} ],
    'holding the freed seat';
$res = call(GET => "/api/v1/users/$w{w1}{id}/holds", token => $w{w1}{token});
is_deeply [ map { $_->{hold_id} } @{ $res->{json}{data} } ],
          [ $offer->{hold_id} ], 'w1 sees it among their holds';
err_is(call(GET => "/api/v1/seats/hold/$offer->{hold_id}/validate",
            token => $w{w2}{token}), 403, 'FORBIDDEN',
       'nobody else may read it');

$res = hold($outsider, $ev, 'B1');
err_is($res, 409, 'SEATS_UNAVAILABLE', 'another user cannot hold it');
is_deeply $res->{json}{errors}{seat_ids}, [ $seat{B1} ],
    'refused: the offered seat';
err_is(hold($w{w2}, $ev, 'B1'), 409, 'SEATS_UNAVAILABLE',
       'nor can the next in line');
$res = call(POST => '/api/v1/seats/availability', token => $outsider->{token},
            body => { event_id => $ev, seat_ids => [ $seat{B1} ] });
is $res->{json}{data}{seats}[0]{status}, 'HELD', 'the seat shows HELD';
is entry($w{w2}, $ev)->{position}, 1, 'w2 moves up to position 1';

# w1 books it through the normal confirm, with the offered hold
$res = call(POST => '/api/v1/bookings/confirm', token => $w{w1}{token},
            body => { hold_id => $offer->{hold_id}, event_id => $ev,
                      payment_method => 'upi' });
is $res->{status}, 201, 'confirm with the offered hold: 201';
is_deeply [ map { $_->{seat_number} } @{ $res->{json}{data}{seats} } ],
          [ 'B1' ], 'booked: B1';
is entry($w{w1}, $ev)->{status}, 'CONVERTED', 'the entry is CONVERTED';
ok !defined entry($w{w1}, $ev)->{offer}, 'no offer left';
is call(GET => "/api/v1/seats/hold/$offer->{hold_id}/validate",
        token => $w{w1}{token})->{status}, 404, 'the hold is consumed';
is psql(q{SELECT string_agg(event_type, ',' ORDER BY id)
            FROM evently.outbox
           WHERE topic = 'waitlist' AND payload->>'user_id' = :'u'},
        { u => $w{w1}{id} }),
   'waitlist.offered,waitlist.converted',
   'outbox: waitlist.offered then waitlist.converted';
is psql(q{SELECT payload->'data'->>'to' FROM evently.outbox
           WHERE topic = 'notifications'
             AND event_type = 'email.waitlist_offered'
             AND payload->>'user_id' = :'u'}, { u => $w{w1}{id} }),
   $w{w1}{email}, 'notifications: an e-mail for the offer';

# admin notify with nothing free: nothing to offer
$res = call(POST => "/api/v1/admin/waitlist/notify/$ev",
            token => $admin->{token}, body => { available_tickets => 2 });
is $res->{status}, 200, 'notify, nothing free: 200';
is $res->{json}{data}{offered_seats}, 0, 'notify, nothing free: 0 seats';
is_deeply $res->{json}{data}{offers}, [], 'notify, nothing free: no offer';
is $res->{json}{data}{waiting}, 3, 'notify, nothing free: 3 waiting';

# four seats are freed without telling the waitlist; the admin offers 3
sql_cancel($bx, 0);
$res = call(POST => "/api/v1/admin/waitlist/notify/$ev",
            token => $admin->{token}, body => { available_tickets => 3 });
is $res->{status}, 200, 'notify 3: 200';
my $n = $res->{json}{data};
is $n->{event_id}, $ev, 'notify: event_id';
is $n->{available_tickets}, 3, 'notify: available_tickets';
is $n->{offered_seats}, 3, 'notify: 3 seats offered';
is $n->{notified}, 2, 'notify: 2 people notified';
is_deeply [ map { $_->{user_id} } @{ $n->{offers} } ],
          [ $w{w2}{id}, $w{w3}{id} ], 'notify: w2 then w3, FIFO';
is_deeply [ map { [ sort map { $number{$_} } @{ $_->{seat_ids} } ] }
            @{ $n->{offers} } ],
          [ [ 'A1', 'A2' ], [ 'A3' ] ], 'notify: seats in layout order';
is $n->{waiting}, 1, 'notify: w4 (3 seats) still waits';
for my $o (@{ $n->{offers} }) {
    is redis_hold_user($o->{hold_id}), $o->{user_id},
       "notify: the hold of $o->{hold_id} exists in Redis";
}
ok db_entry($w{w2}, $ev)->{placed} && db_entry($w{w3}, $ev)->{placed},
   'notify: the holds are reported to PostgreSQL before the answer';
is entry($w{w4}, $ev)->{position}, 1, 'w4 is first in line now';

# A4 is free and not offered: anybody may take it
$res = hold($outsider, $ev, 'A4');
is $res->{status}, 201, 'a free seat not offered: anybody may hold it';
call(DELETE => "/api/v1/seats/hold/$res->{json}{data}{hold_id}",
     token => $outsider->{token});

# a quantity larger than the free seats waits; smaller ones behind it
# are not blocked by it
$res = call(POST => "/api/v1/admin/waitlist/cancellation/$ev",
            token => $admin->{token}, body => { freed_tickets => 5 });
is $res->{status}, 200, 'cancellation: 200';
is $res->{json}{data}{freed_tickets}, 5, 'cancellation: freed_tickets';
is $res->{json}{data}{offered_seats}, 0,
    'cancellation: one seat free, w4 wants 3: nothing offered';
is entry($w{w4}, $ev)->{status}, 'ACTIVE', 'w4 waits';
# (Redis forgets its scripts here: the offer script is loaded again for
# w5, the withdrawal script only when w2 leaves below, where it must still
# run before the offer that takes w2's seats)
is redis('SCRIPT', 'FLUSH'), 'OK', 'SCRIPT FLUSH';
$res = join_wl($w{w5}, $ev, 1);
is $res->{json}{data}{position}, 2, 'w5 (1 seat) joins behind w4';
ok wait_until(sub { db_entry($w{w5}, $ev)->{placed} }, timeout => 3,
              interval => 0.05),
   'w5 gets the free seat within moments: the join kicked a round';
my $o5 = entry($w{w5}, $ev);
is_deeply $o5->{offer}{seat_ids}, [ $seat{A4} ], 'w5: A4';
is redis_hold_user($o5->{offer}{hold_id}), $w{w5}{id}, 'w5: its hold exists';
is entry($w{w4}, $ev)->{position}, 1, 'w4 keeps its place';
is join_wl($w{w6}, $ev, 2)->{json}{data}{position}, 2,
   'w6 (2 seats) waits behind w4';

# w2 leaves while notified: its hold goes, its seats pass on at once
my $w2_hold = entry($w{w2}, $ev)->{offer}{hold_id};
$res = call(DELETE => "/api/v1/waitlist/$ev", token => $w{w2}{token});
is $res->{status}, 200, 'w2 leaves while notified';
is $res->{json}{data}{status}, 'CANCELLED', 'w2: CANCELLED';
is call(GET => "/api/v1/seats/hold/$w2_hold/validate",
        token => $w{w2}{token})->{status}, 404, 'w2\'s hold is gone';
my $o6 = entry($w{w6}, $ev);
is $o6->{status}, 'NOTIFIED',
   'w6 (2 seats) is notified in the same request (w4 wants 3)';
is_deeply [ sort map { $number{$_} } @{ $o6->{offer}{seat_ids} } ],
          [ 'A1', 'A2' ], 'w6 gets w2\'s seats';
isnt $o6->{offer}{hold_id}, $w2_hold, 'w6: a new hold id';
is redis_hold_user($o6->{offer}{hold_id}), $w{w6}{id},
   'w6: the hold exists in Redis';
is redis('GET', "evently:seat:$ev:$seat{A1}"), $o6->{offer}{hold_id},
   'w6: the seat key names the new hold';
is entry($w{w4}, $ev)->{position}, 1, 'w4 still first';

ok stop_nginx('offers'), 'nginx (offers) stopped cleanly';
no_alerts_ok($ng_offers);

# ===== B: expiry with nobody calling, a 2 s window ==========================

my $ng_expiry = start_nginx(name => 'expiry', port => $port,
            http_config => http_config(
                extra => 'evently_waitlist_offer_ttl 2s;'),
            main_config => main_config(), config => server_config());

join_wl($w{x1}, $ev2, 2);
join_wl($w{x2}, $ev2, 2);
join_wl($w{x3}, $ev2, 1);
# A1, A2 freed and the waitlist told, as 70_cancellations.sql does; the
# seats' "booked:" markers are left in Redis (as when the cancellation's
# Redis step has not run yet): they must not refuse the offer
sql_cancel($bq, 1, 1);

ok wait_until(sub { db_entry($w{x1}, $ev2)->{placed} }, timeout => 5),
   'x1 is offered the freed seats';
my $x1 = db_entry($w{x1}, $ev2);
is_deeply $x1->{seats}, [ 'A1', 'A2' ], 'x1: A1 and A2';
is $x1->{window}, 2, 'x1: a 2 s window';
is redis_hold_user($x1->{hold}), $w{x1}{id}, 'x1: hold in Redis';

# from here on, nothing but the database and Redis is looked at
my $t0 = time;
ok wait_until(sub { db_entry($w{x2}, $ev2)->{placed} },
              timeout => 5, interval => 0.05),
   'with no request at all, the offer expires and passes to x2';
note sprintf 'passed on %.1f s after x1 was offered', time - $t0;
is db_entry($w{x1}, $ev2)->{status}, 'EXPIRED', 'x1: EXPIRED';
my $x2 = db_entry($w{x2}, $ev2);
is $x2->{status}, 'NOTIFIED', 'x2: NOTIFIED';
isnt $x2->{hold}, $x1->{hold}, 'x2: a new hold';
is_deeply $x2->{seats}, [ 'A1', 'A2' ], 'x2: the same seats';
is redis_hold_user($x2->{hold}), $w{x2}{id}, 'x2: its hold is in Redis';
is redis('EXISTS', "evently:hold:$x1->{hold}"), 0, 'x1: its hold is gone';
is redis('GET', "evently:seat:$ev2:$seat{A2}"), $x2->{hold},
   'the seat keys name x2\'s hold';

ok wait_until(sub { db_entry($w{x3}, $ev2)->{placed} },
              timeout => 5, interval => 0.05),
   'x2\'s offer expires too and x3 (1 seat) is served';
is_deeply db_entry($w{x3}, $ev2)->{seats}, [ 'A1' ], 'x3: one seat';
ok wait_until(sub { db_entry($w{x3}, $ev2)->{status} eq 'EXPIRED' },
              timeout => 5, interval => 0.05), 'x3\'s offer expires';
ok wait_until(sub {
       psql(q{SELECT count(*) FROM evently.waitlist_pending
               WHERE event_id = :'e'}, { e => $ev2 }) == 0
   }, timeout => 5), 'the line is empty: nothing more is due';
is psql(q{SELECT string_agg(status, ',' ORDER BY seq)
            FROM evently.waitlist_entries WHERE event_id = :'e'},
        { e => $ev2 }), 'EXPIRED,EXPIRED,EXPIRED', 'every offer expired';
is psql(q{SELECT count(*) FROM evently.outbox
           WHERE topic = 'waitlist' AND event_type = 'waitlist.expired'
             AND event_key = :'e'}, { e => $ev2 }), 3,
   'outbox: three waitlist.expired';
is psql(q{SELECT count(*) FROM evently.outbox
           WHERE topic = 'notifications'
             AND event_type = 'email.waitlist_expired'
             AND event_key = :'e'}, { e => $ev2 }), 3,
   'notifications: three expiry e-mails';
is redis('ZCARD', "evently:event_held:$ev2") + 0, 0,
   'no seat of the event is held any more';
$res = hold($outsider, $ev2, 'A1', 'A2');
is $res->{status}, 201, 'nobody waits: the seats are anybody\'s again';

ok stop_nginx('expiry'), 'nginx (expiry) stopped cleanly';
no_alerts_ok($ng_expiry);

# ===== C: preferences, a hold Redis refused, an offered seat sold ===========

my $ng_retry = start_nginx(name => 'retry', port => $port,
            http_config => http_config(
                extra => 'evently_waitlist_offer_ttl 60s;'),
            main_config => main_config(), config => server_config());

join_wl($w{p1}, $ev3, 1, preferences => { section_preference => 'vip' });
join_wl($w{p2}, $ev3, 1);
sql_cancel($k{k2}, 0);
sql_cancel($k{k3}, 0);
$res = call(POST => "/api/v1/admin/waitlist/notify/$ev3",
            token => $admin->{token}, body => { available_tickets => 2 });
is $res->{json}{data}{offered_seats}, 2, 'A2 and B1 offered';
is_deeply db_entry($w{p1}, $ev3)->{seats}, [ 'B1' ],
    'p1 prefers VIP (any case): B1, though A2 comes first in the layout';
is_deeply db_entry($w{p2}, $ev3)->{seats}, [ 'A2' ], 'p2: A2';

# y1's offer was decided while the outsider took A1 (the race the hold
# check cannot see): Redis refuses the hold, PostgreSQL keeps the offer
join_wl($w{y1}, $ev3, 1);
sql_cancel($k{k1}, 0);
$res = hold($outsider, $ev3, 'A1');
is $res->{status}, 201, 'the outsider holds A1';
my $out_hold = $res->{json}{data}{hold_id};
psql(q{
    UPDATE evently.waitlist_entries
       SET status = 'NOTIFIED', offer_hold_id = gen_random_uuid(),
           offer_seat_ids = ARRAY[:'s']::uuid[], notified_at = now(),
           expires_at = now() + interval '60 seconds'
     WHERE user_id = :'u' AND event_id = :'e';
    INSERT INTO evently.waitlist_pending (event_id) VALUES (:'e')
    ON CONFLICT (event_id) DO UPDATE SET due_at = now();
}, { s => $seat{A1}, u => $w{y1}{id}, e => $ev3 });
my $y1 = db_entry($w{y1}, $ev3);
sleep 2.5;
ok !db_entry($w{y1}, $ev3)->{placed}, 'Redis refused: the offer waits';
is db_entry($w{y1}, $ev3)->{status}, 'NOTIFIED', 'y1 stays NOTIFIED';
is redis('EXISTS', "evently:hold:$y1->{hold}"), 0, 'no hold yet';
err_is(hold($w{p2}, $ev3, 'A1'), 409, 'SEATS_UNAVAILABLE',
       'A1 stays refused to others meanwhile');
call(DELETE => "/api/v1/seats/hold/$out_hold", token => $outsider->{token});
ok wait_until(sub { db_entry($w{y1}, $ev3)->{placed} }, timeout => 5),
   'the outsider lets go: the sweeper creates y1\'s hold';
is redis_hold_user($y1->{hold}), $w{y1}{id}, 'y1: the hold is in Redis';
$res = call(POST => '/api/v1/bookings/confirm', token => $w{y1}{token},
            body => { hold_id => $y1->{hold}, event_id => $ev3 });
is $res->{status}, 201, 'y1 books with it';
is db_entry($w{y1}, $ev3)->{status}, 'CONVERTED', 'y1: CONVERTED';

# y2's offer of A3 is refused by Redis and the outsider buys A3: the
# offer is taken back, y2 keeps its place and gets another seat
join_wl($w{y2}, $ev3, 1);
sql_cancel($k{k4}, 0);
$res = hold($outsider, $ev3, 'A3');
is $res->{status}, 201, 'the outsider holds A3';
$out_hold = $res->{json}{data}{hold_id};
psql(q{
    UPDATE evently.waitlist_entries
       SET status = 'NOTIFIED', offer_hold_id = gen_random_uuid(),
           offer_seat_ids = ARRAY[:'s']::uuid[], notified_at = now(),
           expires_at = now() + interval '60 seconds'
     WHERE user_id = :'u' AND event_id = :'e';
    INSERT INTO evently.waitlist_pending (event_id) VALUES (:'e')
    ON CONFLICT (event_id) DO UPDATE SET due_at = now();
}, { s => $seat{A3}, u => $w{y2}{id}, e => $ev3 });
my $y2 = db_entry($w{y2}, $ev3);
$res = call(POST => '/api/v1/bookings/confirm', token => $outsider->{token},
            body => { hold_id => $out_hold, event_id => $ev3 });
is $res->{status}, 201, 'the outsider buys A3';
ok wait_until(sub {
       my $e = db_entry($w{y2}, $ev3);
       $e->{placed} && $e->{hold} ne $y2->{hold}
   }, timeout => 5), 'y2\'s offer is taken back and made again';
my $y2b = db_entry($w{y2}, $ev3);
is scalar @{ $y2b->{seats} }, 1, 'y2: one seat';
ok $y2b->{seats}[0] ne 'A3', 'y2: not the sold seat';
is redis_hold_user($y2b->{hold}), $w{y2}{id}, 'y2: the new hold exists';

# whatever happened: no seat sold twice, none in two live offers, none
# both offered and sold
is psql(q{SELECT count(*) FROM (SELECT event_id, seat_id
            FROM evently.booking_seats WHERE active
           GROUP BY 1, 2 HAVING count(*) > 1) d}), 0, 'no seat sold twice';
is psql(q{SELECT count(*) FROM (SELECT e.event_id, s
            FROM evently.waitlist_entries e, unnest(e.offer_seat_ids) s
           WHERE e.status = 'NOTIFIED'
           GROUP BY 1, 2 HAVING count(*) > 1) d}), 0,
   'no seat in two live offers';
is psql(q{SELECT count(*)
            FROM evently.waitlist_entries e, unnest(e.offer_seat_ids) s
           WHERE e.status = 'NOTIFIED'
             AND EXISTS (SELECT 1 FROM evently.booking_seats bs
                          WHERE bs.event_id = e.event_id
                            AND bs.seat_id = s AND bs.active)}), 0,
   'no live offer of a sold seat';

ok stop_nginx('retry'), 'nginx (retry) stopped cleanly';
no_alerts_ok($ng_retry);

done_testing;
