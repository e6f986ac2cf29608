# Bookings: POST /bookings/confirm (one transaction; idempotent; every
# failure mode of issue 5), GET /bookings/{id}, GET /users/bookings, the
# admin booking lists.

use strict;
use warnings;

use Test::More;
use Evently::Test;

my $port = $ENV{TEST_NGINX_PORT} // 1984;
my $port2 = $port + 100;
my $ev = '00000000-0000-4000-8000-000000000401';       # Conference Hall
my $ev2 = '00000000-0000-4000-8000-000000000403';      # same venue

reset_db();
seed();

my $u1 = create_user(email => 'buyer1@example.com');
my $u2 = create_user(email => 'buyer2@example.com');
my $u3 = create_user(email => 'buyer3@example.com');
my $admin = create_user(email => 'admin2@example.com', role => 'ADMIN');

my %seat = map { $_->[1] => $_->[0] } @{ psql_rows(q{
    SELECT s.id, s.seat_number FROM evently.seats s
      JOIN evently.venue_sections sec ON sec.id = s.section_id
     WHERE sec.template_id = '00000000-0000-4000-8000-000000000202'}) };

start_nginx(name => 'bookings', port => $port,
            http_config => http_config(), main_config => main_config(),
            config => server_config());

sub call { my ($m, $p, %o) = @_; return api($m, $p, port => $port, %o) }

sub hold {
    my ($user, $event, @seats) = @_;
    my $res = call(POST => '/api/v1/seats/hold', token => $user->{token},
                   body => { event_id => $event,
                             seat_ids => [ map { $seat{$_} } @seats ] });
    return $res->{status} == 201 ? $res->{json}{data}{hold_id} : undef;
}

sub confirm {
    my ($user, $hold, $event, %o) = @_;
    return call(POST => '/api/v1/bookings/confirm', token => $user->{token},
                body => { hold_id => $hold, event_id => $event // $ev,
                          (exists $o{method}
                           ? (payment_method => $o{method}) : ()) },
                headers => $o{headers} // {}, port => $o{port} // $port);
}

sub err_is {
    my ($res, $status, $code, $name) = @_;
    is $res->{status}, $status, "$name: status $status";
    is $res->{json}{errors}{code}, $code, "$name: code $code";
}

# ---- a confirmation -----------------------------------------------------------

my $hold = hold($u1, $ev, 'A1', 'B1');
ok $hold, 'held A1 and B1';

my $res = confirm($u1, $hold, $ev, method => 'card');
is $res->{status}, 201, 'confirm: 201';
my $bc = $res->{json}{data};
like $bc->{booking_ref}, qr/^EVT-\d{8}-[A-Z0-9]{6}$/, 'confirm: booking_ref';
is $bc->{status}, 'CONFIRMED', 'confirm: CONFIRMED';
is $bc->{total_seats}, 2, 'confirm: total_seats';
is $bc->{total_price}, 4500, 'confirm: total_price';
like $res->{body}, qr/"total_price" ?: ?4500\.00/, 'confirm: exact money';
is $bc->{version}, 1, 'confirm: version 1';
is $bc->{payment}{status}, 'COMPLETED', 'confirm: payment COMPLETED';
is $bc->{payment}{amount}, 4500, 'confirm: payment amount';
is $bc->{payment}{payment_method}, 'card', 'confirm: payment method';
like $bc->{payment}{transaction_id}, qr/^TXN-/, 'confirm: transaction id';
is_deeply [ sort map { $_->{seat_number} } @{ $bc->{seats} } ],
          [ 'A1', 'B1' ], 'confirm: the seats';
my ($a1) = grep { $_->{seat_number} eq 'A1' } @{ $bc->{seats} };
is $a1->{section_name}, 'VIP', 'confirm: section name';
is $a1->{price}, 3000, 'confirm: seat price';

is psql(q{SELECT count(*) FROM evently.booking_seats
           WHERE booking_id = :'b' AND active}, { b => $bc->{booking_id} }),
   2, 'confirm: two active booking seats';
is psql(q{SELECT count(*) FROM evently.payments
           WHERE booking_id = :'b' AND status = 'COMPLETED'},
        { b => $bc->{booking_id} }), 1,
   'confirm: the payment is in the same transaction';
is psql(q{SELECT string_agg(event_type, ',' ORDER BY id)
            FROM evently.outbox WHERE payload->>'booking_id' = :'b'},
        { b => $bc->{booking_id} }),
   'booking.confirmed,email.booking_confirmed',
   'confirm: domain events in the outbox';

$res = call(GET => "/api/v1/seats/hold/$hold/validate", token => $u1->{token});
is $res->{status}, 404, 'confirm consumes the hold';
$res = call(GET => "/api/v1/users/$u1->{id}/holds", token => $u1->{token});
is_deeply $res->{json}{data}, [], 'confirm: no live hold left';
like redis('GET', "evently:seat:$ev:$seat{A1}"), qr/^booked:/,
    'confirm: the seat key says booked for a while';

# ---- the same hold again: the same booking, never a second one -----------------

$res = confirm($u1, $hold);
is $res->{status}, 200, 'confirm again: 200';
is $res->{json}{data}{booking_id}, $bc->{booking_id},
    'confirm again: the same booking';
is psql(q{SELECT count(*) FROM evently.bookings WHERE hold_id = :'h'},
        { h => $hold }), 1, 'confirm again: still one booking';
$res = confirm($u2, $hold);
err_is($res, 403, 'FORBIDDEN', "somebody else confirming a booked hold");

# Idempotency-Key: a retry replays the stored answer byte for byte
$hold = hold($u1, $ev, 'A2');
$res = confirm($u1, $hold, $ev, headers => { 'Idempotency-Key' => 'k-1' });
is $res->{status}, 201, 'keyed confirm: 201';
my $keyed = $res;
$res = confirm($u1, $hold, $ev, headers => { 'Idempotency-Key' => 'k-1' });
is $res->{status}, 201, 'keyed retry: the same status';
is $res->{body}, $keyed->{body}, 'keyed retry: the same body';
is $res->{headers}{'idempotent-replayed'}, 'true',
    'keyed retry: Idempotent-Replayed';
$res = confirm($u1, $hold, $ev2, headers => { 'Idempotency-Key' => 'k-1' });
err_is($res, 422, 'IDEMPOTENCY_KEY_REUSED', 'same key, another request');
is psql(q{SELECT count(*) FROM evently.bookings WHERE hold_id = :'h'},
        { h => $hold }), 1, 'keyed confirm: one booking';
$res = confirm($u1, $hold, $ev, headers => { 'Idempotency-Key' => 'k 2' });
err_is($res, 400, 'INVALID_IDEMPOTENCY_KEY', 'a key with a space');

# ---- refusals --------------------------------------------------------------------

$hold = hold($u2, $ev, 'B2');
$res = confirm($u1, $hold);
err_is($res, 403, 'FORBIDDEN', "confirming another user's hold");
$res = confirm($u2, $hold, $ev2);
err_is($res, 400, 'HOLD_EVENT_MISMATCH', 'hold of another event');
$res = confirm($u2, '00000000-0000-4000-8000-00000000beef');
err_is($res, 409, 'HOLD_EXPIRED', 'unknown hold');
$res = confirm($u2, $hold, $ev, method => 'cash');
err_is($res, 400, 'VALIDATION_FAILED', 'unknown payment method');
ok $res->{json}{errors}{fields}{payment_method},
    'unknown payment method: field';
$res = call(POST => '/api/v1/bookings/confirm', token => $u2->{token},
            body => { event_id => $ev });
err_is($res, 400, 'VALIDATION_FAILED', 'no hold_id');
$res = call(POST => '/api/v1/bookings/confirm', token => $u2->{token},
            body => { hold_id => 'x', event_id => $ev });
err_is($res, 400, 'VALIDATION_FAILED', 'malformed hold_id');
$res = call(POST => '/api/v1/bookings/confirm', token => $u2->{token},
            body => '[1]');
err_is($res, 400, 'INVALID_JSON', 'a JSON array');
$res = call(POST => '/api/v1/bookings/confirm',
            body => { hold_id => $hold, event_id => $ev });
err_is($res, 401, 'AUTH_REQUIRED', 'no token');

$res = confirm($u2, $hold, $ev, method => 'credit_card');
is $res->{status}, 201, 'the original client\'s credit_card still works';

# Redis flushed between hold and confirm: never a booking without a hold
$hold = hold($u2, $ev, 'B3');
ok $hold, 'held B3';
redis('FLUSHDB');
$res = confirm($u2, $hold);
err_is($res, 409, 'HOLD_EXPIRED', 'Redis flushed before the confirm');
is psql(q{SELECT count(*) FROM evently.booking_seats
           WHERE seat_id = :'s' AND event_id = :'e' AND active},
        { s => $seat{B3}, e => $ev }), 0, 'Redis flushed: nothing booked';

# a booked seat stays sold even when Redis forgot everything
$res = call(POST => '/api/v1/seats/hold', token => $u3->{token},
            body => { event_id => $ev, seat_ids => [ $seat{A1} ] });
err_is($res, 409, 'SEATS_UNAVAILABLE',
       'a booked seat cannot be held after a Redis flush');

# a race lost at the database: another booking took the seat between the
# hold and the confirm (as if another instance won it): a clean 409
$hold = hold($u3, $ev, 'B4', 'B5');
book_seat($ev, $seat{B5}, $u2->{id}, price => '1500.00');
$res = confirm($u3, $hold);
err_is($res, 409, 'SEATS_UNAVAILABLE', 'race lost at the database');
is_deeply $res->{json}{errors}{seat_ids}, [ $seat{B5} ],
    'race lost: the seat that was taken';
unlike $res->{body}, qr/duplicate|constraint|violat/i,
    'race lost: no database text';
is psql(q{SELECT count(*) FROM evently.bookings WHERE hold_id = :'h'},
        { h => $hold }), 0, 'race lost: nothing written';

# a seat blocked after it was held is not sold
$hold = hold($u3, $ev, 'B6');
psql(q{UPDATE evently.seats SET status = 'BLOCKED' WHERE id = :'s'},
     { s => $seat{B6} });
$res = confirm($u3, $hold);
err_is($res, 409, 'SEATS_UNAVAILABLE', 'seat blocked after the hold');
psql(q{UPDATE evently.seats SET status = 'AVAILABLE' WHERE id = :'s'},
     { s => $seat{B6} });

# the event withdrawn from sale after the hold
$hold = hold($u3, $ev2, 'B7');
psql(q{UPDATE evently.events SET status = 'cancelled', cancelled_at = now()
        WHERE id = :'e'}, { e => $ev2 });
$res = confirm($u3, $hold, $ev2);
err_is($res, 409, 'EVENT_NOT_ON_SALE', 'event cancelled after the hold');
psql(q{UPDATE evently.events SET status = 'published', cancelled_at = NULL
        WHERE id = :'e'}, { e => $ev2 });

# ---- PostgreSQL down at confirm: 503, and the hold is still good -------------------

start_nginx(name => 'bookings-nopg', port => $port2,
            http_config => http_config(
                postgres => 'host=127.0.0.1 port=1 dbname=x user=x '
                            . 'connect_timeout=1'),
            main_config => main_config(), config => server_config());
$hold = hold($u1, $ev, 'C1');
ok $hold, 'held C1 (through the instance with a database)';
ok wait_until(sub { confirm($u1, $hold, $ev, port => $port2)->{status}
                    == 503 }, timeout => 5),
   'PostgreSQL down: confirm answers 503';
$res = confirm($u1, $hold, $ev, port => $port2);
err_is($res, 503, 'DB_UNAVAILABLE', 'PostgreSQL down');
ok $res->{headers}{'retry-after'}, 'PostgreSQL down: Retry-After';
$res = call(GET => "/api/v1/seats/hold/$hold/validate", token => $u1->{token});
is $res->{status}, 200, 'PostgreSQL down: the hold is still valid';
$res = confirm($u1, $hold);
is $res->{status}, 201, 'and confirms once the database answers';
ok stop_nginx('bookings-nopg'), 'second nginx stopped';

# ---- reading bookings ---------------------------------------------------------------

my $bid = $bc->{booking_id};
$res = call(GET => "/api/v1/bookings/$bid", token => $u1->{token});
is $res->{status}, 200, 'booking: owner 200';
my $bk = $res->{json}{data};
is $bk->{id}, $bid, 'booking: id';
is $bk->{user_id}, $u1->{id}, 'booking: user_id';
is $bk->{event_id}, $ev, 'booking: event_id';
is $bk->{status}, 'CONFIRMED', 'booking: status';
is $bk->{total_seats}, 2, 'booking: total_seats';
is scalar @{ $bk->{seats} }, 2, 'booking: seats';
is scalar @{ $bk->{payments} }, 1, 'booking: payments';
ok exists $bk->{cancelled_at}, 'booking: cancelled_at present';
is $res->{headers}{etag}, '"1"', 'booking: ETag is the version';
$res = call(GET => "/api/v1/bookings/$bid", token => $u2->{token});
err_is($res, 403, 'FORBIDDEN', "another user's booking");
$res = call(GET => "/api/v1/bookings/$bid", token => $admin->{token});
is $res->{status}, 200, 'an admin may read any booking';
$res = call(GET => '/api/v1/bookings/00000000-0000-4000-8000-00000000f00d',
            token => $u1->{token});
err_is($res, 404, 'BOOKING_NOT_FOUND', 'unknown booking');
$res = call(GET => '/api/v1/bookings/42', token => $u1->{token});
err_is($res, 400, 'INVALID_ID', 'malformed booking id');
$res = call(GET => "/api/v1/bookings/$bid");
err_is($res, 401, 'AUTH_REQUIRED', 'booking without a token');

# the user's own list: newest first, limit/offset, totals
$res = call(GET => '/api/v1/users/bookings', token => $u1->{token});
is $res->{status}, 200, 'user bookings: 200';
my $ub = $res->{json}{data};
is $ub->{total_count}, 3, 'user bookings: total_count';
is $ub->{count}, 3, 'user bookings: count';
is $ub->{limit}, 10, 'user bookings: default limit';
is $ub->{offset}, 0, 'user bookings: default offset';
ok !(grep { $_->{user_id} ne $u1->{id} } @{ $ub->{bookings} }),
   'user bookings: only the caller\'s';
my @created = map { $_->{created_at} } @{ $ub->{bookings} };
is_deeply \@created, [ sort { $b cmp $a } @created ],
    'user bookings: newest first';
$res = call(GET => '/api/v1/users/bookings?limit=1&offset=1',
            token => $u1->{token});
is $res->{json}{data}{count}, 1, 'user bookings: limit 1';
is $res->{json}{data}{bookings}[0]{id}, $ub->{bookings}[1]{id},
    'user bookings: offset 1';
is $res->{json}{data}{total_count}, 3, 'user bookings: total with a page';
$res = call(GET => '/api/v1/users/bookings?limit=0', token => $u1->{token});
err_is($res, 400, 'VALIDATION_FAILED', 'user bookings: limit 0');
$res = call(GET => '/api/v1/users/bookings?limit=101', token => $u1->{token});
err_is($res, 400, 'VALIDATION_FAILED', 'user bookings: limit 101');
$res = call(GET => '/api/v1/users/bookings?offset=-1', token => $u1->{token});
err_is($res, 400, 'VALIDATION_FAILED', 'user bookings: negative offset');
$res = call(GET => '/api/v1/users/bookings', token => $admin->{token});
is $res->{status}, 200, 'user bookings: an admin has a list too';
is $res->{json}{data}{total_count}, 0, 'user bookings: the admin\'s own';

# ---- admin lists ----------------------------------------------------------------------

my $total = psql('SELECT count(*) FROM evently.bookings');
$res = call(GET => '/api/v1/admin/bookings', token => $admin->{token});
is $res->{status}, 200, 'admin bookings: 200';
is $res->{json}{data}{total_count}, $total, 'admin bookings: total';
is $res->{json}{data}{page}, 1, 'admin bookings: page';
is $res->{json}{data}{total_pages}, 1, 'admin bookings: total_pages';
$res = call(GET => "/api/v1/admin/bookings?user_id=$u1->{id}&limit=2",
            token => $admin->{token});
is $res->{json}{data}{total_count}, 3, 'admin bookings: by user';
is scalar @{ $res->{json}{data}{bookings} }, 2, 'admin bookings: limit';
is $res->{json}{data}{total_pages}, 2, 'admin bookings: pages';
$res = call(GET => "/api/v1/admin/bookings?user_id=$u1->{id}&limit=2&page=2",
            token => $admin->{token});
is scalar @{ $res->{json}{data}{bookings} }, 1, 'admin bookings: last page';
$res = call(GET => "/api/v1/admin/bookings?event_id=$ev2",
            token => $admin->{token});
is $res->{json}{data}{total_count}, 0, 'admin bookings: by event';
$res = call(GET => '/api/v1/admin/bookings?status=cancelled',
            token => $admin->{token});
is $res->{json}{data}{total_count}, 0, 'admin bookings: by status';
$res = call(GET => '/api/v1/admin/bookings?status=lost',
            token => $admin->{token});
err_is($res, 400, 'VALIDATION_FAILED', 'admin bookings: bad status');
$res = call(GET => '/api/v1/admin/bookings?event_id=x',
            token => $admin->{token});
err_is($res, 400, 'VALIDATION_FAILED', 'admin bookings: bad event_id');
$res = call(GET => '/api/v1/admin/bookings', token => $u1->{token});
err_is($res, 403, 'FORBIDDEN', 'admin bookings: a user');
$res = call(GET => '/api/v1/admin/bookings');
err_is($res, 401, 'AUTH_REQUIRED', 'admin bookings: no token');

$res = call(GET => "/api/v1/admin/bookings/$bid", token => $admin->{token});
is $res->{json}{data}{id}, $bid, 'admin booking: 200';
$res = call(GET => "/api/v1/admin/bookings/$bid", token => $u1->{token});
err_is($res, 403, 'FORBIDDEN', 'admin booking: even the owner via admin');

$res = call(GET => "/api/v1/admin/events/$ev/bookings?limit=100",
            token => $admin->{token});
is $res->{status}, 200, 'event bookings: 200';
is $res->{json}{data}{total_count},
   psql(q{SELECT count(*) FROM evently.bookings WHERE event_id = :'e'},
        { e => $ev }), 'event bookings: total';
$res = call(GET => '/api/v1/admin/events/00000000-0000-4000-8000-00000000abcd'
                   . '/bookings', token => $admin->{token});
err_is($res, 404, 'EVENT_NOT_FOUND', 'event bookings: unknown event');
$res = call(GET => "/api/v1/admin/events/$ev/bookings",
            token => $u2->{token});
err_is($res, 403, 'FORBIDDEN', 'event bookings: a user');

# every seat sold at most once, whatever happened above
is psql(q{SELECT count(*) FROM (SELECT event_id, seat_id
            FROM evently.booking_seats WHERE active
           GROUP BY 1, 2 HAVING count(*) > 1) d}), 0,
   'no seat is booked twice';

ok stop_nginx('bookings'), 'nginx stopped cleanly';
no_alerts_ok('bookings');

done_testing;
