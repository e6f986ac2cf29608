# The worker never blocks on PostgreSQL.  One nginx worker; a background
# psql session holds ACCESS EXCLUSIVE on evently.tags (bounded by
# pg_sleep), so that GET /api/v1/tags/active (which reads evently.tags)
# hangs in the pool; meanwhile /ping, /status and /health (SELECT 1, no
# table) must answer at once.  Then the query timeouts: the server-side
# statement timeout (503 DB_TIMEOUT + Retry-After) and the module's own
# per-query timeout, each followed by a pool that still works.

use strict;
use warnings;

use Test::More;
use Evently::Test;
use Evently::Outage;
use Time::HiRes qw(time sleep);

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;
my $Tags = '/api/v1/tags/active';

reset_db();
psql(<<'_SQL_');
INSERT INTO evently.tags (name, slug, color)
VALUES ('Music', 'music', '#112233'), ('Sports', 'sports', '#445566');
_SQL_

sub nginx_with {
    my ($name, %http) = @_;
    my $ng = start_nginx(name => $name, port => $port, log_level => 'info',
                         http_config => http_config(%http),
                         config => server_config(),
                         main_config => main_config());
    # the pool is connected once a SQL route answers
    my $ok = wait_until(sub { api(GET => $Tags, port => $port)->{status}
                              == 200 }, timeout => 10);
    die "$name: $Tags never answered 200\n" if !$ok;
    # timings are checked once every connection is up (the worker derives
    # the SCRAM keys of each new connection itself)
    pool_ready($ng->{pid}, 8)
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

# ---- a request stuck on a lock does not delay the others --------------------

{
    my $ng = nginx_with('nonblock');

    my $lock = pg_lock('evently.tags', 10);
    my $stuck = http_start(GET => $Tags, port => $port);

    ok !http_ready($stuck, 0.5),
        'locked: GET /tags/active is still waiting after 500 ms';

    my @ping = map { timed(GET => '/ping') } 1 .. 10;
    is scalar(grep { $_->{status} == 200 } @ping), 10,
        'locked: 10 x /ping 200';
    my ($max) = sort { $b <=> $a } map { $_->{ms} } @ping;
    cmp_ok $max, '<', 200, 'locked: every /ping under 200 ms';

    my $st = timed(GET => '/status');
    is $st->{status}, 200, 'locked: /status 200';
    cmp_ok $st->{ms}, '<', 200, 'locked: /status under 200 ms';

    my $h = timed(GET => '/health');
    is $h->{status}, 200, 'locked: /health 200 (SELECT 1 needs no tags)';
    is $h->{json}{checks}{postgres}, 'up', 'locked: postgres up';
    cmp_ok $h->{ms}, '<', 200, 'locked: /health under 200 ms';

    # a second request on the locked table waits on another connection
    my $stuck2 = http_start(GET => $Tags, port => $port);
    my $p = timed(GET => '/ping');
    cmp_ok $p->{ms}, '<', 200, 'two requests stuck: /ping under 200 ms';

    ok !http_ready($stuck, 0), 'locked: the first request still waits';

    my $held_ms = ms_since($stuck->{t0});
    ok pg_unlock($lock), 'lock released';

    my $r = http_finish($stuck, 5);
    is $r->{status}, 200, 'released: the stuck request completes with 200';
    cmp_ok $r->{ms}, '>=', $held_ms - 50,
        'released: it really waited for the lock';
    is $r->{json}{status}, 'success', 'released: success envelope';
    is_deeply [map { $_->{slug} } @{ $r->{json}{data} || [] }],
        ['music', 'sports'], 'released: the tags are there';

    my $r2 = http_finish($stuck2, 5);
    is $r2->{status}, 200, 'released: the second stuck request too';

    my $after = timed(GET => $Tags);
    is $after->{status}, 200, 'after: /tags/active 200';
    cmp_ok $after->{ms}, '<', 500, 'after: promptly';

    ok stop_nginx('nonblock'), 'nginx stopped cleanly';
    no_alerts_ok($ng);
}

# ---- statement timeout: 503 DB_TIMEOUT, the pool keeps working --------------

{
    my $ng = nginx_with('stmt-timeout',
                        extra => 'evently_postgres_statement_timeout 1s;');

    my $lock = pg_lock('evently.tags', 8);

    my $h = http_start(GET => $Tags, port => $port);
    my $p = timed(GET => '/ping');
    cmp_ok $p->{ms}, '<', 200, 'statement timeout: /ping under 200 ms '
                               . 'while the query waits';

    my $r = http_finish($h, 6);
    is $r->{status}, 503, 'statement timeout: 503';
    is $r->{json}{errors}{code}, 'DB_TIMEOUT',
        'statement timeout: errors.code DB_TIMEOUT';
    is $r->{json}{status}, 'error', 'statement timeout: error envelope';
    is $r->{json}{status_code}, 503, 'statement timeout: status_code 503';
    is $r->{headers}{'retry-after'}, '1', 'statement timeout: Retry-After';
    cmp_ok $r->{ms}, '>=', 900, 'statement timeout: after about 1 s';
    cmp_ok $r->{ms}, '<', 3000, 'statement timeout: not much later';
    unlike $r->{body}, qr/statement|canceling|SQL/i,
        'statement timeout: no SQL text in the response';

    # the lock is still held: the next one times out the same way
    my $again = timed(GET => $Tags);
    is $again->{status}, 503, 'statement timeout: again 503 while locked';

    ok pg_unlock($lock), 'lock released';

    my @st = map { timed(GET => $Tags)->{status} } 1 .. 10;
    is "@st", join(' ', (200) x 10),
        'statement timeout: then 10 x /tags/active 200 (pool intact)';
    my $hh = timed(GET => '/health');
    is $hh->{json}{checks}{postgres}, 'up', 'statement timeout: postgres up';

    ok stop_nginx('stmt-timeout'), 'nginx stopped cleanly';
    no_alerts_ok($ng);
    like error_log_text($ng), qr/hit the statement timeout/,
        'statement timeout: logged';
}

# ---- the module's own query timeout: connection dropped, pool heals -------

{
    my $ng = nginx_with('query-timeout',
                        extra => "evently_postgres_timeout 1s;\n"
                                 . 'evently_postgres_statement_timeout 30s;');

    my $lock = pg_lock('evently.tags', 8);

    my $r = timed(GET => $Tags);
    is $r->{status}, 503, 'query timeout: 503';
    is $r->{headers}{'retry-after'}, '1', 'query timeout: Retry-After';
    is $r->{json}{errors}{code}, 'DB_TIMEOUT',
        'query timeout: errors.code DB_TIMEOUT';
    cmp_ok $r->{ms}, '>=', 900, 'query timeout: after about 1 s';
    cmp_ok $r->{ms}, '<', 3000, 'query timeout: not much later';

    my $p = timed(GET => '/ping');
    cmp_ok $p->{ms}, '<', 200, 'query timeout: /ping under 200 ms';

    ok pg_unlock($lock), 'lock released';

    my $ok = wait_until(sub { timed(GET => $Tags)->{status} == 200 },
                        timeout => 5);
    ok $ok, 'query timeout: /tags/active 200 again within 5 s';
    my @st = map { timed(GET => $Tags)->{status} } 1 .. 10;
    is "@st", join(' ', (200) x 10), 'query timeout: then 10 x 200';

    ok stop_nginx('query-timeout'), 'nginx stopped cleanly';
    no_alerts_ok($ng);
    like error_log_text($ng), qr/PostgreSQL query timed out/,
        'query timeout: logged';
}

done_testing;
