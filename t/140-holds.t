# Seat holds: POST /seats/hold, DELETE /seats/hold/{id},
# GET /seats/hold/{id}/validate, POST /seats/availability,
# GET /users/{id}/holds -- success, every error, authorization, expiry.

use strict;
use warnings;

use Test::More;
use Evently::Test;

my $port = $ENV{TEST_NGINX_PORT} // 1984;
my $ev = '00000000-0000-4000-8000-000000000401';       # Conference Hall
my $ev2 = '00000000-0000-4000-8000-000000000403';      # same venue
my $theater_ev = '00000000-0000-4000-8000-000000000402';

reset_db();
seed();

my $u1 = create_user(email => 'holder1@example.com');
my $u2 = create_user(email => 'holder2@example.com');
my $admin = create_user(email => 'boss@example.com', role => 'ADMIN');

# Conference Hall seats: VIP A1..A8 (x2.0), General B1..C10 (x1.0)
my %seat = map { $_->[1] => $_->[0] } @{ psql_rows(q{
    SELECT s.id, s.seat_number FROM evently.seats s
      JOIN evently.venue_sections sec ON sec.id = s.section_id
     WHERE sec.template_id = '00000000-0000-4000-8000-000000000202'}) };
my $theater_seat = psql(q{
    SELECT s.id FROM evently.seats s
      JOIN evently.venue_sections sec ON sec.id = s.section_id
     WHERE sec.template_id = '00000000-0000-4000-8000-000000000201'
     LIMIT 1});

start_nginx(name => 'holds', port => $port,
            http_config => http_config(),
            main_config => main_config(),
            config => server_config());

sub call { my ($m, $p, %o) = @_; return api($m, $p, port => $port, %o) }

sub hold {
    my ($user, $event, @seats) = @_;
    return call(POST => '/api/v1/seats/hold', token => $user->{token},
                body => { event_id => $event,
                          seat_ids => [ map { $seat{$_} // $_ } @seats ] });
}

sub err_is {
    my ($res, $status, $code, $name) = @_;
    is $res->{status}, $status, "$name: status $status";
    is $res->{json}{errors}{code}, $code, "$name: code $code";
    is $res->{json}{status}, 'error', "$name: error envelope";
}

# ---- placing a hold ---------------------------------------------------------

my $res = hold($u1, $ev, 'A1', 'B1');
is $res->{status}, 201, 'hold: 201';
my $h1 = $res->{json}{data};
like $h1->{hold_id}, qr/^[0-9a-f-]{36}$/, 'hold: hold_id is a UUID';
is $h1->{user_id}, $u1->{id}, 'hold: the holder is the caller';
is $h1->{event_id}, $ev, 'hold: event_id';
is scalar @{ $h1->{seats} }, 2, 'hold: two seats';
my %price = map { $_->{seat_number} => $_->{price} } @{ $h1->{seats} };
is $price{A1}, 3000, 'hold: VIP seat priced base x 2.0';
is $price{B1}, 1500, 'hold: General seat priced base x 1.0';
is $h1->{total_price}, 4500, 'hold: total price';
like $res->{body}, qr/"total_price":4500\.00/,
    'hold: money keeps two decimals';
is $h1->{ttl_seconds}, 600, 'hold: default TTL 600 s';
like $h1->{expires_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    'hold: expires_at is RFC 3339 UTC';
is $h1->{currency}, 'INR', 'hold: currency';
my @sk = map { { seat_id => $_->{seat_id} } } @{ $h1->{seats} };
ok((grep { $_->{section_name} eq 'VIP' } @{ $h1->{seats} }),
   'hold: seats carry their section');

# the same seats again, by anybody: all-or-nothing 409 with the culprits
$res = hold($u2, $ev, 'A1', 'A2');
err_is($res, 409, 'SEATS_UNAVAILABLE', 'overlapping hold');
is_deeply $res->{json}{errors}{seat_ids}, [ $seat{A1} ],
    'overlapping hold: lists only the seat that blocked it';
$res = hold($u2, $ev, 'A2');
is $res->{status}, 201, 'all-or-nothing: A2 was not taken by the refused hold';
my $h2 = $res->{json}{data};

$res = hold($u1, $ev, 'A1');
err_is($res, 409, 'SEATS_UNAVAILABLE', 'own seat held twice');

# a hold is per (event, seat): the same seat of another event is free
$res = hold($u2, $ev2, 'A1');
is $res->{status}, 201, 'same seat, other event: independent';
my $h_ev2 = $res->{json}{data};

# ---- input validation ---------------------------------------------------------

$res = call(POST => '/api/v1/seats/hold', token => $u1->{token},
            body => { seat_ids => [ $seat{B5} ] });
err_is($res, 400, 'VALIDATION_FAILED', 'missing event_id');
is $res->{json}{errors}{fields}{event_id}, 'is required',
    'missing event_id: field message';

$res = call(POST => '/api/v1/seats/hold', token => $u1->{token},
            body => { event_id => $ev, seat_ids => [] });
err_is($res, 400, 'VALIDATION_FAILED', 'no seats');
ok $res->{json}{errors}{fields}{seat_ids}, 'no seats: field seat_ids';

$res = hold($u1, $ev, (map { "B$_" } 1 .. 10), 'C1');
err_is($res, 400, 'VALIDATION_FAILED', '11 seats');
like $res->{json}{errors}{fields}{seat_ids}, qr/at most 10/,
    '11 seats: at most 10 per hold';

$res = hold($u1, $ev, 'B5', 'B5');
err_is($res, 400, 'VALIDATION_FAILED', 'duplicate seat ids');

$res = hold($u1, $ev, 'not-a-uuid');
err_is($res, 400, 'VALIDATION_FAILED', 'malformed seat id');

$res = call(POST => '/api/v1/seats/hold', token => $u1->{token},
            body => { event_id => 'nope', seat_ids => [ $seat{B5} ] });
err_is($res, 400, 'VALIDATION_FAILED', 'malformed event id');

$res = call(POST => '/api/v1/seats/hold', token => $u1->{token},
            body => { event_id => $ev, seat_ids => $seat{B5} });
err_is($res, 400, 'VALIDATION_FAILED', 'seat_ids not an array');

$res = call(POST => '/api/v1/seats/hold', token => $u1->{token},
            body => '{"event_id": ');
err_is($res, 400, 'INVALID_JSON', 'malformed JSON');

$res = call(POST => '/api/v1/seats/hold', token => $u1->{token},
            body => { event_id => $ev, seat_ids => [ $seat{B5} ],
                      user_id => $u2->{id} });
err_is($res, 403, 'FORBIDDEN', 'user_id of somebody else');

$res = call(POST => '/api/v1/seats/hold', token => $u1->{token},
            body => { event_id => $ev, seat_ids => [ $seat{B5} ],
                      user_id => $u1->{id}, color => 'ignored' });
is $res->{status}, 201, 'own user_id and unknown fields are accepted';
my $h_b5 = $res->{json}{data};

$res = call(POST => '/api/v1/seats/hold',
            body => { event_id => $ev, seat_ids => [ $seat{B6} ] });
err_is($res, 401, 'AUTH_REQUIRED', 'no token');

$res = call(GET => '/api/v1/seats/hold', token => $u1->{token});
is $res->{status}, 405, 'GET /seats/hold: 405';
is $res->{headers}{allow}, 'POST', 'GET /seats/hold: Allow: POST';

# ---- the event and the seats must be right ---------------------------------------------

$res = hold($u1, '00000000-0000-4000-8000-00000000ffff', 'B6');
err_is($res, 404, 'EVENT_NOT_FOUND', 'unknown event');

psql(q{UPDATE evently.events SET status = 'draft' WHERE id = :'e'},
     { e => $ev2 });
$res = hold($u1, $ev2, 'B6');
err_is($res, 409, 'EVENT_NOT_ON_SALE', 'unpublished event');
psql(q{UPDATE evently.events SET status = 'published' WHERE id = :'e'},
     { e => $ev2 });

my $past = psql(q{
    INSERT INTO evently.events (name, venue, venue_template_id, date_time,
                                base_price)
    VALUES ('Yesterday', 'Old Hall', '00000000-0000-4000-8000-000000000202',
            now() - interval '1 day', 10)
    RETURNING id});
$res = hold($u1, $past, 'B6');
err_is($res, 409, 'EVENT_NOT_ON_SALE', 'past event');

$res = hold($u1, $ev, 'B6', $theater_seat);
err_is($res, 400, 'SEATS_NOT_IN_VENUE', 'seat of another venue');
is_deeply $res->{json}{errors}{seat_ids}, [ $theater_seat ],
    'seat of another venue: listed';

$res = hold($u1, $ev, '00000000-0000-4000-8000-00000000dead');
err_is($res, 400, 'SEATS_NOT_IN_VENUE', 'unknown seat');

psql(q{UPDATE evently.seats SET status = 'BLOCKED' WHERE id = :'s'},
     { s => $seat{C10} });
$res = hold($u1, $ev, 'C10');
err_is($res, 409, 'SEATS_UNAVAILABLE', 'blocked seat');

# a seat booked in PostgreSQL (whatever Redis says) is never held
book_seat($ev, $seat{C9}, $u2->{id}, price => '1500.00');
$res = hold($u1, $ev, 'C9', 'C8');
err_is($res, 409, 'SEATS_UNAVAILABLE', 'booked seat');
is_deeply $res->{json}{errors}{seat_ids}, [ $seat{C9} ],
    'booked seat: listed';

# ---- validate -------------------------------------------------------------------------

$res = call(GET => "/api/v1/seats/hold/$h1->{hold_id}/validate",
            token => $u1->{token});
is $res->{status}, 200, 'validate: owner 200';
is $res->{json}{data}{valid}, JSON::PP::true, 'validate: valid';
my $d = $res->{json}{data}{details};
is $d->{hold_id}, $h1->{hold_id}, 'validate: hold_id';
is $d->{user_id}, $u1->{id}, 'validate: user_id';
is $d->{event_id}, $ev, 'validate: event_id';
is_deeply [ sort @{ $d->{seat_ids} } ], [ sort $seat{A1}, $seat{B1} ],
    'validate: seat_ids';
ok $d->{ttl_seconds} > 590 && $d->{ttl_seconds} <= 600,
    'validate: ttl_seconds in details';
is $res->{json}{data}{ttl_seconds}, $d->{ttl_seconds},
    'validate: ttl_seconds at the top too';

$res = call(GET => "/api/v1/seats/hold/$h1->{hold_id}/validate",
            token => $u2->{token});
err_is($res, 403, 'FORBIDDEN', "validate another user's hold");
$res = call(GET => "/api/v1/seats/hold/$h1->{hold_id}/validate",
            token => $admin->{token});
err_is($res, 403, 'FORBIDDEN', "validate another user's hold as admin");
$res = call(GET => '/api/v1/seats/hold/00000000-0000-4000-8000-00000000beef'
                   . '/validate', token => $u1->{token});
err_is($res, 404, 'HOLD_NOT_FOUND', 'validate an unknown hold');
$res = call(GET => '/api/v1/seats/hold/xyz/validate', token => $u1->{token});
err_is($res, 400, 'INVALID_ID', 'validate a malformed id');
$res = call(GET => "/api/v1/seats/hold/$h1->{hold_id}/validate");
err_is($res, 401, 'AUTH_REQUIRED', 'validate without a token');

# ---- availability -------------------------------------------------------------------

$res = call(POST => '/api/v1/seats/availability', token => $u1->{token},
            body => { event_id => $ev,
                      seat_ids => [ @seat{qw(A1 C9 C10 C1)} ] });
is $res->{status}, 200, 'availability: 200';
is_deeply [ map { [ $_->{seat_id}, $_->{status},
                    $_->{available} ? 1 : 0 ] }
            @{ $res->{json}{data}{seats} } ],
          [ [ $seat{A1}, 'HELD', 0 ], [ $seat{C9}, 'BOOKED', 0 ],
            [ $seat{C10}, 'BLOCKED', 0 ], [ $seat{C1}, 'AVAILABLE', 1 ] ],
    'availability: held, booked, blocked, available';
$res = call(POST => '/api/v1/seats/availability', token => $u1->{token},
            body => { event_id => $ev2, seat_ids => [ $seat{A1} ] });
is $res->{json}{data}{seats}[0]{status}, 'HELD',
    'availability: A1 of the second event is held there (by u2)';
$res = call(POST => '/api/v1/seats/availability', token => $u1->{token},
            body => { event_id => $ev, seat_ids => [ $theater_seat ] });
err_is($res, 400, 'SEATS_NOT_IN_VENUE', 'availability: other venue');
$res = call(POST => '/api/v1/seats/availability', token => $u1->{token},
            body => { event_id => '00000000-0000-4000-8000-00000000ffff',
                      seat_ids => [ $seat{A1} ] });
err_is($res, 404, 'EVENT_NOT_FOUND', 'availability: unknown event');
$res = call(POST => '/api/v1/seats/availability', token => $u1->{token},
            body => { event_id => $ev });
err_is($res, 400, 'VALIDATION_FAILED', 'availability: no seats');
$res = call(POST => '/api/v1/seats/availability',
            body => { event_id => $ev, seat_ids => [ $seat{A1} ] });
err_is($res, 401, 'AUTH_REQUIRED', 'availability: no token');

# ---- a user's holds --------------------------------------------------------------

$res = call(GET => "/api/v1/users/$u1->{id}/holds", token => $u1->{token});
is $res->{status}, 200, 'user holds: self 200';
is_deeply [ sort map { $_->{hold_id} } @{ $res->{json}{data} } ],
          [ sort $h1->{hold_id}, $h_b5->{hold_id} ],
    'user holds: the live holds of the user';
my ($one) = grep { $_->{hold_id} eq $h1->{hold_id} } @{ $res->{json}{data} };
is $one->{user_id}, $u1->{id}, 'user holds: user_id';
is $one->{event_id}, $ev, 'user holds: event_id';
ok $one->{ttl_seconds} > 0, 'user holds: ttl_seconds';
$res = call(GET => "/api/v1/users/$u1->{id}/holds", token => $u2->{token});
err_is($res, 403, 'FORBIDDEN', "user holds: another user's");
$res = call(GET => "/api/v1/users/$u1->{id}/holds", token => $admin->{token});
is $res->{status}, 200, 'user holds: admin may see them';
is scalar @{ $res->{json}{data} }, 2, 'user holds: admin sees both';
$res = call(GET => '/api/v1/users/nope/holds', token => $admin->{token});
err_is($res, 400, 'INVALID_ID', 'user holds: malformed id');

# ---- the live-holds cap (5 per user) ------------------------------------------------------

my @extra;
for my $s (qw(B2 B3 B4)) {
    $res = hold($u1, $ev, $s);
    is $res->{status}, 201, "live hold for $s";
    push @extra, $res->{json}{data}{hold_id};
}
$res = hold($u1, $ev, 'B7');
err_is($res, 409, 'HOLD_LIMIT_REACHED', 'a sixth live hold');

# ---- release ----------------------------------------------------------------------

$res = call(DELETE => "/api/v1/seats/hold/$h1->{hold_id}",
            token => $u2->{token});
err_is($res, 403, 'FORBIDDEN', "release another user's hold");
$res = call(DELETE => "/api/v1/seats/hold/$h1->{hold_id}",
            token => $u1->{token});
is $res->{status}, 200, 'release: owner 200';
is $res->{json}{data}{released}, JSON::PP::true, 'release: released';
is_deeply [ sort @{ $res->{json}{data}{seat_ids} } ],
          [ sort $seat{A1}, $seat{B1} ], 'release: its seats';
$res = call(DELETE => "/api/v1/seats/hold/$h1->{hold_id}",
            token => $u1->{token});
err_is($res, 404, 'HOLD_NOT_FOUND', 'release twice');
$res = call(DELETE => '/api/v1/seats/hold/zzz', token => $u1->{token});
err_is($res, 400, 'INVALID_ID', 'release a malformed id');
$res = call(DELETE => "/api/v1/seats/hold/$h2->{hold_id}");
err_is($res, 401, 'AUTH_REQUIRED', 'release without a token');

$res = hold($u2, $ev, 'A1', 'B1');
is $res->{status}, 201, 'released seats can be held again';
$res = hold($u1, $ev, 'B7');
is $res->{status}, 201, 'a released hold no longer counts toward the cap';

# ---- Redis script cache flushed: scripts are loaded again -----------------------

is redis('SCRIPT', 'FLUSH'), 'OK', 'SCRIPT FLUSH';
$res = hold($u2, $ev, 'C2');
is $res->{status}, 201, 'hold after SCRIPT FLUSH (NOSCRIPT -> EVAL)';
$res = call(GET => "/api/v1/seats/hold/$res->{json}{data}{hold_id}/validate",
            token => $u2->{token});
is $res->{status}, 200, 'validate after SCRIPT FLUSH';

ok stop_nginx('holds'), 'nginx stopped cleanly';
no_alerts_ok('holds');

# ---- expiry by TTL alone ---------------------------------------------------------

start_nginx(name => 'holds-ttl', port => $port,
            http_config => http_config(extra => 'evently_hold_ttl 2s;'),
            main_config => main_config(),
            config => server_config());

my $u3 = create_user(email => 'holder3@example.com');
$res = hold($u3, $ev, 'C3');
is $res->{status}, 201, 'short hold';
is $res->{json}{data}{ttl_seconds}, 2, 'short hold: ttl 2 s';
my $short = $res->{json}{data}{hold_id};
ok wait_until(sub {
        call(GET => "/api/v1/seats/hold/$short/validate",
             token => $u3->{token})->{status} == 404
    }, timeout => 5), 'the hold is gone after its TTL';
$res = call(POST => '/api/v1/bookings/confirm', token => $u3->{token},
            body => { hold_id => $short, event_id => $ev });
err_is($res, 409, 'HOLD_EXPIRED', 'confirm after expiry');
$res = hold($u2, $ev, 'C3');
is $res->{status}, 201, 'an expired hold frees its seats';
is psql(q{SELECT count(*) FROM evently.bookings WHERE hold_id = :'h'},
        { h => $short }), 0, 'no booking from the expired hold';

ok stop_nginx('holds-ttl'), 'nginx stopped cleanly';
no_alerts_ok('holds-ttl');

# ---- Redis unavailable -----------------------------------------------------------

start_nginx(name => 'holds-noredis', port => $port,
            http_config => http_config(redis => '127.0.0.1:1',
                                       extra => 'evently_redis_timeout 500ms;'),
            main_config => main_config(),
            config => server_config());
ok wait_until(sub {
        hold($u1, $ev, 'C4')->{status} == 503
    }, timeout => 5), 'Redis down: hold 503';
$res = hold($u1, $ev, 'C4');
err_is($res, 503, 'REDIS_UNAVAILABLE', 'Redis down');
ok $res->{headers}{'retry-after'}, 'Redis down: Retry-After';
ok stop_nginx('holds-noredis'), 'nginx stopped cleanly';

done_testing;
