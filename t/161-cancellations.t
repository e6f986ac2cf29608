# Cancellations: POST /bookings/{id}/request-cancel and
# POST /bookings/{id}/cancel (one path), GET /cancellations/{id},
# GET /users/cancellations -- fee arithmetic, every refusal, the freed
# seats held again at once, the outbox, the waitlist hook, concurrency.

use strict;
use warnings;

use Test::More;
use Evently::Test;

my $port = $ENV{TEST_NGINX_PORT} // 1984;
my $port2 = $port + 100;

# seeded events and their policies
my $pct10 = '00000000-0000-4000-8000-000000000401';  # Conf., 10 %, -7 d, 5 d
my $fix50 = '00000000-0000-4000-8000-000000000402';  # Theater, FIXED 50, 3 d
my $pct25 = '00000000-0000-4000-8000-000000000403';  # Conf., 25 %, 7 d
my $noallow = '00000000-0000-4000-8000-000000000404';  # Theater, not allowed
my $pct5 = '00000000-0000-4000-8000-000000000405';   # Theater, 5 %
my $fix100 = '00000000-0000-4000-8000-000000000406';  # Conf., FIXED 100, 10 d
my $unknown = '00000000-0000-4000-8000-00000000dead';

reset_db();
seed();

my $u1 = create_user(email => 'canceller1@example.com');
my $u2 = create_user(email => 'canceller2@example.com');
my $admin = create_user(email => 'cancel-admin@example.com',
                        role => 'ADMIN');

# Conference Hall: VIP A1..A8, General B1..C10; Small Theater: A1..A13
# (Premium), B1..B13 (Standard)
my %conf = map { $_->[1] => $_->[0] } @{ psql_rows(q{
    SELECT s.id, s.seat_number FROM evently.seats s
      JOIN evently.venue_sections sec ON sec.id = s.section_id
     WHERE sec.template_id = '00000000-0000-4000-8000-000000000202'}) };
my %theater = map { $_->[1] => $_->[0] } @{ psql_rows(q{
    SELECT s.id, s.seat_number FROM evently.seats s
      JOIN evently.venue_sections sec ON sec.id = s.section_id
     WHERE sec.template_id = '00000000-0000-4000-8000-000000000201'}) };

start_nginx(name => 'cancel', port => $port, workers => 2,
            http_config => http_config(), main_config => main_config(),
            config => server_config());

sub call { my ($m, $p, %o) = @_; return api($m, $p, port => $port, %o) }

sub seats_of {
    my ($event) = @_;
    return ($event eq $fix50 || $event eq $noallow || $event eq $pct5)
           ? \%theater : \%conf;
}

# a booking through the real API: hold, then confirm
sub book {
    my ($user, $event, @seats) = @_;
    my $map = seats_of($event);
    my $r = call(POST => '/api/v1/seats/hold', token => $user->{token},
                 body => { event_id => $event,
                           seat_ids => [ map { $map->{$_} } @seats ] });
    die "hold failed: $r->{body}\n" if $r->{status} != 201;
    $r = call(POST => '/api/v1/bookings/confirm', token => $user->{token},
              body => { hold_id => $r->{json}{data}{hold_id},
                        event_id => $event });
    die "confirm failed: $r->{body}\n" if $r->{status} != 201;
    return $r->{json}{data}{booking_id};
}

# a booking written in SQL with any total (one seat-less line, a payment)
sub sql_booking {
    my ($user, $event, $total) = @_;
    return psql(q{
        WITH b AS (
            INSERT INTO evently.bookings (booking_ref, user_id, event_id,
                                          total_seats, total_price)
            VALUES (evently.booking_ref(), :'u', :'e', 1, :'t')
            RETURNING id
        ), p AS (
            INSERT INTO evently.payments (booking_id, amount, status,
                                          payment_method, transaction_id,
                                          processed_at)
            SELECT b.id, :'t', 'COMPLETED', 'mock',
                   'TXN-' || replace(b.id::text, '-', ''), now()
              FROM b
        )
        SELECT id FROM b}, { u => $user->{id}, e => $event, t => $total });
}

sub cancel {
    my ($user, $booking, %o) = @_;
    my $route = $o{route} // 'request-cancel';
    my %body = exists $o{body} ? (body => $o{body})
             : $route eq 'request-cancel'
               ? (body => { reason => $o{reason} // 'Cannot attend' })
             : ();
    return call(POST => "/api/v1/bookings/$booking/$route",
                token => $user->{token}, %body,
                headers => $o{headers} // {}, port => $o{port} // $port);
}

sub err_is {
    my ($res, $status, $code, $name) = @_;
    is $res->{status}, $status, "$name: status $status"
        or diag $res->{body};
    is $res->{json}{errors}{code}, $code, "$name: code $code";
    is $res->{json}{status}, 'error', "$name: error envelope";
}

sub booking_status {
    return psql(q{SELECT status || ' v' || version FROM evently.bookings
                   WHERE id = :'b'}, { b => $_[0] });
}

sub cancellations_of {
    return psql(q{SELECT count(*) FROM evently.cancellations
                   WHERE booking_id = :'b'}, { b => $_[0] });
}

sub top_keys {
    my ($body) = @_;
    my ($data) = $body =~ /"data":\{(.*)\}\}$/s;
    return [ ($data // '') =~ /"(\w+)" ?:/g ];
}

sub ts_ok {
    my ($v, $name) = @_;
    like $v // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, "$name: RFC 3339";
}

# ---- request-cancel under a 10 % policy ------------------------------------

my $b1 = book($u1, $pct10, 'A1', 'B1');          # 3000 + 1500
like redis('GET', "evently:seat:$pct10:$conf{A1}"), qr/^booked:\Q$b1\E$/,
     'before: the seat key says booked by this booking';
my $booked_before = call(GET => "/api/v1/events/$pct10")
                        ->{json}{data}{booked_count};

my $res = cancel($u1, $b1, reason => '  Cannot attend any more  ');
is $res->{status}, 201, 'request-cancel: 201';
is $res->{json}{message}, 'Booking cancelled successfully',
   'request-cancel: message';
my $c1 = $res->{json}{data};
is_deeply top_keys($res->{body}),
          [ qw(id booking_id requested_at processed_at cancellation_fee
               refund_amount refund_due_by reason status created_at
               updated_at) ],
          'request-cancel: the contract\'s Cancellation, in order';
like $c1->{id}, qr/^[0-9a-f-]{36}$/, 'request-cancel: id';
is $c1->{booking_id}, $b1, 'request-cancel: booking_id';
is $c1->{cancellation_fee}, 450, 'request-cancel: 10 % of 4500';
is $c1->{refund_amount}, 4050, 'request-cancel: refund 4050';
like $res->{body}, qr/"cancellation_fee" ?: ?450\.00,/,
     'request-cancel: exact money (fee)';
like $res->{body}, qr/"refund_amount" ?: ?4050\.00,/,
     'request-cancel: exact money (refund)';
is $c1->{status}, 'REFUNDED', 'request-cancel: REFUNDED';
is $c1->{reason}, 'Cannot attend any more', 'request-cancel: reason trimmed';
ts_ok($c1->{$_}, "request-cancel: $_")
    for qw(requested_at processed_at refund_due_by created_at updated_at);
is psql(q{SELECT refund_due_by = processed_at + interval '5 days'
                 AND processed_at = requested_at
            FROM evently.cancellations WHERE id = :'c'}, { c => $c1->{id} }),
   't', 'request-cancel: refund due 5 days (the policy) after processing';
is psql(q{SELECT user_id FROM evently.cancellations WHERE id = :'c'},
        { c => $c1->{id} }), $u1->{id}, 'request-cancel: the owner\'s row';

$res = call(GET => "/api/v1/bookings/$b1", token => $u1->{token});
my $b = $res->{json}{data};
is $b->{status}, 'CANCELLED', 'booking: CANCELLED';
is $b->{version}, 2, 'booking: version + 1';
ts_ok($b->{cancelled_at}, 'booking: cancelled_at');
is scalar @{ $b->{seats} }, 2, 'booking: its seats are still listed';
is $b->{payments}[0]{status}, 'REFUNDED', 'payment: REFUNDED';
is $b->{payments}[0]{refund_amount}, 4050, 'payment: refund_amount';
ts_ok($b->{payments}[0]{refunded_at}, 'payment: refunded_at');
is $b->{payments}[0]{amount}, 4500, 'payment: amount unchanged';
is psql(q{SELECT count(*) FILTER (WHERE active) || '/' || count(*)
            FROM evently.booking_seats WHERE booking_id = :'b'},
        { b => $b1 }), '0/2', 'booking seats: inactive, history kept';
is call(GET => "/api/v1/events/$pct10")->{json}{data}{booked_count},
   $booked_before - 2, 'event: booked_count down by 2';

# the outbox: booking.cancelled and the e-mail, in the same transaction
my $rows = psql_rows(q{SELECT topic, event_type, event_key, payload::text
                         FROM evently.outbox
                        WHERE payload->>'booking_id' = :'b'
                          AND event_type LIKE '%cancelled'
                        ORDER BY id}, { b => $b1 });
is_deeply [ map { "$_->[0]/$_->[1]" } @$rows ],
          [ 'bookings/booking.cancelled',
            'notifications/email.booking_cancelled' ],
          'outbox: booking.cancelled then email.booking_cancelled';
my $ev_msg = JSON::PP->new->decode($rows->[0][3]);
is $rows->[0][2], $pct10, 'outbox: key = event_id';
is $ev_msg->{type}, 'booking.cancelled', 'outbox: type';
is $ev_msg->{event_id}, $pct10, 'outbox: event_id';
is $ev_msg->{user_id}, $u1->{id}, 'outbox: user_id';
is $ev_msg->{data}{cancellation_id}, $c1->{id}, 'outbox: cancellation_id';
is $ev_msg->{data}{cancellation_fee}, 450, 'outbox: fee';
is $ev_msg->{data}{refund_amount}, 4050, 'outbox: refund';
is $ev_msg->{data}{cancelled_by}, 'USER', 'outbox: cancelled by the user';
is_deeply [ sort @{ $ev_msg->{data}{seat_ids} } ],
          [ sort $conf{A1}, $conf{B1} ], 'outbox: the freed seats';
my $mail = JSON::PP->new->decode($rows->[1][3]);
is $mail->{data}{to}, 'canceller1@example.com', 'e-mail: to the owner';
is $mail->{data}{template}, 'booking_cancelled', 'e-mail: template';
is $mail->{data}{refund_amount}, 4050, 'e-mail: refund';
is $mail->{data}{event_name}, 'Tech Conference 2024', 'e-mail: event name';

# relayed to Kafka (topic bookings, key = event id)
ok wait_until(sub {
    psql(q{SELECT count(*) FROM evently.outbox
            WHERE payload->>'booking_id' = :'b' AND sent_at IS NOT NULL
              AND event_type LIKE '%cancelled'}, { b => $b1 }) == 2
}, timeout => 20, interval => 0.2), 'outbox: both rows relayed';
my @kafka = grep { $_->[1] =~ /"booking\.cancelled"/ && $_->[1] =~ /\Q$b1\E/ }
            kafka_consume(kafka_topic('bookings'), w => 2000, T => 20000);
is scalar @kafka, 1, 'Kafka: booking.cancelled on the bookings topic';
is $kafka[0][0], $pct10, 'Kafka: keyed by the event id' if @kafka;

# the freed seats: no marker left, held and booked again at once
is redis('EXISTS', "evently:seat:$pct10:$conf{A1}"), '0',
   'the booked marker of A1 is gone';
is redis('EXISTS', "evently:seat:$pct10:$conf{B1}"), '0',
   'the booked marker of B1 is gone';
$res = call(POST => '/api/v1/seats/hold', token => $u2->{token},
            body => { event_id => $pct10,
                      seat_ids => [ $conf{A1}, $conf{B1} ] });
is $res->{status}, 201, 'the freed seats can be held right away'
    or diag $res->{body};
$res = call(POST => '/api/v1/bookings/confirm', token => $u2->{token},
            body => { hold_id => $res->{json}{data}{hold_id},
                      event_id => $pct10 });
is $res->{status}, 201, 'and booked again';
my $b1again = $res->{json}{data}{booking_id};

# ---- cancelled twice -------------------------------------------------------

err_is(cancel($u1, $b1), 409, 'ALREADY_CANCELLED', 'request-cancel again');
err_is(cancel($u1, $b1, route => 'cancel'), 409, 'ALREADY_CANCELLED',
       'cancel after request-cancel');
is cancellations_of($b1), 1, 'still one cancellation row';
is booking_status($b1), 'CANCELLED v2', 'the booking is not touched again';

# ---- POST /cancel: one path, body optional ---------------------------------

my $b2 = book($u1, $fix50, 'A1');                 # 800 x 1.8 = 1440
$res = call(POST => "/api/v1/bookings/$b2/cancel", token => $u1->{token});
is $res->{status}, 201, 'cancel without a body: 201';
is $res->{json}{data}{cancellation_fee}, 50, 'cancel: FIXED 50';
is $res->{json}{data}{refund_amount}, 1390, 'cancel: refund 1390';
is $res->{json}{data}{reason}, undef, 'cancel: no reason';
is psql(q{SELECT refund_due_by - processed_at FROM evently.cancellations
           WHERE booking_id = :'b'}, { b => $b2 }), '3 days',
   'cancel: refund due after the policy\'s 3 days';
is redis('EXISTS', "evently:seat:$fix50:$theater{A1}"), '0',
   'cancel: the marker is gone too';

my $b3 = book($u1, $fix50, 'B1');
$res = cancel($u1, $b3, route => 'cancel', body => { reason => 'Sick' });
is $res->{status}, 201, 'cancel with a reason: 201';
is $res->{json}{data}{reason}, 'Sick', 'cancel: the reason is kept';

my $b4 = book($u1, $fix50, 'B2');
$res = cancel($u1, $b4, route => 'cancel', body => { reason => undef });
is $res->{status}, 201, 'cancel with reason null: 201';
$res = cancel($u1, sql_booking($u1, $fix50, 900), route => 'cancel',
              body => {});
is $res->{status}, 201, 'cancel with {}: 201';

# ---- fee arithmetic --------------------------------------------------------

my $b5 = sql_booking($u1, $pct10, '1234.55');
$res = cancel($u1, $b5);
is $res->{json}{data}{cancellation_fee}, 123.46,
   '10 % of 1234.55 = 123.455 -> 123.46';
is $res->{json}{data}{refund_amount}, 1111.09, 'refund 1111.09';
like $res->{body}, qr/"cancellation_fee" ?: ?123\.46,/, 'fee: exact';
like $res->{body}, qr/"refund_amount" ?: ?1111\.09,/, 'refund: exact';
is psql(q{SELECT refund_amount FROM evently.payments WHERE booking_id = :'b'},
        { b => $b5 }), '1111.09', 'payment refund 1111.09';

$res = cancel($u1, sql_booking($u1, $pct25, '10.01'));
is $res->{json}{data}{cancellation_fee}, 2.5, '25 % of 10.01 = 2.5025 -> 2.50';
is $res->{json}{data}{refund_amount}, 7.51, 'refund 7.51';

$res = cancel($u1, sql_booking($u1, $pct25, '0.02'));
is $res->{json}{data}{cancellation_fee}, 0.01, '25 % of 0.02 = 0.005 -> 0.01';
is $res->{json}{data}{refund_amount}, 0.01, 'refund 0.01';

# FIXED above the total: capped, nothing refunded
my $b6 = sql_booking($u1, $fix100, '80.00');
$res = cancel($u1, $b6);
is $res->{status}, 201, 'FIXED 100 on 80: 201';
is $res->{json}{data}{cancellation_fee}, 80, 'FIXED capped at the total';
is $res->{json}{data}{refund_amount}, 0, 'nothing refunded';
is $res->{json}{data}{status}, 'PROCESSED', 'PROCESSED when nothing goes back';
is psql(q{SELECT status || ' ' || refund_amount || ' '
                 || coalesce(refunded_at::text, '-')
            FROM evently.payments WHERE booking_id = :'b'}, { b => $b6 }),
   'COMPLETED 0.00 -', 'the payment stays COMPLETED, refund 0';
is booking_status($b6), 'CANCELLED v2', 'the booking is cancelled all the same';

# FIXED below the total
$res = cancel($u1, sql_booking($u1, $fix100, '100.01'));
is $res->{json}{data}{cancellation_fee}, 100, 'FIXED 100 on 100.01';
is $res->{json}{data}{refund_amount}, 0.01, 'refund 0.01';

# PERCENTAGE 100 %, then NONE (policies changed through the API)
$res = call(PUT => "/api/v1/admin/events/$pct5/cancellation-policy",
            token => $admin->{token},
            body => { allow_cancellation => JSON::PP::true(),
                      fee_type => 'PERCENTAGE', fee_amount => 100 });
is $res->{status}, 200, 'policy set to 100 %';
$res = cancel($u1, sql_booking($u1, $pct5, '999.99'));
is $res->{json}{data}{cancellation_fee}, 999.99, '100 %: the whole total';
is $res->{json}{data}{status}, 'PROCESSED', '100 %: PROCESSED';

$res = call(PUT => "/api/v1/admin/events/$pct5/cancellation-policy",
            token => $admin->{token},
            body => { allow_cancellation => JSON::PP::true(),
                      fee_type => 'NONE', refund_processing_days => 0 });
is $res->{status}, 200, 'policy set to NONE';
my $b7 = book($u1, $pct5, 'A5', 'B5');            # 780 + 600
$res = cancel($u1, $b7);
is $res->{json}{data}{cancellation_fee}, 0, 'NONE: no fee';
is $res->{json}{data}{refund_amount}, 1380, 'NONE: everything back';
is $res->{json}{data}{refund_due_by}, $res->{json}{data}{processed_at},
   'refund_processing_days 0: due at once';

# a free booking
$res = cancel($u1, sql_booking($u1, $pct10, '0.00'));
is $res->{status}, 201, 'free booking: 201';
is $res->{json}{data}{cancellation_fee}, 0, 'free booking: fee 0';
is $res->{json}{data}{refund_amount}, 0, 'free booking: refund 0';
is $res->{json}{data}{status}, 'PROCESSED', 'free booking: PROCESSED';

# ---- not cancellable -------------------------------------------------------

sub refused_unchanged {
    my ($booking, $name) = @_;
    is booking_status($booking), 'CONFIRMED v1', "$name: booking unchanged";
    is cancellations_of($booking), 0, "$name: no cancellation row";
    is psql(q{SELECT status FROM evently.payments WHERE booking_id = :'b'},
            { b => $booking }), 'COMPLETED', "$name: payment unchanged";
    is psql(q{SELECT count(*) FROM evently.outbox
               WHERE payload->>'booking_id' = :'b'
                 AND event_type LIKE '%cancelled'}, { b => $booking }), 0,
       "$name: no domain event";
}

my $b8 = book($u1, $noallow, 'A1');
err_is(cancel($u1, $b8), 409, 'CANCELLATION_NOT_ALLOWED',
       'allow_cancellation false');
refused_unchanged($b8, 'allow_cancellation false');
is psql(q{SELECT count(*) FROM evently.booking_seats
           WHERE booking_id = :'b' AND active}, { b => $b8 }), 1,
   'allow_cancellation false: the seat stays sold';
like redis('GET', "evently:seat:$noallow:$theater{A1}"), qr/^booked:/,
     'allow_cancellation false: the marker stays';
err_is(cancel($admin, $b8, route => 'cancel'), 409,
       'CANCELLATION_NOT_ALLOWED', 'allow_cancellation false, even an admin');

my $nopolicy = psql(q{
    INSERT INTO evently.events (name, venue, venue_template_id, date_time,
                                base_price)
    VALUES ('No Policy Event', 'Somewhere',
            '00000000-0000-4000-8000-000000000202',
            now() + interval '10 days', 100)
    RETURNING id});
my $b9 = sql_booking($u1, $nopolicy, '100.00');
err_is(cancel($u1, $b9), 409, 'CANCELLATION_NOT_ALLOWED', 'no policy');
refused_unchanged($b9, 'no policy');

# deadline passed (dates set in SQL)
my $b10 = sql_booking($u1, $fix50, '300.00');
psql(q{UPDATE evently.cancellation_policies
          SET cancellation_deadline = now() - interval '1 minute'
        WHERE event_id = :'e'}, { e => $fix50 });
$res = cancel($u1, $b10);
err_is($res, 409, 'DEADLINE_PASSED', 'deadline passed');
like $res->{json}{errors}{cancellation_deadline} // '', qr/Z$/,
     'deadline passed: errors.cancellation_deadline';
refused_unchanged($b10, 'deadline passed');
err_is(cancel($admin, $b10, route => 'cancel'), 409, 'DEADLINE_PASSED',
       'deadline passed, even for an admin');

# no deadline: cancellable until the event starts
psql(q{UPDATE evently.cancellation_policies SET cancellation_deadline = NULL
        WHERE event_id = :'e'}, { e => $fix50 });
is cancel($u1, $b10)->{status}, 201, 'no deadline, event ahead: 201';

my $started = psql(q{
    INSERT INTO evently.events (name, venue, venue_template_id, date_time,
                                base_price)
    VALUES ('Started Event', 'Somewhere',
            '00000000-0000-4000-8000-000000000202',
            now() + interval '1 day', 100)
    RETURNING id});
psql(q{INSERT INTO evently.cancellation_policies (event_id,
           allow_cancellation) VALUES (:'e', true)}, { e => $started });
my $b11 = sql_booking($u1, $started, '100.00');
psql(q{UPDATE evently.events SET date_time = now() - interval '1 hour'
        WHERE id = :'e'}, { e => $started });
err_is(cancel($u1, $b11), 409, 'DEADLINE_PASSED',
       'the event has started (no deadline)');
refused_unchanged($b11, 'event started');

psql(q{UPDATE evently.events SET date_time = now() + interval '1 day',
              status = 'completed' WHERE id = :'e'}, { e => $started });
err_is(cancel($u1, $b11), 409, 'DEADLINE_PASSED', 'a completed event');

# ---- who may cancel --------------------------------------------------------

my $b12 = book($u1, $pct10, 'C1');
err_is(cancel($u2, $b12), 403, 'FORBIDDEN', "another user's booking");
err_is(cancel($u2, $b12, route => 'cancel'), 403, 'FORBIDDEN',
       "another user's booking (cancel)");
refused_unchanged($b12, 'another user');
$res = cancel($admin, $b12, route => 'cancel',
              body => { reason => 'Fraud check' });
is $res->{status}, 201, 'an admin cancels a user\'s booking: 201';
is psql(q{SELECT payload->'data'->>'cancelled_by' FROM evently.outbox
           WHERE payload->>'booking_id' = :'b'
             AND event_type = 'booking.cancelled'}, { b => $b12 }),
   'ADMIN', 'outbox: cancelled by an admin';
is psql(q{SELECT user_id FROM evently.cancellations WHERE booking_id = :'b'},
        { b => $b12 }), $u1->{id}, 'the cancellation is the owner\'s';
my $c12 = $res->{json}{data}{id};

# ---- validation and plumbing errors ----------------------------------------

my $b13 = book($u1, $pct10, 'C2');
my $rc = "/api/v1/bookings/$b13/request-cancel";

sub reason_err {
    my ($res, $name) = @_;
    err_is($res, 400, 'VALIDATION_FAILED', $name);
    ok defined $res->{json}{errors}{fields}{reason},
       "$name: errors.fields.reason";
}

err_is(call(POST => $rc, token => $u1->{token}), 400, 'INVALID_JSON',
       'request-cancel without a body');
reason_err(call(POST => $rc, token => $u1->{token}, body => {}),
           'request-cancel without a reason');
reason_err(call(POST => $rc, token => $u1->{token},
                body => { reason => '' }), 'empty reason');
reason_err(call(POST => $rc, token => $u1->{token},
                body => { reason => "   \t " }), 'blank reason');
reason_err(call(POST => $rc, token => $u1->{token},
                body => { reason => 'x' x 501 }), 'reason of 501 characters');
reason_err(call(POST => $rc, token => $u1->{token},
                body => { reason => 42 }), 'reason a number');
reason_err(call(POST => $rc, token => $u1->{token},
                body => { reason => undef }), 'reason null');
reason_err(call(POST => "/api/v1/bookings/$b13/cancel",
                token => $u1->{token}, body => { reason => 'y' x 501 }),
           'cancel: reason of 501 characters');
reason_err(call(POST => "/api/v1/bookings/$b13/cancel",
                token => $u1->{token}, body => { reason => [] }),
           'cancel: reason an array');
err_is(call(POST => $rc, token => $u1->{token}, body => '{"reason":'),
       400, 'INVALID_JSON', 'malformed JSON');
err_is(call(POST => "/api/v1/bookings/$b13/cancel", token => $u1->{token},
            body => '"text"'), 400, 'INVALID_JSON', 'cancel: a JSON string');
err_is(call(POST => $rc, token => $u1->{token}, body => '{"reason":"a"}',
            headers => { 'Content-Type' => 'text/plain' }),
       415, 'UNSUPPORTED_MEDIA_TYPE', 'text/plain');
err_is(call(POST => $rc, body => { reason => 'x' }), 401, 'AUTH_REQUIRED',
       'request-cancel: no token');
err_is(call(POST => "/api/v1/bookings/$b13/cancel"), 401, 'AUTH_REQUIRED',
       'cancel: no token');
err_is(call(POST => '/api/v1/bookings/nope/request-cancel',
            token => $u1->{token}, body => { reason => 'x' }),
       400, 'INVALID_ID', 'request-cancel: bad UUID');
err_is(call(POST => '/api/v1/bookings/nope/cancel', token => $u1->{token}),
       400, 'INVALID_ID', 'cancel: bad UUID');
err_is(cancel($u1, $unknown), 404, 'BOOKING_NOT_FOUND',
       'request-cancel: unknown booking');
err_is(cancel($admin, $unknown, route => 'cancel'), 404,
       'BOOKING_NOT_FOUND', 'cancel: unknown booking (admin)');
$res = call(GET => $rc, token => $u1->{token});
is $res->{status}, 405, 'GET request-cancel: 405';
is $res->{headers}{allow}, 'POST', 'GET request-cancel: Allow: POST';
refused_unchanged($b13, 'refused requests');

$res = cancel($u1, $b13, reason => 'z' x 500);
is $res->{status}, 201, 'a reason of 500 characters: 201';
is length($res->{json}{data}{reason}), 500, 'the whole reason is kept';

# Idempotency-Key: a retry replays the first answer
my $b14 = book($u1, $pct10, 'C3');
my $first = cancel($u1, $b14, headers => { 'Idempotency-Key' => 'cx-1' });
is $first->{status}, 201, 'keyed cancel: 201';
my $again = cancel($u1, $b14, headers => { 'Idempotency-Key' => 'cx-1' });
is $again->{status}, 201, 'keyed retry: the same status';
is $again->{body}, $first->{body}, 'keyed retry: the same body';
is cancellations_of($b14), 1, 'keyed retry: one cancellation';

# ---- the markers: exactly those of this booking ----------------------------

my $b15 = book($u1, $pct25, 'A7', 'A8');
redis('SET', "evently:seat:$pct25:$conf{A8}", 'some-other-hold', 'PX', 60000);
is cancel($u1, $b15)->{status}, 201, 'cancel with one seat key re-used';
is redis('EXISTS', "evently:seat:$pct25:$conf{A7}"), '0',
   'our marker is deleted';
is redis('GET', "evently:seat:$pct25:$conf{A8}"), 'some-other-hold',
   'a key that names something else is left alone';
redis('DEL', "evently:seat:$pct25:$conf{A8}");

# ---- the waitlist hook -----------------------------------------------------

# the hook is called in the cancellation's transaction with the freed
# seats: replace it for a moment by one that leaves a trace in the outbox
my $hook_def = psql(q{SELECT pg_get_functiondef(
    'evently.waitlist_seats_freed(uuid, uuid[])'::regprocedure)});
like $hook_def, qr/RETURN 0/, 'the waitlist hook is a no-op for now';
psql(q{
    CREATE OR REPLACE FUNCTION evently.waitlist_seats_freed(p_event_id uuid,
        p_seat_ids uuid[])
    RETURNS int LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM evently.emit('waitlist', 'test.seats_freed', p_event_id,
                             NULL, NULL,
                             jsonb_build_object('seat_ids',
                                                to_jsonb(p_seat_ids)));
        RETURN cardinality(p_seat_ids);
    END $$});
my $b16 = book($u1, $pct25, 'B9', 'B10');
is cancel($u1, $b16)->{status}, 201, 'cancel with a traced hook';
psql($hook_def);
like psql(q{SELECT pg_get_functiondef(
    'evently.waitlist_seats_freed(uuid, uuid[])'::regprocedure)}),
    qr/RETURN 0/, 'the hook is restored';
my $trace = psql(q{SELECT payload->'data'->>'seat_ids' FROM evently.outbox
                    WHERE event_type = 'test.seats_freed'
                      AND event_key = :'e'}, { e => $pct25 });
is_deeply [ sort @{ JSON::PP->new->decode($trace || '[]') } ],
          [ sort $conf{B9}, $conf{B10} ],
          'the hook got the event and the freed seats';
psql(q{DELETE FROM evently.outbox WHERE event_type = 'test.seats_freed'});

# ---- GET /cancellations/{id} -----------------------------------------------

$res = call(GET => "/api/v1/cancellations/$c1->{id}", token => $u1->{token});
is $res->{status}, 200, 'get: the owner, 200';
is_deeply $res->{json}{data}, $c1, 'get: what the cancel answered';
$res = call(GET => "/api/v1/cancellations/$c1->{id}",
            token => $admin->{token});
is $res->{status}, 200, 'get: an admin, 200';
err_is(call(GET => "/api/v1/cancellations/$c1->{id}",
            token => $u2->{token}), 403, 'FORBIDDEN', 'get: another user');
$res = call(GET => "/api/v1/cancellations/$c12", token => $u1->{token});
is $res->{status}, 200, 'get: the owner sees what an admin cancelled';
err_is(call(GET => "/api/v1/cancellations/$unknown",
            token => $u1->{token}), 404, 'CANCELLATION_NOT_FOUND',
       'get: unknown');
err_is(call(GET => "/api/v1/cancellations/$b1", token => $admin->{token}),
       404, 'CANCELLATION_NOT_FOUND', 'get: a booking id is not one');
err_is(call(GET => '/api/v1/cancellations/12-34', token => $u1->{token}),
       400, 'INVALID_ID', 'get: bad UUID');
err_is(call(GET => "/api/v1/cancellations/$c1->{id}"), 401,
       'AUTH_REQUIRED', 'get: no token');
is call(POST => "/api/v1/cancellations/$c1->{id}", token => $u1->{token},
        body => {})->{status}, 405, 'POST a cancellation: 405';

# ---- GET /users/cancellations ----------------------------------------------

my $mine = psql(q{SELECT count(*) FROM evently.cancellations
                   WHERE user_id = :'u'}, { u => $u1->{id} });
cmp_ok $mine, '>=', 15, "u1 has $mine cancellations";
$res = call(GET => '/api/v1/users/cancellations', token => $u1->{token});
is $res->{status}, 200, 'list: 200';
my $list = $res->{json}{data};
is $list->{count}, $mine, 'list: count (default limit 50)';
is $list->{total_count}, $mine, 'list: total_count';
is $list->{limit}, 50, 'list: limit 50 by default';
is $list->{offset}, 0, 'list: offset 0';
my $newest = psql_rows(q{SELECT id FROM evently.cancellations
                          WHERE user_id = :'u'
                          ORDER BY created_at DESC, id}, { u => $u1->{id} });
is_deeply [ map { $_->{id} } @{ $list->{cancellations} } ],
          [ map { $_->[0] } @$newest ], 'list: newest first';
is $list->{cancellations}[-1]{id}, $c1->{id}, 'list: the first one last';
ok !grep({ $_->{booking_id} eq $b1again } @{ $list->{cancellations} }),
   'list: only the caller\'s';

$res = call(GET => '/api/v1/users/cancellations?limit=2&offset=1',
            token => $u1->{token});
is $res->{json}{data}{count}, 2, 'list page: count 2';
is_deeply [ map { $_->{id} } @{ $res->{json}{data}{cancellations} } ],
          [ map { $_->[0] } @$newest[1, 2] ], 'list page: items 2 and 3';
is $res->{json}{data}{total_count}, $mine, 'list page: total_count';
$res = call(GET => "/api/v1/users/cancellations?offset=$mine",
            token => $u1->{token});
is_deeply $res->{json}{data}{cancellations}, [], 'list past the end: empty';
is $res->{json}{data}{count}, 0, 'list past the end: count 0';

$res = call(GET => '/api/v1/users/cancellations', token => $u2->{token});
is $res->{json}{data}{count}, 0, 'list: u2 has none';
$res = call(GET => '/api/v1/users/cancellations', token => $admin->{token});
is $res->{json}{data}{count}, 0,
   'list: an admin\'s own list (what it cancelled for others is theirs)';

for my $q ('limit=0', 'limit=101', 'limit=abc', 'offset=-1', 'offset=x') {
    my ($f) = $q =~ /^(\w+)/;
    $res = call(GET => "/api/v1/users/cancellations?$q",
                token => $u1->{token});
    err_is($res, 400, 'VALIDATION_FAILED', "list ?$q");
    ok defined $res->{json}{errors}{fields}{$f}, "list ?$q: field $f";
}
err_is(call(GET => '/api/v1/users/cancellations'), 401, 'AUTH_REQUIRED',
       'list: no token');

# ---- concurrency: 20 cancels of one booking --------------------------------

my $racy = book($u1, $pct10, 'A4', 'A5');
my $results = race(n => 20, timeout => 60, run => sub {
    my ($i) = @_;
    my $who = $i % 4 == 3 ? $admin : $u1;
    my $r = $i % 2 ? cancel($who, $racy, route => 'cancel')
                   : cancel($who, $racy, reason => "racer $i");
    return $r->{status} . ':' . ($r->{json}{errors}{code} // '');
});
is scalar(grep { defined && $_ eq '201:' } @$results), 1,
   '20 concurrent cancels: exactly one 201';
is scalar(grep { defined && $_ eq '409:ALREADY_CANCELLED' } @$results), 19,
   '20 concurrent cancels: nineteen 409 ALREADY_CANCELLED'
    or diag explain $results;
is cancellations_of($racy), 1, 'race: one cancellation row';
is booking_status($racy), 'CANCELLED v2', 'race: version 2, once';
is psql(q{SELECT count(*) FROM evently.outbox
           WHERE payload->>'booking_id' = :'b'
             AND event_type = 'booking.cancelled'}, { b => $racy }), 1,
   'race: one booking.cancelled';
is psql(q{SELECT status || ' ' || refund_amount FROM evently.payments
           WHERE booking_id = :'b'}, { b => $racy }), 'REFUNDED 5400.00',
   'race: refunded once (10 % of 6000 kept)';

# ten different bookings of one event at once: no lock waits between them
my @many = map { sql_booking($u2, $pct10, '100.00') } 1 .. 10;
$results = race(n => 10, timeout => 60, run => sub {
    my ($i) = @_;
    return cancel($u2, $many[$i])->{status};
});
is_deeply $results, [ (201) x 10 ],
          'ten bookings of one event cancelled concurrently: all 201';

# ---- Redis down: the cancellation stands -----------------------------------

my $noredis = start_nginx(name => 'cancel-noredis', port => $port2,
                          http_config => http_config(redis => '127.0.0.1:1'),
                          main_config => main_config(),
                          config => server_config());
my $b17 = sql_booking($u1, $pct10, '500.00');
$res = cancel($u1, $b17, port => $port2);
is $res->{status}, 201, 'Redis down: the cancellation still succeeds';
is $res->{json}{data}{refund_amount}, 450, 'Redis down: the refund';
is booking_status($b17), 'CANCELLED v2', 'Redis down: booking cancelled';
my $b18 = book($u1, $pct10, 'C9');
$res = cancel($u1, $b18, port => $port2);
is $res->{status}, 201, 'Redis down, a booking with seats: 201';
like redis('GET', "evently:seat:$pct10:$conf{C9}"), qr/^booked:/,
     'Redis down: the marker is left to expire';
ok stop_nginx('cancel-noredis'), 'the second nginx stopped cleanly';
like error_log_text($noredis),
     qr/\[warn\].*stay marked booked until their markers expire/,
     'Redis down: a warning, not an error for the client';

ok stop_nginx('cancel'), 'nginx stopped cleanly';
no_alerts_ok('cancel');

done_testing;
