# Waitlist, the user's routes: POST /waitlist, DELETE /waitlist/{eventId},
# GET /waitlist/status/{eventId} -- success, every error, authorization,
# FIFO order and live positions (never stored, so never stale).

use strict;
use warnings;

use Test::More;
use Evently::Test;

my $port = $ENV{TEST_NGINX_PORT} // 1984;

my $tpl = '00000000-0000-4000-8000-00000000a201';
my $sec = '00000000-0000-4000-8000-00000000a301';
my $ev = '00000000-0000-4000-8000-00000000a401';       # 4 seats, sold out
my $draft = '00000000-0000-4000-8000-00000000a402';
my $past = '00000000-0000-4000-8000-00000000a403';
my $nowhere = '00000000-0000-4000-8000-00000000dead';

reset_db();
seed();

# a room of 4 seats, A1..A4, and three events on it
psql(q{
    INSERT INTO evently.venue_templates (id, name, default_rows,
                                         default_seats_per_row, layout_type)
    VALUES (:'tpl', 'Waitlist Room', 1, 4, 'GENERAL');
    INSERT INTO evently.venue_sections (id, template_id, name, row_start,
                                        row_end, seats_per_row, total_seats)
    VALUES (:'sec', :'tpl', 'Floor', 'A', 'A', 4, 4);
    SELECT evently.generate_seats(:'sec');
    INSERT INTO evently.events (id, name, venue, venue_template_id,
                                date_time, base_price, status)
    VALUES (:'ev', 'Sold Out Show', 'Waitlist Room', :'tpl',
            now() + interval '10 days', 100, 'published'),
           (:'draft', 'Draft Show', 'Waitlist Room', :'tpl',
            now() + interval '10 days', 100, 'draft'),
           (:'past', 'Past Show', 'Waitlist Room', :'tpl',
            now() - interval '1 day', 100, 'published');
}, { tpl => $tpl, sec => $sec, ev => $ev, draft => $draft, past => $past });

my %seat = map { $_->[1] => $_->[0] } @{ psql_rows(q{
    SELECT id, seat_number FROM evently.seats WHERE section_id = :'sec'},
    { sec => $sec }) };

my $buyer = create_user(email => 'wl-buyer@example.com');
my @u = map { create_user(email => "wl-user$_\@example.com") } 1 .. 5;
my $admin = create_user(email => 'wl-admin@example.com', role => 'ADMIN');

my $ng_waitlist = start_nginx(name => 'waitlist', port => $port,
            http_config => http_config(), main_config => main_config(),
            config => server_config());

sub call { my ($m, $p, %o) = @_; return api($m, $p, port => $port, %o) }

sub err_is {
    my ($res, $status, $code, $name) = @_;
    is $res->{status}, $status, "$name: status $status";
    is $res->{json}{errors}{code}, $code, "$name: code $code";
    is $res->{json}{status}, 'error', "$name: error envelope";
}

sub join_wl {
    my ($user, %body) = @_;
    return call(POST => '/api/v1/waitlist', token => $user->{token},
                body => { event_id => $ev, quantity => 1, %body });
}

sub status_of {
    my ($user, $event) = @_;
    return call(GET => '/api/v1/waitlist/status/' . ($event // $ev),
                token => $user->{token});
}

sub position_of { return status_of(@_)->{json}{data}{position} }

# ---- the event sells out, through the real API -----------------------------

my $res = call(POST => '/api/v1/seats/hold', token => $buyer->{token},
               body => { event_id => $ev,
                         seat_ids => [ @seat{qw(A1 A2 A3 A4)} ] });
is $res->{status}, 201, 'every seat held';
$res = call(POST => '/api/v1/bookings/confirm', token => $buyer->{token},
            body => { hold_id => $res->{json}{data}{hold_id},
                      event_id => $ev, payment_method => 'card' });
is $res->{status}, 201, 'every seat booked: sold out';

# ---- joining ---------------------------------------------------------------

$res = join_wl($u[0], quantity => 2,
               preferences => { section_preference => 'VIP',
                                notification_channels => ['EMAIL'] });
is $res->{status}, 201, 'join: 201';
is $res->{json}{message}, 'Joined the waitlist successfully', 'join: message';
my $e1 = $res->{json}{data};
like $e1->{id}, qr/^[0-9a-f-]{36}$/, 'join: id';
is $e1->{event_id}, $ev, 'join: event_id';
is $e1->{user_id}, $u[0]{id}, 'join: user_id is the caller';
is $e1->{position}, 1, 'join: position 1';
is $e1->{quantity}, 2, 'join: quantity';
is $e1->{status}, 'ACTIVE', 'join: ACTIVE';
is_deeply $e1->{preferences}, { section_preference => 'VIP',
                                notification_channels => ['EMAIL'] },
    'join: preferences kept';
like $e1->{joined_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    'join: joined_at RFC 3339 UTC';
ok exists $e1->{notified_at} && !defined $e1->{notified_at},
    'join: notified_at null';
ok exists $e1->{expires_at} && !defined $e1->{expires_at},
    'join: expires_at null';
ok exists $e1->{estimated_wait_seconds}, 'join: estimated_wait_seconds';
is_deeply [ grep { !exists $e1->{$_} }
            qw(id event_id user_id position quantity status preferences
               joined_at notified_at expires_at estimated_wait_seconds) ],
          [], 'join: every WaitlistEntry field';

$res = join_wl($u[1]);
is $res->{json}{data}{position}, 2, 'second in line: position 2';
is_deeply $res->{json}{data}{preferences}, {}, 'no preferences: {}';
$res = join_wl($u[2], quantity => 3, preferences => undef);
is $res->{status}, 201, 'preferences null is allowed';
is $res->{json}{data}{position}, 3, 'third in line: position 3';

$res = join_wl($u[0], quantity => 1);
err_is($res, 409, 'ALREADY_WAITING', 'joining twice');
is $res->{json}{errors}{entry_id}, $e1->{id},
    'joining twice: the live entry';
is psql(q{SELECT count(*) FROM evently.waitlist_entries
           WHERE user_id = :'u'}, { u => $u[0]{id} }), 1,
   'joining twice: one entry';

# the same user joins the waitlist of another event (0401, not sold out:
# seats are free there, so the line is served by the next round, which
# the join kicks at once)
$res = call(POST => '/api/v1/waitlist', token => $u[0]{token},
            body => { event_id => '00000000-0000-4000-8000-000000000401',
                      quantity => 1 });
is $res->{status}, 201, 'another event: its own line';
my $other = wait_until(sub {
    my $d = status_of($u[0], '00000000-0000-4000-8000-000000000401')
            ->{json}{data};
    $d->{status} eq 'NOTIFIED' ? $d : undef
}, timeout => 3, interval => 0.05);
ok $other, 'free seats at join: an offer within moments';
ok $other && $other->{offer}{hold_id}, 'free seats at join: a hold id';

# ---- refusals --------------------------------------------------------------

err_is(join_wl($u[3], event_id => $nowhere), 404, 'EVENT_NOT_FOUND',
       'unknown event');
err_is(join_wl($u[3], event_id => $draft), 409, 'EVENT_NOT_ON_SALE',
       'unpublished event');
err_is(join_wl($u[3], event_id => $past), 409, 'EVENT_NOT_ON_SALE',
       'past event');

for my $case ([ 'quantity 0', { quantity => 0 }, 'quantity' ],
              [ 'quantity 11', { quantity => 11 }, 'quantity' ],
              [ 'quantity a string', { quantity => 'two' }, 'quantity' ],
              [ 'quantity 1.5', { quantity => 1.5 }, 'quantity' ],
              [ 'quantity null', { quantity => undef }, 'quantity' ],
              [ 'event_id not a UUID', { event_id => 'x' }, 'event_id' ],
              [ 'event_id a number', { event_id => 42 }, 'event_id' ],
              [ 'preferences a string', { preferences => 'VIP' },
                'preferences' ],
              [ 'preferences an array', { preferences => [ 'VIP' ] },
                'preferences' ],
              [ 'preferences over 4 KiB',
                { preferences => { note => 'x' x 4100 } }, 'preferences' ],
              [ 'preferences too deep',
                { preferences => { a => { b => { c => { d => { e => { f =>
                  { g => { h => { i => 1 } } } } } } } } } },
                'preferences' ])
{
    my ($name, $body, $field) = @$case;
    $res = join_wl($u[3], %$body);
    err_is($res, 400, 'VALIDATION_FAILED', $name);
    ok $res->{json}{errors}{fields}{$field}, "$name: errors.fields.$field";
}

$res = call(POST => '/api/v1/waitlist', token => $u[3]{token},
            body => { quantity => 1 });
err_is($res, 400, 'VALIDATION_FAILED', 'no event_id');
ok $res->{json}{errors}{fields}{event_id}, 'no event_id: the field';
$res = call(POST => '/api/v1/waitlist', token => $u[3]{token},
            body => { event_id => $ev });
err_is($res, 400, 'VALIDATION_FAILED', 'no quantity');
$res = call(POST => '/api/v1/waitlist', token => $u[3]{token},
            body => '{"event_id": "' . $ev . '", "quantity": ');
err_is($res, 400, 'INVALID_JSON', 'malformed JSON');
$res = call(POST => '/api/v1/waitlist', token => $u[3]{token},
            body => '[1]');
err_is($res, 400, 'INVALID_JSON', 'a JSON array');
$res = call(POST => '/api/v1/waitlist', token => $u[3]{token});
err_is($res, 400, 'INVALID_JSON', 'no body');
$res = call(POST => '/api/v1/waitlist', token => $u[3]{token},
            body => "event_id=$ev",
            headers => { 'Content-Type' => 'text/plain' });
err_is($res, 415, 'UNSUPPORTED_MEDIA_TYPE', 'not JSON');
$res = call(POST => '/api/v1/waitlist', token => $u[3]{token},
            body => '{"event_id":"' . $ev . '","quantity":1,"note":"'
                    . ('y' x 70000) . '"}');
is $res->{status}, 413, 'a body over 64 KiB: 413';
$res = call(POST => '/api/v1/waitlist',
            body => { event_id => $ev, quantity => 1 });
err_is($res, 401, 'AUTH_REQUIRED', 'no token');
$res = call(POST => '/api/v1/waitlist', token => 'not.a.jwt',
            body => { event_id => $ev, quantity => 1 });
is $res->{status}, 401, 'a bad token: 401';
$res = call(GET => '/api/v1/waitlist', token => $u[3]{token});
is $res->{status}, 405, 'GET /waitlist: 405';
like $res->{headers}{allow}, qr/POST/, '405: Allow names POST';
is psql(q{SELECT count(*) FROM evently.waitlist_entries
           WHERE user_id = :'u'}, { u => $u[3]{id} }), 0,
   'no refused request wrote an entry';

# unknown fields are ignored; a user_id in the body never names the holder
$res = join_wl($u[3], user_id => $u[4]{id}, colour => 'blue');
is $res->{status}, 201, 'unknown fields ignored';
is $res->{json}{data}{user_id}, $u[3]{id}, 'the entry is the caller\'s';
is $res->{json}{data}{position}, 4, 'fourth in line';

# an ADMIN may do what a USER may
$res = join_wl($admin, quantity => 1);
is $res->{status}, 201, 'an admin may join';
is $res->{json}{data}{position}, 5, 'the admin is fifth';

# ---- status and live positions ---------------------------------------------

$res = status_of($u[1]);
is $res->{status}, 200, 'status: 200';
is $res->{json}{message}, 'Waitlist status retrieved successfully',
    'status: message';
is $res->{json}{data}{position}, 2, 'status: position 2';
is $res->{json}{data}{status}, 'ACTIVE', 'status: ACTIVE';
is $res->{json}{data}{quantity}, 1, 'status: quantity';
ok exists $res->{json}{data}{offer} && !defined $res->{json}{data}{offer},
   'status: no offer while ACTIVE';
is_deeply [ map { position_of($_) } @u[0 .. 3], $admin ], [ 1 .. 5 ],
    'FIFO: positions in joining order';

err_is(status_of($u[4]), 404, 'NOT_WAITING', 'status of a stranger');
err_is(status_of($u[1], $nowhere), 404, 'EVENT_NOT_FOUND',
       'status: unknown event');
err_is(status_of($u[1], 'abc'), 400, 'INVALID_ID', 'status: bad id');
err_is(call(GET => "/api/v1/waitlist/status/$ev"), 401, 'AUTH_REQUIRED',
       'status: no token');
is call(POST => "/api/v1/waitlist/status/$ev", token => $u[1]{token},
        body => {})->{status}, 405, 'status: POST is 405';

# ---- leaving ---------------------------------------------------------------

$res = call(DELETE => "/api/v1/waitlist/$ev", token => $u[0]{token});
is $res->{status}, 200, 'leave: 200';
is $res->{json}{message}, 'Left the waitlist successfully', 'leave: message';
is $res->{json}{data}{status}, 'CANCELLED', 'leave: CANCELLED';
is $res->{json}{data}{id}, $e1->{id}, 'leave: the entry';
ok !defined $res->{json}{data}{position}, 'leave: no position';

is_deeply [ map { position_of($_) } @u[1 .. 3], $admin ], [ 1 .. 4 ],
    'positions move up at once after a leave';
$res = status_of($u[0]);
is $res->{json}{data}{status}, 'CANCELLED',
    'status after leaving: the latest entry, CANCELLED';
ok !defined $res->{json}{data}{position}, 'status after leaving: no position';

err_is(call(DELETE => "/api/v1/waitlist/$ev", token => $u[0]{token}),
       404, 'NOT_WAITING', 'leaving twice');
err_is(call(DELETE => "/api/v1/waitlist/$ev", token => $u[4]{token}),
       404, 'NOT_WAITING', 'leaving a line one never joined');
err_is(call(DELETE => "/api/v1/waitlist/$nowhere", token => $u[1]{token}),
       404, 'EVENT_NOT_FOUND', 'leave: unknown event');
err_is(call(DELETE => '/api/v1/waitlist/not-a-uuid',
            token => $u[1]{token}), 400, 'INVALID_ID', 'leave: bad id');
err_is(call(DELETE => "/api/v1/waitlist/$ev"), 401, 'AUTH_REQUIRED',
       'leave: no token');
is call(GET => "/api/v1/waitlist/$ev", token => $u[1]{token})->{status},
   405, 'GET /waitlist/{id}: 405';

# rejoining after leaving: the end of the line
$res = join_wl($u[0], quantity => 2);
is $res->{status}, 201, 'rejoin after leaving: 201';
is $res->{json}{data}{position}, 5, 'rejoin: at the end of the line';
isnt $res->{json}{data}{id}, $e1->{id}, 'rejoin: a new entry';

# somebody in the middle leaves: those behind move up, those ahead stay
call(DELETE => "/api/v1/waitlist/$ev", token => $u[2]{token});
is_deeply [ map { position_of($_) } $u[1], $u[3], $admin, $u[0] ],
          [ 1 .. 4 ], 'a leave in the middle: positions stay exact';

is psql(q{SELECT count(*) FROM evently.waitlist_entries
           WHERE event_id = :'e' AND status IN ('ACTIVE', 'NOTIFIED')},
        { e => $ev }), 4, 'four live entries';
is psql(q{SELECT count(*) FROM evently.waitlist_entries
           WHERE event_id = :'e' AND status = 'NOTIFIED'}, { e => $ev }), 0,
   'a sold-out event makes no offer';

# ---- the waitlist never writes another user's data -------------------------

$res = call(GET => "/api/v1/waitlist/status/$ev", token => $u[4]{token});
is $res->{status}, 404, 'a stranger sees no entry of others';
$res = call(DELETE => "/api/v1/waitlist/$ev", token => $u[4]{token});
is psql(q{SELECT count(*) FROM evently.waitlist_entries
           WHERE event_id = :'e' AND status = 'CANCELLED'}, { e => $ev }),
   2, 'a stranger\'s leave cancels nobody';

ok stop_nginx('waitlist'), 'nginx stopped cleanly';
no_alerts_ok($ng_waitlist);

done_testing;
