package Evently::Outage;

# Helpers of the foundation tests (outages and stalls): a port nobody
# listens on, a Kafka mock broker and a redis-server of the test's own,
# which the test may take down and bring back without touching the shared
# servers; a PostgreSQL table lock held by a background session; the
# PostgreSQL backends of one nginx; HTTP requests left pending while the
# test does something else.  Everything started here is stopped at exit,
# by its own pid.

use strict;
use warnings;

use base 'Exporter';

use File::Path qw(make_path remove_tree);
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes qw(sleep time);

our @EXPORT = qw(closed_port ms_since
                 kafka_private_start kafka_private_down kafka_private_up
                 kafka_private_stop
                 redis_private_start redis_private_stop redis_private_cli
                 pg_lock pg_unlock pg_lock_held nginx_backends pool_ready
                 http_start http_ready http_finish http_abort);

=head1 NAME

Evently::Outage - private PostgreSQL-free back-ends for outage tests

=head1 FUNCTIONS (all exported)

=over

=item closed_port()

A loopback TCP port on which nothing listens (an ephemeral port bound,
then released).

=item ms_since($t0)

Milliseconds since C<$t0> (a Time::HiRes time).

=item kafka_private_start($dir), kafka_private_down($k),
kafka_private_up($k), kafka_private_stop($k)

Starts C<$EVENTLY_BUILD/kafka-mock-broker> (else C<build/>) with its
bootstrap, pid and state files in C<$dir>; returns
C<{pid, bootstrap, dir}> once the bootstrap address is written (bounded,
15 s). C<down>/C<up> send SIGUSR1/SIGUSR2 and wait (bounded, 10 s) until
the broker reports the new state. C<stop> sends SIGTERM, then SIGKILL.

=item redis_private_start($dir, $port), redis_private_stop($r),
redis_private_cli($r, @args)

A redis-server on 127.0.0.1:C<$port> (C<closed_port()> when undef), no
persistence, daemonized with its pid file in C<$dir>; returns
C<{pid, port, dir}> once it answers PING (bounded, 10 s). C<stop> is
C<SHUTDOWN NOSAVE> then SIGTERM/SIGKILL of its pid, and waits until the
port is closed.

=item pg_lock($table, $seconds) / pg_lock_held($l) / pg_unlock($l)

A background psql session (application_name C<evently-locker-...>) that
takes C<ACCESS EXCLUSIVE> on C<$table> and holds it for at most
C<$seconds> (C<pg_sleep>); returns once the lock is granted (bounded,
10 s). C<pg_unlock> cancels that session's statement (the transaction
rolls back), waits until the lock is gone and the psql has exited.

=item nginx_backends($pid, ready => 1)

PostgreSQL backend pids (in the test database) of the connections of the
nginx process C<$pid>, matched by client port (its sockets, from /proc),
so that other nginx instances on the same database are never touched. C<ready>: only
those that finished authenticating and are idle.

=item pool_ready($pid, $n, $timeout)

Waits (bounded, default 20 s) until C<$n> connections of nginx C<$pid>
are connected and idle. Connecting costs the worker CPU time (libpq's
SCRAM key derivation runs inside PQconnectPoll, i.e. on the event loop;
seconds under ASan), so timing checks start after this.

=item http_start($method, $path, port => ..., headers => {...}, body => ...)

Sends one HTTP/1.1 request (C<Connection: close>) and returns at once:
C<{sock, t0}>. C<http_ready($h, $seconds)> is true when the answer has
started to arrive; C<http_finish($h, $timeout)> reads it (bounded) and
returns C<{status, headers (lower-case), body, json, ms}> (C<ms> since
the request was sent; status 0 on timeout); C<http_abort($h)> closes the
socket as a client that gives up.

=back

=cut

my %Started;    # pid => what, stopped at exit

sub closed_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1)
        or die "closed_port: $!\n";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub ms_since {
    my $t0 = shift;
    return (time - $t0) * 1000;
}

sub _slurp {
    my $f = shift;
    open my $in, '<', $f or return undef;
    local $/;
    my $s = <$in>;
    close $in;
    return $s;
}

sub _wait {
    my ($cond, $timeout) = @_;
    my $deadline = time + $timeout;
    for (1 .. 100_000) {
        return 1 if $cond->();
        return 0 if time > $deadline;
        sleep 0.05;
    }
    return 0;
}

sub _alive {
    my $pid = shift;
    return 0 if !$pid;
    waitpid($pid, POSIX::WNOHANG());
    return 0 if !kill 0, $pid;
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh> // '';
        close $fh;
        return 0 if $stat =~ /^\d+ \(.*\) [ZX] /s;
    }
    return 1;
}

sub _kill_wait {
    my ($pid, $sig, $timeout) = @_;
    return 1 if !_alive($pid);
    kill $sig, $pid;
    return _wait(sub { !_alive($pid) }, $timeout);
}

# ---- Kafka mock broker ------------------------------------------------------

sub _broker_bin {
    my $build = $ENV{EVENTLY_BUILD};
    if (!defined $build) {
        ($build = $ENV{TEST_NGINX_EVENTLY_ROOT} // '.') .= '/build';
    }
    my $bin = "$build/kafka-mock-broker";
    die "Evently::Outage: $bin is missing (scripts/build)\n" if !-x $bin;
    return $bin;
}

sub kafka_private_start {
    my ($dir) = @_;
    my $bin = _broker_bin();
    remove_tree($dir);
    make_path($dir);
    my %f = (bootstrap_file => "$dir/bootstrap",
             pid_file => "$dir/broker.pid", state => "$dir/state",
             log => "$dir/broker.log");

    my $pid = fork;
    die "kafka_private_start: fork: $!\n" if !defined $pid;
    if ($pid == 0) {
        POSIX::setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $f{log};
        open STDERR, '>&', \*STDOUT;
        { exec $bin, '-f', $f{bootstrap_file}, '-P', $f{pid_file},
               '-s', $f{state} };
        POSIX::_exit(127);
    }
    $Started{$pid} = 'kafka';

    my $ok = _wait(sub { -s $f{bootstrap_file} }, 15);
    if (!$ok) {
        _kill_wait($pid, 'KILL', 5);
        delete $Started{$pid};
        die "kafka_private_start: no bootstrap address after 15 s: "
            . (_slurp($f{log}) // '') . "\n";
    }
    (my $bootstrap = _slurp($f{bootstrap_file})) =~ s/\s+//g;
    return { %f, pid => $pid, bootstrap => $bootstrap, dir => $dir };
}

sub _kafka_signal {
    my ($k, $sig, $want) = @_;
    die "kafka: the private broker is not running\n" if !_alive($k->{pid});
    kill $sig, $k->{pid};
    return _wait(sub {
        my $s = _slurp($k->{state}) // '';
        $s =~ s/\s+//g;
        $s eq $want;
    }, 10);
}

sub kafka_private_down { return _kafka_signal($_[0], 'USR1', 'down') }
sub kafka_private_up   { return _kafka_signal($_[0], 'USR2', 'up') }

sub kafka_private_stop {
    my $k = shift or return 1;
    my $ok = _kill_wait($k->{pid}, 'TERM', 10) || _kill_wait($k->{pid},
                                                             'KILL', 5);
    delete $Started{$k->{pid}};
    return $ok;
}

# ---- Redis ------------------------------------------------------------------

sub redis_private_cli {
    my ($r, @args) = @_;
    my $out = '';
    if (open my $p, '-|', 'timeout', '5', 'redis-cli', '-h', '127.0.0.1',
             '-p', $r->{port}, @args)
    {
        local $/;
        $out = <$p> // '';
        close $p;
    }
    chomp $out;
    return $out;
}

sub redis_private_start {
    my ($dir, $port) = @_;
    $port //= closed_port();
    make_path($dir);
    my $pidfile = "$dir/redis-$port.pid";
    unlink $pidfile;
    my $rc = system('redis-server', '--port', $port, '--bind', '127.0.0.1',
                    '--save', '', '--appendonly', 'no',
                    '--daemonize', 'yes', '--pidfile', $pidfile,
                    '--dir', $dir, '--logfile', "$dir/redis-$port.log");
    die "redis_private_start: redis-server failed ($rc)\n" if $rc != 0;

    my $r = { port => $port, dir => $dir, pidfile => $pidfile };
    my $ok = _wait(sub {
        -s $pidfile && redis_private_cli($r, 'PING') eq 'PONG'
    }, 10);
    (my $pid = _slurp($pidfile) // '') =~ s/\s+//g;
    $r->{pid} = $pid;
    $Started{$pid} = 'redis' if $pid;
    die "redis_private_start: not answering on port $port after 10 s\n"
        if !$ok;
    return $r;
}

sub redis_private_stop {
    my $r = shift or return 1;
    my $pid = $r->{pid};
    redis_private_cli($r, 'SHUTDOWN', 'NOSAVE') if _alive($pid);
    my $ok = _wait(sub { !_alive($pid) }, 10)
             || _kill_wait($pid, 'TERM', 5) || _kill_wait($pid, 'KILL', 5);
    delete $Started{$pid};
    # the port is free again once nobody listens
    _wait(sub {
        !IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                               PeerPort => $r->{port}, Proto => 'tcp',
                               Timeout => 1)
    }, 5);
    return $ok;
}

# ---- PostgreSQL lock holder -------------------------------------------------

sub _psql_value {
    my ($sql, @vars) = @_;
    require Evently::Test;
    return Evently::Test::psql($sql, {@vars});
}

sub pg_lock {
    my ($table, $seconds) = @_;
    die "pg_lock: bad table name\n" if $table !~ /^[a-z_]+\.[a-z_]+$/;
    die "pg_lock: bad duration\n" if $seconds !~ /^\d+(\.\d+)?$/;
    my $app = "evently-locker-$$-" . int(rand 1e9);
    my $conninfo = $ENV{TEST_NGINX_PG_CONNINFO}
        // die "pg_lock: TEST_NGINX_PG_CONNINFO is not set\n";

    my $pid = fork;
    die "pg_lock: fork: $!\n" if !defined $pid;
    if ($pid == 0) {
        $ENV{PGAPPNAME} = $app;
        $ENV{PSQLRC} = '/dev/null';
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        { exec 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $conninfo,
               '-c', "BEGIN; LOCK TABLE $table IN ACCESS EXCLUSIVE MODE; "
                     . "SELECT pg_sleep($seconds); COMMIT;" };
        POSIX::_exit(127);
    }
    $Started{$pid} = 'psql';

    my $l = { pid => $pid, app => $app, table => $table };
    if (!_wait(sub { pg_lock_held($l) }, 10)) {
        pg_unlock($l);
        die "pg_lock: $table not locked after 10 s\n";
    }
    return $l;
}

sub pg_lock_held {
    my $l = shift;
    return _psql_value(<<'_SQL_', app => $l->{app}, rel => $l->{table}) eq 't';
SELECT EXISTS (
    SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE a.application_name = :'app' AND l.granted
       AND l.mode = 'AccessExclusiveLock'
       AND l.relation = (:'rel')::regclass)
_SQL_
}

sub pg_unlock {
    my $l = shift or return 1;
    _psql_value(<<'_SQL_', app => $l->{app});
SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity
 WHERE application_name = :'app'
_SQL_
    my $ok = _wait(sub { !_alive($l->{pid}) }, 10)
             || _kill_wait($l->{pid}, 'KILL', 5);
    delete $Started{$l->{pid}};
    _wait(sub { !pg_lock_held($l) }, 10);
    return $ok;
}

sub nginx_backends {
    my ($pid, %o) = @_;
    my (%inodes, %ports);

    # the process's sockets, then their local ports (no ss/lsof needed)
    if (opendir my $dh, "/proc/$pid/fd") {
        for my $fd (readdir $dh) {
            my $l = readlink "/proc/$pid/fd/$fd" // next;
            $inodes{$1} = 1 if $l =~ /^socket:\[(\d+)\]$/;
        }
        closedir $dh;
    }
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        while (my $line = <$fh>) {
            my @c = split ' ', $line;
            # sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            next if @c < 10 || $c[3] ne '01' || !$inodes{$c[9]};
            $ports{hex $1} = 1 if $c[1] =~ /:([0-9A-F]{4})$/;
        }
        close $fh;
    }
    return wantarray ? () : 0 if !%ports;
    my $list = join ',', sort { $a <=> $b } keys %ports;
    my $ready = $o{ready} ? "AND state = 'idle'" : '';
    my $out = _psql_value(<<"_SQL_");
SELECT string_agg(pid::text, ' ') FROM pg_stat_activity
 WHERE application_name = 'evently' AND datname = current_database()
   AND client_port IN ($list) $ready
_SQL_
    my @pids = split ' ', $out;
    return @pids;    # the count in scalar context
}

sub pool_ready {
    my ($pid, $n, $timeout) = @_;
    return _wait(sub { nginx_backends($pid, ready => 1) >= $n },
                 $timeout // 20);
}

# ---- HTTP requests left pending ---------------------------------------------

sub http_start {
    my ($method, $path, %o) = @_;
    my $port = $o{port} // $ENV{TEST_NGINX_SERVER_PORT} // 1984;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $port, Proto => 'tcp',
                                  Timeout => 5)
        or die "http_start: connect to $port: $!\n";
    my $body = $o{body} // '';
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\n"
              . "Connection: close\r\n";
    my %h = %{ $o{headers} || {} };
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    $req .= 'Content-Length: ' . length($body) . "\r\n"
        if length $body || $method =~ /^(POST|PUT|PATCH)$/;
    $req .= "\r\n$body";
    my $t0 = time;
    my $off = 0;
    for (1 .. 1000) {
        my $w = syswrite $s, $req, length($req) - $off, $off;
        die "http_start: write: $!\n" if !defined $w;
        $off += $w;
        last if $off >= length $req;
    }
    return { sock => $s, t0 => $t0 };
}

sub http_ready {
    my ($h, $seconds) = @_;
    require IO::Select;
    return scalar IO::Select->new($h->{sock})->can_read($seconds // 0);
}

sub http_finish {
    my ($h, $timeout) = @_;
    require IO::Select;
    $timeout //= 10;
    my $deadline = time + $timeout;
    my $buf = '';
    my $sel = IO::Select->new($h->{sock});
    for (1 .. 100_000) {
        my $left = $deadline - time;
        last if $left <= 0;
        next if !$sel->can_read($left);
        my $n = sysread $h->{sock}, my $chunk, 65536;
        last if !$n;
        $buf .= $chunk;
    }
    my $ms = ms_since($h->{t0});
    close $h->{sock};
    my %res = (status => 0, headers => {}, body => '', ms => $ms,
               raw => $buf);
    if ($buf =~ s/\A(HTTP\/1\.\d (\d{3})[^\r\n]*)\r\n(.*?)\r\n\r\n//s) {
        $res{status} = $2;
        for my $line (split /\r\n/, $3) {
            my ($k, $v) = split /:\s*/, $line, 2;
            $res{headers}{lc $k} = $v;
        }
        $res{body} = $buf;
        if ($buf =~ /^\s*[\[{]/) {
            require JSON::PP;
            $res{json} = eval { JSON::PP->new->utf8->decode($buf) };
        }
    }
    return \%res;
}

sub http_abort {
    my $h = shift;
    close $h->{sock} if $h->{sock};
    return 1;
}

END {
    local $?;
    for my $pid (keys %Started) {
        _kill_wait($pid, 'TERM', 5) or _kill_wait($pid, 'KILL', 2);
    }
}

1;
