# The transactional outbox relayed to Kafka by the module.
# - A domain event written with SQL (evently.emit) while nginx runs is
#   produced to <prefix>bookings, keyed by the event id, and its row is
#   marked sent; the message is read back with kafka-consume.
# - Kafka outage (a private mock broker, set down with SIGUSR1): the rows
#   wait unsent and /health says "degraded"; once the broker is up again
#   (SIGUSR2) every one of them is delivered.
# - Nothing is lost: 50 events written before, during and after an
#   outage all arrive (at least once).
# - Worker exit with messages in flight (the broker frozen with SIGSTOP,
#   so the producer still thinks it is up): the exit is bounded, the rows
#   stay unsent in the outbox, and the next nginx delivers them once
#   their lease is over.

use strict;
use warnings;

use Test::More;
use Evently::Test;
use Evently::Outage;
use JSON::PP ();
use Time::HiRes qw(time sleep);

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;
my $base = ($ENV{TEST_NGINX_SERVROOT} // 't/servroot') . '.outbox';
my $Topic = kafka_topic('bookings');
my $JSON = JSON::PP->new->utf8->canonical;

reset_db();

sub nginx_with {
    my ($name, %http) = @_;
    return start_nginx(name => $name, port => $port, log_level => 'info',
                       http_config => http_config(%http),
                       config => server_config(),
                       main_config => main_config());
}

sub health_state {
    my $h = api(GET => '/health', port => $port);
    return $h->{json} ? $h->{json}{status} : '';
}

sub uuid { return lc psql('SELECT gen_random_uuid()') }

# emit(n => ..., data => {...}): n events of type booking.confirmed, each
# with its own event id, in one transaction; returns their message ids
sub emit {
    my (%o) = @_;
    my $n = $o{n} // 1;
    my $data = $JSON->encode($o{data} // { n => 1 });
    my $out = psql(<<'_SQL_', { n => $n, data => $data });
SELECT string_agg(evently.emit('bookings', 'booking.confirmed',
                               gen_random_uuid(), NULL, NULL,
                               (:'data')::jsonb)::text, ' ')
  FROM generate_series(1, (:'n')::int)
_SQL_
    return split ' ', $out;
}

sub unsent {
    my @ids = @_;
    return psql('SELECT count(*) FROM evently.outbox WHERE sent_at IS NULL'
                . ' AND message_id = ANY (:\'ids\'::uuid[])',
                { ids => '{' . join(',', @ids) . '}' });
}

# message id => [[key, value JSON], ...] of the messages read back
sub consume {
    my (%o) = @_;
    my %by_id;
    for my $m (kafka_consume($Topic, w => 1000, T => 20000, %o)) {
        my $v = eval { $JSON->decode($m->[1]) } or next;
        push @{ $by_id{$v->{id} // ''} }, [$m->[0], $v];
    }
    return \%by_id;
}

# ---- one event through the shared broker ------------------------------------

{
    my $ng = nginx_with('outbox');
    ok wait_until(sub { health_state() eq 'healthy' }, timeout => 10),
        'healthy (Kafka up) within 10 s';

    my $event = uuid();
    my $user = uuid();
    my $mid = lc psql(<<'_SQL_', { ev => $event, user => $user });
SELECT evently.emit('bookings', 'booking.confirmed', (:'ev')::uuid, NULL,
                    (:'user')::uuid, '{"n":1,"seats":["A1","A2"]}'::jsonb)
_SQL_
    like $mid, qr/^[0-9a-f-]{36}$/, 'emit returned the message id';

    my $t0 = time;
    ok wait_until(sub { unsent($mid) == 0 }, timeout => 10),
        'the outbox row is marked sent within 10 s';
    diag sprintf 'relayed in %.0f ms', ms_since($t0);

    my $row = psql_rows(<<'_SQL_', { mid => $mid })->[0] || [];
SELECT attempts, claimed_until IS NULL, sent_at >= created_at
  FROM evently.outbox WHERE message_id = (:'mid')::uuid
_SQL_
    is_deeply $row, [1, 't', 't'],
        'row: one attempt, lease cleared, sent after created';

    my $got = consume()->{$mid} || [];
    is scalar(@$got), 1, 'the message is in the topic exactly once';
    my ($key, $v) = @{ $got->[0] || [] };
    is $key, $event, 'Kafka key = the event id';
    is_deeply [sort keys %{ $v || {} }],
        [qw(data event_id id occurred_at type user_id)],
        'value: id, type, occurred_at, event_id, user_id, data';
    is $v->{type}, 'booking.confirmed', 'value: type';
    is $v->{event_id}, $event, 'value: event_id';
    is $v->{user_id}, $user, 'value: user_id';
    like $v->{occurred_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
        'value: occurred_at RFC 3339 UTC';
    is_deeply $v->{data}, { n => 1, seats => ['A1', 'A2'] }, 'value: data';

    ok stop_nginx('outbox'), 'nginx stopped cleanly';
    no_alerts_ok($ng);
}

# ---- Kafka outage on a private broker; nothing lost -------------------------

{
    my $k = kafka_private_start("$base.kafka");
    my $ng = nginx_with('outbox-outage', kafka_brokers => $k->{bootstrap});
    my $consume = sub { consume(brokers => $k->{bootstrap}) };

    ok wait_until(sub { health_state() eq 'healthy' }, timeout => 10),
        'private broker: healthy within 10 s';

    my @before = emit(n => 10, data => { phase => 'before' });
    ok wait_until(sub { unsent(@before) == 0 }, timeout => 10),
        'before the outage: 10 events sent';

    ok kafka_private_down($k), 'broker set down';
    ok wait_until(sub { health_state() eq 'degraded' }, timeout => 10),
        'outage: /health "degraded" within 10 s';

    my @during = emit(n => 25, data => { phase => 'during' });
    sleep 2;
    is unsent(@during), 25, 'outage: after 2 s the 25 new rows are unsent';
    my $h = api(GET => '/health', port => $port);
    is $h->{status}, 200, 'outage: /health still 200';
    is $h->{json}{status}, 'degraded', 'outage: still "degraded"';

    ok kafka_private_up($k), 'broker set up again';
    my $t0 = time;
    ok wait_until(sub { unsent(@during) == 0 }, timeout => 20),
        'back: the 25 waiting rows are sent within 20 s';
    diag sprintf 'delivered %.0f ms after the broker came back',
        ms_since($t0);
    ok wait_until(sub { health_state() eq 'healthy' }, timeout => 10),
        'back: /health "healthy"';

    my @after = emit(n => 15, data => { phase => 'after' });
    ok wait_until(sub { unsent(@after) == 0 }, timeout => 10),
        'after the outage: 15 events sent';

    my $seen = $consume->();
    my @all = (@before, @during, @after);
    is scalar(@all), 50, '50 events written';
    my @missing = grep { !$seen->{$_} } @all;
    is "@missing", '', 'all 50 read back from Kafka, none missing';
    my @dups = grep { @{ $seen->{$_} || [] } > 1 } @all;
    diag scalar(@dups) . ' duplicate(s) (allowed: at-least-once)' if @dups;

    my %phase;
    for my $id (@all) {
        my $v = $seen->{$id} && $seen->{$id}[0][1] or next;
        $phase{$v->{data}{phase}}++;
    }
    is_deeply \%phase, { before => 10, during => 25, after => 15 },
        'each phase complete';

    my $keys_ok = grep {
        my $m = $seen->{$_} && $seen->{$_}[0];
        $m && $m->[0] eq $m->[1]{event_id};
    } @all;
    is $keys_ok, 50, 'every message keyed by its event id';

    ok stop_nginx('outbox-outage'), 'nginx stopped cleanly';
    no_alerts_ok($ng);
    ok kafka_private_stop($k), 'private broker stopped';
}

# ---- exit with messages in flight: bounded, and nothing lost ----------------

{
    my $k = kafka_private_start("$base.kafka-frozen");
    my $ng = nginx_with('outbox-exit', kafka_brokers => $k->{bootstrap});
    ok wait_until(sub { health_state() eq 'healthy' }, timeout => 10),
        'exit: healthy with a private broker';

    kill 'STOP', $k->{pid};
    my @ids = emit(n => 5, data => { phase => 'in-flight' });
    my $claimed = wait_until(sub {
        psql('SELECT count(*) FROM evently.outbox WHERE attempts > 0'
             . ' AND claimed_until > now() AND sent_at IS NULL'
             . ' AND message_id = ANY (:\'ids\'::uuid[])',
             { ids => '{' . join(',', @ids) . '}' }) == 5;
    }, timeout => 5);
    ok $claimed, 'exit: the 5 rows are claimed and produced, not acked';

    my $t0 = time;
    ok stop_nginx('outbox-exit'), 'exit: nginx stops';
    my $ms = ms_since($t0);
    cmp_ok $ms, '<', 6000, 'exit: within 6 s (flush bounded to 2 s)';
    diag sprintf 'stopped in %.0f ms', $ms;
    no_alerts_ok($ng);
    like error_log_text($ng), qr/Kafka messages left unsent at exit/,
        'exit: the unsent messages are logged';
    kill 'CONT', $k->{pid};

    is unsent(@ids), 5, 'exit: the rows are still unsent in the outbox';

    # their lease (30 s) runs out; the next nginx takes them over
    psql('UPDATE evently.outbox SET claimed_until = now() - interval \'1 s\''
         . ' WHERE message_id = ANY (:\'ids\'::uuid[])',
         { ids => '{' . join(',', @ids) . '}' });

    my $ng2 = nginx_with('outbox-exit2', kafka_brokers => $k->{bootstrap});
    ok wait_until(sub { unsent(@ids) == 0 }, timeout => 15),
        'next nginx: the 5 rows are sent within 15 s';
    my $attempts = psql('SELECT min(attempts) FROM evently.outbox'
                        . ' WHERE message_id = ANY (:\'ids\'::uuid[])',
                        { ids => '{' . join(',', @ids) . '}' });
    cmp_ok $attempts, '>=', 2, 'next nginx: claimed a second time';

    my $seen = consume(brokers => $k->{bootstrap});
    my @missing = grep { !$seen->{$_} } @ids;
    is "@missing", '', 'next nginx: all 5 read back from Kafka';

    ok stop_nginx('outbox-exit2'), 'nginx stopped cleanly';
    no_alerts_ok($ng2);
    ok kafka_private_stop($k), 'private broker stopped';
}

done_testing;
