# Live availability of an event: GET /api/v1/events/{id}/venue/layout,
# GET /api/v1/events/{id}/sections, and the counts of the Event object
# (detail, admin detail, lists, upcoming).
#
# Fixtures are built in SQL (no venue endpoints): a template "Hall" with
# two sections, "Front" (letter rows A..B x 5) and "Back" (number rows
# 1..2 x 4), 18 seats, seat A1 BLOCKED; events EA and EB on it. EA has a
# booking (A2, A3) and a cancelled booking (A4, inactive) made in SQL,
# and holds made directly in Redis in the layout of
# ngx_http_evently_holds.h: A3 (booked too), A5, 1-1, A1 (blocked) live,
# B2 expired. Expected for EA: capacity 17, booked 2, held 2 (A5, 1-1),
# available 13; EB untouched: 17 / 0 / 17. Then Redis unreachable (the
# answer comes from PostgreSQL alone), and a 10,000-seat venue.

use strict;
use warnings;

use Test::More;
use Evently::Test;
use Time::HiRes qw(time);

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;

reset_db();

my $admin = create_user(role => 'ADMIN');
my $user = create_user();
my $buyer = create_user();

my $ids = psql(<<'_SQL_');
INSERT INTO evently.venue_templates (id, name, description, default_rows,
                                     default_seats_per_row, layout_type)
VALUES ('10000000-0000-4000-8000-000000000001', 'Hall', 'A test hall',
        2, 5, 'THEATER');
INSERT INTO evently.venue_sections (id, template_id, name, description,
                                    row_start, row_end, seats_per_row,
                                    total_seats)
VALUES ('10000000-0000-4000-8000-000000000011',
        '10000000-0000-4000-8000-000000000001', 'Front', 'near the stage',
        'A', 'B', 5, 10),
       ('10000000-0000-4000-8000-000000000012',
        '10000000-0000-4000-8000-000000000001', 'Back', NULL,
        '1', '2', 4, 8);
SELECT evently.generate_seats('10000000-0000-4000-8000-000000000011');
SELECT evently.generate_seats('10000000-0000-4000-8000-000000000012');
UPDATE evently.seats SET status = 'BLOCKED'
WHERE section_id = '10000000-0000-4000-8000-000000000011'
  AND seat_number = 'A1';
INSERT INTO evently.events (id, name, venue, venue_template_id, date_time,
                            base_price, status)
VALUES ('10000000-0000-4000-8000-0000000000a1', 'Event A', 'Hall Venue',
        '10000000-0000-4000-8000-000000000001', now() + interval '10 days',
        99.99, 'published'),
       ('10000000-0000-4000-8000-0000000000b1', 'Event B', 'Hall Venue',
        '10000000-0000-4000-8000-000000000001', now() + interval '11 days',
        200.00, 'published'),
       ('10000000-0000-4000-8000-0000000000d1', 'Draft Event', 'Hall Venue',
        '10000000-0000-4000-8000-000000000001', now() + interval '12 days',
        10.00, 'draft');
INSERT INTO evently.event_section_pricing (event_id, section_id,
                                           price_multiplier)
VALUES ('10000000-0000-4000-8000-0000000000a1',
        '10000000-0000-4000-8000-000000000011', 1.50);
_SQL_

my $EA = '10000000-0000-4000-8000-0000000000a1';
my $EB = '10000000-0000-4000-8000-0000000000b1';
my $ED = '10000000-0000-4000-8000-0000000000d1';
my $FRONT = '10000000-0000-4000-8000-000000000011';
my $BACK = '10000000-0000-4000-8000-000000000012';

my %seat = map { $_->[0] => $_->[1] } @{ psql_rows(<<'_SQL_') };
SELECT seat_number, id FROM evently.seats
_SQL_

sub book {
    my ($event, $status, @numbers) = @_;
    my $active = $status eq 'CONFIRMED' ? 'true' : 'false';
    my $cancelled = $status eq 'CONFIRMED' ? 'NULL' : 'now()';
    my $ref = 'EVT-20300101-' . join '', map { ('A' .. 'Z')[rand 26] } 1 .. 6;
    my $list = join ',', map { "'$_'" } @numbers;
    return psql(<<"_SQL_", { event => $event, user => $buyer->{id} });
WITH b AS (
    INSERT INTO evently.bookings (booking_ref, user_id, event_id,
                                  total_seats, total_price, status,
                                  cancelled_at)
    VALUES ('$ref', :'user', :'event', ${\ scalar @numbers}, 100.00,
            '$status', $cancelled)
    RETURNING id, event_id
), s AS (
    INSERT INTO evently.booking_seats (booking_id, event_id, seat_id,
                                       section_id, seat_number, row_label,
                                       section_name, price, active)
    SELECT b.id, b.event_id, st.id, st.section_id, st.seat_number,
           st.row_label, vs.name, 50.00, $active
    FROM b
    JOIN evently.events e ON e.id = b.event_id
    JOIN evently.venue_sections vs
      ON vs.template_id = e.venue_template_id
    JOIN evently.seats st ON st.section_id = vs.id
    WHERE st.seat_number IN ($list)
    RETURNING booking_id
)
SELECT DISTINCT booking_id FROM s;
_SQL_
}

my $booking = book($EA, 'CONFIRMED', 'A2', 'A3');
my $old_booking = book($EA, 'CANCELLED', 'A4');
like $booking, qr/^[0-9a-f-]{36}$/, 'fixture: a booking of A2, A3';

my $now_ms = int(time * 1000);
my $live = $now_ms + 600_000;
my $gone = $now_ms - 60_000;

redis('ZADD', "evently:event_held:$EA", $live, $seat{A3}, $live, $seat{A5},
      $live, $seat{'1-1'}, $live, $seat{A1}, $gone, $seat{B2});
redis('ZADD', 'evently:held_events', $live, $EA);
# a hold's hash, as the holds code writes it: must never leak
my $hold_id = '10000000-0000-4000-8000-0000000000ff';
redis('HSET', "evently:hold:$hold_id", 'user_id', $buyer->{id},
      'event_id', $EA, 'seat_ids', "$seat{A5},$seat{'1-1'}");

my $ng = start_nginx(name => 'layout', port => $port,
                     http_config => http_config(),
                     config => server_config(),
                     main_config => main_config());

# Redis connects asynchronously after nginx starts; until then holds are
# unknown (and left out), so wait for /health to see it up
sub redis_up {
    my $ok = wait_until(sub {
        my $h = api(GET => '/health', port => $port);
        return $h->{json} && $h->{json}{checks}{redis} eq 'up';
    }, timeout => 10, interval => 0.1);
    die "Redis never came up for nginx\n" if !$ok;
    return 1;
}

redis_up();

sub get {
    my ($path, $token) = @_;
    return api(GET => $path, port => $port,
               (defined $token ? (token => $token) : ()));
}

# ---- layout of EA -------------------------------------------------------------

{
    my $r = get("/api/v1/events/$EA/venue/layout", $user->{token});
    is $r->{status}, 200, 'layout: 200';
    my $d = $r->{json}{data};
    is $r->{json}{message}, 'Venue layout retrieved successfully',
        'layout: message';
    like $r->{body},
        qr/^\{"status":"success","status_code":200,"message":"[^"]+","data":\{"event_id"\s*:\s*"$EA",\s*"event_name"\s*:\s*"Event A",\s*"venue_info"\s*:\s*\{"template_id"\s*:\s*"10000000-0000-4000-8000-000000000001",\s*"template_name"\s*:\s*"Hall",\s*"layout_type"\s*:\s*"THEATER",\s*"description"\s*:\s*"A test hall"\},\s*"base_price"\s*:\s*99\.99,\s*"sections"\s*:\s*\[\{"id"\s*:\s*"$BACK",\s*"name"\s*:\s*"Back",\s*"price_multiplier"\s*:\s*1\.00,\s*"price"\s*:\s*99\.99,\s*"row_start"\s*:\s*"1",\s*"row_end"\s*:\s*"2",\s*"seats_per_row"\s*:\s*4,\s*"total_seats"\s*:\s*8,\s*"available_seats"\s*:\s*7,\s*"seats"\s*:\s*\[\{"id"\s*:\s*"$seat{'1-1'}",\s*"seat_number"\s*:\s*"1-1",\s*"row"\s*:\s*"1",\s*"position"\s*:\s*1,\s*"status"\s*:\s*"HELD",\s*"price"\s*:\s*99\.99,\s*"is_held"\s*:\s*true\}/s,
        'layout: VenueLayout keys in contract order, money with 2 decimals';
    like $r->{body}, qr/"total_seats"\s*:\s*18,\s*"available_seats"\s*:\s*13\}\}$/,
        'layout: total_seats 18 and available_seats 13 last';

    is $d->{event_id}, $EA, 'layout: event_id';
    is scalar @{ $d->{sections} }, 2, 'layout: two sections';
    my ($back, $front) = @{ $d->{sections} };
    is $back->{name}, 'Back', 'layout: sections by name (Back first)';
    is $front->{name}, 'Front', 'layout: then Front';
    is $front->{price_multiplier}, 1.5, 'layout: Front multiplier 1.5';
    like $r->{body}, qr/"name"\s*:\s*"Front",\s*"price_multiplier"\s*:\s*1\.50,\s*"price"\s*:\s*149\.99,/,
        'layout: Front price = round(99.99 x 1.5, 2) = 149.99 (exact)';

    is_deeply [map { $_->{seat_number} } @{ $front->{seats} }],
        [qw(A1 A2 A3 A4 A5 B1 B2 B3 B4 B5)], 'layout: Front seats by row, position';
    is_deeply [map { $_->{seat_number} } @{ $back->{seats} }],
        [qw(1-1 1-2 1-3 1-4 2-1 2-2 2-3 2-4)], 'layout: Back seats by row, position';

    my %st = map { $_->{seat_number} => $_ }
             @{ $front->{seats} }, @{ $back->{seats} };
    my %want = (A1 => 'BLOCKED', A2 => 'BOOKED', A3 => 'BOOKED',
                A4 => 'AVAILABLE', A5 => 'HELD', '1-1' => 'HELD',
                B2 => 'AVAILABLE');
    for my $n (sort grep { defined $want{$_} } keys %want) {
        is $st{$n}{status}, $want{$n}, "layout: $n is $want{$n}";
    }
    is scalar(grep { $_->{status} eq 'AVAILABLE' } values %st), 13,
        'layout: 13 AVAILABLE seats (expired hold, cancelled booking free)';
    is_deeply [sort map { $_->{seat_number} } grep { $_->{is_held} }
               values %st], [qw(1-1 A5)],
        'layout: is_held only for held seats that are not booked/blocked';
    is $st{A3}{is_held}, JSON::PP::false(), 'layout: A3 booked and held: BOOKED, not held';
    is $st{B1}{row}, 'B', 'layout: row label';
    is $st{'2-3'}{row}, '2', 'layout: number row label';
    is $st{'2-3'}{position}, 3, 'layout: position';
    is $st{A2}{id}, $seat{A2}, 'layout: seat id';
    is $front->{available_seats}, 6, 'layout: Front available 6';
    is $back->{available_seats}, 7, 'layout: Back available 7';
    is $front->{total_seats}, 10, 'layout: Front total 10';
    is $d->{total_seats}, 18, 'layout: total_seats 18';
    is $d->{available_seats}, 13, 'layout: available_seats 13';

    for my $secret ($buyer->{id}, $booking, $old_booking, $hold_id,
                    $buyer->{email})
    {
        unlike $r->{body}, qr/\Q$secret\E/,
            "layout: does not reveal $secret";
    }
    my @keys = sort keys %{ $front->{seats}[0] };
    is_deeply \@keys, [sort qw(id seat_number row position status price is_held)],
        'layout: a seat has exactly the contract keys';
}

# ---- the same counts everywhere for EA ----------------------------------------

{
    my $r = get("/api/v1/events/$EA/sections", $user->{token});
    is $r->{status}, 200, 'sections: 200';
    is $r->{json}{data}{event_id}, $EA, 'sections: event_id';
    my %s = map { $_->{name} => $_ } @{ $r->{json}{data}{sections} };
    is $s{Front}{available_seats}, 6, 'sections: Front available 6';
    is $s{Back}{available_seats}, 7, 'sections: Back available 7';
    is $s{Front}{price}, 149.99, 'sections: Front price';
    is $s{Back}{price_multiplier}, 1, 'sections: Back multiplier 1.00';
    like $r->{body}, qr/\{"id"\s*:\s*"$BACK",\s*"name"\s*:\s*"Back",\s*"description"\s*:\s*null,\s*"row_start"\s*:\s*"1",\s*"row_end"\s*:\s*"2",\s*"seats_per_row"\s*:\s*4,\s*"total_seats"\s*:\s*8,\s*"price_multiplier"\s*:\s*1\.00,\s*"price"\s*:\s*99\.99,\s*"available_seats"\s*:\s*7\}/,
        'sections: a section in full, key order';
    is_deeply [map { $_->{name} } @{ $r->{json}{data}{sections} }],
        [qw(Back Front)], 'sections: by name';
    unlike $r->{body}, qr/\Q$buyer->{id}\E/, 'sections: no user id';

    for my $case (["/api/v1/events/$EA", undef, 'public detail'],
                  ["/api/v1/admin/events/$EA", $admin->{token},
                   'admin detail'])
    {
        my ($path, $token, $what) = @$case;
        my $d = get($path, $token);
        is $d->{status}, 200, "$what: 200";
        is $d->{json}{data}{total_capacity}, 17, "$what: total_capacity 17";
        is $d->{json}{data}{booked_count}, 2, "$what: booked_count 2";
        is $d->{json}{data}{available_tickets}, 13,
            "$what: available_tickets 13";
        my %vs = map { $_->{name} => $_ } @{ $d->{json}{data}{venue_sections} };
        is $vs{Front}{price}, 149.99, "$what: venue_sections price";
    }

    for my $case (['/api/v1/events', undef, 'public list'],
                  ['/api/v1/events/upcoming', undef, 'upcoming'],
                  ['/api/v1/admin/events', $admin->{token}, 'admin list'])
    {
        my ($path, $token, $what) = @$case;
        my $l = get($path, $token);
        is $l->{status}, 200, "$what: 200";
        my %e = map { $_->{id} => $_ } @{ $l->{json}{data}{events} };
        is $e{$EA}{available_tickets}, 13, "$what: EA available 13";
        is $e{$EA}{booked_count}, 2, "$what: EA booked 2";
        is $e{$EA}{total_capacity}, 17, "$what: EA capacity 17";
        is $e{$EB}{available_tickets}, 17, "$what: EB available 17";
        ok !exists $e{$EA}{venue_sections}, "$what: no venue_sections";
    }
}

# ---- a hold on EA does not touch EB (same template) ---------------------------

{
    my $r = get("/api/v1/events/$EB/venue/layout", $user->{token});
    is $r->{status}, 200, 'EB layout: 200';
    my @seats = map { @{ $_->{seats} } } @{ $r->{json}{data}{sections} };
    is scalar @seats, 18, 'EB layout: 18 seats';
    is_deeply [map { $_->{seat_number} } grep { $_->{status} ne 'AVAILABLE' }
               @seats], ['A1'], 'EB layout: only A1 (BLOCKED) unavailable';
    is $r->{json}{data}{available_seats}, 17, 'EB layout: available 17';
    my %s = map { $_->{name} => $_ } @{ $r->{json}{data}{sections} };
    is $s{Front}{price}, 200, 'EB layout: no multiplier row = 1.00';

    my $d = get("/api/v1/events/$EB");
    is $d->{json}{data}{available_tickets}, 17, 'EB detail: available 17';
    is $d->{json}{data}{booked_count}, 0, 'EB detail: booked 0';

    my $sec = get("/api/v1/events/$EB/sections", $user->{token});
    is_deeply [map { $_->{available_seats} } @{ $sec->{json}{data}{sections} }],
        [8, 9], 'EB sections: Back 8, Front 9';
}

# ---- a hold on EB appears live, and goes when it expires ------------------------

{
    my $soon = int(time * 1000) + 600_000;
    redis('ZADD', "evently:event_held:$EB", $soon, $seat{B5});
    redis('ZADD', 'evently:held_events', $soon, $EB);

    my $d = get("/api/v1/events/$EB");
    is $d->{json}{data}{available_tickets}, 16, 'EB held B5: detail 16';
    my $l = get('/api/v1/events');
    my %e = map { $_->{id} => $_ } @{ $l->{json}{data}{events} };
    is $e{$EB}{available_tickets}, 16, 'EB held B5: list 16';
    is $e{$EA}{available_tickets}, 13, 'EB held B5: EA still 13';

    # the hold expires (its score is its expiry): counted no more
    redis('ZADD', "evently:event_held:$EB", int(time * 1000) - 1, $seat{B5});
    $d = get("/api/v1/events/$EB");
    is $d->{json}{data}{available_tickets}, 17, 'EB hold expired: detail 17';
    $l = get('/api/v1/events');
    %e = map { $_->{id} => $_ } @{ $l->{json}{data}{events} };
    is $e{$EB}{available_tickets}, 17, 'EB hold expired: list 17';
}

# ---- a booking made in SQL shows at once (no stale cache) -----------------------

{
    my $b2 = book($EB, 'CONFIRMED', '2-4');
    my $d = get("/api/v1/events/$EB");
    is $d->{json}{data}{booked_count}, 1, 'EB booked 2-4: booked 1';
    is $d->{json}{data}{available_tickets}, 16, 'EB booked 2-4: available 16';
    my $r = get("/api/v1/events/$EB/venue/layout", $user->{token});
    my ($s) = grep { $_->{seat_number} eq '2-4' }
              map { @{ $_->{seats} } } @{ $r->{json}{data}{sections} };
    is $s->{status}, 'BOOKED', 'EB layout: 2-4 BOOKED';

    # blocking a seat: capacity drops, the seat shows BLOCKED
    psql("UPDATE evently.seats SET status = 'BLOCKED' WHERE id = :'id'",
         { id => $seat{'2-1'} });
    $d = get("/api/v1/events/$EB");
    is $d->{json}{data}{total_capacity}, 16, 'EB 2-1 blocked: capacity 16';
    is $d->{json}{data}{available_tickets}, 15, 'EB 2-1 blocked: available 15';
    # a blocked seat that is also booked counts once
    psql("UPDATE evently.seats SET status = 'BLOCKED' WHERE id = :'id'",
         { id => $seat{'2-4'} });
    $d = get("/api/v1/events/$EB");
    is $d->{json}{data}{total_capacity}, 15, 'EB 2-4 booked+blocked: capacity 15';
    is $d->{json}{data}{booked_count}, 1, 'EB 2-4 booked+blocked: booked 1';
    is $d->{json}{data}{available_tickets}, 15,
        'EB 2-4 booked+blocked: available 15 (not 14)';
    $r = get("/api/v1/events/$EB/venue/layout", $user->{token});
    ($s) = grep { $_->{seat_number} eq '2-4' }
           map { @{ $_->{seats} } } @{ $r->{json}{data}{sections} };
    is $s->{status}, 'BLOCKED', 'EB layout: BLOCKED wins over BOOKED';
    is $r->{json}{data}{available_seats}, 15, 'EB layout: available 15';
    psql("UPDATE evently.seats SET status = 'AVAILABLE'
          WHERE id IN (:'a', :'b')", { a => $seat{'2-1'}, b => $seat{'2-4'} });
}

# ---- errors and access ---------------------------------------------------------------

{
    for my $what (qw(venue/layout sections)) {
        my $r = get("/api/v1/events/$EA/$what");
        is $r->{status}, 401, "$what: no token 401";
        $r = get("/api/v1/events/$ED/$what", $user->{token});
        is $r->{status}, 404, "$what: draft event, USER: 404";
        is $r->{json}{errors}{code}, 'EVENT_NOT_FOUND',
            "$what: draft: EVENT_NOT_FOUND";
        $r = get("/api/v1/events/$ED/$what", $admin->{token});
        is $r->{status}, 200, "$what: draft event, ADMIN: 200";
        $r = get("/api/v1/events/10000000-0000-4000-8000-00000000beef/$what",
                 $user->{token});
        is $r->{status}, 404, "$what: unknown event 404";
        is $r->{json}{errors}{code}, 'EVENT_NOT_FOUND',
            "$what: unknown: EVENT_NOT_FOUND";
        $r = get("/api/v1/events/not-a-uuid/$what", $user->{token});
        is $r->{status}, 400, "$what: bad UUID 400";
        is $r->{json}{errors}{code}, 'INVALID_ID', "$what: INVALID_ID";
        $r = api(POST => "/api/v1/events/$EA/$what", port => $port,
                 token => $user->{token}, body => {});
        is $r->{status}, 405, "$what: POST 405";
        like $r->{headers}{allow}, qr/^GET/, "$what: Allow: GET";
        $r = get("/api/v1/events/\U$EA\E/$what", $user->{token});
        is $r->{status}, 200, "$what: upper-case UUID accepted";
        is $r->{json}{data}{event_id}, $EA, "$what: ... and lower-cased";
    }
}

ok stop_nginx('layout'), 'nginx stopped';
no_alerts_ok($ng);

# ---- Redis unreachable: PostgreSQL alone answers --------------------------------

{
    my $ng2 = start_nginx(name => 'layout-noredis', port => $port,
                          http_config => http_config(
                              redis => '127.0.0.1:1',
                              redis_connect_timeout => '200ms'),
                          config => server_config(),
                          main_config => main_config());

    my $d = get("/api/v1/events/$EA");
    is $d->{status}, 200, 'no Redis: detail still 200';
    is $d->{json}{data}{booked_count}, 2, 'no Redis: booked 2';
    is $d->{json}{data}{available_tickets}, 15,
        'no Redis: available 15 (bookings only)';
    is $d->{headers}{'evently-holds'}, 'unknown',
        'no Redis: the answer says holds are unknown';
    my $r = get("/api/v1/events/$EA/venue/layout", $user->{token});
    is $r->{status}, 200, 'no Redis: layout 200';
    is $r->{json}{data}{available_seats}, 15, 'no Redis: layout available 15';
    my $l = get('/api/v1/events');
    is $l->{status}, 200, 'no Redis: list 200';
    is $l->{headers}{'evently-holds'}, 'unknown',
        'no Redis: the list says holds are unknown';

    ok stop_nginx('layout-noredis'), 'nginx (no Redis) stopped';
}

# ---- a 10,000-seat venue: one section 100 x 100 ----------------------------------

{
    psql(<<'_SQL_');
INSERT INTO evently.venue_templates (id, name, default_rows,
                                     default_seats_per_row, layout_type)
VALUES ('10000000-0000-4000-8000-000000000002', 'Stadium', 50, 100,
        'STADIUM');
INSERT INTO evently.venue_sections (id, template_id, name, row_start,
                                    row_end, seats_per_row, total_seats)
VALUES ('10000000-0000-4000-8000-000000000021',
        '10000000-0000-4000-8000-000000000002', 'Bowl', '1', '100', 100,
        10000);
SELECT evently.generate_seats('10000000-0000-4000-8000-000000000021');
UPDATE evently.seats SET status = 'BLOCKED'
WHERE section_id = '10000000-0000-4000-8000-000000000021'
  AND seat_number = '100-100';
INSERT INTO evently.events (id, name, venue, venue_template_id, date_time,
                            base_price)
VALUES ('10000000-0000-4000-8000-0000000000c1', 'Big Match', 'Stadium',
        '10000000-0000-4000-8000-000000000002', now() + interval '20 days',
        1000.00);
_SQL_
    my $EC = '10000000-0000-4000-8000-0000000000c1';
    my %big = map { $_->[0] => $_->[1] } @{ psql_rows(<<'_SQL_') };
SELECT seat_number, id FROM evently.seats
WHERE section_id = '10000000-0000-4000-8000-000000000021'
  AND seat_number IN ('1-1', '1-2', '50-50', '99-1', '100-100', '7-7')
_SQL_
    book($EC, 'CONFIRMED', '1-1', '1-2');
    my $exp = int(time * 1000) + 600_000;
    redis('ZADD', "evently:event_held:$EC", $exp, $big{'50-50'}, $exp,
          $big{'99-1'}, $exp, $big{'7-7'});
    redis('ZADD', 'evently:held_events', $exp, $EC);

    my $ng3 = start_nginx(name => 'layout-big', port => $port,
                          http_config => http_config(),
                          config => server_config(),
                          main_config => main_config());
    redis_up();

    my $t0 = time;
    my $r = api(GET => "/api/v1/events/$EC/venue/layout", port => $port,
                token => $user->{token}, timeout => 30);
    my $ms = int((time - $t0) * 1000);
    is $r->{status}, 200, "10k layout: 200 (${ms} ms)";
    my $d = $r->{json}{data};
    my @seats = @{ $d->{sections}[0]{seats} };
    is scalar @seats, 10_000, '10k layout: 10,000 seats';
    my %count;
    $count{ $_->{status} }++ for @seats;
    is_deeply \%count, { AVAILABLE => 9994, BOOKED => 2, HELD => 3,
                         BLOCKED => 1 }, '10k layout: statuses';
    is $d->{total_seats}, 10_000, '10k layout: total_seats';
    is $d->{available_seats}, 9994, '10k layout: available_seats';
    is $d->{sections}[0]{available_seats}, 9994,
        '10k layout: section available_seats';
    is $seats[0]{seat_number}, '1-1', '10k layout: first seat 1-1';
    is $seats[100]{seat_number}, '2-1', '10k layout: 101st seat 2-1';
    is $seats[-1]{seat_number}, '100-100', '10k layout: last seat 100-100';
    my %ids;
    $ids{ $_->{id} }++ for @seats;
    is scalar keys %ids, 10_000, '10k layout: 10,000 distinct seat ids';
    ok $ms < 10_000, "10k layout answered in ${ms} ms";

    my $dd = get("/api/v1/events/$EC");
    is $dd->{json}{data}{total_capacity}, 9999, '10k detail: capacity 9999';
    is $dd->{json}{data}{booked_count}, 2, '10k detail: booked 2';
    is $dd->{json}{data}{available_tickets}, 9994, '10k detail: available 9994';
    my $sec = get("/api/v1/events/$EC/sections", $user->{token});
    is $sec->{json}{data}{sections}[0]{available_seats}, 9994,
        '10k sections: available 9994';

    ok stop_nginx('layout-big'), 'nginx (10k) stopped';
    no_alerts_ok($ng3);
}

done_testing;
