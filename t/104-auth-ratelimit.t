# Rate limit and hashing off the event loop, procedurally.
#
# 1. With the production rate (30 requests a minute per client address,
#    burst 10, nodelay), the 12th quick request to /auth is 429 in the
#    JSON envelope with Retry-After; the zone is shared by every /auth
#    location that takes credentials or tokens (not /auth/me); other
#    routes are not limited by it.
# 2. An unknown e-mail costs a bcrypt hash like a wrong password (one
#    thread-pool task each, and about the same time).
# 3. 20 concurrent logins (bcrypt cost 10 each, in the thread pool) do
#    not stall /ping: it answers within 200 ms while they run.
# 4. Clients that leave while their login waits for PostgreSQL or for
#    the hash leave nothing behind (no crash, no alert, nginx serves on).

use strict;
use warnings;

use Test::More;
use Evently::Test;
use IO::Socket::INET ();
use Time::HiRes qw(time sleep);

my $port = $ENV{TEST_NGINX_PORT} // 1984;

reset_db();
seed();

sub call { my ($m, $p, %o) = @_; return api($m, $p, port => $port, %o) }

# ---- 1. rate limit ---------------------------------------------------------------

my $ng = start_nginx(name => 'auth-ratelimit', port => $port,
                     http_config => http_config(auth_rate => '30r/m'),
                     config => server_config(), main_config => main_config());

my @status;
my $limited;
for my $i (1 .. 20) {
    my $res = call(POST => '/api/v1/auth/login', body => {});
    push @status, $res->{status};
    if ($res->{status} == 429) {
        $limited = $res;
        last;
    }
}

is_deeply [@status[0 .. 10]], [(400) x 11],
          'burst 10 + 1: eleven requests pass (to validation)';
ok $limited && @status <= 13, 'then 429 (request ' . scalar(@status) . ')';
is $limited->{body}, '{"status":"error","status_code":429,"message":"Too '
                     . 'many requests, slow down","errors":{"code":'
                     . '"RATE_LIMITED"}}', '... in the JSON envelope';
like $limited->{headers}{'content-type'}, qr{^application/json},
     '... as JSON';
like $limited->{headers}{'retry-after'} // '', qr/^[1-9][0-9]*$/,
     '... with Retry-After';

my $res = call(POST => '/api/v1/auth/login',
               body => { email => 'admin@gmail.com', password => 'qwerty' });
is $res->{status}, 429, 'valid credentials are limited too (no hash run)';

for my $p ('/api/v1/auth/register', '/api/v1/auth/refresh',
           '/api/v1/auth/logout', '/api/v1/auth/change-password') {
    is call(POST => $p, body => {})->{status}, 429,
       "the zone is shared: $p is limited";
}
isnt call(GET => '/api/v1/auth/me')->{status}, 429,
   '/api/v1/auth/me has the general limit, not the auth zone';

is call(GET => '/ping')->{status}, 200, '/ping is not limited';
is call(GET => '/api/v1/no/such/route')->{status}, 404,
   'other API routes are not limited by the auth zone';

ok stop_nginx('auth-ratelimit'), 'nginx stopped cleanly';
no_alerts_ok($ng);

# ---- 2. an unknown e-mail costs a hash -----------------------------------------

$ng = start_nginx(name => 'auth-concurrency', port => $port,
                  log_level => 'debug',
                  http_config => http_config(auth_rate => '100000r/s'),
                  config => server_config(), main_config => main_config());

sub tasks {
    my @n = error_log_text($ng) =~ /added to thread pool "evently"/g;
    return scalar @n;
}

sub timed_login {
    my ($email, $password) = @_;
    my $t0 = time;
    my $r = call(POST => '/api/v1/auth/login',
                 body => { email => $email, password => $password });
    return ($r, time - $t0);
}

sub median { my @s = sort { $a <=> $b } @_; return $s[@s / 2] }

my (@unknown, @wrong);
for my $i (1 .. 5) {
    my $n = tasks();
    my ($r, $t) = timed_login("nobody$i\@example.com", 'qwerty');
    is $r->{status}, 401, "unknown e-mail $i: 401";
    is tasks(), $n + 1, '... after one hash in the thread pool';
    push @unknown, $t;

    $n = tasks();
    ($r, $t) = timed_login('admin@gmail.com', "wrong$i");
    is $r->{status}, 401, "wrong password $i: 401";
    is tasks(), $n + 1, '... after one hash in the thread pool';
    push @wrong, $t;
}

my ($mu, $mw) = (median(@unknown), median(@wrong));
diag sprintf 'median login time: unknown e-mail %.1f ms, wrong password '
             . '%.1f ms', $mu * 1000, $mw * 1000;
ok $mu > 0.5 * $mw && $mw > 0.5 * $mu,
   'unknown e-mail and wrong password take about the same time';

# ---- 3. 20 concurrent logins do not stall /ping ------------------------------------

my @users = ('admin@gmail.com', 'mitshah2406@gmail.com',
             'mitshah2406.work@gmail.com');

my $results = race(n => 21, timeout => 60, run => sub {
    my ($i) = @_;
    my $t0 = time;
    my $r;
    if ($i == 20) {
        sleep 0.05;    # the logins are in flight by now
        $t0 = time;
        $r = api(GET => '/ping', port => $port);
    } else {
        $r = api(POST => '/api/v1/auth/login', port => $port,
                 body => { email => $users[$i % 3], password => 'qwerty' });
    }
    return { status => $r->{status}, start => $t0, end => time };
});

my @logins = @$results[0 .. 19];
my $ping = $results->[20];

is scalar(grep { ref $_ && $_->{status} == 200 } @logins), 20,
   '20 concurrent logins: all 200';
ok ref $ping && $ping->{status} == 200, '/ping answered during them';

my ($first_start) = sort { $a <=> $b } map { $_->{start} } @logins;
my ($last_end) = sort { $b <=> $a } map { $_->{end} } @logins;
my $ping_ms = ($ping->{end} - $ping->{start}) * 1000;
diag sprintf 'logins took %.0f ms in all; /ping %.1f ms, answered %.0f ms '
             . 'before the last login', ($last_end - $first_start) * 1000,
             $ping_ms, ($last_end - $ping->{end}) * 1000;

ok $ping->{end} < $last_end, '... while logins were still running';
ok $ping_ms < 200, '/ping answered within 200 ms';

# ---- 4. clients that leave while their password is checked ---------------------------

my $body = '{"email":"admin@gmail.com","password":"qwerty"}';
my @socks;
for my $i (1 .. 10) {
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Proto => 'tcp', Timeout => 5)
        or next;
    print $s "POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\n"
             . "Content-Type: application/json\r\n"
             . "Content-Length: " . length($body) . "\r\n\r\n$body";
    push @socks, $s;
}
is scalar(@socks), 10, '10 logins sent';
# some leave while PostgreSQL answers, the others during the hash
close $_ for @socks[0 .. 4];
sleep 0.03;
close $_ for @socks[5 .. 9];

ok wait_until(sub { error_log_text($ng)
                    =~ /client closed the connection while waiting/ },
              timeout => 10),
   'the module noticed clients that left';
sleep 0.5;    # let every abandoned hash finish
is call(GET => '/ping')->{status}, 200, '/ping still answers';
is call(POST => '/api/v1/auth/login',
        body => { email => 'admin@gmail.com', password => 'qwerty' })
   ->{status}, 200, 'logins still work';

ok stop_nginx('auth-concurrency'), 'nginx stopped cleanly';
no_alerts_ok($ng);

done_testing;
