# /health against live back-ends, with clocks: every dependency up
# (Kafka's state comes from librdkafka statistics every 500 ms, so the
# test polls, bounded), PostgreSQL or Redis unreachable (503 answered
# quickly, also once the reconnect backoff has grown), and a Kafka outage
# of a private mock broker (200 "degraded", then "healthy" again).

use strict;
use warnings;

use Test::More;
use Evently::Test;
use Evently::Outage;
use Time::HiRes qw(time sleep);

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;
my $base = ($ENV{TEST_NGINX_SERVROOT} // 't/servroot') . '.health-live';

# timings are checked once the pool (8 connections) is connected: the
# worker derives the SCRAM keys of each new connection itself
sub nginx_with {
    my ($name, %http) = @_;
    my $ng = start_nginx(name => $name, port => $port, log_level => 'info',
                         http_config => http_config(%http),
                         config => server_config(),
                         main_config => main_config());
    if (!exists $http{postgres}) {
        pool_ready($ng->{pid}, 8)
            or die "$name: the PostgreSQL pool did not connect\n";
    }
    return $ng;
}

sub health {
    my $t0 = time;
    my $r = api(GET => '/health', port => $port, timeout => 10);
    $r->{ms} = ms_since($t0);
    return $r;
}

my $TS = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

# ---- every dependency up ----------------------------------------------------

{
    my $ng = nginx_with('health-up');

    my $r = wait_until(sub {
        my $h = health();
        $h->{status} == 200 && $h->{json}
            && $h->{json}{status} eq 'healthy' ? $h : undef;
    }, timeout => 10, interval => 0.1);

    ok $r, 'all up: /health turns "healthy" within 10 s'
        or diag explain health();
    $r ||= health();
    is $r->{status}, 200, 'all up: 200';
    is $r->{headers}{'content-type'}, 'application/json; charset=utf-8',
        'all up: JSON content type';
    is_deeply [sort keys %{ $r->{json} || {} }],
        [qw(checks service status timestamp)], 'all up: top-level keys';
    is $r->{json}{service}, 'evently', 'all up: service';
    like $r->{json}{timestamp} // '', $TS, 'all up: RFC 3339 UTC timestamp';
    is_deeply $r->{json}{checks},
        { postgres => 'up', redis => 'up', kafka => 'up' },
        'all up: every check up';
    like $r->{body}, qr/^\{"status":"healthy","service":"evently",/,
        'all up: key order of the contract';
    ok $r->{headers}{'x-request-id'}, 'all up: X-Request-Id';

    my $slow = 0;
    for (1 .. 10) {
        my $h = health();
        $slow++ if $h->{status} != 200 || $h->{ms} > 500;
    }
    is $slow, 0, 'all up: 10 more /health, each 200 within 500 ms';

    ok stop_nginx('health-up'), 'all up: nginx stopped cleanly';
    no_alerts_ok($ng, 'all up: no alerts');
}

# ---- PostgreSQL unreachable -------------------------------------------------

{
    my $pg = 'host=127.0.0.1 port=' . closed_port()
             . ' dbname=evently user=evently password=evently';
    my $ng = nginx_with('health-pgdown', postgres => $pg);

    for my $round (1, 2) {
        # round 2: after the reconnect backoff reached its maximum (2 s)
        sleep 2.5 if $round == 2;

        my @bad;
        for (1 .. 5) {
            my $h = health();
            push @bad, "$h->{status} $h->{ms}ms " . ($h->{body} // '')
                if $h->{status} != 503 || $h->{ms} >= 1000
                   || !$h->{json} || $h->{json}{status} ne 'unhealthy'
                   || $h->{json}{checks}{postgres} ne 'down'
                   || $h->{json}{checks}{redis} ne 'up';
        }
        is "@bad", '', "pg down (round $round): 5 x /health 503 "
                       . 'unhealthy, postgres down, redis up, < 1 s';
    }

    my $t0 = time;
    my $p = api(GET => '/ping', port => $port);
    is $p->{status}, 200, 'pg down: /ping 200';
    cmp_ok ms_since($t0), '<', 200, 'pg down: /ping < 200 ms';

    ok stop_nginx('health-pgdown'), 'pg down: nginx stopped cleanly';
    no_alerts_ok($ng, 'pg down: no alerts');
    like error_log_text($ng), qr/connecting to PostgreSQL failed/,
        'pg down: the failure is logged';
}

# ---- Redis unreachable ------------------------------------------------------

{
    my $ng = nginx_with('health-redisdown',
                        redis => '127.0.0.1:' . closed_port());

    for my $round (1, 2) {
        sleep 2.5 if $round == 2;

        my @bad;
        for (1 .. 5) {
            my $h = health();
            push @bad, "$h->{status} $h->{ms}ms " . ($h->{body} // '')
                if $h->{status} != 503 || $h->{ms} >= 1000
                   || !$h->{json} || $h->{json}{status} ne 'unhealthy'
                   || $h->{json}{checks}{redis} ne 'down'
                   || $h->{json}{checks}{postgres} ne 'up';
        }
        is "@bad", '', "redis down (round $round): 5 x /health 503 "
                       . 'unhealthy, redis down, postgres up, < 1 s';
    }

    ok stop_nginx('health-redisdown'), 'redis down: nginx stopped cleanly';
    no_alerts_ok($ng, 'redis down: no alerts');
}

# ---- Kafka outage on a private mock broker ----------------------------------

{
    my $k = kafka_private_start("$base.kafka");
    my $ng = nginx_with('health-kafka', kafka_brokers => $k->{bootstrap});

    my $up = wait_until(sub { (health()->{json} || {})->{status} eq 'healthy' },
                        timeout => 10);
    ok $up, 'kafka: healthy with the private broker within 10 s';

    ok kafka_private_down($k), 'kafka: private broker set down';

    my $t0 = time;
    my $deg = wait_until(sub {
        my $h = health();
        $h->{json} && $h->{json}{status} eq 'degraded' ? $h : undef;
    }, timeout => 10);
    ok $deg, 'kafka down: /health turns "degraded" within 10 s';
    diag sprintf 'kafka down noticed after %.0f ms', ms_since($t0) if $deg;
    $deg ||= health();
    is $deg->{status}, 200, 'kafka down: still 200';
    is_deeply $deg->{json}{checks},
        { postgres => 'up', redis => 'up', kafka => 'down' },
        'kafka down: only kafka down';

    ok kafka_private_up($k), 'kafka: private broker set up again';
    my $back = wait_until(sub {
        (health()->{json} || {})->{status} eq 'healthy'
    }, timeout => 15);
    ok $back, 'kafka back: /health "healthy" again within 15 s';

    ok stop_nginx('health-kafka'), 'kafka: nginx stopped cleanly';
    no_alerts_ok($ng, 'kafka: no alerts');
    ok kafka_private_stop($k), 'kafka: private broker stopped';
}

done_testing;
