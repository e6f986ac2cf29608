# An event's cancellation refunds every booking in full:
# PUT /api/v1/admin/events/{id} {"status":"cancelled"} calls
# evently.cancel_event_bookings (70_cancellations.sql replaces the no-op
# hook of 40_events.sql) in the event update's transaction.

use strict;
use warnings;

use Test::More;
use Evently::Test;

my $port = $ENV{TEST_NGINX_PORT} // 1984;
my $pct10 = '00000000-0000-4000-8000-000000000401';  # Conf., 10 %, 5 days
my $noallow = '00000000-0000-4000-8000-000000000404';  # Theater, no cancel
my $pct25 = '00000000-0000-4000-8000-000000000403';  # Conf., 25 %, 7 days

reset_db();
seed();

my $u1 = create_user(email => 'attendee1@example.com');
my $u2 = create_user(email => 'attendee2@example.com');
my $admin = create_user(email => 'event-admin@example.com', role => 'ADMIN');

my %conf = map { $_->[1] => $_->[0] } @{ psql_rows(q{
    SELECT s.id, s.seat_number FROM evently.seats s
      JOIN evently.venue_sections sec ON sec.id = s.section_id
     WHERE sec.template_id = '00000000-0000-4000-8000-000000000202'}) };
my %theater = map { $_->[1] => $_->[0] } @{ psql_rows(q{
    SELECT s.id, s.seat_number FROM evently.seats s
      JOIN evently.venue_sections sec ON sec.id = s.section_id
     WHERE sec.template_id = '00000000-0000-4000-8000-000000000201'}) };

start_nginx(name => 'event-cancel', port => $port, workers => 2,
            http_config => http_config(), main_config => main_config(),
            config => server_config());

sub call { my ($m, $p, %o) = @_; return api($m, $p, port => $port, %o) }

sub book {
    my ($user, $event, $map, @seats) = @_;
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

sub new_event {
    return psql(q{
        INSERT INTO evently.events (name, venue, venue_template_id,
                                    date_time, base_price)
        VALUES ('Doomed Event', 'Somewhere',
                '00000000-0000-4000-8000-000000000202',
                now() + interval '12 days', 100)
        RETURNING id});
}

sub cancel_event {
    my ($event) = @_;
    return call(PUT => "/api/v1/admin/events/$event",
                token => $admin->{token}, body => { status => 'cancelled' });
}

# booking id -> "status v<version> | fee refund status reason | payment"
sub state_of {
    my ($booking) = @_;
    return psql(q{
        SELECT b.status || ' v' || b.version || ' | '
               || coalesce(c.cancellation_fee || ' ' || c.refund_amount
                           || ' ' || c.status || ' ' || c.reason, '-')
               || ' | ' || p.status || ' ' || coalesce(p.refund_amount::text,
                                                       '-')
          FROM evently.bookings b
          JOIN evently.payments p ON p.booking_id = b.id
          LEFT JOIN evently.cancellations c ON c.booking_id = b.id
         WHERE b.id = :'b'}, { b => $booking });
}

sub outbox_count {
    my ($type, $booking) = @_;
    return psql(q{SELECT count(*) FROM evently.outbox
                   WHERE event_type = :'t'
                     AND payload->>'booking_id' = :'b'},
                { t => $type, b => $booking });
}

# ---- an event with bookings of every kind ----------------------------------

my $b1 = book($u1, $pct10, \%conf, 'A1', 'B1');     # 3000 + 1500
my $b2 = book($u2, $pct10, \%conf, 'C1');           # 1500
my $b3 = book($u1, $pct10, \%conf, 'C2');           # cancelled by the user
my $b4 = sql_booking($u2, $pct10, '0.00');          # free
my $b5 = sql_booking($u1, $pct10, '1234.55');

my $res = call(POST => "/api/v1/bookings/$b3/request-cancel",
               token => $u1->{token}, body => { reason => 'Early' });
is $res->{status}, 201, 'one booking was cancelled by its user first';
is $res->{json}{data}{cancellation_fee}, 150, 'with the policy\'s 10 % fee';
my $b3_state = state_of($b3);

is call(GET => "/api/v1/events/$pct10")->{json}{data}{booked_count}, 3,
   'before: 3 seats booked';

$res = cancel_event($pct10);
is $res->{status}, 200, 'PUT status cancelled: 200' or diag $res->{body};
is $res->{json}{data}{status}, 'cancelled', 'the event is cancelled';
is $res->{json}{data}{booked_count}, 0, 'the event has no booked seat left';

is state_of($b1), 'CANCELLED v2 | 0.00 4500.00 REFUNDED Event cancelled '
                  . '| REFUNDED 4500.00', 'b1: full refund, fee 0';
is state_of($b2), 'CANCELLED v2 | 0.00 1500.00 REFUNDED Event cancelled '
                  . '| REFUNDED 1500.00', "b2 (another user's): full refund";
is state_of($b5), 'CANCELLED v2 | 0.00 1234.55 REFUNDED Event cancelled '
                  . '| REFUNDED 1234.55', 'b5: full refund of 1234.55';
is state_of($b4), 'CANCELLED v2 | 0.00 0.00 PROCESSED Event cancelled '
                  . '| COMPLETED 0.00',
   'b4 (free): cancelled, nothing to pay back';
is state_of($b3), $b3_state,
   'b3 (cancelled before): its cancellation and fee are untouched';
is psql(q{SELECT count(*) FROM evently.cancellations c
            JOIN evently.bookings b ON b.id = c.booking_id
           WHERE b.event_id = :'e'}, { e => $pct10 }), 5,
   'one cancellation row per booking, none twice';
is psql(q{SELECT count(*) FROM evently.booking_seats
           WHERE event_id = :'e' AND active}, { e => $pct10 }), 0,
   'no active booking seat left';
is psql(q{SELECT bool_and(refund_due_by = processed_at + interval '5 days')
            FROM evently.cancellations
           WHERE reason = 'Event cancelled'}), 't',
   'refund due after the policy\'s 5 days';
is psql(q{SELECT bool_and(b.cancelled_at IS NOT NULL
                          AND b.updated_at >= b.created_at)
            FROM evently.bookings b WHERE b.event_id = :'e'},
        { e => $pct10 }), 't', 'cancelled_at set on every booking';

for my $b ($b1, $b2, $b4, $b5) {
    is outbox_count('booking.cancelled', $b), 1,
       "booking.cancelled for $b";
    is outbox_count('email.booking_cancelled', $b), 1,
       "email.booking_cancelled for $b";
}
is outbox_count('booking.cancelled', $b3), 1,
   'no second booking.cancelled for b3';
is psql(q{SELECT string_agg(DISTINCT payload->'data'->>'cancelled_by', ',')
            FROM evently.outbox
           WHERE event_type = 'booking.cancelled'
             AND payload->'data'->>'reason' = 'Event cancelled'}),
   'EVENT_CANCELLED', 'booking.cancelled says the event was cancelled';
my $b1_msg = JSON::PP->new->decode(psql(q{
    SELECT payload::text FROM evently.outbox
     WHERE event_type = 'booking.cancelled'
       AND payload->>'booking_id' = :'b'}, { b => $b1 }));
is $b1_msg->{data}{refund_amount}, 4500, 'booking.cancelled: the refund';
is_deeply [ sort @{ $b1_msg->{data}{seat_ids} } ],
          [ sort $conf{A1}, $conf{B1} ], 'booking.cancelled: the seats';
is psql(q{SELECT payload->'data'->>'bookings_cancelled' FROM evently.outbox
           WHERE event_type = 'event.cancelled' AND event_key = :'e'},
        { e => $pct10 }), 4, 'event.cancelled counts the 4 bookings';
is psql(q{SELECT count(*) FROM evently.outbox
           WHERE event_type = 'email.booking_cancelled'
             AND payload->'data'->>'to' = 'attendee2@example.com'}), 2,
   'both of u2\'s bookings get an e-mail';

# what the users see
$res = call(GET => "/api/v1/bookings/$b1", token => $u1->{token});
is $res->{json}{data}{status}, 'CANCELLED', 'GET booking: CANCELLED';
is $res->{json}{data}{payments}[0]{status}, 'REFUNDED',
   'GET booking: payment REFUNDED';
$res = call(GET => '/api/v1/users/cancellations', token => $u2->{token});
is $res->{json}{data}{count}, 2, 'u2 sees two cancellations';
ok !grep({ $_->{cancellation_fee} != 0 }
         @{ $res->{json}{data}{cancellations} }),
   'u2: no fee on either';
my ($c2) = grep { $_->{booking_id} eq $b2 }
           @{ $res->{json}{data}{cancellations} };
is $c2->{reason}, 'Event cancelled', 'u2: reason Event cancelled';
$res = call(GET => "/api/v1/cancellations/$c2->{id}", token => $u2->{token});
is $res->{json}{data}{refund_amount}, 1500, 'GET cancellation: refund';

# afterwards
$res = call(POST => "/api/v1/bookings/$b1/cancel", token => $u1->{token});
is $res->{status}, 409, 'a user cancel afterwards: 409';
is $res->{json}{errors}{code}, 'ALREADY_CANCELLED',
   'a user cancel afterwards: ALREADY_CANCELLED';
$res = cancel_event($pct10);
is $res->{json}{errors}{code}, 'EVENT_CANCELLED',
   'cancelling the event again is refused by the events API';
is psql(q{SELECT evently.cancel_event_bookings(:'e')}, { e => $pct10 }), 0,
   'the SQL function again: nothing left to cancel';
is psql(q{SELECT count(*) FROM evently.cancellations c
            JOIN evently.bookings b ON b.id = c.booking_id
           WHERE b.event_id = :'e'}, { e => $pct10 }), 5,
   'still five cancellations';

# ---- full refunds whatever the policy says ---------------------------------

my $b6 = book($u1, $noallow, \%theater, 'A1', 'B1');   # 1800 + 1200
$res = call(POST => "/api/v1/bookings/$b6/cancel", token => $u1->{token});
is $res->{json}{errors}{code}, 'CANCELLATION_NOT_ALLOWED',
   'the user may not cancel under this policy';
is cancel_event($noallow)->{status}, 200, 'the event is cancelled';
is state_of($b6), 'CANCELLED v2 | 0.00 3000.00 REFUNDED Event cancelled '
                  . '| REFUNDED 3000.00',
   'allow_cancellation false: refunded in full all the same';
is psql(q{SELECT refund_due_by = processed_at FROM evently.cancellations
           WHERE booking_id = :'b'}, { b => $b6 }), 't',
   'refund due at once (the policy\'s 0 days)';

# no policy at all: refund due in the default 5 days
my $nopolicy = new_event();
my $b7 = sql_booking($u2, $nopolicy, '250.50');
is cancel_event($nopolicy)->{status}, 200, 'an event without a policy';
is state_of($b7), 'CANCELLED v2 | 0.00 250.50 REFUNDED Event cancelled '
                  . '| REFUNDED 250.50', 'no policy: full refund';
is psql(q{SELECT refund_due_by - processed_at FROM evently.cancellations
           WHERE booking_id = :'b'}, { b => $b7 }), '5 days',
   'no policy: refund due in 5 days';

# an event without bookings
my $empty = new_event();
is cancel_event($empty)->{status}, 200, 'an event without bookings';
is psql(q{SELECT payload->'data'->>'bookings_cancelled' FROM evently.outbox
           WHERE event_type = 'event.cancelled' AND event_key = :'e'},
        { e => $empty }), 0, 'event.cancelled counts 0 bookings';

# ---- the SQL function on its own -------------------------------------------

my $direct = new_event();
my @direct = map { sql_booking($u1, $direct, '10.00') } 1 .. 3;
psql(q{UPDATE evently.bookings SET status = 'CANCELLED',
              cancelled_at = now() WHERE id = :'b'}, { b => $direct[2] });
is psql(q{SELECT evently.cancel_event_bookings(:'e')}, { e => $direct }), 2,
   'cancel_event_bookings returns the number it cancelled';
is psql(q{SELECT count(*) FROM evently.cancellations c
            JOIN evently.bookings b ON b.id = c.booking_id
           WHERE b.event_id = :'e'}, { e => $direct }), 2,
   'only CONFIRMED bookings get a cancellation';

# ---- many bookings: set-based, one transaction -----------------------------

my $big = new_event();
psql(q{
    WITH b AS (
        INSERT INTO evently.bookings (booking_ref, user_id, event_id,
                                      total_seats, total_price)
        SELECT 'EVT-20260101-' || lpad(upper(to_hex(g)), 6, '0'), :'u', :'e',
               1, 10 + g / 100.0
          FROM generate_series(1, 500) g
        RETURNING id, total_price
    )
    INSERT INTO evently.payments (booking_id, amount, status, payment_method,
                                  transaction_id, processed_at)
    SELECT id, total_price, 'COMPLETED', 'mock',
           'TXN-' || replace(id::text, '-', ''), now()
      FROM b}, { u => $u2->{id}, e => $big });
$res = cancel_event($big);
is $res->{status}, 200, 'an event with 500 bookings: 200';
is psql(q{SELECT count(*) || ' ' || sum(p.refund_amount) || ' '
                 || bool_and(p.refund_amount = p.amount)
            FROM evently.payments p
            JOIN evently.bookings b ON b.id = p.booking_id
           WHERE b.event_id = :'e' AND p.status = 'REFUNDED'
             AND b.status = 'CANCELLED'}, { e => $big }),
   '500 6252.50 true', '500 bookings: every payment refunded in full';
is psql(q{SELECT count(*) FROM evently.outbox
           WHERE event_type = 'booking.cancelled'
             AND event_key = :'e'}, { e => $big }), 500,
   '500 booking.cancelled events';

# ---- an event cancelled while its users cancel -----------------------------

my @racy = map { book($_ % 2 ? $u1 : $u2, $pct25, \%conf, "A$_") } 1 .. 8;
my $results = race(n => 9, timeout => 60, run => sub {
    my ($i) = @_;
    if ($i == 8) {
        return 'event ' . cancel_event($pct25)->{status};
    }
    my $who = ($i + 1) % 2 ? $u1 : $u2;
    my $r = call(POST => "/api/v1/bookings/$racy[$i]/cancel",
                 token => $who->{token});
    return $r->{status} . ':' . ($r->{json}{errors}{code} // '');
});
is $results->[8], 'event 200', 'race: the event is cancelled';
my @user = @$results[0 .. 7];
is scalar(grep { defined && ($_ eq '201:' || $_ eq '409:ALREADY_CANCELLED') }
          @user), 8,
   'race: each user cancel is a 201 (first) or ALREADY_CANCELLED (second)'
    or diag explain $results;
is psql(q{SELECT count(*) FILTER (WHERE b.status = 'CANCELLED')
                 || ' ' || count(c.id)
            FROM evently.bookings b
            LEFT JOIN evently.cancellations c ON c.booking_id = b.id
           WHERE b.id = ANY (string_to_array(:'ids', ',')::uuid[])},
        { ids => join ',', @racy }), '8 8',
   'race: every booking cancelled once, one row each';
my $by_user = grep { defined && $_ eq '201:' } @user;
is psql(q{SELECT count(*) FROM evently.cancellations
           WHERE booking_id = ANY (string_to_array(:'ids', ',')::uuid[])
             AND reason = 'Event cancelled'}, { ids => join ',', @racy }),
   8 - $by_user, 'race: the rest were refunded by the event\'s cancellation';

ok stop_nginx('event-cancel'), 'nginx stopped cleanly';
no_alerts_ok('event-cancel');

done_testing;
