# Seats: GET /seats/{id} (user), GET /sections/{id}/seats (public),
# GET /sections/{id}/seats/available?event_id= (public: not BLOCKED, not in
# an active booking of that event, not held in Redis for that event, with
# the event's price for the section), PUT and DELETE /admin/seats/{id}
# (admin).  Bookings are made directly in SQL and holds directly in Redis
# (key layout of ngx_http_evently_holds.h).

use strict;
use warnings;

use IO::Socket::INET ();
use Test::More;
use Time::HiRes qw(time);
use Evently::Test;

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;

my $TS = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
my $SMALL_THEATER = '00000000-0000-4000-8000-000000000201';
my $PREMIUM = '00000000-0000-4000-8000-000000000301';
my $STANDARD = '00000000-0000-4000-8000-000000000302';
my $CLASSICAL = '00000000-0000-4000-8000-000000000402';  # Premium x 1.8
my $FOOD_WINE = '00000000-0000-4000-8000-000000000404';  # Premium x 1.5
my $TECH_CONF = '00000000-0000-4000-8000-000000000401';  # Conference Hall
my $NOBODY = '00000000-0000-4000-8000-00000000ffff';

reset_db();
seed();

sub nginx {
    my ($name, %http) = @_;
    return start_nginx(name => $name, port => $port,
                       http_config => http_config(%http),
                       config => server_config(),
                       main_config => main_config());
}

my $ng = nginx('seats');

my $admin = create_user(role => 'ADMIN');
my $user = create_user();

sub call {
    my ($method, $path, %o) = @_;
    $o{token} = $admin->{token} if !exists $o{token};
    delete $o{token} if !defined $o{token};
    return api($method, $path, port => $port, %o);
}

sub fails {
    my ($r, $status, $code, $name, @fields) = @_;
    my $ok = is($r->{status}, $status, "$name: $status")
             & is($r->{json} && $r->{json}{errors}
                  ? $r->{json}{errors}{code} : undef, $code,
                  "$name: $code");
    if (@fields) {
        my $f = $r->{json} && $r->{json}{errors}
                ? $r->{json}{errors}{fields} || {} : {};
        $ok &= is_deeply([sort keys %$f], [sort @fields],
                         "$name: errors.fields = @fields");
    }
    diag explain $r->{json} // $r->{body} if !$ok;
    return $ok;
}

sub succeeds {
    my ($r, $status, $name) = @_;
    my $ok = is($r->{status}, $status, "$name: $status");
    $ok &= is($r->{json} && $r->{json}{status}, 'success',
              "$name: success envelope");
    diag explain $r->{json} // $r->{body} if !$ok;
    return $r->{json} ? $r->{json}{data} : undef;
}

# seat_number -> id of a section's seats
sub seat_ids {
    my ($section) = @_;
    my $rows = psql_rows("SELECT seat_number, id FROM evently.seats "
                         . "WHERE section_id = :'s'", { s => $section });
    return { map { $_->[0] => $_->[1] } @$rows };
}

sub book { my ($e, $seat, %o) = @_; return book_seat($e, $seat, $user->{id}, %o) }

sub hold { return hold_in_redis(@_) }

sub event_on {
    my ($tid, $price) = @_;
    return psql(<<'_SQL_', { t => $tid, p => $price });
INSERT INTO evently.events (name, venue, venue_template_id, date_time,
                            base_price)
VALUES ('Seat Test Event', 'Seat Test Venue', :'t',
        now() + interval '10 days', :'p')
RETURNING id;
_SQL_
}

sub available {
    my ($section, $event, $name) = @_;
    my $r = call(GET => "/api/v1/sections/$section/seats/available"
                        . "?event_id=$event", token => undef);
    my $d = succeeds($r, 200, $name);
    return ($d, $r);
}

sub numbers {
    return [map { $_->{seat_number} } @{ $_[0]{seats} || [] }];
}

my $seat = seat_ids($PREMIUM);
my @premium = map { "A$_" } 1 .. 13;

# ---- GET /seats/{id} (user) ----------------------------------------------------

{
    my $url = "/api/v1/seats/$seat->{A1}";
    fails(call(GET => $url, token => undef), 401, 'AUTH_REQUIRED',
          'seat: no token');
    fails(call(GET => $url, token => 'x.y.z'), 401, 'INVALID_TOKEN',
          'seat: bad token');

    my $r = call(GET => $url, token => $user->{token});
    my $d = succeeds($r, 200, 'seat as USER');
    is $r->{json}{message}, 'Seat retrieved successfully', 'seat: message';
    is_deeply [@$d{qw(id section_id seat_number row position status)}],
        [$seat->{A1}, $PREMIUM, 'A1', 'A', 1, 'AVAILABLE'], 'seat: fields';
    like $d->{created_at}, $TS, 'seat: created_at';
    like $d->{updated_at}, $TS, 'seat: updated_at';
    is_deeply $d->{section}, { id => $PREMIUM, name => 'Premium',
                               template_id => $SMALL_THEATER },
        'seat: its section';
    like $r->{body}, qr/"data":\{"id" : "[^"]+", "section_id" : "[^"]+", "seat_number" : "A1", "row" : "A", "position" : 1, "status" : "AVAILABLE", "created_at" : "[^"]+", "updated_at" : "[^"]+", "section" : \{"id" : "[^"]+", "name" : "Premium", "template_id" : "[^"]+"\}\}\}$/,
        'seat: Seat keys in contract order';

    succeeds(call(GET => $url), 200, 'seat as ADMIN');
    fails(call(GET => "/api/v1/seats/$NOBODY", token => $user->{token}),
          404, 'SEAT_NOT_FOUND', 'seat: unknown id');
    fails(call(GET => '/api/v1/seats/A1', token => $user->{token}), 400,
          'INVALID_ID', 'seat: bad UUID');
    fails(call(DELETE => $url, token => $user->{token}), 405,
          'METHOD_NOT_ALLOWED', 'seat: DELETE on the public path');

    $r = call(GET => '/api/v1/seats/hold', token => $user->{token});
    isnt $r->{json} && $r->{json}{errors} && $r->{json}{errors}{code},
        'INVALID_ID', '/seats/hold is not taken for a seat id';
    $r = call(GET => '/api/v1/seats/availability', token => $user->{token});
    isnt $r->{json} && $r->{json}{errors} && $r->{json}{errors}{code},
        'INVALID_ID', '/seats/availability is not taken for a seat id';
}

# ---- GET /sections/{id}/seats (public) -------------------------------------------

{
    my $r = call(GET => "/api/v1/sections/$PREMIUM/seats", token => undef);
    my $d = succeeds($r, 200, 'section seats without a token');
    is $r->{json}{message}, 'Seats retrieved successfully',
        'section seats: message';
    is $d->{section_id}, $PREMIUM, 'section seats: section_id';
    is $d->{total_count}, 13, 'section seats: total_count';
    is_deeply numbers($d), \@premium, 'section seats: A1..A13 in order';
    is_deeply [sort keys %{ $d->{seats}[0] }],
        [sort qw(id section_id seat_number row position status created_at
                 updated_at)], 'section seats: Seat objects';
    like $r->{body}, qr/"seats" : \[\{"id" : "[^"]+", "section_id" : "[^"]+", "seat_number" : "A1", "row" : "A", "position" : 1, "status" : "AVAILABLE", "created_at" : "[^"]+", "updated_at" : "[^"]+"\}/,
        'section seats: key order';

    succeeds(call(GET => "/api/v1/sections/$PREMIUM/seats",
                  token => $user->{token}), 200, 'section seats as USER');
    fails(call(GET => "/api/v1/sections/$NOBODY/seats", token => undef),
          404, 'SECTION_NOT_FOUND', 'section seats: unknown section');
    fails(call(GET => '/api/v1/sections/premium/seats', token => undef),
          400, 'INVALID_ID', 'section seats: bad UUID');
    fails(call(POST => "/api/v1/sections/$PREMIUM/seats", body => {}),
          405, 'METHOD_NOT_ALLOWED', 'section seats: POST');
}

# ---- available seats ----------------------------------------------------------------

{
    my ($d, $r) = available($PREMIUM, $CLASSICAL, 'available: untouched');
    is $r->{json}{message}, 'Available seats retrieved successfully',
        'available: message';
    is_deeply numbers($d), \@premium, 'available: all 13';
    is $d->{total_count}, 13, 'available: total_count';
    is $d->{event_id}, $CLASSICAL, 'available: event_id';
    is $d->{section_id}, $PREMIUM, 'available: section_id';
    is $d->{section_name}, 'Premium', 'available: section_name';
    is $d->{currency}, 'INR', 'available: currency';
    cmp_ok $d->{price}, '==', 1440.00, 'available: section price 800 x 1.8';
    ok !(grep { $_->{price} != 1440 || $_->{status} ne 'AVAILABLE' }
         @{ $d->{seats} }), 'available: every seat AVAILABLE at 1440';
    like $r->{body}, qr/"price" : 1440\.00,/,
        'available: price is a JSON number with 2 decimals';
    like $r->{body}, qr/\{"id" : "[^"]+", "section_id" : "[^"]+", "seat_number" : "A1", "row" : "A", "position" : 1, "status" : "AVAILABLE", "price" : 1440\.00, "created_at" : "[^"]+", "updated_at" : "[^"]+"\}/,
        'available: Seat objects with price';

    ($d) = available($STANDARD, $CLASSICAL, 'available: Standard');
    cmp_ok $d->{price}, '==', 800.00, 'available: Standard 800 x 1.0';
    ($d) = available($PREMIUM, $FOOD_WINE, 'available: other event');
    cmp_ok $d->{price}, '==', 1800.00, 'available: Premium for Food & Wine 1200 x 1.5';

    # BLOCKED (through the API), booked (SQL), held (Redis) for Classical;
    # a cancelled booking and an expired hold hide nothing; a hold for
    # Food & Wine hides the seat for Food & Wine only
    succeeds(call(PUT => "/api/v1/admin/seats/$seat->{A2}",
                  body => { status => 'BLOCKED' }), 200, 'block A2');
    book($CLASSICAL, $seat->{A3});
    hold($CLASSICAL, $seat->{A4});
    book($CLASSICAL, $seat->{A5}, cancelled => 1);
    hold($CLASSICAL, $seat->{A6}, -5);
    hold($FOOD_WINE, $seat->{A7});

    ($d) = available($PREMIUM, $CLASSICAL, 'available: Classical');
    is_deeply numbers($d), [grep { !/^A[234]$/ } @premium],
        'Classical: not blocked A2, booked A3, held A4';
    is $d->{total_count}, 10, 'Classical: total_count 10';

    ($d) = available($PREMIUM, $FOOD_WINE, 'available: Food & Wine');
    is_deeply numbers($d), [grep { !/^A[27]$/ } @premium],
        'Food & Wine: A3 and A4 (booked/held for Classical) are free, '
        . 'A7 (held for Food & Wine) and A2 (blocked) are not';

    ($d) = available($PREMIUM, uc $CLASSICAL,
                     'available: event_id in upper case');
    is $d->{total_count}, 10, 'upper-case event_id: same answer';

    ($d) = available($STANDARD, $CLASSICAL, 'available: other section');
    is $d->{total_count}, 13, 'Standard: unaffected by Premium\'s seats';

    succeeds(call(PUT => "/api/v1/admin/seats/$seat->{A2}",
                  body => { status => 'AVAILABLE' }), 200, 'unblock A2');
    ($d) = available($PREMIUM, $CLASSICAL, 'available: after unblock');
    is_deeply numbers($d), [grep { !/^A[34]$/ } @premium],
        'Classical: A2 free again';

    # prices: default multiplier 1.0, rounding to 2 decimals
    my $plain = event_on($SMALL_THEATER, '999.99');
    ($d, $r) = available($PREMIUM, $plain, 'available: no pricing row');
    cmp_ok $d->{price}, '==', 999.99, 'no pricing row: multiplier 1.0';
    psql("INSERT INTO evently.event_section_pricing (event_id, section_id, "
         . "price_multiplier) VALUES ('$plain', '$PREMIUM', 1.33)");
    ($d, $r) = available($PREMIUM, $plain, 'available: multiplier 1.33');
    cmp_ok $d->{price}, '==', 1329.99, '999.99 x 1.33 = 1329.9867 -> 1329.99';
    like $r->{body}, qr/"price" : 1329\.99,/, 'rounded price in the JSON';
    my $free = event_on($SMALL_THEATER, '0');
    ($d, $r) = available($PREMIUM, $free, 'available: free event');
    like $r->{body}, qr/"price" : 0\.00,/, 'free event: price 0.00';

    my $base = "/api/v1/sections/$PREMIUM/seats/available";
    fails(call(GET => $base, token => undef), 400, 'VALIDATION_FAILED',
          'available: no event_id', 'event_id');
    fails(call(GET => "$base?event_id=", token => undef), 400,
          'VALIDATION_FAILED', 'available: empty event_id', 'event_id');
    fails(call(GET => "$base?event_id=42", token => undef), 400,
          'VALIDATION_FAILED', 'available: bad event_id', 'event_id');
    fails(call(GET => "$base?event_id=$NOBODY", token => undef), 404,
          'EVENT_NOT_FOUND', 'available: unknown event');
    fails(call(GET => "$base?event_id=$TECH_CONF", token => undef), 400,
          'SECTION_NOT_IN_EVENT_VENUE', 'available: event on another venue');
    psql("UPDATE evently.events SET status = 'draft' WHERE id = '$free'");
    fails(call(GET => "$base?event_id=$free", token => undef), 404,
          'EVENT_NOT_FOUND', 'available: a draft event is not public');
    fails(call(GET => "/api/v1/sections/$NOBODY/seats/available"
                      . "?event_id=$CLASSICAL", token => undef),
          404, 'SECTION_NOT_FOUND', 'available: unknown section');
    fails(call(GET => "/api/v1/sections/x/seats/available"
                      . "?event_id=$CLASSICAL", token => undef),
          400, 'INVALID_ID', 'available: bad section UUID');
    succeeds(call(GET => "$base?event_id=$CLASSICAL",
                  token => $user->{token}), 200, 'available: as USER');
}

# ---- PUT /admin/seats/{id} ------------------------------------------------------------

{
    my $url = "/api/v1/admin/seats/$seat->{A8}";
    for my $t ([undef, 401, 'AUTH_REQUIRED', 'no token'],
               [$user->{token}, 403, 'FORBIDDEN', 'USER'])
    {
        fails(call(PUT => $url, token => $t->[0],
                   body => { status => 'BLOCKED' }),
              $t->[1], $t->[2], "update seat: $t->[3]");
    }
    is psql("SELECT status FROM evently.seats WHERE id = '$seat->{A8}'"),
        'AVAILABLE', 'refused updates changed nothing';

    my $r = call(PUT => $url, body => { status => 'BLOCKED' });
    my $d = succeeds($r, 200, 'update seat: BLOCKED');
    is $r->{json}{message}, 'Seat updated successfully', 'update: message';
    is_deeply [@$d{qw(id section_id seat_number row position status)}],
        [$seat->{A8}, $PREMIUM, 'A8', 'A', 8, 'BLOCKED'], 'update: Seat';

    $d = succeeds(call(PUT => $url, body => { status => 'available' }), 200,
                  'update seat: lower-case status');
    is $d->{status}, 'AVAILABLE', 'lower-case status: AVAILABLE';
    $d = succeeds(call(PUT => $url, body => { is_available => \0 }), 200,
                  'update seat: is_available false');
    is $d->{status}, 'BLOCKED', 'is_available false: BLOCKED';
    $d = succeeds(call(PUT => $url, body => { is_available => \1,
                                              status => 'AVAILABLE' }),
                  200, 'update seat: is_available agrees with status');
    is $d->{status}, 'AVAILABLE', 'is_available true: AVAILABLE';
    $d = succeeds(call(PUT => $url, body => {}), 200,
                  'update seat: empty object');
    is_deeply [@$d{qw(seat_number status)}], ['A8', 'AVAILABLE'],
        'empty object: unchanged';

    # the original Postman collection's body
    $d = succeeds(call(PUT => $url, body => { seat_number => 'A1-UPDATED',
                                              is_available => \1 }),
                  200, 'update seat: Postman body');
    is_deeply [@$d{qw(seat_number status row position)}],
        ['A1-UPDATED', 'AVAILABLE', 'A', 8], 'Postman body: renamed';
    is call(GET => "/api/v1/seats/$seat->{A8}")->{json}{data}{seat_number},
        'A1-UPDATED', 'renamed seat: GET shows the new number';

    $d = succeeds(call(PUT => $url, body => { seat_number => 'B1' }), 200,
                  'update seat: number used in another section only');
    is $d->{seat_number}, 'B1', 'number of another section\'s seat: ok';
    $d = succeeds(call(PUT => $url, body => { seat_number => 'B1' }), 200,
                  'update seat: its own number again');

    my $before = psql("SELECT seat_number || status FROM evently.seats "
                      . "WHERE id = '$seat->{A8}'");
    fails(call(PUT => $url, body => { seat_number => 'A9' }), 409,
          'SEAT_NUMBER_EXISTS', 'update seat: number of a sibling seat');
    my @bad = (
        [{ status => 'SOLD' }, 'status SOLD', 'status'],
        [{ status => 'HELD' }, 'status HELD', 'status'],
        [{ status => 1 }, 'numeric status', 'status'],
        [{ is_available => 'yes' }, 'is_available "yes"', 'is_available'],
        [{ is_available => 1 }, 'is_available 1', 'is_available'],
        [{ seat_number => 'x' x 21 }, 'seat_number of 21 characters',
         'seat_number'],
        [{ seat_number => '' }, 'empty seat_number', 'seat_number'],
        [{ seat_number => 12 }, 'numeric seat_number', 'seat_number'],
        [{ seat_number => undef }, 'null seat_number', 'seat_number'],
        [{ status => 'BLOCKED', is_available => \1 },
         'status contradicting is_available', 'is_available'],
    );
    for my $b (@bad) {
        my ($body, $name, @fields) = @$b;
        fails(call(PUT => $url, body => $body), 400, 'VALIDATION_FAILED',
              "update seat: $name", @fields);
    }
    fails(call(PUT => $url, body => '{"status":'), 400, 'INVALID_JSON',
          'update seat: malformed JSON');
    is psql("SELECT seat_number || status FROM evently.seats "
            . "WHERE id = '$seat->{A8}'"), $before,
        'update seat errors: nothing written';

    fails(call(PUT => "/api/v1/admin/seats/$NOBODY",
               body => { status => 'BLOCKED' }),
          404, 'SEAT_NOT_FOUND', 'update seat: unknown id');
    fails(call(PUT => '/api/v1/admin/seats/nope',
               body => { status => 'BLOCKED' }),
          400, 'INVALID_ID', 'update seat: bad UUID');
    fails(call(GET => $url), 405, 'METHOD_NOT_ALLOWED',
          'GET /admin/seats/{id}: 405');
}

# ---- DELETE /admin/seats/{id} ---------------------------------------------------------

{
    my $url = "/api/v1/admin/seats/$seat->{A9}";
    fails(call(DELETE => $url, token => undef), 401, 'AUTH_REQUIRED',
          'delete seat: no token');
    fails(call(DELETE => $url, token => $user->{token}), 403, 'FORBIDDEN',
          'delete seat: USER');

    fails(call(DELETE => "/api/v1/admin/seats/$seat->{A3}"), 409,
          'SEAT_HAS_BOOKINGS', 'delete seat: booked');
    fails(call(DELETE => "/api/v1/admin/seats/$seat->{A5}"), 409,
          'SEAT_HAS_BOOKINGS', 'delete seat: in a cancelled booking');
    fails(call(DELETE => "/api/v1/admin/seats/$seat->{A4}"), 409,
          'SEAT_HELD', 'delete seat: held for Classical');
    fails(call(DELETE => "/api/v1/admin/seats/$seat->{A7}"), 409,
          'SEAT_HELD', 'delete seat: held for Food & Wine');
    is psql("SELECT count(*) || '/' || (SELECT total_seats FROM "
            . "evently.venue_sections WHERE id = '$PREMIUM') "
            . "FROM evently.seats WHERE section_id = '$PREMIUM'"), '13/13',
        'refused deletes: 13 seats, total_seats 13';

    my $r = call(DELETE => $url);
    my $d = succeeds($r, 200, 'delete seat');
    is $r->{json}{message}, 'Seat deleted successfully', 'delete: message';
    is_deeply $d, { id => $seat->{A9}, section_id => $PREMIUM },
        'delete: id and section_id';
    is psql("SELECT count(*) || '/' || (SELECT total_seats FROM "
            . "evently.venue_sections WHERE id = '$PREMIUM') "
            . "FROM evently.seats WHERE section_id = '$PREMIUM'"), '12/12',
        'delete: 12 seats, total_seats decremented to 12';
    my $sections = call(GET => "/api/v1/admin/venue-templates/"
                               . "$SMALL_THEATER/sections")->{json}{data};
    my ($prem) = grep { $_->{id} eq $PREMIUM } @{ $sections->{sections} };
    is $prem->{total_seats}, 12, 'delete: the section shows 12 seats';
    fails(call(GET => "/api/v1/seats/$seat->{A9}"), 404, 'SEAT_NOT_FOUND',
          'get after delete');
    ($d) = available($PREMIUM, $FOOD_WINE, 'available after delete');
    ok !(grep { $_ eq 'A9' } @{ numbers($d) }), 'deleted seat not offered';
    is call(GET => "/api/v1/sections/$PREMIUM/seats", token => undef)
       ->{json}{data}{total_count}, 12, 'section seats: 12';
    fails(call(DELETE => $url), 404, 'SEAT_NOT_FOUND', 'delete again');
    fails(call(DELETE => '/api/v1/admin/seats/0'), 400, 'INVALID_ID',
          'delete seat: bad UUID');

    # the last seat of a section stays; a regeneration restores the grid
    my $t = call(POST => '/api/v1/admin/venue-templates',
                 body => { name => 'Tiny Hall', default_rows => 1,
                           default_seats_per_row => 2,
                           layout_type => 'GENERAL' })->{json}{data}{id};
    my $s = call(POST => "/api/v1/admin/venue-templates/$t/sections",
                 body => { name => 'Pair', row_start => 'A', row_end => 'A',
                           seats_per_row => 2 })->{json}{data}{id};
    my $pair = seat_ids($s);
    succeeds(call(DELETE => "/api/v1/admin/seats/$pair->{A1}"), 200,
             'delete the first of two seats');
    fails(call(DELETE => "/api/v1/admin/seats/$pair->{A2}"), 409,
          'LAST_SEAT', 'delete the last seat of a section');
    is psql("SELECT count(*) || '/' || (SELECT total_seats FROM "
            . "evently.venue_sections WHERE id = '$s') FROM evently.seats "
            . "WHERE section_id = '$s'"), '1/1', 'last seat: kept';
    $d = succeeds(call(PUT => "/api/v1/admin/sections/$s",
                       body => { total_seats => 2 }),
                  200, 'total_seats = the full grid regenerates');
    is $d->{total_seats}, 2, 'regenerated: total_seats 2';
    is_deeply [sort keys %{ seat_ids($s) }], [qw(A1 A2)],
        'regenerated: A1 and A2';
}

ok stop_nginx('seats'), 'nginx stopped cleanly';
no_alerts_ok($ng);

# ---- Redis unreachable --------------------------------------------------------------

{
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => 0, Listen => 1)
        or die "no free port: $!\n";
    my $closed = $sock->sockport;
    close $sock;

    my $down = nginx('seats-noredis', redis => "127.0.0.1:$closed");

    my ($d) = available($PREMIUM, $CLASSICAL,
                        'Redis down: available seats from PostgreSQL');
    is_deeply numbers($d),
        [map { $_ eq 'A8' ? 'B1' : $_ } grep { !/^A[39]$/ } @premium],
        'Redis down: booked A3 (and deleted A9) left out, holds unknown';

    my $r = call(DELETE => "/api/v1/admin/seats/$seat->{A10}");
    fails($r, 503, 'HOLDS_UNAVAILABLE', 'Redis down: seat delete refused');
    ok defined $r->{headers}{'retry-after'}, 'Redis down: Retry-After';
    is psql("SELECT count(*) FROM evently.seats "
            . "WHERE id = '$seat->{A10}'"), 1, 'Redis down: seat kept';

    ok stop_nginx('seats-noredis'), 'Redis down: nginx stopped';
    no_alerts_ok($down, 'Redis down: no alerts');
}

done_testing;
