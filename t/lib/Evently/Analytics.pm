package Evently::Analytics;

# The known dataset of the analytics tests (t/18x-*.t), on top of
# sql/seed.sql, the nginx they run against, and their helpers.
#
#   use Evently::Analytics;
#   analytics_start(port => $port, admin => $admin);   # reset, load, start
#   my $d = get_ok('/api/v1/analytics/admin/dashboard', 'dashboard');
#   ... day(-3), month_of(0), monday_of(-7), month_list(6)
#   ok stop_nginx('analytics'); no_alerts_ok('analytics');

use strict;
use warnings;

use Exporter 'import';
use POSIX qw(strftime);
use Test::More;
use Time::Local qw(timegm);
use Evently::Test;

our @EXPORT = qw(analytics_start call get_ok err_is bad_query has_fields
                 day month_of monday_of month_list);

my ($port, $admin, $Noon, $TY, $TM);

# ---- the known dataset (on top of sql/seed.sql) ---------------------------
#
# D = today (UTC). Capacities: Conference Hall 28 (VIP 8, General 20),
# Small Theater 25 (Premium 13, Standard 12: seat B13 BLOCKED).
#
#   booking  user  event  seats              value    made       payment
#   B1       U1    0401   VIP A1 A2          6000.00  D-2 10:00  card
#   B2       U2    0401   General B1         1500.00  D-2 15:00  upi
#   B3       U1    0402   Premium A1, B1 B2  3040.00  D-1 09:00  card
#   B4       U2    0403   VIP A1, General B1 1250.00  D-5 12:00  wallet
#            cancelled D-1 18:00: fee 312.50 (25 %), refund 937.50
#   B5       U1    0403   General B2 B3      1000.00  D 00:00    mock
#   B6       U2    0405   Premium A1          780.00  D-40 11:00 card
#
# Events 0481 (draft, Conference Hall) and 0482 (cancelled, Small
# Theater) have nothing. Users: admin D-100, U1 D-10, U2 D-3, U3 today.
# Tag Food is inactive. Waitlist of 0401: U1 ACTIVE, U2 NOTIFIED, admin
# CONVERTED, U3 EXPIRED then ACTIVE again.

my $Fixture = <<'_SQL_';
CREATE FUNCTION pg_temp.at(p_days int, p_hours int) RETURNS timestamptz
LANGUAGE sql AS $$
    SELECT (evently.analytics_today() + p_days)::timestamp
           AT TIME ZONE 'UTC' + make_interval(hours => p_hours)
$$;

CREATE FUNCTION pg_temp.book(p_ref text, p_user uuid, p_event uuid,
    p_seats text[], p_at timestamptz, p_method text) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_id     uuid;
    v_count  int;
    v_total  numeric(12,2);
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS picked (seat_id uuid, section_id uuid,
        seat_number text, row_label text, section_name text,
        price numeric(12,2));
    DELETE FROM picked;
    INSERT INTO picked
    SELECT s.id, vs.id, s.seat_number, s.row_label, vs.name,
           evently.event_price(e.base_price, p.price_multiplier)
      FROM evently.events e
      JOIN evently.venue_sections vs ON vs.template_id = e.venue_template_id
      JOIN evently.seats s ON s.section_id = vs.id
      LEFT JOIN evently.event_section_pricing p
             ON p.event_id = e.id AND p.section_id = vs.id
     WHERE e.id = p_event AND s.seat_number = ANY (p_seats);
    SELECT count(*), sum(price) INTO v_count, v_total FROM picked;
    IF v_count <> cardinality(p_seats) THEN
        RAISE EXCEPTION 'fixture: seats % of % not found', p_seats, p_event;
    END IF;
    INSERT INTO evently.bookings (booking_ref, user_id, event_id,
        total_seats, total_price, created_at, updated_at)
    VALUES (p_ref, p_user, p_event, v_count, v_total, p_at, p_at)
    RETURNING id INTO v_id;
    INSERT INTO evently.booking_seats (booking_id, event_id, seat_id,
        section_id, seat_number, row_label, section_name, price,
        created_at, updated_at)
    SELECT v_id, p_event, seat_id, section_id, seat_number, row_label,
           section_name, price, p_at, p_at
      FROM picked;
    INSERT INTO evently.payments (booking_id, amount, status,
        payment_method, transaction_id, processed_at, created_at,
        updated_at)
    VALUES (v_id, v_total, 'COMPLETED', p_method, 'TXN-' || p_ref, p_at,
            p_at, p_at);
    RETURN v_id;
END $$;

CREATE FUNCTION pg_temp.cancel(p_ref text, p_fee numeric, p_at timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_b  evently.bookings%ROWTYPE;
BEGIN
    UPDATE evently.bookings
       SET status = 'CANCELLED', cancelled_at = p_at, updated_at = p_at,
           version = version + 1
     WHERE booking_ref = p_ref
    RETURNING * INTO v_b;
    UPDATE evently.booking_seats SET active = false, updated_at = p_at
     WHERE booking_id = v_b.id;
    INSERT INTO evently.cancellations (booking_id, user_id, requested_at,
        processed_at, cancellation_fee, refund_amount, refund_due_by,
        reason, status, created_at, updated_at)
    VALUES (v_b.id, v_b.user_id, p_at, p_at, p_fee, v_b.total_price - p_fee,
            p_at + interval '7 days', 'Plans changed', 'REFUNDED', p_at,
            p_at);
    UPDATE evently.payments
       SET status = 'REFUNDED', refund_amount = v_b.total_price - p_fee,
           refunded_at = p_at, updated_at = p_at
     WHERE booking_id = v_b.id;
END $$;

UPDATE evently.seats SET status = 'BLOCKED'
 WHERE section_id = '00000000-0000-4000-8000-000000000302'
   AND seat_number = 'B13';

INSERT INTO evently.events (id, name, venue, venue_template_id, date_time,
                            base_price, status, cancelled_at)
VALUES ('00000000-0000-4000-8000-000000000481', 'Draft Meetup',
        'Back Room', '00000000-0000-4000-8000-000000000202',
        pg_temp.at(100, 19), 100.00, 'draft', NULL),
       ('00000000-0000-4000-8000-000000000482', 'Cancelled Gala',
        'Grand Opera House', '00000000-0000-4000-8000-000000000201',
        pg_temp.at(110, 19), 900.00, 'cancelled', now());

INSERT INTO evently.users (id, first_name, last_name, email, password_hash,
                           role)
VALUES ('00000000-0000-4000-8000-000000000004', 'Third', 'User',
        'third@example.com',
        '$2b$10$a8fwyE4F7NDYEZJtZ5H1OOCwfBwnlhgqxf589PnzDw8KQHdhDqNnW',
        'USER');
UPDATE evently.users SET created_at = pg_temp.at(-100, 9)
 WHERE id = '00000000-0000-4000-8000-000000000001';
UPDATE evently.users SET created_at = pg_temp.at(-10, 9)
 WHERE id = '00000000-0000-4000-8000-000000000002';
UPDATE evently.users SET created_at = pg_temp.at(-3, 9)
 WHERE id = '00000000-0000-4000-8000-000000000003';

UPDATE evently.tags SET is_active = false WHERE slug = 'food';

SELECT pg_temp.book('EVT-20260101-BOOK01',
    '00000000-0000-4000-8000-000000000002',
    '00000000-0000-4000-8000-000000000401', '{A1,A2}',
    pg_temp.at(-2, 10), 'card');
SELECT pg_temp.book('EVT-20260101-BOOK02',
    '00000000-0000-4000-8000-000000000003',
    '00000000-0000-4000-8000-000000000401', '{B1}',
    pg_temp.at(-2, 15), 'upi');
SELECT pg_temp.book('EVT-20260101-BOOK03',
    '00000000-0000-4000-8000-000000000002',
    '00000000-0000-4000-8000-000000000402', '{A1,B1,B2}',
    pg_temp.at(-1, 9), 'card');
SELECT pg_temp.book('EVT-20260101-BOOK04',
    '00000000-0000-4000-8000-000000000003',
    '00000000-0000-4000-8000-000000000403', '{A1,B1}',
    pg_temp.at(-5, 12), 'wallet');
SELECT pg_temp.cancel('EVT-20260101-BOOK04', 312.50, pg_temp.at(-1, 18));
SELECT pg_temp.book('EVT-20260101-BOOK05',
    '00000000-0000-4000-8000-000000000002',
    '00000000-0000-4000-8000-000000000403', '{B2,B3}',
    pg_temp.at(0, 0), 'mock');
SELECT pg_temp.book('EVT-20260101-BOOK06',
    '00000000-0000-4000-8000-000000000003',
    '00000000-0000-4000-8000-000000000405', '{A1}',
    pg_temp.at(-40, 11), 'card');

INSERT INTO evently.waitlist_entries (event_id, user_id, quantity, status,
                                      notified_at, expires_at)
VALUES ('00000000-0000-4000-8000-000000000401',
        '00000000-0000-4000-8000-000000000002', 2, 'ACTIVE', NULL, NULL),
       ('00000000-0000-4000-8000-000000000401',
        '00000000-0000-4000-8000-000000000003', 1, 'NOTIFIED', now(),
        now() + interval '15 minutes'),
       ('00000000-0000-4000-8000-000000000401',
        '00000000-0000-4000-8000-000000000001', 1, 'CONVERTED',
        now() - interval '1 hour', now() - interval '45 minutes'),
       ('00000000-0000-4000-8000-000000000401',
        '00000000-0000-4000-8000-000000000004', 3, 'EXPIRED',
        now() - interval '2 hours', now() - interval '105 minutes'),
       ('00000000-0000-4000-8000-000000000401',
        '00000000-0000-4000-8000-000000000004', 1, 'ACTIVE', NULL, NULL);
_SQL_

# reset the test database, load the dataset, start the nginx 'analytics'
sub analytics_start {
    my (%o) = @_;
    $port = $o{port};
    $admin = $o{admin};

    reset_db();
    seed();
    psql($Fixture);

    start_nginx(name => 'analytics', port => $port,
                http_config => http_config(), main_config => main_config(),
                config => server_config());

    # days relative to today (UTC), as the database sees it
    my $today = psql('SELECT evently.analytics_today()');
    my $td;
    ($TY, $TM, $td) = split /-/, $today;
    $Noon = timegm(0, 0, 12, $td, $TM - 1, $TY);

    return;
}

sub call { my ($m, $p, %o) = @_; return api($m, $p, port => $port, %o) }

sub get_ok {
    my ($path, $name, $token) = @_;
    my $res = call(GET => $path, token => $token // $admin->{token});
    is $res->{status}, 200, "$name: 200"
        or diag explain $res->{json} // $res->{body};
    unlike $res->{body} // '', qr/NaN|Infinity/i, "$name: no NaN";
    return $res->{json}{data} // {};
}

sub err_is {
    my ($res, $status, $code, $name) = @_;
    is $res->{status}, $status, "$name: status $status";
    is $res->{json}{errors}{code}, $code, "$name: code $code";
}

sub bad_query {
    my ($path, $field, $name) = @_;
    my $res = call(GET => $path, token => $admin->{token});
    err_is($res, 400, 'VALIDATION_FAILED', $name);
    ok $res->{json}{errors}{fields}{$field}, "$name: errors.fields.$field"
        or diag explain $res->{json};
}

# compare the keys of %$exp in $got: numbers numerically, the rest as strings
sub has_fields {
    my ($got, $exp, $name) = @_;
    for my $k (sort keys %$exp) {
        my ($g, $e) = ($got->{$k}, $exp->{$k});
        if (!defined $g) {
            fail "$name: $k is defined";
        } elsif (ref $e) {
            is_deeply $g, $e, "$name: $k";
        } elsif ($e =~ /^-?\d+(?:\.\d+)?$/) {
            ok $g =~ /^-?\d+(?:\.\d+)?$/ && $g == $e, "$name: $k = $e"
                or diag "got $g";
        } else {
            is $g, $e, "$name: $k";
        }
    }
}

# ---- days relative to today (UTC), as the database sees it ----------------

sub day { return strftime('%Y-%m-%d', gmtime($Noon + $_[0] * 86400)) }
sub month_of { return substr(day($_[0]), 0, 7) }
sub monday_of {
    my $off = shift;
    my $wday = (gmtime($Noon + $off * 86400))[6];    # 0 = Sunday
    return day($off - ($wday + 6) % 7);
}

# the n months ending with this one, 'YYYY-MM'
sub month_list {
    my ($n) = @_;
    my @m;
    for my $i (reverse 0 .. $n - 1) {
        my $mi = ($TY * 12 + $TM - 1) - $i;
        push @m, sprintf '%04d-%02d', int($mi / 12), $mi % 12 + 1;
    }
    return @m;
}

1;
