# Redis reconnect, on a private redis-server (random port) that the test
# stops and restarts on the same port: /health is healthy, then 503 with
# redis "down" (answered quickly, also once the reconnect backoff has
# reached its 2 s maximum), then healthy again within a bounded wait; a
# second cycle works the same.  A Redis that accepts connections but
# never answers (SIGSTOP) is caught by the command timeout, and the
# adapter recovers once it answers again (SIGCONT).
#
# (SCRIPT FLUSH / NOSCRIPT needs an endpoint that runs scripts: covered
# with the holds tests.)

use strict;
use warnings;

use Test::More;
use Evently::Test;
use Evently::Outage;
use Time::HiRes qw(time sleep);

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;
my $dir = ($ENV{TEST_NGINX_SERVROOT} // 't/servroot') . '.redis-private';

sub health {
    my $t0 = time;
    my $r = api(GET => '/health', port => $port, timeout => 10);
    $r->{ms} = ms_since($t0);
    $r->{redis} = $r->{json} ? $r->{json}{checks}{redis} : '';
    return $r;
}

sub redis_up_ok {
    my ($what, $timeout) = @_;
    my $t0 = time;
    my $h = wait_until(sub {
        my $h = health();
        $h->{status} == 200 && $h->{redis} eq 'up' ? $h : undef;
    }, timeout => $timeout, interval => 0.1);
    ok $h, "$what: /health 200 with redis up within ${timeout} s";
    diag sprintf '%s: redis up after %.0f ms', $what, ms_since($t0) if $h;
    return $h;
}

sub redis_down_ok {
    my ($what) = @_;
    my $h = wait_until(sub {
        my $h = health();
        $h->{redis} eq 'down' ? $h : undef;
    }, timeout => 5, interval => 0.05);
    ok $h, "$what: redis reported down within 5 s";

    my @bad;
    for (1 .. 5) {
        my $x = health();
        push @bad, "$x->{status} $x->{ms}ms $x->{redis}"
            if $x->{status} != 503 || $x->{ms} >= 1000
               || $x->{redis} ne 'down'
               || $x->{json}{status} ne 'unhealthy'
               || $x->{json}{checks}{postgres} ne 'up';
    }
    is "@bad", '', "$what: 5 x /health 503 unhealthy, redis down, < 1 s";
}

my $r = redis_private_start($dir);
my $ng = start_nginx(name => 'redis-reconnect', port => $port,
                     log_level => 'info',
                     http_config => http_config(
                         redis => "127.0.0.1:$r->{port}",
                         extra => 'evently_redis_timeout 500ms;'),
                     config => server_config(),
                     main_config => main_config());

pool_ready($ng->{pid}, 8) or BAIL_OUT('the PostgreSQL pool did not connect');
redis_up_ok('start', 5);

for my $cycle (1, 2) {
    ok redis_private_stop($r), "cycle $cycle: private redis stopped";
    redis_down_ok("cycle $cycle");

    # the backoff grows to its maximum; /health must stay quick
    sleep 2.5;
    my $h = health();
    is $h->{status}, 503, "cycle $cycle: still 503 after 2.5 s";
    cmp_ok $h->{ms}, '<', 1000, "cycle $cycle: still answered under 1 s";

    my $t0 = time;
    my $p = api(GET => '/ping', port => $port);
    cmp_ok ms_since($t0), '<', 200, "cycle $cycle: /ping under 200 ms";

    $r = redis_private_start($dir, $r->{port});
    ok $r, "cycle $cycle: private redis restarted on port $r->{port}";

    # backoff at most 2 s + connect
    redis_up_ok("cycle $cycle", 5);

    my @ok = grep { $_->{status} == 200 && $_->{redis} eq 'up' }
             map { health() } 1 .. 10;
    is scalar(@ok), 10, "cycle $cycle: then 10 x /health with redis up";
}

# ---- a Redis that stops answering -------------------------------------------

kill 'STOP', $r->{pid};
{
    my $h = health();
    is $h->{status}, 503, 'stopped: /health 503';
    is $h->{redis}, 'down', 'stopped: redis down';
    cmp_ok $h->{ms}, '>=', 400, 'stopped: after the 500 ms command timeout';
    cmp_ok $h->{ms}, '<', 1500, 'stopped: not much later';

    my $h2 = health();
    is $h2->{status}, 503, 'stopped: again 503';
    cmp_ok $h2->{ms}, '<', 1500, 'stopped: again within the timeout';
}
kill 'CONT', $r->{pid};
redis_up_ok('continued', 5);

ok stop_nginx('redis-reconnect'), 'nginx stopped cleanly';
no_alerts_ok($ng);
my $log = error_log_text($ng);
like $log, qr/Redis connection lost/, 'the lost connection is logged';
like $log, qr/connected to Redis/, 'the reconnect is logged';
like $log, qr/Redis command timed out/, 'the command timeout is logged';
ok redis_private_stop($r), 'private redis stopped';

done_testing;
