package Evently::Nginx;

# Starting, stopping and watching nginx for Evently's tests: shared by the
# block runner (Test::Nginx::Util / Test::Nginx::Socket under t/lib) and by
# procedural tests (Evently::Test::start_nginx).  Plain Perl, no Test::*
# module, so that Evently::Test also works next to the real Test::Nginx.

use strict;
use warnings;

use base 'Exporter';

use File::Path qw(make_path remove_tree);
use File::Spec ();
use IO::Socket::INET ();
use POSIX qw(:sys_wait_h SIGQUIT SIGKILL);
use Text::ParseWords qw(shellwords);
use Time::HiRes qw(sleep time);

our $VERSION = '0.01';

=head1 NAME

Evently::Nginx - nginx process management for Evently's tests

=head1 DESCRIPTION

=over

=item build_nginx_conf(%o)

nginx.conf text shaped like the real Test::Nginx's: C<root> (server root,
required), C<port> (default C<TEST_NGINX_SERVER_PORT> or 1984), C<workers>
(1), C<master> ('off'), C<daemon> ('on'), C<log_level>
(C<TEST_NGINX_LOG_LEVEL> or debug), C<main_config>, C<http_config>,
C<config> (inside the C<server {}>), C<no_root_location>, C<server_name>
(localhost), C<worker_connections> (64), C<preamble>, C<env> (extra names
for C<env> directives), C<hup_version>. C<TEST_NGINX_LOAD_MODULES> gives
C<load_module> lines (before C<main_config>); C<EVENTLY_NGINX_ENV> names get
C<env> lines.

=item setup_server_root($root, keep_logs => 0)

Recreates C<conf/ logs/ html/> (removes only those and C<*_temp>).

=item start_nginx_instance(root => ..., port => ..., valgrind => ...)

Runs C<$TEST_NGINX_BINARY -e ROOT/logs/error.log -p ROOT/ -c
ROOT/conf/nginx.conf> with the C<EVENTLY_NGINX_ENV> assignments in its
environment (under valgrind when asked: in the foreground, reports in
C<logs/valgrind.PID.log>), and waits (bounded) until the pid file exists
and the port listens. Returns C<($instance, undef)> or C<(undef, $error)>.

=item stop_nginx_instance($instance, $timeout)

SIGQUIT, bounded wait (C<TEST_NGINX_QUIT_TIMEOUT>, default 10 s), then
SIGKILL. Returns C<(1)> or C<(0, $message)>.

=item read_log_lines($file, $pos), log_size($file), trouble_line($line)

Error log slices, and the lines that always mean a bug (sanitizer reports,
failed assertions, crashed workers).

=back

=cut

our @EXPORT_OK = qw(
    build_nginx_conf setup_server_root start_nginx_instance
    stop_nginx_instance nginx_alive read_pid_file port_listening tail_file
    read_log_lines log_size trouble_line nginx_version
    nginx_env_assignments gen_rand_port become_subreaper
);

our $NginxBinary = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $LoadModules = $ENV{TEST_NGINX_LOAD_MODULES};
our $WorkerUser  = $ENV{TEST_NGINX_WORKER_USER};
our $QuitTimeout = $ENV{TEST_NGINX_QUIT_TIMEOUT} || 10;
our $Verbose     = $ENV{TEST_NGINX_VERBOSE} || 0;
our $DefaultPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                   || 1984;

# valgrind suppressions of stock nginx's process-lifetime allocations
(our $Suppressions = File::Spec->rel2abs(__FILE__)) =~ s{Nginx\.pm$}{nginx.supp};

if (defined $WorkerUser && $WorkerUser !~ /^\w+(?:\s+\w+)?$/) {
    die "Bad value in the env TEST_NGINX_WORKER_USER: $WorkerUser\n";
}

# A daemonised nginx is re-parented to the nearest "child subreaper", else
# to PID 1, which in some sandboxes never reaps: each stopped nginx would
# stay a zombie.  Becoming a subreaper (Linux prctl) makes nginx our child,
# so nginx_alive() reaps it.  Best effort: silently skipped elsewhere.
sub become_subreaper {
    return if $^O ne 'linux';
    local $@;
    eval {
        local $SIG{__WARN__} = sub {};
        require 'syscall.ph';    ## no critic
        my $nr = eval { &SYS_prctl() };
        syscall($nr, 36, 1, 0, 0, 0) if $nr;    # PR_SET_CHILD_SUBREAPER
        1;
    };
    return;
}

become_subreaper();


sub gen_rand_port {
    my ($tries, $used) = @_;
    $tries ||= 1000;
    $used ||= {};
    for (1 .. $tries) {
        my $port = int(rand 40000) + 20000;
        next if $used->{$port};
        my $sock = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1',
            LocalPort => $port,
            Proto     => 'tcp',
            ReuseAddr => 0,
        );
        if ($sock) {
            close $sock;
            return $port;
        }
    }
    return undef;
}


# ---- nginx binary -----------------------------------------------------------

my $NginxVersionCache;

# Returns the numeric version (1.022001 for 1.22.1), or undef when the
# binary cannot be run.
sub nginx_version {
    return $NginxVersionCache if defined $NginxVersionCache;
    my $out = `$NginxBinary -V 2>&1`;
    return undef if !defined $out || $? != 0;
    if ($out =~ m{(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)}) {
        $NginxVersionCache = sprintf "%d.%03d%03d", $1, $2, $3;
    }
    return $NginxVersionCache;
}

# "A=1 B='x y'" from EVENTLY_NGINX_ENV -> ([A, 1], [B, 'x y'])
sub nginx_env_assignments {
    my $spec = $ENV{EVENTLY_NGINX_ENV};
    return () if !defined $spec || $spec !~ /\S/;
    my @out;
    for my $word (shellwords($spec)) {
        if ($word =~ /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s) {
            push @out, [$1, $2];
        } else {
            warn "EVENTLY_NGINX_ENV: ignoring \"$word\" (not NAME=VALUE)\n";
        }
    }
    return @out;
}

# ---- server root and nginx.conf ------------------------------------------------

# Wipe conf/, logs/, html/ and *_temp of $root (only those: never rm -rf a
# directory we did not create), recreate them and html/index.html.
sub setup_server_root {
    my ($root, %o) = @_;
    if (-d $root) {
        remove_tree("$root/conf", glob("$root/*_temp"), glob("$root/*_cache"));
        remove_tree("$root/html", "$root/logs") if !$o{keep_logs};
    }
    for my $d ($root, "$root/conf", "$root/logs", "$root/html") {
        next if -d $d;
        make_path($d) or die "cannot create $d: $!\n";
    }
    my $index = "$root/html/index.html";
    open my $out, '>', $index or die "cannot write $index: $!\n";
    print $out '<html><head><title>It works!</title></head>'
               . '<body>It works!</body></html>';
    close $out;
    return;
}

# Generate nginx.conf text.  Options (all optional but root):
#   root, port, workers, master ('on'/'off'), daemon ('on'/'off'),
#   log_level, main_config, http_config, config, no_root_location,
#   server_name, worker_connections, env (extra env names), hup_version
sub build_nginx_conf {
    my (%o) = @_;
    my $root       = $o{root} // die "build_nginx_conf: root needed";
    my $port       = $o{port} // $DefaultPort;
    my $workers    = $o{workers} // 1;
    my $master     = $o{master} // 'off';
    my $daemon     = $o{daemon} // 'on';
    my $level      = $o{log_level} // ($ENV{TEST_NGINX_LOG_LEVEL} || 'debug');
    my $main       = $o{main_config} // '';
    my $http       = $o{http_config} // '';
    my $config     = $o{config} // '';
    my $wc         = $o{worker_connections} // 64;
    my $sname      = $o{server_name} // 'localhost';
    my $no_root    = $o{no_root_location} // 0;
    my $preamble   = $o{preamble} // '';

    (my $qname = $sname) =~ s/(['\\])/\\$1/g;

    my @env = qw(MOCKEAGAIN_VERBOSE MOCKEAGAIN MOCKEAGAIN_WRITE_TIMEOUT_PATTERN
                 LD_PRELOAD LD_LIBRARY_PATH ASAN_OPTIONS LSAN_OPTIONS
                 UBSAN_OPTIONS);
    my %seen = map { $_ => 1 } @env;
    for my $v (@{ $o{env} || [] },
               map { $_->[0] } nginx_env_assignments())
    {
        next if $seen{$v}++;
        push @env, $v;
    }
    my $env_lines = join '', map {
        my $v = $_;
        $v = "'$v'" if $v =~ /\s/;
        "env $v;\n";
    } @env;

    my $modules = '';
    if (defined $LoadModules && $LoadModules =~ /\S/) {
        $modules = join '', map { "load_module $_;\n" }
                   grep { length } split /\s+/, $LoadModules;
    }

    my $conf = <<"_EOC_";
worker_processes  $workers;
daemon $daemon;
master_process $master;
error_log $root/logs/error.log $level;
pid       $root/logs/nginx.pid;
$env_lines
$modules
$main

http {
    access_log $root/logs/access.log;

    client_body_temp_path $root/client_body_temp;
    proxy_temp_path $root/proxy_temp;
    fastcgi_temp_path $root/fastcgi_temp;
    uwsgi_temp_path $root/uwsgi_temp;
    scgi_temp_path $root/scgi_temp;

    default_type text/plain;
    keepalive_timeout  68000ms;

$http

    server {
        listen          $port;
        server_name     '$qname';

        client_max_body_size 30M;

        # Begin preamble config...
$preamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

_EOC_

    if (!$no_root) {
        $conf .= <<"_EOC_";
        location / {
            root $root/html;
            index index.html index.htm;
        }
_EOC_
    }
    $conf .= "    }\n";

    if (defined $o{hup_version}) {
        $conf .= <<"_EOC_";

    server {
        listen          $port;
        server_name     'Test-Nginx';

        location = /ver {
            return 200 '$o{hup_version}';
        }
    }
_EOC_
    }

    $conf .= <<"_EOC_";
}

events {
    accept_mutex off;

    worker_connections  $wc;
}
_EOC_

    # valgrind suppressions of stock nginx's process-lifetime allocations
(our $Suppressions = File::Spec->rel2abs(__FILE__)) =~ s{Nginx\.pm$}{nginx.supp};

if (defined $WorkerUser) {
        $conf .= "user $WorkerUser;\n";
    } elsif ($> == 0) {
        $conf .= "user root;\n";
    }

    return $conf;
}

# ---- processes ----------------------------------------------------------------

# True when $pid exists and is not a zombie (a daemonised nginx is
# re-parented to PID 1, which in some sandboxes never reaps it).
sub nginx_alive {
    my $pid = shift;
    return 0 if !$pid || $pid !~ /^\d+$/;
    # reap it if it is our child (see become_subreaper)
    waitpid($pid, WNOHANG);
    return 0 if !kill 0, $pid;
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh> // '';
        close $fh;
        return 0 if $stat =~ /^\d+ \(.*\) [ZX] /s;
    }
    return 1;
}

sub read_pid_file {
    my $file = shift;
    open my $in, '<', $file or return undef;
    my $pid = <$in>;
    close $in;
    return undef if !defined $pid;
    $pid =~ s/\s+//g;
    return $pid =~ /^\d+$/ ? $pid : undef;
}

# Is something listening on TCP $port (any local address)?  Reads
# /proc/net/tcp{,6} so that the check itself does not open a connection
# (which would add lines to the error log).  Falls back to connect().
sub port_listening {
    my $port = shift;
    my $hex = sprintf '%04X', $port;
    my $have_proc;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        $have_proc = 1;
        my $n = 0;
        while (my $line = <$fh>) {
            last if ++$n > 100_000;
            # sl local_address rem_address st
            if ($line =~ /^\s*\d+:\s+[0-9A-F]+:$hex\s+[0-9A-F]+:[0-9A-F]+\s+0A\s/) {
                close $fh;
                return 1;
            }
        }
        close $fh;
    }
    return 0 if $have_proc;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port, Proto => 'tcp',
                                     Timeout => 0.5);
    if ($sock) { close $sock; return 1 }
    return 0;
}

# Connections to the server side of $port that nginx still holds: ESTABLISHED
# (01) or CLOSE_WAIT (08, the client is gone but nginx has not closed yet).
sub port_client_connections {
    my $port = shift;
    my $hex = sprintf '%04X', $port;
    my $count = 0;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        my $n = 0;
        while (my $line = <$fh>) {
            last if ++$n > 100_000;
            $count++
                if $line =~ /^\s*\d+:\s+[0-9A-F]+:$hex\s+[0-9A-F]+:[0-9A-F]+\s+0[18]\s/;
        }
        close $fh;
    }
    return $count;
}

sub tail_file {
    my ($file, $n) = @_;
    open my $in, '<', $file or return '';
    my @lines = <$in>;
    close $in;
    @lines = @lines[-$n .. -1] if @lines > $n;
    return join '', @lines;
}

# Start nginx for server root $o{root}, whose conf/nginx.conf is already
# written.  Options: root, port, valgrind (undef/0 = no), name (for
# messages).  Returns ($instance, undef) or (undef, $error_message).
# The instance is {pid, root, port, child (our child pid when nginx runs
# in the foreground), daemon}.
sub start_nginx_instance {
    my (%o) = @_;
    my $root = $o{root};
    my $port = $o{port} // $DefaultPort;
    my $valgrind = $o{valgrind};
    my $daemon = $valgrind ? 0 : 1;
    my $conf = "$root/conf/nginx.conf";
    my $errlog = "$root/logs/error.log";
    my $stderr_file = "$root/logs/nginx.stderr";

    my $ver = nginx_version();
    return (undef, "cannot run the nginx binary \"$NginxBinary\" "
                   . "(set TEST_NGINX_BINARY)") if !defined $ver;

    my @cmd = ($NginxBinary, '-p', "$root/", '-c', $conf);
    # -e (error log used before the configuration is read) exists since
    # nginx 1.19.5
    if ($ver >= 1.019005) {
        @cmd = ($NginxBinary, '-e', $errlog, '-p', "$root/", '-c', $conf);
    }

    if ($valgrind) {
        my @vg = ('valgrind', '-q', '--num-callers=100',
                  "--log-file=$root/logs/valgrind.%p.log");
        if ($valgrind =~ /^\d+$/) {
            push @vg, '--tool=memcheck', '--leak-check=full',
                      '--show-possibly-lost=no', '--gen-suppressions=all';
        } else {
            push @vg, shellwords($valgrind);
        }
        push @vg, "--suppressions=$Suppressions" if -f $Suppressions;
        push @vg, '--suppressions=valgrind.suppress'
            if -f 'valgrind.suppress';
        @cmd = (@vg, @cmd);
    }

    # a port still (or already) taken: wait a little, then say who
    my $busy_deadline = time + 5;
    for (1 .. 500) {
        last if !port_listening($port);
        if (time > $busy_deadline) {
            return (undef, "port $port is already in use by another "
                    . "process (another test run or nginx? set "
                    . "TEST_NGINX_PORT, or TEST_NGINX_RANDOMIZE=1)");
        }
        sleep 0.02;
    }

    my @assign = nginx_env_assignments();

    warn "starting: @cmd\n" if $Verbose;

    my $pid = fork();
    return (undef, "fork failed: $!") if !defined $pid;
    if ($pid == 0) {
        # child: own process group (so a SIGKILL of the group cannot hit
        # the test process), quiet stdio, extra env, exec
        setpgrp(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $stderr_file;
        open STDERR, '>>', $stderr_file;
        $ENV{$_->[0]} = $_->[1] for @assign;
        {
            no warnings 'exec';
            exec { $cmd[0] } @cmd;
        }
        print STDERR "cannot exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }

    my $inst = { root => $root, port => $port, daemon => $daemon,
                 name => $o{name} // 'nginx' };

    if ($daemon) {
        # The launcher returns once nginx has daemonised (listening sockets
        # are open by then) or has failed.
        my $deadline = time + 60;
        my $status;
        for (1 .. 6000) {
            my $r = waitpid($pid, WNOHANG);
            if ($r == $pid) { $status = $?; last }
            last if time > $deadline;
            sleep 0.01;
        }
        if (!defined $status) {
            kill SIGKILL, $pid;
            waitpid($pid, 0);
            return (undef, "nginx did not daemonise within 60 s: "
                           . tail_file($errlog, 20));
        }
        if ($status != 0) {
            return (undef, "nginx exited with status " . ($status >> 8)
                    . ($status & 127 ? " (signal " . ($status & 127) . ")" : '')
                    . ":\n" . tail_file($stderr_file, 20)
                    . tail_file($errlog, 20));
        }
    } else {
        $inst->{child} = $pid;
    }

    # wait for the pid file and the listening socket
    my $limit = $valgrind ? 60 : 10;
    my $deadline = time + $limit;
    my $step = 0.005;
    for (1 .. 10_000) {
        my $npid = read_pid_file("$root/logs/nginx.pid");
        if ($npid && nginx_alive($npid) && port_listening($port)) {
            $inst->{pid} = $npid;
            return ($inst, undef);
        }
        if ($inst->{child}) {
            my $r = waitpid($inst->{child}, WNOHANG);
            if ($r == $inst->{child}) {
                return (undef, "nginx exited during start-up (status "
                        . ($? >> 8) . "):\n" . tail_file($stderr_file, 20)
                        . tail_file($errlog, 20));
            }
        }
        last if time > $deadline;
        sleep $step;
        $step *= 1.5 if $step < 0.1;
    }
    my $npid = read_pid_file("$root/logs/nginx.pid");
    my $err = "nginx did not listen on port $port within $limit s"
              . ($npid ? " (pid $npid)" : " (no pid file)") . ":\n"
              . tail_file($errlog, 20);
    $inst->{pid} = $npid;
    stop_nginx_instance($inst, 2);
    return (undef, $err);
}

# SIGQUIT, wait up to $timeout seconds, then SIGKILL (the process group
# when nginx leads one).  Returns (1) or (0, message) when it had to kill.
sub stop_nginx_instance {
    my ($inst, $timeout) = @_;
    $timeout //= $QuitTimeout;
    my $pid = $inst->{pid} // read_pid_file("$inst->{root}/logs/nginx.pid");
    my $child = $inst->{child};
    my $reap = sub {
        waitpid($child, WNOHANG) if $child;
    };

    if (!$pid || !nginx_alive($pid)) {
        if ($child) {
            kill SIGKILL, $child if nginx_alive($child);
            waitpid($child, 0);
        }
        return (1);
    }

    # A single-process nginx exits at once on QUIT, leaving a connection it
    # has not closed yet (LeakSanitizer then reports its pools): let the
    # clients' connections wind down first (bounded).
    if ($inst->{port}) {
        my $until = time + 1;
        for (1 .. 100) {
            last if !port_client_connections($inst->{port});
            last if time > $until;
            sleep 0.01;
        }
    }

    kill SIGQUIT, $pid;
    my $deadline = time + $timeout;
    for (1 .. 100_000) {
        $reap->();
        last if !nginx_alive($pid);
        last if time > $deadline;
        sleep 0.02;
    }
    if (!nginx_alive($pid)) {
        if ($child) {
            # the foreground (valgrind) launcher may still be finishing
            my $d = time + $timeout;
            for (1 .. 100_000) {
                last if waitpid($child, WNOHANG) != 0;
                last if time > $d;
                sleep 0.02;
            }
        }
        return (1);
    }

    my $pg = getpgrp($pid);
    if (defined $pg && $pg == $pid) {
        kill SIGKILL, -$pid;
    } else {
        kill SIGKILL, $pid;
    }
    $deadline = time + 5;
    for (1 .. 1000) {
        $reap->();
        last if !nginx_alive($pid);
        last if time > $deadline;
        sleep 0.02;
    }
    unlink "$inst->{root}/logs/nginx.pid";
    return (0, "nginx (pid $pid) did not exit within $timeout s after "
               . "SIGQUIT; sent SIGKILL");
}

# ---- error log ------------------------------------------------------------------

sub log_size {
    my $file = shift;
    return -s $file || 0;
}

# Lines of $file from byte $pos on: returns (\@lines, $new_pos).  An
# incomplete last line (no newline yet) is left for the next read.
sub read_log_lines {
    my ($file, $pos) = @_;
    $pos ||= 0;
    open my $in, '<', $file or return ([], $pos);
    binmode $in;
    my $size = -s $in || 0;
    $pos = 0 if $pos > $size;    # the file was recreated
    seek $in, $pos, 0;
    local $/;
    my $data = <$in> // '';
    close $in;
    my $keep = '';
    if ($data ne '' && substr($data, -1) ne "\n") {
        my $i = rindex $data, "\n";
        $keep = $i < 0 ? $data : substr($data, $i + 1);
        $data = $i < 0 ? '' : substr($data, 0, $i + 1);
    }
    my @lines = $data =~ /([^\n]*\n)/g;
    return (\@lines, $pos + length $data);
}

# Lines that always mean a bug, whatever the test expects.  Sanitizer
# reports and failed assert()s are written raw to stderr (which nginx
# points at its error log), never in nginx's "YYYY/MM/DD hh:mm:ss [level]"
# format; matching only raw lines keeps request data that nginx logs at
# debug level from triggering them.
our $NginxLogLineRe = qr{^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[};
our $RawTroubleRe = qr{
      AddressSanitizer
    | LeakSanitizer
    | ThreadSanitizer
    | UndefinedBehaviorSanitizer
    | \bruntime\ error:
    | \bAssertion\ .*\ failed
}x;

sub trouble_line {
    my $line = shift;
    if ($line =~ $NginxLogLineRe) {
        return $line =~ /^\S+ \S+ \[alert\] .*worker process \d+ exited on signal/;
    }
    return $line =~ $RawTroubleRe;
}

1;
