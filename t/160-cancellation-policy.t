# Cancellation policies: POST/GET/PUT /admin/events/{id}/cancellation-policy
# and the public GET /events/{id}/cancellation-policy -- success, every
# validation rule (errors.fields), 404s, 409 POLICY_EXISTS, authorization.

use strict;
use warnings;

use Test::More;
use Evently::Test;

my $port = $ENV{TEST_NGINX_PORT} // 1984;
my $seeded = '00000000-0000-4000-8000-000000000401';    # has a policy
my $no_allow = '00000000-0000-4000-8000-000000000404';  # allow = false
my $unknown = '00000000-0000-4000-8000-00000000dead';

reset_db();
seed();

my $user = create_user(email => 'policy-user@example.com');
my $admin = create_user(email => 'policy-admin@example.com',
                        role => 'ADMIN');

# events without a policy, 20 days ahead at 18:00 UTC
sub new_event {
    my (%o) = @_;
    return psql(q{
        INSERT INTO evently.events (name, venue, venue_template_id,
                                    date_time, base_price, status)
        VALUES ('Policy Test Event', 'Test Venue',
                '00000000-0000-4000-8000-000000000202',
                date_trunc('day', now()) + interval '20 days 18 hours',
                100, :'status')
        RETURNING id}, { status => $o{status} // 'published' });
}

my $ev = new_event();
my $ev_date = psql(q{SELECT evently.ts(date_time) FROM evently.events
                      WHERE id = :'e'}, { e => $ev });
my $draft = new_event(status => 'draft');

start_nginx(name => 'policy', port => $port,
            http_config => http_config(), main_config => main_config(),
            config => server_config());

sub call { my ($m, $p, %o) = @_; return api($m, $p, port => $port, %o) }

sub admin_path { return "/api/v1/admin/events/$_[0]/cancellation-policy" }
sub public_path { return "/api/v1/events/$_[0]/cancellation-policy" }

sub err_is {
    my ($res, $status, $code, $name) = @_;
    is $res->{status}, $status, "$name: status $status";
    is $res->{json}{errors}{code}, $code, "$name: code $code";
    is $res->{json}{status}, 'error', "$name: error envelope";
}

sub field_err {
    my ($res, $field, $name, $like) = @_;
    err_is($res, 400, 'VALIDATION_FAILED', $name);
    ok defined $res->{json}{errors}{fields}{$field},
       "$name: errors.fields.$field"
        or diag $res->{body};
    like $res->{json}{errors}{fields}{$field} // '', $like,
         "$name: the message" if $like;
}

# the keys of the envelope's data object, in order (no nested objects)
sub top_keys {
    my ($body) = @_;
    my ($data) = $body =~ /"data":\{(.*)\}\}$/s;
    return [ ($data // '') =~ /"(\w+)" ?:/g ];
}

sub policy_count {
    return psql(q{SELECT count(*) FROM evently.cancellation_policies
                   WHERE event_id = :'e'}, { e => $_[0] });
}

# ---- create ----------------------------------------------------------------

my $deadline = psql(q{SELECT evently.ts(date_time - interval '2 days')
                        FROM evently.events WHERE id = :'e'}, { e => $ev });

my $res = call(POST => admin_path($ev), token => $admin->{token},
               body => { allow_cancellation => JSON::PP::true(),
                         cancellation_deadline => $deadline,
                         fee_type => 'percentage', fee_amount => 12.5,
                         refund_processing_days => 7 });
is $res->{status}, 201, 'create: 201';
is $res->{json}{message}, 'Cancellation policy created successfully',
   'create: message';
my $p = $res->{json}{data};
like $p->{id}, qr/^[0-9a-f-]{36}$/, 'create: id';
is $p->{event_id}, $ev, 'create: event_id';
is $p->{allow_cancellation}, JSON::PP::true(), 'create: allow_cancellation';
is $p->{cancellation_deadline}, $deadline, 'create: deadline (RFC 3339 Z)';
is $p->{fee_type}, 'PERCENTAGE', 'create: fee_type upper-cased';
is $p->{fee_amount}, 12.5, 'create: fee_amount';
like $res->{body}, qr/"fee_amount" ?: ?12\.50[,}]/, 'create: exact money';
is $p->{refund_processing_days}, 7, 'create: refund_processing_days';
like $p->{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
     'create: created_at';
like $p->{updated_at}, qr/Z$/, 'create: updated_at';
is_deeply top_keys($res->{body}),
    [ qw(id event_id allow_cancellation cancellation_deadline fee_type
         fee_amount refund_processing_days created_at updated_at) ],
    'create: the contract\'s key order';

$res = call(POST => admin_path($ev), token => $admin->{token},
            body => { allow_cancellation => JSON::PP::false() });
err_is($res, 409, 'POLICY_EXISTS', 'create twice');
is policy_count($ev), 1, 'create twice: still one policy';

# allow_cancellation false is stored as false; defaults for the rest
my $ev2 = new_event();
$res = call(POST => admin_path($ev2), token => $admin->{token},
            body => { allow_cancellation => JSON::PP::false() });
is $res->{status}, 201, 'allow_cancellation false: 201';
is $res->{json}{data}{allow_cancellation}, JSON::PP::false(),
   'allow_cancellation false: false in the answer';
is psql(q{SELECT allow_cancellation FROM evently.cancellation_policies
           WHERE event_id = :'e'}, { e => $ev2 }), 'f',
   'allow_cancellation false: false in the database';
is $res->{json}{data}{fee_type}, 'NONE', 'defaults: fee_type NONE';
is $res->{json}{data}{fee_amount}, 0, 'defaults: fee_amount 0';
is $res->{json}{data}{refund_processing_days}, 5,
   'defaults: refund_processing_days 5';
is $res->{json}{data}{cancellation_deadline}, undef,
   'defaults: no deadline (null = until the event starts)';

# the deadline may be the event's time itself; FIXED; null deadline
my $ev3 = new_event();
$res = call(POST => admin_path($ev3), token => $admin->{token},
            body => { allow_cancellation => JSON::PP::true(),
                      cancellation_deadline => $ev_date,
                      fee_type => 'Fixed', fee_amount => '75.00' + 0,
                      refund_processing_days => 0 });
is $res->{status}, 201, 'deadline = event time, FIXED: 201';
is $res->{json}{data}{fee_type}, 'FIXED', 'FIXED: any case accepted';
is $res->{json}{data}{refund_processing_days}, 0, 'refund days 0';
is $res->{json}{data}{cancellation_deadline}, $ev_date,
   'deadline = the event time';

# a deadline in another offset is normalised to UTC
my $ev4 = new_event();
$res = call(POST => admin_path($ev4), token => $admin->{token},
            body => { allow_cancellation => JSON::PP::true(),
                      cancellation_deadline => '2020-01-01T10:30:00+05:30',
                      fee_type => 'PERCENTAGE', fee_amount => 100,
                      refund_processing_days => 30 });
is $res->{status}, 201, 'deadline in the past, 100 %, 30 days: 201';
is $res->{json}{data}{cancellation_deadline}, '2020-01-01T05:00:00Z',
   'deadline normalised to UTC';

# ---- validation ------------------------------------------------------------

my $fresh = new_event();
my %ok = (allow_cancellation => JSON::PP::true());

field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => {}), 'allow_cancellation', 'allow_cancellation missing',
          qr/required/);
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { allow_cancellation => 'yes' }),
          'allow_cancellation', 'allow_cancellation a string');
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { allow_cancellation => undef }),
          'allow_cancellation', 'allow_cancellation null');
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { %ok, cancellation_deadline => 'tomorrow' }),
          'cancellation_deadline', 'deadline not RFC 3339');
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { %ok, cancellation_deadline => 12 }),
          'cancellation_deadline', 'deadline a number');
my $after = psql(q{SELECT evently.ts(date_time + interval '1 second')
                     FROM evently.events WHERE id = :'e'}, { e => $fresh });
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { %ok, cancellation_deadline => $after }),
          'cancellation_deadline', 'deadline after the event',
          qr/after the event/);
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { %ok, fee_type => 'SOME' }),
          'fee_type', 'unknown fee_type', qr/NONE, FIXED, PERCENTAGE/);
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { %ok, fee_type => 'FIXED' }),
          'fee_amount', 'FIXED without an amount', qr/greater than 0/);
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { %ok, fee_type => 'FIXED', fee_amount => 0 }),
          'fee_amount', 'FIXED 0');
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { %ok, fee_type => 'PERCENTAGE',
                         fee_amount => 100.01 }),
          'fee_amount', 'PERCENTAGE over 100', qr/0 and 100/);
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { %ok, fee_type => 'NONE', fee_amount => 5 }),
          'fee_amount', 'NONE with an amount', qr/NONE/);
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { %ok, fee_amount => 5 }),
          'fee_amount', 'an amount without fee_type (NONE)');
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { %ok, fee_type => 'FIXED', fee_amount => 1.005 }),
          'fee_amount', 'three decimals', qr/two decimal/);
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { %ok, fee_type => 'FIXED', fee_amount => -1 }),
          'fee_amount', 'negative amount');
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { %ok, fee_type => 'FIXED', fee_amount => '10' }),
          'fee_amount', 'amount as a string');
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { %ok, fee_type => 'FIXED',
                         fee_amount => 1e11 }),
          'fee_amount', 'amount too large');
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { %ok, refund_processing_days => 31 }),
          'refund_processing_days', 'refund days 31', qr/0 and 30/);
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { %ok, refund_processing_days => -1 }),
          'refund_processing_days', 'refund days -1');
field_err(call(POST => admin_path($fresh), token => $admin->{token},
               body => { %ok, refund_processing_days => 2.5 }),
          'refund_processing_days', 'refund days not an integer');

# every failure at once
$res = call(POST => admin_path($fresh), token => $admin->{token},
            body => { allow_cancellation => 1, fee_type => 'x',
                      refund_processing_days => 99 });
err_is($res, 400, 'VALIDATION_FAILED', 'several invalid fields');
is_deeply [ sort keys %{ $res->{json}{errors}{fields} } ],
          [ qw(allow_cancellation fee_type refund_processing_days) ],
          'several invalid fields: each one named';

# both cross-field errors of SQL at once
$res = call(POST => admin_path($fresh), token => $admin->{token},
            body => { %ok, cancellation_deadline => $after,
                      fee_type => 'FIXED', fee_amount => 0 });
is_deeply [ sort keys %{ $res->{json}{errors}{fields} // {} } ],
          [ qw(cancellation_deadline fee_amount) ],
          'deadline and amount errors together';

$res = call(POST => admin_path($fresh), token => $admin->{token},
            body => '{"allow_cancellation": true,');
err_is($res, 400, 'INVALID_JSON', 'malformed JSON');
$res = call(POST => admin_path($fresh), token => $admin->{token},
            body => '[]');
err_is($res, 400, 'INVALID_JSON', 'a JSON array');
$res = call(POST => admin_path($fresh), token => $admin->{token},
            body => '');
err_is($res, 400, 'INVALID_JSON', 'no body');
$res = call(POST => admin_path($fresh), token => $admin->{token},
            body => '{"allow_cancellation":true}',
            headers => { 'Content-Type' => 'text/plain' });
err_is($res, 415, 'UNSUPPORTED_MEDIA_TYPE', 'text/plain');
$res = call(POST => admin_path($fresh), token => $admin->{token},
            body => { %ok, padding => 'x' x 70000 });
err_is($res, 413, 'PAYLOAD_TOO_LARGE', 'a body over 64 KiB');
$res = call(POST => admin_path($fresh), token => $admin->{token},
            body => { %ok, unknown_field => 1 });
is $res->{status}, 201, 'unknown fields are ignored';
is policy_count($fresh), 1, 'nothing written by the refused requests';

# ---- 404 / 400 / 401 / 403 -------------------------------------------------

err_is(call(POST => admin_path($unknown), token => $admin->{token},
            body => \%ok), 404, 'EVENT_NOT_FOUND', 'create: unknown event');
err_is(call(POST => admin_path('not-a-uuid'), token => $admin->{token},
            body => \%ok), 400, 'INVALID_ID', 'create: bad UUID');
err_is(call(POST => admin_path($ev2), body => \%ok), 401, 'AUTH_REQUIRED',
       'create: no token');
err_is(call(POST => admin_path(new_event()), token => $user->{token},
            body => \%ok), 403, 'FORBIDDEN', 'create: a USER');
err_is(call(GET => admin_path($ev), token => $user->{token}), 403,
       'FORBIDDEN', 'admin get: a USER');
err_is(call(PUT => admin_path($ev), token => $user->{token}, body => \%ok),
       403, 'FORBIDDEN', 'update: a USER');
err_is(call(GET => admin_path($ev)), 401, 'AUTH_REQUIRED',
       'admin get: no token');
err_is(call(PUT => admin_path($ev), body => \%ok), 401, 'AUTH_REQUIRED',
       'update: no token');
err_is(call(GET => admin_path($ev), token => 'garbage'), 401,
       'INVALID_TOKEN', 'admin get: a bad token');

$res = call(DELETE => admin_path($ev), token => $admin->{token});
is $res->{status}, 405, 'DELETE: 405';
is $res->{headers}{allow}, 'GET, HEAD, POST, PUT', 'DELETE: Allow';
$res = call(POST => public_path($ev), body => \%ok);
is $res->{status}, 405, 'public POST: 405';

# ---- admin GET -------------------------------------------------------------

$res = call(GET => admin_path($ev), token => $admin->{token});
is $res->{status}, 200, 'admin get: 200';
is_deeply $res->{json}{data}, $p, 'admin get: the policy as created';
err_is(call(GET => admin_path(new_event()), token => $admin->{token}),
       404, 'POLICY_NOT_FOUND', 'admin get: no policy');
err_is(call(GET => admin_path($unknown), token => $admin->{token}),
       404, 'EVENT_NOT_FOUND', 'admin get: unknown event');
err_is(call(GET => admin_path('1234'), token => $admin->{token}),
       400, 'INVALID_ID', 'admin get: bad UUID');
$res = call(GET => admin_path($no_allow), token => $admin->{token});
is $res->{json}{data}{allow_cancellation}, JSON::PP::false(),
   'the seeded Food & Wine policy says false';

# ---- PUT: a full replace ---------------------------------------------------

psql(q{UPDATE evently.cancellation_policies
          SET updated_at = now() - interval '1 hour' WHERE event_id = :'e'},
     { e => $ev });
$res = call(PUT => admin_path($ev), token => $admin->{token},
            body => { allow_cancellation => JSON::PP::false(),
                      fee_type => 'fixed', fee_amount => 250 });
is $res->{status}, 200, 'update: 200';
is $res->{json}{message}, 'Cancellation policy updated successfully',
   'update: message';
my $u = $res->{json}{data};
is $u->{id}, $p->{id}, 'update: same policy id';
is $u->{allow_cancellation}, JSON::PP::false(), 'update: allow false';
is $u->{fee_type}, 'FIXED', 'update: fee_type';
is $u->{fee_amount}, 250, 'update: fee_amount';
is $u->{cancellation_deadline}, undef,
   'update: a field left out is reset (deadline null)';
is $u->{refund_processing_days}, 5, 'update: refund days back to 5';
is $u->{created_at}, $p->{created_at}, 'update: created_at kept';
ok $u->{updated_at}
   gt psql(q{SELECT evently.ts(now() - interval '30 minutes')}),
   'update: updated_at moved';
is policy_count($ev), 1, 'update: still one policy';

field_err(call(PUT => admin_path($ev), token => $admin->{token},
               body => { fee_type => 'NONE' }),
          'allow_cancellation', 'update: allow_cancellation required');
my $ev_after = psql(q{SELECT evently.ts(date_time + interval '1 day')
                        FROM evently.events WHERE id = :'e'}, { e => $ev });
field_err(call(PUT => admin_path($ev), token => $admin->{token},
               body => { %ok, cancellation_deadline => $ev_after }),
          'cancellation_deadline', 'update: deadline after the event');
field_err(call(PUT => admin_path($ev), token => $admin->{token},
               body => { %ok, fee_type => 'PERCENTAGE', fee_amount => 101 }),
          'fee_amount', 'update: 101 %');
is psql(q{SELECT fee_amount FROM evently.cancellation_policies
           WHERE event_id = :'e'}, { e => $ev }), '250.00',
   'update: refused updates change nothing';

err_is(call(PUT => admin_path(new_event()), token => $admin->{token},
            body => \%ok), 404, 'POLICY_NOT_FOUND', 'update: no policy');
err_is(call(PUT => admin_path($unknown), token => $admin->{token},
            body => \%ok), 404, 'EVENT_NOT_FOUND', 'update: unknown event');
err_is(call(PUT => admin_path('x'), token => $admin->{token}, body => \%ok),
       400, 'INVALID_ID', 'update: bad UUID');
err_is(call(PUT => admin_path($ev), token => $admin->{token},
            body => 'nope'), 400, 'INVALID_JSON', 'update: malformed JSON');

# ---- public GET ------------------------------------------------------------

$res = call(GET => public_path($seeded));
is $res->{status}, 200, 'public: 200 without a token';
is $res->{json}{data}{fee_type}, 'PERCENTAGE', 'public: the seeded policy';
is $res->{json}{data}{fee_amount}, 10, 'public: fee 10 %';
is $res->{json}{data}{event_id}, $seeded, 'public: event_id';
$res = call(GET => public_path($seeded), token => $user->{token});
is $res->{status}, 200, 'public: 200 with a token too';
$res = call(GET => public_path($ev));
is_deeply $res->{json}{data}, $u, 'public: the same shape as the admin\'s';

psql(q{INSERT INTO evently.cancellation_policies (event_id,
           allow_cancellation) VALUES (:'e', true)}, { e => $draft });
err_is(call(GET => public_path($draft)), 404, 'EVENT_NOT_FOUND',
       'public: a draft event');
$res = call(GET => admin_path($draft), token => $admin->{token});
is $res->{status}, 200, 'admin: a draft event\'s policy';
err_is(call(GET => public_path(new_event())), 404, 'POLICY_NOT_FOUND',
       'public: no policy');
err_is(call(GET => public_path($unknown)), 404, 'EVENT_NOT_FOUND',
       'public: unknown event');
err_is(call(GET => public_path('zzz')), 400, 'INVALID_ID',
       'public: bad UUID');
$res = call(GET => public_path(uc $seeded));
is $res->{status}, 200, 'public: an upper-case UUID is the same id';

# a concurrent double create ends in one policy and one 409
my $racy = new_event();
my $results = race(n => 10, timeout => 30, run => sub {
    my $r = call(POST => admin_path($racy), token => $admin->{token},
                 body => \%ok);
    return $r->{status} . ':' . ($r->{json}{errors}{code} // '');
});
is scalar(grep { $_ eq '201:' } @$results), 1, 'create race: one 201';
is scalar(grep { $_ eq '409:POLICY_EXISTS' } @$results), 9,
   'create race: nine 409 POLICY_EXISTS';
is policy_count($racy), 1, 'create race: one policy';

ok stop_nginx('policy'), 'nginx stopped cleanly';
no_alerts_ok('policy');

done_testing;
