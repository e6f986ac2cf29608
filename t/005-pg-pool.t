# The PostgreSQL pool under pressure, with evently.tags locked by a
# background session so that GET /api/v1/tags/active hangs:
# - a full queue answers 503 DB_BUSY at once; a queue wait that lasts too
#   long answers 503 DB_BUSY after evently_postgres_queue_timeout;
# - clients that give up mid-query (running or queued) leave the pool
#   healthy; the log says so at info level and has no [alert]/[crit];
# - backends killed server-side (pg_terminate_backend): the pool
#   reconnects, idle or busy, and /health is healthy again.
#
# Kafka is left out (no outbox relay) so that only these requests use
# the pool.

use strict;
use warnings;

use Test::More;
use Evently::Test;
use Evently::Outage;
use Time::HiRes qw(time sleep);

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;
my $Tags = '/api/v1/tags/active';

reset_db();
psql(q{INSERT INTO evently.tags (name, slug) VALUES ('Music', 'music')});

sub nginx_with {
    my ($name, $extra) = @_;
    my $ng = start_nginx(name => $name, port => $port, log_level => 'info',
                         http_config => http_config(kafka_brokers => undef,
                                                    extra => $extra),
                         config => server_config(),
                         main_config => main_config());
    my $ok = wait_until(sub { api(GET => $Tags, port => $port)->{status}
                              == 200 }, timeout => 10);
    die "$name: $Tags never answered 200\n" if !$ok;
    my ($size) = ($extra // '') =~ /evently_postgres_pool_size (\d+)/;
    pool_ready($ng->{pid}, $size // 8)
        or die "$name: the PostgreSQL pool did not connect\n";
    return $ng;
}

sub timed {
    my ($method, $path) = @_;
    my $t0 = time;
    my $r = api($method, $path, port => $port, timeout => 10);
    $r->{ms} = ms_since($t0);
    return $r;
}

# /proc/PID/stat: "pid (comm) state ppid ..."
sub proc_stat {
    my $pid = shift;
    open my $fh, '<', "/proc/$pid/stat" or return;
    my $st = <$fh> // '';
    close $fh;
    return $st =~ /^\d+ \(.*\) (\S) (\d+) /s ? ($1, $2) : ();
}

sub alive {
    my ($state) = proc_stat(shift);
    return defined $state && $state ne 'Z' && $state ne 'X';
}

sub children_of {
    my $ppid = shift;
    opendir my $dh, '/proc' or return;
    my @kids = grep { /^\d+$/ && ((proc_stat($_))[1] // 0) == $ppid }
               readdir $dh;
    closedir $dh;
    return @kids;
}

sub statuses {
    my ($n, $path) = @_;
    return join ' ', map { api(GET => $path, port => $port)->{status} }
                     1 .. $n;
}

# ---- full queue: DB_BUSY at once --------------------------------------------

{
    my $ng = nginx_with('pool-busy', <<'_EOC_');
evently_postgres_pool_size 1;
evently_postgres_queue 1;
evently_postgres_queue_timeout 10s;
_EOC_

    my $lock = pg_lock('evently.tags', 10);

    my $first = http_start(GET => $Tags, port => $port);   # on the conn
    ok !http_ready($first, 0.3), 'busy: 1st request waits on the lock';
    my $second = http_start(GET => $Tags, port => $port);  # in the queue
    ok !http_ready($second, 0.3), 'busy: 2nd request waits in the queue';

    my $third = timed(GET => $Tags);
    is $third->{status}, 503, 'busy: 3rd request 503';
    is $third->{json}{errors}{code}, 'DB_BUSY', 'busy: errors.code DB_BUSY';
    is $third->{headers}{'retry-after'}, '1', 'busy: Retry-After: 1';
    cmp_ok $third->{ms}, '<', 200, 'busy: answered at once';

    # /health's SELECT 1 finds the queue full too; it must not wait
    # (today it then says postgres "down", 503)
    my $h = timed(GET => '/health');
    like $h->{status}, qr/^(200|503)$/, 'busy: /health answers';
    cmp_ok $h->{ms}, '<', 200, 'busy: /health answered at once';
    diag "busy: /health $h->{status} " . ($h->{body} // '');

    my $p = timed(GET => '/ping');
    cmp_ok $p->{ms}, '<', 200, 'busy: /ping under 200 ms';

    ok pg_unlock($lock), 'lock released';

    is http_finish($first, 5)->{status}, 200, 'busy: 1st request then 200';
    is http_finish($second, 5)->{status}, 200, 'busy: 2nd request then 200';
    is statuses(5, $Tags), '200 200 200 200 200', 'busy: then 5 x 200';

    ok stop_nginx('pool-busy'), 'nginx stopped cleanly';
    no_alerts_ok($ng);
    like error_log_text($ng), qr/PostgreSQL queue is full/,
        'busy: logged';
}

# ---- queue timeout: DB_BUSY after evently_postgres_queue_timeout ------------

{
    my $ng = nginx_with('pool-qtimeout', <<'_EOC_');
evently_postgres_pool_size 1;
evently_postgres_queue 10;
evently_postgres_queue_timeout 500ms;
_EOC_

    my $lock = pg_lock('evently.tags', 10);
    my $first = http_start(GET => $Tags, port => $port);
    ok !http_ready($first, 0.2), 'queue timeout: 1st request waits';

    my $r = timed(GET => $Tags);
    is $r->{status}, 503, 'queue timeout: 503';
    is $r->{json}{errors}{code}, 'DB_BUSY', 'queue timeout: DB_BUSY';
    is $r->{headers}{'retry-after'}, '1', 'queue timeout: Retry-After';
    cmp_ok $r->{ms}, '>=', 450, 'queue timeout: after about 500 ms';
    cmp_ok $r->{ms}, '<', 1500, 'queue timeout: not much later';

    ok !http_ready($first, 0), 'queue timeout: the 1st still waits';
    ok pg_unlock($lock), 'lock released';
    is http_finish($first, 5)->{status}, 200, 'queue timeout: 1st then 200';
    is statuses(5, $Tags), '200 200 200 200 200',
        'queue timeout: then 5 x 200';

    ok stop_nginx('pool-qtimeout'), 'nginx stopped cleanly';
    no_alerts_ok($ng);
    like error_log_text($ng), qr/no PostgreSQL connection became free/,
        'queue timeout: logged';
}

# ---- clients giving up mid-query --------------------------------------------

{
    my $ng = nginx_with('pool-abort', <<'_EOC_');
evently_postgres_pool_size 1;
evently_postgres_queue 10;
evently_postgres_queue_timeout 10s;
_EOC_

    my $lock = pg_lock('evently.tags', 10);

    my $running = http_start(GET => $Tags, port => $port);
    ok !http_ready($running, 0.3), 'abort: request A runs on the only conn';
    my $queued = http_start(GET => $Tags, port => $port);
    my $kept = http_start(GET => $Tags, port => $port);
    ok !http_ready($kept, 0.3), 'abort: requests B and C are queued';

    http_abort($running);
    http_abort($queued);

    # nginx notices the closed sockets while the lock is still held
    my $seen = wait_until(sub {
        my @n = error_log_text($ng)
                =~ /client closed the connection while waiting/g;
        @n >= 2;
    }, timeout => 5);
    ok $seen, 'abort: both aborts noticed while the query still waits';

    my $p = timed(GET => '/ping');
    cmp_ok $p->{ms}, '<', 200, 'abort: /ping under 200 ms';

    ok pg_unlock($lock), 'lock released';

    my $c = http_finish($kept, 5);
    is $c->{status}, 200, 'abort: the queued request C that stayed gets 200';

    is statuses(20, $Tags), join(' ', (200) x 20),
        'abort: then 20 sequential requests, all 200';
    my $h = timed(GET => '/health');
    is $h->{json}{checks}{postgres}, 'up', 'abort: postgres up';

    # abort again with the lock held: the connection drains and is reused
    my $lock2 = pg_lock('evently.tags', 10);
    my @gone = map { http_start(GET => $Tags, port => $port) } 1 .. 5;
    sleep 0.3;
    http_abort($_) for @gone;
    sleep 0.3;
    ok pg_unlock($lock2), 'lock released again';
    is statuses(20, $Tags), join(' ', (200) x 20),
        'abort x5: then 20 sequential requests, all 200';

    ok stop_nginx('pool-abort'), 'nginx stopped cleanly';
    no_alerts_ok($ng);
    like error_log_text($ng),
        qr/\[info\] .*client closed the connection while waiting/,
        'abort: logged at info level';
}

# ---- backends terminated server-side ----------------------------------------

{
    my $ng = nginx_with('pool-kill', <<'_EOC_');
evently_postgres_pool_size 4;
_EOC_
    my $pid = $ng->{pid};

    my @b = nginx_backends($pid);
    is scalar(@b), 4, 'kill: the pool holds 4 backends';

    psql('SELECT pg_terminate_backend(pid) FROM pg_stat_activity'
         . " WHERE pid IN (" . join(',', @b) . ')');

    # bounded retries: a request racing the loss may get one 503
    my @first;
    my $ok = wait_until(sub {
        my $s = api(GET => $Tags, port => $port)->{status};
        push @first, $s;
        $s == 200;
    }, timeout => 10, interval => 0.05);
    ok $ok, 'kill: /tags/active 200 again within 10 s (' . "@first" . ')';
    my $n503 = grep { $_ == 503 } @first;
    cmp_ok $n503, '<=', 1, 'kill: at most one 503 on the way';
    is scalar(grep { $_ != 200 && $_ != 503 } @first), 0,
        'kill: nothing but 200/503';

    my $healthy = wait_until(sub {
        my $h = api(GET => '/health', port => $port);
        $h->{status} == 200 && $h->{json}{checks}{postgres} eq 'up';
    }, timeout => 5);
    ok $healthy, 'kill: /health 200 with postgres up again';

    is statuses(20, $Tags), join(' ', (200) x 20), 'kill: then 20 x 200';

    pool_ready($pid, 4);
    my @b2 = nginx_backends($pid);
    is scalar(@b2), 4, 'kill: 4 backends again';
    my %old = map { $_ => 1 } @b;
    is scalar(grep { $old{$_} } @b2), 0, 'kill: all of them new';

    # a backend killed while it runs a query: that request fails cleanly
    my $lock = pg_lock('evently.tags', 10);
    my $stuck = http_start(GET => $Tags, port => $port);
    ok !http_ready($stuck, 0.3), 'kill busy: the request waits';
    my $killed = psql('SELECT count(pg_terminate_backend(pid))'
                      . ' FROM pg_stat_activity WHERE wait_event_type ='
                      . " 'Lock' AND pid IN ("
                      . join(',', nginx_backends($pid)) . ')');
    is $killed, 1, 'kill busy: the waiting backend terminated';
    my $r = http_finish($stuck, 5);
    is $r->{status}, 503, 'kill busy: 503';
    is $r->{json}{errors}{code}, 'DB_UNAVAILABLE', 'kill busy: DB_UNAVAILABLE';
    is $r->{headers}{'retry-after'}, '1', 'kill busy: Retry-After';
    ok pg_unlock($lock), 'lock released';

    my $ok2 = wait_until(sub { api(GET => $Tags, port => $port)->{status}
                               == 200 }, timeout => 5);
    ok $ok2, 'kill busy: 200 again';
    is statuses(20, $Tags), join(' ', (200) x 20), 'kill busy: then 20 x 200';

    ok stop_nginx('pool-kill'), 'nginx stopped cleanly';
    no_alerts_ok($ng);
}

# ---- graceful stop while a query waits --------------------------------------
#
# (master_process on: a single-process nginx exits at once on SIGQUIT)

{
    my $ng = start_nginx(name => 'pool-quit', port => $port,
                         master => 'on', log_level => 'info',
                         http_config => http_config(
                             kafka_brokers => undef,
                             extra => 'evently_postgres_pool_size 2;'),
                         config => server_config(),
                         main_config => main_config());
    my $master = $ng->{pid};
    wait_until(sub { api(GET => $Tags, port => $port)->{status} == 200 },
               timeout => 10);
    my ($worker) = children_of($master);
    ok $worker, "quit: worker pid $worker";

    my $lock = pg_lock('evently.tags', 10);
    my $stuck = http_start(GET => $Tags, port => $port);
    ok !http_ready($stuck, 0.3), 'quit: the request waits on the lock';

    kill 'QUIT', $master;
    sleep 0.5;
    ok kill(0, $worker), 'quit: the worker waits for the running query';

    ok pg_unlock($lock), 'lock released';
    my $r = http_finish($stuck, 5);
    is $r->{status}, 200, 'quit: the waiting request is answered 200';

    my $gone = wait_until(sub { !alive($master) }, timeout => 5);
    ok $gone, 'quit: then nginx exits within 5 s';

    ok stop_nginx('pool-quit'), 'nginx gone';
    no_alerts_ok($ng);
    unlike error_log_text($ng), qr/open socket|left in connection/,
        'quit: no socket left open';
    my @left = nginx_backends($worker);
    is scalar(@left), 0, 'quit: no backend left';
}

done_testing;
