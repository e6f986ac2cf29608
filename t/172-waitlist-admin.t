# Waitlist, the admin routes: GET /admin/waitlist/entries/{eventId},
# GET /admin/waitlist/stats/{eventId}, POST /admin/waitlist/notify/{id},
# POST /admin/waitlist/cancellation/{id} -- success, every error,
# authorization, exact statistics (no NaN, no null), and the sweeper when
# PostgreSQL or Redis is down (logged once, never every second).

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use Evently::Test;

my $port = $ENV{TEST_NGINX_PORT} // 1984;
my $port2 = $port + 50;

my $tpl = '00000000-0000-4000-8000-00000000c201';
my $sec = '00000000-0000-4000-8000-00000000c301';
my $ev = '00000000-0000-4000-8000-00000000c401';       # the line
my $empty = '00000000-0000-4000-8000-00000000c402';    # nobody waits
my $hist = '00000000-0000-4000-8000-00000000c403';     # fixed history
my $draft = '00000000-0000-4000-8000-00000000c404';
my $nowhere = '00000000-0000-4000-8000-00000000dead';

reset_db();
seed();

psql(q{
    INSERT INTO evently.venue_templates (id, name, default_rows,
                                         default_seats_per_row, layout_type)
    VALUES (:'tpl', 'Admin Room', 1, 3, 'GENERAL');
    INSERT INTO evently.venue_sections (id, template_id, name, row_start,
                                        row_end, seats_per_row, total_seats)
    VALUES (:'sec', :'tpl', 'Floor', 'A', 'A', 3, 3);
    SELECT evently.generate_seats(:'sec');
    INSERT INTO evently.events (id, name, venue, venue_template_id,
                                date_time, base_price, status)
    VALUES (:'ev', 'Admin Show', 'Admin Room', :'tpl',
            now() + interval '10 days', 50, 'published'),
           (:'empty', 'Empty Show', 'Admin Room', :'tpl',
            now() + interval '10 days', 50, 'published'),
           (:'hist', 'History Show', 'Admin Room', :'tpl',
            now() - interval '10 days', 50, 'completed'),
           (:'draft', 'Draft Show', 'Admin Room', :'tpl',
            now() + interval '10 days', 50, 'draft');
}, { tpl => $tpl, sec => $sec, ev => $ev, empty => $empty, hist => $hist,
     draft => $draft });

my %seat = map { $_->[1] => $_->[0] } @{ psql_rows(q{
    SELECT id, seat_number FROM evently.seats WHERE section_id = :'sec'},
    { sec => $sec }) };

my $buyer = create_user(email => 'adm-buyer@example.com');
my $admin = create_user(email => 'adm-admin@example.com', role => 'ADMIN');
my @u = map { create_user(email => "adm-user$_\@example.com") } 1 .. 7;

my $ng_wl_admin = start_nginx(name => 'wl-admin', port => $port,
            http_config => http_config(
                extra => 'evently_waitlist_offer_ttl 120s;'),
            main_config => main_config(), config => server_config());

sub call { my ($m, $p, %o) = @_; return api($m, $p, port => $port, %o) }

sub err_is {
    my ($res, $status, $code, $name) = @_;
    is $res->{status}, $status, "$name: status $status";
    is $res->{json}{errors}{code}, $code, "$name: code $code";
    is $res->{json}{status}, 'error', "$name: error envelope";
}

sub entries {
    my ($query, $event) = @_;
    return call(GET => '/api/v1/admin/waitlist/entries/' . ($event // $ev)
                       . ($query // ''), token => $admin->{token});
}

sub stats {
    my ($event, $token) = @_;
    return call(GET => "/api/v1/admin/waitlist/stats/$event",
                token => $token // $admin->{token});
}

# sold out through the API, then seven people wait
my $res = call(POST => '/api/v1/seats/hold', token => $buyer->{token},
               body => { event_id => $ev, seat_ids => [ values %seat ] });
$res = call(POST => '/api/v1/bookings/confirm', token => $buyer->{token},
            body => { hold_id => $res->{json}{data}{hold_id},
                      event_id => $ev });
is $res->{status}, 201, 'the event is sold out';
my $booking = $res->{json}{data}{booking_id};

for my $i (0 .. 6) {
    $res = call(POST => '/api/v1/waitlist', token => $u[$i]{token},
                body => { event_id => $ev, quantity => $i % 2 + 1 });
    is $res->{json}{data}{position}, $i + 1, "user $i waits at " . ($i + 1);
}
call(DELETE => "/api/v1/waitlist/$ev", token => $u[1]{token});

# ---- entries ---------------------------------------------------------------

$res = entries();
is $res->{status}, 200, 'entries: 200';
is $res->{json}{message}, 'Waitlist entries retrieved successfully',
    'entries: message';
my $d = $res->{json}{data};
is $d->{total_count}, 7, 'entries: every entry by default';
is $d->{page}, 1, 'entries: page 1';
is $d->{limit}, 50, 'entries: default limit 50';
is $d->{total_pages}, 1, 'entries: total_pages';
is_deeply [ map { $_->{user_id} } @{ $d->{entries} } ],
          [ map { $_->{id} } @u ], 'entries: by position (joining order)';
is_deeply [ map { $_->{position} } @{ $d->{entries} } ],
          [ 1, undef, 2, 3, 4, 5, 6 ],
          'entries: live positions, none for the one who left';
is $d->{entries}[1]{status}, 'CANCELLED', 'entries: the leaver CANCELLED';
is_deeply [ grep { !exists $d->{entries}[0]{$_} }
            qw(id event_id user_id position quantity status preferences
               joined_at notified_at expires_at estimated_wait_seconds) ],
          [], 'entries: WaitlistEntry fields';

$res = entries('?limit=2&page=2');
$d = $res->{json}{data};
is $d->{total_pages}, 4, 'entries: limit 2: 4 pages';
is $d->{limit}, 2, 'entries: limit echoed';
is $d->{page}, 2, 'entries: page echoed';
is_deeply [ map { $_->{position} } @{ $d->{entries} } ], [ 2, 3 ],
    'entries: page 2 keeps the live positions';
$res = entries('?limit=2&page=9');
is_deeply $res->{json}{data}{entries}, [], 'entries: past the end: empty';
is $res->{json}{data}{total_count}, 7, 'entries: past the end: total';

$res = entries('?status=active&limit=3&page=2');
$d = $res->{json}{data};
is $d->{total_count}, 6, 'entries: status=active (any case): 6';
is_deeply [ map { $_->{position} } @{ $d->{entries} } ], [ 4, 5, 6 ],
    'entries: filtered and paged, positions exact';
$res = entries('?status=CANCELLED');
is $res->{json}{data}{total_count}, 1, 'entries: status=CANCELLED';
is $res->{json}{data}{entries}[0]{user_id}, $u[1]{id},
    'entries: the one who left';
$res = entries(undef, $empty);
is $res->{json}{data}{total_count}, 0, 'entries of an empty line: 0';
is_deeply $res->{json}{data}{entries}, [], 'entries of an empty line: []';
is $res->{json}{data}{total_pages}, 0, 'entries of an empty line: 0 pages';

err_is(entries('?limit=0'), 400, 'VALIDATION_FAILED', 'entries: limit 0');
err_is(entries('?limit=101'), 400, 'VALIDATION_FAILED', 'entries: limit 101');
err_is(entries('?page=0'), 400, 'VALIDATION_FAILED', 'entries: page 0');
err_is(entries('?limit=ten'), 400, 'VALIDATION_FAILED', 'entries: limit ten');
err_is(entries('?status=LOST'), 400, 'VALIDATION_FAILED', 'entries: status');
err_is(entries(undef, $nowhere), 404, 'EVENT_NOT_FOUND',
       'entries: unknown event');
err_is(entries(undef, 'x1'), 400, 'INVALID_ID', 'entries: bad id');
err_is(call(GET => "/api/v1/admin/waitlist/entries/$ev",
            token => $u[0]{token}), 403, 'FORBIDDEN', 'entries: a user');
err_is(call(GET => "/api/v1/admin/waitlist/entries/$ev"), 401,
       'AUTH_REQUIRED', 'entries: no token');
is call(POST => "/api/v1/admin/waitlist/entries/$ev",
        token => $admin->{token}, body => {})->{status}, 405,
   'entries: POST is 405';

# ---- notify and cancellation -----------------------------------------------

for my $path ('notify', 'cancellation') {
    my $field = $path eq 'notify' ? 'available_tickets' : 'freed_tickets';
    my $url = "/api/v1/admin/waitlist/$path";

    for my $case ([ 'missing', {} ], [ 'zero', { $field => 0 } ],
                  [ 'negative', { $field => -1 } ],
                  [ 'too many', { $field => 1001 } ],
                  [ 'a string', { $field => 'five' } ],
                  [ 'a fraction', { $field => 1.5 } ])
    {
        $res = call(POST => "$url/$ev", token => $admin->{token},
                    body => $case->[1]);
        err_is($res, 400, 'VALIDATION_FAILED', "$path: $field $case->[0]");
        ok $res->{json}{errors}{fields}{$field},
           "$path: $field $case->[0]: the field";
    }

    err_is(call(POST => "$url/$ev", token => $admin->{token},
                body => '{"x":'), 400, 'INVALID_JSON',
           "$path: malformed JSON");
    err_is(call(POST => "$url/$nowhere", token => $admin->{token},
                body => { $field => 1 }), 404, 'EVENT_NOT_FOUND',
           "$path: unknown event");
    err_is(call(POST => "$url/$draft", token => $admin->{token},
                body => { $field => 1 }), 409, 'EVENT_NOT_ON_SALE',
           "$path: unpublished event");
    err_is(call(POST => "$url/$hist", token => $admin->{token},
                body => { $field => 1 }), 409, 'EVENT_NOT_ON_SALE',
           "$path: past event");
    err_is(call(POST => "$url/nope", token => $admin->{token},
                body => { $field => 1 }), 400, 'INVALID_ID',
           "$path: bad id");
    err_is(call(POST => "$url/$ev", token => $u[0]{token},
                body => { $field => 1 }), 403, 'FORBIDDEN',
           "$path: a user");
    err_is(call(POST => "$url/$ev", body => { $field => 1 }), 401,
           'AUTH_REQUIRED', "$path: no token");
    is call(GET => "$url/$ev", token => $admin->{token})->{status}, 405,
       "$path: GET is 405";

    $res = call(POST => "$url/$ev", token => $admin->{token},
                body => { $field => 3 });
    is $res->{status}, 200, "$path with nothing free: 200";
    is $res->{json}{data}{offered_seats}, 0,
       "$path with nothing free: nothing offered";
    is $res->{json}{data}{waiting}, 6, "$path: six waiting";
}

# the booking is cancelled (in SQL, without telling the waitlist): three
# seats free; the admin offers two
psql(q{
    UPDATE evently.bookings SET status = 'CANCELLED', cancelled_at = now(),
                                version = version + 1
     WHERE id = :'b';
    UPDATE evently.booking_seats SET active = false WHERE booking_id = :'b';
}, { b => $booking });
redis('DEL', map { "evently:seat:$ev:$_" } values %seat);

$res = call(POST => "/api/v1/admin/waitlist/notify/$ev",
            token => $admin->{token}, body => { available_tickets => 2 },
            headers => { 'Idempotency-Key' => 'notify-1' });
is $res->{status}, 200, 'notify 2: 200';
is $res->{json}{message}, 'Waitlist notified successfully', 'notify: message';
$d = $res->{json}{data};
is $d->{offered_seats}, 2, 'notify 2: two seats offered';
is $d->{notified}, 2, 'notify 2: two people notified';
is_deeply [ map { $_->{user_id} } @{ $d->{offers} } ],
          [ $u[0]{id}, $u[2]{id} ], 'notify 2: u0 and u2 (1 seat each)';
my $replay = call(POST => "/api/v1/admin/waitlist/notify/$ev",
                  token => $admin->{token},
                  body => { available_tickets => 2 },
                  headers => { 'Idempotency-Key' => 'notify-1' });
is $replay->{body}, $res->{body},
   'notify retried with its Idempotency-Key: the same answer';
is psql(q{SELECT count(*) FROM evently.waitlist_entries
           WHERE event_id = :'e' AND status = 'NOTIFIED'}, { e => $ev }), 2,
   'the retry offered nothing more';

$res = call(POST => "/api/v1/admin/waitlist/cancellation/$ev",
            token => $admin->{token}, body => { freed_tickets => 2 });
is $res->{status}, 200, 'cancellation 2: 200';
is $res->{json}{message}, 'Freed seats offered to the waitlist',
    'cancellation: message';
$d = $res->{json}{data};
is $d->{offered_seats}, 1, 'cancellation: the one seat left';
is_deeply [ map { $_->{user_id} } @{ $d->{offers} } ], [ $u[4]{id} ],
    'cancellation: u3 (2 seats) does not fit, u4 (1 seat) is served';
is $d->{offers}[0]{quantity}, 1, 'cancellation: offer quantity';
is scalar @{ $d->{offers}[0]{seat_ids} }, 1, 'cancellation: one seat';
like $d->{offers}[0]{hold_id}, qr/^[0-9a-f-]{36}$/, 'cancellation: hold_id';
like $d->{offers}[0]{expires_at}, qr/Z$/, 'cancellation: expires_at';
is $d->{offers}[0]{event_id}, $ev, 'cancellation: event_id';
ok $d->{offers}[0]{entry_id}, 'cancellation: entry_id';
is $d->{waiting}, 3, 'cancellation: three still waiting';
is redis('HGET', "evently:hold:$d->{offers}[0]{hold_id}", 'user_id'),
   $u[4]{id}, 'cancellation: the hold is in Redis';
is call(GET => "/api/v1/waitlist/status/$ev",
        token => $u[3]{token})->{json}{data}{position}, 1,
   'u3 keeps the head of the line';

$res = entries('?status=NOTIFIED');
is_deeply [ map { $_->{user_id} } @{ $res->{json}{data}{entries} } ],
          [ $u[0]{id}, $u[2]{id}, $u[4]{id} ], 'entries: the notified';
ok !defined $res->{json}{data}{entries}[0]{position},
   'entries: no position when notified';

# ---- statistics ------------------------------------------------------------

$res = stats($ev);
is $res->{status}, 200, 'stats: 200';
is $res->{json}{message}, 'Waitlist statistics retrieved successfully',
    'stats: message';
$d = $res->{json}{data};
is_deeply [ @$d{qw(event_id active notified converted expired cancelled)} ],
          [ $ev, 3, 3, 0, 0, 1 ], 'stats: the counts of the live line';
is $d->{average_wait_seconds},
   psql(q{SELECT round(avg(extract(epoch FROM notified_at - joined_at)), 2)
            FROM evently.waitlist_entries
           WHERE event_id = :'e' AND status = 'NOTIFIED'}, { e => $ev }) + 0,
   'stats: the average wait of the notified, from the database';

$res = stats($empty);
is $res->{status}, 200, 'stats of an empty line: 200';
is_deeply $res->{json}{data},
          { event_id => $empty, active => 0, notified => 0, converted => 0,
            expired => 0, cancelled => 0, average_wait_seconds => 0 },
          'stats of an empty line: zeros';
unlike $res->{body}, qr/NaN|null|Infinity/i,
       'stats of an empty line: no NaN, no null';

# a fixed history: waits of 60 (notified), 30 and 90 s (converted); the
# expired one (1000 s) and the others do not count
psql(q{
    INSERT INTO evently.waitlist_entries (event_id, user_id, quantity,
                                          status, joined_at, notified_at,
                                          expires_at)
    VALUES (:'e', :'u1', 1, 'ACTIVE', now() - interval '1 hour', NULL, NULL),
           (:'e', :'u2', 1, 'NOTIFIED', now() - interval '10 min',
            now() - interval '9 min', now() + interval '1 hour'),
           (:'e', :'u3', 1, 'CONVERTED', now() - interval '20 min',
            now() - interval '19 min 30 s', now()),
           (:'e', :'u4', 2, 'CONVERTED', now() - interval '30 min',
            now() - interval '28 min 30 s', now()),
           (:'e', :'u5', 1, 'EXPIRED', now() - interval '1 hour',
            now() - interval '1 hour' + interval '1000 s', now()),
           (:'e', :'u6', 1, 'CANCELLED', now() - interval '1 hour', NULL,
            NULL),
           (:'e', :'u7', 1, 'CANCELLED', now() - interval '1 hour', NULL,
            NULL);
}, { e => $hist, map { ("u$_" => $u[$_ - 1]{id}) } 1 .. 7 });
$res = stats($hist);
is_deeply $res->{json}{data},
          { event_id => $hist, active => 1, notified => 1, converted => 2,
            expired => 1, cancelled => 2, average_wait_seconds => 60 },
          'stats of a fixed history: exact';

err_is(stats($nowhere), 404, 'EVENT_NOT_FOUND', 'stats: unknown event');
err_is(stats('12'), 400, 'INVALID_ID', 'stats: bad id');
err_is(stats($ev, $u[0]{token}), 403, 'FORBIDDEN', 'stats: a user');
err_is(call(GET => "/api/v1/admin/waitlist/stats/$ev"), 401,
       'AUTH_REQUIRED', 'stats: no token');

ok stop_nginx('wl-admin'), 'nginx stopped cleanly';
no_alerts_ok($ng_wl_admin);

# ---- the sweeper with PostgreSQL down: one line in the log, not one a second 

my $ng_wl_nopg = start_nginx(name => 'wl-nopg', port => $port2,
            http_config => http_config(
                postgres => 'host=127.0.0.1 port=1 dbname=x user=x '
                            . 'connect_timeout=1'),
            main_config => main_config(), config => server_config());
sleep 4.5;
ok stop_nginx('wl-nopg'), 'nginx without PostgreSQL stopped cleanly';
my @lines = grep { /waitlist sweeper/ && !/\[debug\]/ }
            split /\n/, error_log_text($ng_wl_nopg);
is scalar @lines, 1, 'PostgreSQL down for 4 s: the sweeper said so once';
like $lines[0] // '', qr/\[warn\].*PostgreSQL is unavailable.*quietly/,
     'PostgreSQL down: a warning, not an error';
no_alerts_ok($ng_wl_nopg);

# ---- and with Redis down: joining works, offers wait, the admin gets 503 ---

my $ng_wl_noredis = start_nginx(name => 'wl-noredis', port => $port2,
            http_config => http_config(redis => '127.0.0.1:1'),
            main_config => main_config(), config => server_config());
$res = api(POST => '/api/v1/waitlist', port => $port2,
           token => $u[1]{token}, body => { event_id => $ev, quantity => 1 });
is $res->{status}, 201, 'Redis down: joining still works';
is $res->{json}{data}{status}, 'ACTIVE',
   'Redis down: no offer without knowing the held seats';
$res = api(POST => "/api/v1/admin/waitlist/notify/$ev", port => $port2,
           token => $admin->{token}, body => { available_tickets => 1 });
err_is($res, 503, 'REDIS_UNAVAILABLE', 'Redis down: notify');
$res = api(GET => "/api/v1/admin/waitlist/stats/$ev", port => $port2,
           token => $admin->{token});
is $res->{status}, 200, 'Redis down: stats still work';
sleep 3.5;
ok stop_nginx('wl-noredis'), 'nginx without Redis stopped cleanly';
@lines = grep { /waitlist sweeper/ && !/\[debug\]/ }
         split /\n/, error_log_text($ng_wl_noredis);
is scalar @lines, 1, 'Redis down for 3 s: the sweeper said so once';
no_alerts_ok($ng_wl_noredis);

done_testing;
