package Test::Nginx::Socket;

use strict;
use warnings;

# Test::Base -base (lower case) makes us a Test::Base subclass without the
# Spiffy source filter that -Base would apply to this file.
use Test::Base -base;

use Encode ();
use File::Path ();
use IO::Select ();
use IO::Socket::INET ();
use List::Util qw(shuffle min max);
use HTTP::Response ();
use POSIX qw(EAGAIN EINTR EWOULDBLOCK);
use Test::LongString ();
use Time::HiRes qw(sleep time);

use Test::Nginx::Util;
use Test::Nginx::Util qw(build_nginx_conf start_nginx_instance
                         stop_nginx_instance setup_server_root
                         read_log_lines log_size trouble_line nginx_alive
                         nginx_version
                         $LogLevel $UseHup $UseValgrind $NoNginxManager
                         $ForceRestartOnTest $NoClean $TotalErrLog
                         $TestNginxSleep $CheckAccumErrLog $Timeout
                         $ServerAddr $ServerName $NoShuffle
                         @BlockPreprocessors);

our $VERSION = '0.01';

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests run_test repeat_each
    config_preamble worker_connections master_process_enabled
    no_long_string workers master_on master_off log_level no_shuffle
    no_root_location use_hup server_name server_addr server_root html_dir
    server_port server_port_for_client timeout no_nginx_manager
    check_accum_error_log add_block_preprocessor bail_out
    add_cleanup_handler add_response_body_check
);

=head1 NAME

Test::Nginx::Socket - Evently's compatible subset of openresty's
Test::Nginx::Socket

=head1 SYNOPSIS

    use Test::Nginx::Socket 'no_plan';    # or: plan tests => ...

    repeat_each(1);
    no_shuffle();
    run_tests();

    __DATA__

    === TEST 1: hello
    --- config
        location = /t { return 200 "hello\n"; }
    --- request
    GET /t
    --- response_body
    hello
    --- no_error_log
    [error]

Run with C<PERL5LIB=t/lib prove t/>. The same files run unchanged under the
real Test::Nginx (openresty/test-nginx) when it is on C<@INC> instead.

=head1 DESCRIPTION

Blocks are parsed by L<Test::Base> (the real runner does the same), so the
file format, the C<ONLY>/C<SKIP>/C<LAST> meta sections and the filters
(C<eval>, C<chomp>, C<chop>, ...) are identical. For each block the runner
(re)starts nginx with a generated C<nginx.conf>, sends the request(s) over
raw sockets, and checks the response and the error log.

=head2 Functions exported

C<plan>, C<blocks>, C<run_tests>, C<repeat_each(n)>, C<no_shuffle()>,
C<no_root_location()>, C<add_block_preprocessor(sub {...})>,
C<master_on()>, C<master_off()>, C<workers(n)>, C<log_level('debug')>,
C<env_to_nginx('NAME', ...)>, C<timeout(s)>, C<worker_connections(n)>,
C<config_preamble($text)>, C<server_name>, C<server_addr>, C<server_port>,
C<server_port_for_client>, C<server_root>, C<html_dir>, C<use_hup()>,
C<no_nginx_manager()>, C<check_accum_error_log()>, C<no_long_string()>,
C<bail_out>, C<add_cleanup_handler>, C<add_response_body_check>,
C<is_str>, plus everything L<Test::Base> exports (C<is>, C<like>, ...).

Perl variables can be interpolated into sections with the C<eval> filter;
it runs in package C<Test::Base::Filter> under C<use strict> (as in the
real runner), so write C<$::http_config> (a C<our> variable of the
C<.t> file) or a fully qualified function such as
C<Evently::Test::http_config()>. Unlike the real runner, an C<eval> that
dies makes the test file die with the block name and the error, instead of
silently using the error text as the section's value.

=head2 Sections

=over

=item Configuration

C<main_config>, C<http_config>, C<config> (inside the test C<server {}>),
C<user_files> (C<<< >>> name [date] >>> lines, or an eval arrayref of
C<[name, body, date]>), C<log_level>, C<init> (Perl run before the
block's requests, in package Test::Nginx::Util like the real runner).

=item Requests

C<request> (C<METHOD [URI [HTTP/x.y]]> then the body, which is trimmed and
gets a Content-Length unless the headers give one or say chunked; leading
C<#> comment lines are skipped), C<request eval> (a string; or an arrayref
of requests sent in sequence, one connection each; a request may itself be
an arrayref of packets, strings or C<< {value => ..., delay_before => s} >>,
written separately), C<raw_request> (sent verbatim; eval arrayref =
packets), C<raw_request_middle_delay>, C<pipelined_requests eval> (one
connection, C<Connection: keep-alive> except the last), C<more_headers>
(C<K: V> lines; eval arrayref = per request), C<timeout> (C<3>, C<2s>,
C<500ms>), C<abort> (a client timeout is not a failure), C<shutdown>
(shut the socket's write side after sending), C<ignore_response>.

C<Host: localhost> and C<Connection: close> are added unless given.

=item Response checks (per request; eval arrayref = one entry per request)

C<error_code> (default 200, always checked), C<error_code_like>,
C<response_body> (exact; a C<qr//> from eval means like),
C<response_body_like>, C<response_body_unlike> (regex, C</s>),
C<response_headers> (C<K: V> exact, C<!K> absent), C<response_headers_like>
(C<K: regex>, anchored), C<raw_response_headers_like>,
C<raw_response_headers_unlike>.

=item Error log checks

C<error_log>, C<no_error_log> (one substring per line, or eval with
strings / C<qr//> / an arrayref of them), C<grep_error_log> +
C<grep_error_log_out>, C<wait> (sleep before reading the log),
C<shutdown_error_log>, C<no_shutdown_error_log> (checked on the log lines
written while nginx stops, right after the block).

As in the real runner, the log is checked after every request of the
block: after request I<k> the "slice" is the lines written since the
previous check (the first slice also holds nginx's start-up lines), so an
C<error_log> pattern of a block with I<n> requests must appear in each of
the I<n> slices and counts I<n> tests. C<check_accum_error_log()> makes
every slice start at the block's start.

=item Ignored, accepted for compatibility

C<no_check_leak>, C<curl>, C<ONLY>/C<SKIP>/C<LAST> (handled by Test::Base).

=back

=head2 Checks added by this runner (stricter than the real one)

These produce a failing test (the real runner only warns, or ignores):

=over

=item * an C<[alert]>, C<[crit]> or C<[emerg]> line in a slice, unless the
block's C<error_log>/C<no_error_log> mentions C<[alert>/C<[crit>/C<[emerg>
(the same exemption rule as the real runner's warning);

=item * a line matching C<AddressSanitizer>, C<LeakSanitizer>,
C<runtime error:>, C<Assertion ... failed> or
C<worker process N exited on signal>, in any slice or in the lines
written while nginx stops;

=item * C<[alert]>/C<[crit]>/C<[emerg]> lines written while nginx stops
(e.g. "open socket left in connection"), unless the block's
C<shutdown_error_log> mentions them;

=item * nginx dying during a block, nginx not exiting within
C<TEST_NGINX_QUIT_TIMEOUT> (default 10 s) after SIGQUIT (then SIGKILL),
nginx failing to start (a failing test, where the real runner bails out
of the whole run), valgrind reporting anything (under
C<TEST_NGINX_USE_VALGRIND>; reports go to C<logs/valgrind.PID.log>).

=back

None of them adds a test when all is well, so plans are unaffected.

=head2 Test counts (for C<plan tests =E<gt> ...>)

Same as the real runner for passing blocks. Per request: 1 status test,
+1 C<response_body> or C<response_body_like> or C<_unlike> (the first
defined, in that order), +1 per distinct C<response_headers> key (or, when
that is absent, per C<response_headers_like> key), +1 each for
C<raw_response_headers_like> / C<_unlike>. Per error-log check (one per
request, see above): +1 per C<error_log> pattern, +1 per C<no_error_log>
pattern, +1 for C<grep_error_log>. Per block (not repeated):
+1 per C<shutdown_error_log> / C<no_shutdown_error_log> pattern.
Everything per block is multiplied by C<repeat_each>.

Differences: the real runner checks C<no_shutdown_error_log> only when
C<shutdown_error_log> is also present (we always check it), and skips the
shutdown checks when it reuses nginx for the next block (we stop nginx after
a block that has them). A C<no_error_log> pattern that matches gives one
failing test here (one per matching line there). Prefer C<'no_plan'>.

=head2 Environment

C<TEST_NGINX_BINARY> (nginx), C<TEST_NGINX_PORT>/C<TEST_NGINX_SERVER_PORT>
(1984), C<TEST_NGINX_CLIENT_PORT>, C<TEST_NGINX_SERVROOT> (t/servroot),
C<TEST_NGINX_LOG_LEVEL> (debug), C<TEST_NGINX_MASTER_PROCESS> (off),
C<TEST_NGINX_NO_SHUFFLE>, C<TEST_NGINX_USE_HUP>,
C<TEST_NGINX_FORCE_RESTART_ON_TEST> (1), C<TEST_NGINX_NO_CLEAN>,
C<TEST_NGINX_SLEEP> (0.015), C<TEST_NGINX_TIMEOUT> (3),
C<TEST_NGINX_LOAD_MODULES>, C<TEST_NGINX_USE_VALGRIND>,
C<TEST_NGINX_ERROR_LOG>, C<TEST_NGINX_RANDOMIZE>,
C<TEST_NGINX_WORKER_USER>, C<TEST_NGINX_CHECK_ACCUM_ERR_LOG>,
C<TEST_NGINX_VERBOSE>; ours: C<TEST_NGINX_QUIT_TIMEOUT> (10) and
C<EVENTLY_NGINX_ENV> (C<"LD_PRELOAD=... ASAN_OPTIONS=...">: assignments
put in the environment of the nginx we start, and declared with C<env>).

C<$TEST_NGINX_*> is expanded from C<%ENV> in C<main_config>,
C<http_config>, C<config>, C<user_files>, requests, string patterns of
C<error_log>/C<no_error_log>/C<shutdown_error_log>, and expected
C<response_body>/C<response_headers>; an undefined one bails out.

=head2 Other differences from the real runner

Nginx is restarted when the generated nginx.conf differs from the running
one (the real runner compares only the C<config> section) or when
C<TEST_NGINX_FORCE_RESTART_ON_TEST> is true (default); a block without
C<config>, C<http_config> and C<main_config> reuses the running nginx in
both. When nginx is reused, the first slice starts at the block's start
(the real runner re-reads the whole file). Only the nginx this process
started is stopped at the end. HTTP/2, HTTP/3, C<stap>, C<tcp_listen>,
C<udp_listen>, C<must_die>, C<skip_nginx>, C<todo>, C<access_log>,
C<TEST_NGINX_CHECK_LEAK> and benchmarking are not supported.

=cut

our @ResponseBodyChecks;

sub add_response_body_check ($) {
    push @ResponseBodyChecks, shift;
}

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }
    if ($NoLongString) {
        return Test::More::is($got, $expected, $desc);
    }
    return Test::LongString::is_string($got, $expected, $desc);
}

# ---- state of the nginx this process manages ------------------------------

my $Nginx;            # instance hash from start_nginx_instance, or undef
my $PrevConfText;     # nginx.conf text of the running nginx
my $PrevBlock;        # last block run on the running nginx
my $LogPos = 0;       # byte offset of the next slice in error.log
my $BlockLogStart = 0;
our $IsLastBlock;     # TEST_NGINX_NO_CLEAN leaves the last nginx running

sub errlog_file () { "$ServRoot/logs/error.log" }

# ---- entry point --------------------------------------------------------------

sub run_tests () {
    if (!$NoNginxManager && !defined nginx_version()) {
        bail_out("Cannot run the nginx binary \"$NginxBinary\" "
                 . "(set TEST_NGINX_BINARY)");
    }

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks if !$NoShuffle;

    for my $i (0 .. $#blocks) {
        my $block = $blocks[$i];
        for my $hdl (@BlockPreprocessors) {
            $hdl->($block);
        }
        $block->set_value(name => "$0 " . $block->name);
        local $IsLastBlock = $i == $#blocks;
        run_test($block);
    }

    if ($Nginx) {
        if ($NoClean) {
            skip_shutdown_checks($PrevBlock, "TEST_NGINX_NO_CLEAN is set");
            undef $Nginx;    # leave it running
        } else {
            stop_nginx_and_check('end of file');
        }
    }

    Test::Nginx::Util::run_cleanup_handlers();

    if ($Test::Nginx::Util::Randomize && !$NoClean && !$Nginx
        && $ServRoot =~ m{/t/servroot_\d+$} && -d $ServRoot)
    {
        File::Path::remove_tree($ServRoot);
    }
}

END {
    # Safety net (die in the middle of a file): never leave our nginx
    # behind, never emit tests from here.
    if ($Nginx && !$NoClean) {
        local $?;
        stop_nginx_instance($Nginx, 5);
        undef $Nginx;
    }
}

sub run_test ($) {
    my $block = shift;

    return if defined $block->SKIP;

    my $name = $block->name;

    my $ok = eval { run_test_inner($block); 1 };
    if (!$ok) {
        my $err = $@;
        die $err if ref $err;    # e.g. BAIL_OUT internals
        fail("$name - $err");
    }

    $PrevBlock = $block if $Nginx;
}

sub run_test_inner {
    my $block = shift;
    my $name = $block->name;

    my $level = $block->log_level;
    if (defined $level) {
        $level =~ s/^\s+|\s+$//g;
    }
    $level = $LogLevel if !defined $level || $level eq '';

    my $rand_ports = {};
    my %parts;
    for my $sec (qw(config http_config main_config)) {
        my $v = $block->$sec;
        $parts{$sec} = expand_env_in_text($v, $name, $rand_ports)
            if defined $v;
    }
    my $has_conf = grep { defined } values %parts;

    my $running = $Nginx && nginx_alive($Nginx->{pid});
    if ($Nginx && !$running) {
        # died outside any block (already reported) - forget it
        undef $Nginx;
    }

    my $conf_text;
    if ($has_conf || !defined $PrevConfText) {
        $conf_text = build_nginx_conf(
            root        => $ServRoot,
            port        => $ServerPort,
            log_level   => $level,
            main_config => $parts{main_config},
            http_config => $parts{http_config},
            config      => $parts{config},
            daemon      => $UseValgrind ? 'off' : 'on',
            hup_version => $UseHup ? '@@HUP_VERSION@@' : undef,
        );
    } else {
        $conf_text = $PrevConfText;
    }

    my $restart;
    if ($NoNginxManager) {
        $restart = 0;
    } elsif (!$running) {
        $restart = 1;
    } elsif (!$has_conf) {
        $restart = 0;    # the real runner reuses nginx for such blocks
    } elsif ($ForceRestartOnTest || $conf_text ne $PrevConfText) {
        $restart = 1;
    } else {
        $restart = 0;
    }

    if ($restart && $running && $UseHup) {
        reload_nginx($block, $conf_text, $rand_ports) or return;

    } elsif ($restart) {
        if ($Nginx) {
            stop_nginx_and_check("restart before $name");
        } else {
            stop_stale_nginx($name);
        }

        setup_server_root($ServRoot);
        write_user_files($block, $rand_ports);
        write_conf_file($conf_text);

        my ($inst, $err) = start_nginx_instance(
            root     => $ServRoot,
            port     => $ServerPort,
            valgrind => $UseValgrind,
            name     => $name,
        );
        if (!$inst) {
            undef $PrevConfText;
            fail("$name - failed to start nginx: $err");
            return;
        }
        $Nginx = $inst;
        $PrevConfText = $conf_text;
        $LogPos = 0;    # the first slice holds the start-up lines

    } else {
        write_user_files($block, $rand_ports) if defined $block->user_files;
        $LogPos = log_size(errlog_file());
    }

    $BlockLogStart = $LogPos;

    if (defined(my $init = $block->init)) {
        my $err = Test::Nginx::Util::eval_init_code($init);
        if ($err) {
            fail("$name - init failed: $err");
            return;
        }
    }

    for my $rep (0 .. $RepeatEach - 1) {
        write_user_files($block, $rand_ports) if $rep > 0;
        my $ok = eval { run_test_helper($block, $rep); 1 };
        if (!$ok) {
            my $err = $@;
            die $err if ref $err;
            fail("$name - $err");
        }
    }

    if (my $total = $TotalErrLog) {
        if (open my $out, '>>', $total) {
            my ($lines) = read_log_lines(errlog_file(), $BlockLogStart);
            print $out "\n=== $name\n", @$lines;
            close $out;
        }
    }

    if (!$NoNginxManager && $Nginx && !nginx_alive($Nginx->{pid})) {
        my ($lines) = read_log_lines(errlog_file(), $LogPos);
        my @bad = grep { trouble_line($_) || /\[(?:alert|crit|emerg)\]/ }
                  @$lines;
        fail("$name - nginx (pid $Nginx->{pid}) exited during the block"
             . (@bad ? ":\n" . join('', @bad[0 .. min($#bad, 9)]) : ''));
        my $child = $Nginx->{child};
        waitpid($child, 0) if $child;
        undef $Nginx;
        undef $PrevConfText;
        return;
    }

    $PrevBlock = $block;

    if ($Nginx && ($UseValgrind || defined $block->shutdown_error_log
                   || defined $block->no_shutdown_error_log))
    {
        # with TEST_NGINX_NO_CLEAN the last nginx stays up (its shutdown
        # checks are skipped at the end of the file)
        if (!($NoClean && $IsLastBlock && !$UseValgrind)) {
            stop_nginx_and_check("after $name");
        }
    }
}

# An nginx left running in our server root (TEST_NGINX_NO_CLEAN, or a run
# that was killed): stop it, as the real runner does, before wiping the
# server root.  Only when the pid is an nginx process.
sub stop_stale_nginx {
    my $name = shift;
    my $pid = Evently::Nginx::read_pid_file("$ServRoot/logs/nginx.pid");
    return if !$pid || !nginx_alive($pid);
    open my $fh, '<', "/proc/$pid/cmdline" or return;
    my $cmd = <$fh> // '';
    close $fh;
    return if $cmd !~ /nginx/;
    my ($ok, $msg) = stop_nginx_instance({ pid => $pid, root => $ServRoot });
    warn "$name - stopping the nginx left in $ServRoot: $msg\n" if !$ok;
}

sub write_conf_file {
    my $text = shift;
    my $file = "$ServRoot/conf/nginx.conf";
    open my $out, '>', $file or die "cannot write $file: $!\n";
    print $out $text;
    close $out;
}

# TEST_NGINX_USE_HUP: rewrite the conf and send HUP, then poll the
# "Test-Nginx" server's /ver location until it answers the new version.
sub reload_nginx {
    my ($block, $conf_text, $rand_ports) = @_;
    my $name = $block->name;
    my $ver = join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 12;
    (my $text = $conf_text) =~ s/\@\@HUP_VERSION\@\@/$ver/g;

    setup_server_root($ServRoot, keep_logs => 1);
    write_user_files($block, $rand_ports);
    write_conf_file($text);
    $LogPos = log_size(errlog_file());

    kill 'HUP', $Nginx->{pid};
    my $deadline = time + 10;
    my $got = '';
    my $nsucc = 0;
    for (1 .. 2000) {
        $got = fetch_hup_version() // '';
        if ($got eq $ver) {
            # 10 answers in a row from the new configuration, then wait
            # for the old workers to be gone (they may still accept)
            if (++$nsucc >= 10) {
                wait_old_workers_gone($Nginx->{pid}, $deadline);
                $PrevConfText = $conf_text;
                $LogPos = log_size(errlog_file());
                return 1;
            }
            next;
        }
        $nsucc = 0;
        last if time > $deadline;
        sleep 0.02;
    }
    fail("$name - nginx did not reload its configuration within 10 s "
         . "(version \"$got\", expected \"$ver\")");
    undef $PrevConfText;
    return 0;
}

# Poll /proc until no child of the master is "shutting down" (bounded).
sub wait_old_workers_gone {
    my ($master, $deadline) = @_;
    for (1 .. 1000) {
        my $old = 0;
        opendir my $dh, '/proc' or return;
        for my $pid (grep { /^\d+$/ } readdir $dh) {
            open my $st, '<', "/proc/$pid/stat" or next;
            my $stat = <$st> // '';
            close $st;
            next if $stat !~ /^\d+ \(.*\) \S (\d+) /s || $1 != $master;
            open my $cl, '<', "/proc/$pid/cmdline" or next;
            my $cmd = <$cl> // '';
            close $cl;
            $old++ if $cmd =~ /shutting down/;
        }
        closedir $dh;
        return if !$old;
        return if time > $deadline;
        sleep 0.02;
    }
}

sub fetch_hup_version {
    my $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr,
                                     PeerPort => $ServerPort,
                                     Proto => 'tcp', Timeout => 1)
        or return undef;
    print $sock "GET /ver HTTP/1.0\r\nHost: Test-Nginx\r\n\r\n";
    my $resp = '';
    my $sel = IO::Select->new($sock);
    my $deadline = time + 2;
    for (1 .. 1000) {
        last if time > $deadline;
        next if !$sel->can_read(0.2);
        my $n = sysread $sock, my $buf, 4096;
        last if !$n;
        $resp .= $buf;
    }
    close $sock;
    return $resp =~ /\r\n\r\n(.*)\z/s ? $1 : undef;
}

# Stop the running nginx, then check the lines it wrote since the last
# slice: the previous block's shutdown_error_log / no_shutdown_error_log,
# and our always-on checks.
sub stop_nginx_and_check {
    my $why = shift;
    return if !$Nginx;

    my $block = $PrevBlock;
    my $name = $block ? $block->name : "$0 ($why)";

    my ($ok, $msg) = stop_nginx_instance($Nginx);
    my $root = $Nginx->{root};
    undef $Nginx;
    undef $PrevConfText;

    fail("$name - $msg") if !$ok;

    my ($lines, $pos) = read_log_lines(errlog_file(), $LogPos);
    $LogPos = $pos;

    if ($block) {
        check_shutdown_error_log($block, $lines);
    }

    my $pats = $block ? $block->shutdown_error_log : undef;
    extra_log_checks($name, $lines, [$pats], 'while nginx stopped');

    # what nginx (or a sanitizer) printed before its error log was open
    my ($errs) = read_log_lines("$root/logs/nginx.stderr", 0);
    my @trouble = grep { trouble_line($_) } @$errs;
    if (@trouble) {
        fail("$name - sanitizer/assertion report in logs/nginx.stderr:\n"
             . join('', @trouble[0 .. min($#trouble, 19)]));
    }

    if ($UseValgrind) {
        for my $f (sort glob("$root/logs/valgrind.*.log")) {
            next if !-s $f;
            open my $in, '<', $f or next;
            my @vg = <$in>;
            close $in;
            splice @vg, 60 if @vg > 60;
            fail("$name - valgrind reported problems ($f):\n" . join '', @vg);
        }
    }
}

sub skip_shutdown_checks {
    my ($block, $why) = @_;
    return if !$block;
    my $n = 0;
    for my $sec (qw(shutdown_error_log no_shutdown_error_log)) {
        my $v = $block->$sec;
        $n += scalar @{ normalize_patterns($v, $block->name) } if defined $v;
    }
    SKIP: {
        skip($block->name . " - shutdown_error_log - $why", $n) if $n;
    }
}

# ---- user files -------------------------------------------------------------------

sub write_user_files {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my $files = $block->user_files;
    return if !$files;

    if (!ref $files) {
        my @list;
        my ($fname, $body, $date);
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @list, [$fname, $body, $date] if defined $fname;
                ($fname, $date, $body) = ($1, $2, undef);
            } else {
                $body .= $line;
            }
        }
        push @list, [$fname, $body, $date] if defined $fname;
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        die "wrong user_files value type: " . ref($files) . "\n";
    }

    for my $file (@$files) {
        my ($fname, $body, $date) = @$file;
        $body = '' if !defined $body;
        my $path = $fname =~ m{^/} ? $fname : "$ServRoot/html/$fname";
        if ($path =~ m{^(.*)/}) {
            my $dir = $1;
            if (!-d $dir) {
                File::Path::make_path($dir)
                    or die "cannot create directory $dir\n";
            }
        }
        $body = expand_env_in_text($body, $name, $rand_ports);
        open my $out, '>', $path or die "cannot write $path: $!\n";
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            system('touch', '-d', $date, $path) == 0
                or die "cannot set the date of $path to $date\n";
        }
    }
}

# ---- requests ----------------------------------------------------------------------

sub parse_more_headers {
    my $in = shift;
    my ($out, $is_chunked) = ('', 0);
    for my $header (split /\n+/, $in // '') {
        next if $header =~ /^\s*\#/;
        next if $header !~ /\S/;
        my ($key, $val) = split /:\s*/, $header, 2;
        $val = '' if !defined $val;
        $val =~ s/\r$//;
        $is_chunked = 1
            if lc($key) eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $is_chunked);
}

# Turn the packets (strings) of one request written in the .t file into the
# packets actually sent: normalised request line, added headers, trimmed
# body with Content-Length.  Packet boundaries are mapped onto the new text
# so that split writes still split at the "same" places.
sub build_request_packets {
    my ($name, $more, $is_chunked, $conn, $vals) = @_;

    my $s = join '', @$vals;
    my $nl = index $s, "\n";
    my $first_len = $nl < 0 ? length $s : $nl + 1;
    my $first = substr $s, 0, $first_len;
    my $content = substr $s, $first_len;

    if ($first !~ /^(\s*)(\S+)( *)(?:(\S+)( *))?(?:(\S+)( *))?(\s*)$/) {
        die "Request line is not valid. Should be 'meth [url [version]]' "
            . "but got \"$first\".\n";
    }
    my @tok = ([$-[2], $+[2]],
               defined $4 ? [$-[4], $+[4]] : undef,
               defined $6 ? [$-[6], $+[6]] : undef);
    my ($meth, $url, $ver) = ($2, $4 // '/', $6 // 'HTTP/1.1');

    my $line = "$meth $url $ver\r\n";
    my $u0 = length($meth) + 1;
    my $v0 = $u0 + length($url) + 1;
    my @newtok = ([0, length $meth], [$u0, $u0 + length $url],
                  [$v0, $v0 + length $ver]);

    my $body = $content;
    my ($trimmed, $lw) = (0, 0);
    my $cl = '';
    if (!$is_chunked && $content ne ''
        && $more !~ /(?:^|\n)Content-Length:/i)
    {
        $body =~ s/^(\s*)//;
        $lw = length $1;
        $body =~ s/\s+\z//;
        $trimmed = 1;
        $cl = "Content-Length: " . length($body) . "\r\n";
    }

    $more =~ s/(?<!\r)\n/\r\n/g;
    my $hdrs = '';
    $hdrs .= "Host: $ServerName\r\n" if $more !~ /(?:^|\n)Host:/i;
    $hdrs .= "Connection: $conn\r\n" if $more !~ /(?:^|\n)Connection/i;
    my $head = $line . $hdrs . $more . $cl . "\r\n";
    my $out = $head . $body;

    return [$out] if @$vals <= 1;

    my $map = sub {
        my $b = shift;
        if ($b >= $first_len) {
            my $off = $b - $first_len - ($trimmed ? $lw : 0);
            $off = 0 if $off < 0;
            $off = length $body if $off > length $body;
            return length($head) + $off;
        }
        my $pos = 0;
        for my $k (0 .. 2) {
            next if !defined $tok[$k];
            return $newtok[$k][0] if $b < $tok[$k][0];
            return $newtok[$k][0] + $b - $tok[$k][0] if $b <= $tok[$k][1];
            $pos = $newtok[$k][1];
        }
        return $pos;
    };

    my @packets;
    my ($acc, $prev) = (0, 0);
    for my $i (0 .. $#$vals - 1) {
        $acc += length $vals->[$i];
        my $b = $map->($acc);
        $b = $prev if $b < $prev;
        push @packets, substr($out, $prev, $b - $prev);
        $prev = $b;
    }
    push @packets, substr($out, $prev);
    return \@packets;
}

sub more_headers_for {
    my ($more, $i) = @_;
    if (ref $more eq 'ARRAY') {
        my $h = $more->[$i];
        die "--- more_headers lacks data for request $i\n" if !defined $h;
        return parse_more_headers($h);
    }
    return parse_more_headers($more);
}

# Returns an arrayref of requests; each request is an arrayref of packets
# {value => ..., delay_before => ...}.
sub get_req_from_block {
    my $block = shift;
    my $name = $block->name;
    my @reqs;
    my $rand = {};
    my $expand = sub { expand_env_in_text($_[0], $name, $rand) };

    if (defined(my $raw = $block->raw_request)) {
        if (ref $raw eq 'ARRAY') {
            push @reqs, [map { { value => ref $_ ? $_->{value} : $_,
                                 (ref $_ ? %$_ : ()) } } @$raw];
        } else {
            push @reqs, [{ value => $raw }];
        }
        return \@reqs;
    }

    my $more = $block->more_headers // '';

    if (defined(my $pipe = $block->pipelined_requests)) {
        die "invalid entries in --- pipelined_requests (need an eval "
            . "arrayref)\n" if ref $pipe ne 'ARRAY';
        my $all = '';
        for my $i (0 .. $#$pipe) {
            my ($hdr, $chunked) = more_headers_for($more, $i);
            my $conn = $i == $#$pipe ? 'close' : 'keep-alive';
            my $r = build_request_packets($name, $hdr, $chunked, $conn,
                                          [$expand->($pipe->[$i])]);
            $all .= $r->[0];
        }
        return [[{ value => $all }]];
    }

    my $request = $block->request;
    die "request empty (no --- request, raw_request or "
        . "pipelined_requests)\n" if !defined $request;

    if (!ref $request) {
        # skip leading comment lines and white space
        for (1 .. 1000) {
            last if $request !~ s/^\s*\#[^\n]+\s+|^\s+//s;
        }
        $request = [$request];
    } elsif (ref $request ne 'ARRAY') {
        die "invalid --- request: MUST be a string or an array of "
            . "requests\n";
    }

    for my $i (0 .. $#$request) {
        my $one = $request->[$i];
        my ($hdr, $chunked) = more_headers_for($more, $i);
        if (!ref $one) {
            my $r = build_request_packets($name, $hdr, $chunked, 'close',
                                          [$expand->($one)]);
            push @reqs, [{ value => $r->[0] }];
        } elsif (ref $one eq 'ARRAY') {
            my @vals;
            for my $p (@$one) {
                if (!ref $p) {
                    push @vals, $expand->($p);
                } elsif (ref $p eq 'HASH') {
                    push @vals, $expand->($p->{value} // '');
                } else {
                    die "invalid packet $p: a string or a hash with value\n";
                }
            }
            my $r = build_request_packets($name, $hdr, $chunked, 'close',
                                          \@vals);
            my @packets;
            for my $j (0 .. $#$r) {
                my $orig = $one->[$j];
                push @packets, { (ref $orig ? %$orig : ()),
                                 value => $r->[$j] };
            }
            push @reqs, \@packets;
        } else {
            die "invalid request $one: a string or an array of packets\n";
        }
    }
    return \@reqs;
}

# Send one request (packets) on a new connection and read until the server
# closes it.  The timeout is an inactivity timeout (as in the real runner),
# with an absolute cap of max(30 s, 10 x timeout).
# Returns ($raw_response, $is_head_request).
sub send_request {
    my ($packets, $middle_delay, $timeout, $block) = @_;
    my $name = $block->name;

    my $all = join '', map { $_->{value} // '' } @$packets;
    my $head_req = $all =~ /^\s*HEAD\s+/ ? 1 : 0;

    my $sock;
    my $err = '';
    for my $try (1 .. 25) {
        $sock = IO::Socket::INET->new(
            PeerAddr => $ServerAddr,
            PeerPort => $ServerPortForClient,
            Proto    => 'tcp',
            Timeout  => $timeout,
        );
        last if $sock;
        $err = $!;
        sleep min(0.02 * $try, 0.5);
    }
    if (!$sock) {
        fail("$name - Can't connect to $ServerAddr:$ServerPortForClient: "
             . "$err (aborted)");
        return (undef, $head_req);
    }
    $sock->blocking(0);

    my @bits = @$packets;
    my $wbuf = (shift @bits)->{value} // '';
    my $woff = 0;
    my $writing = 1;
    my $resp = '';
    my $timed_out = 0;
    my $hard_deadline = time + max(30, 10 * $timeout);
    my $rsel = IO::Select->new($sock);
    my $wsel = IO::Select->new($sock);

    for (1 .. 10_000_000) {
        $! = 0;
        my ($r, $w) = IO::Select->select($rsel, $writing ? $wsel : undef,
                                         undef, $timeout);
        if (!$r && !$w) {
            next if $! == EINTR && time < $hard_deadline;
            $timed_out = 1;
            last;
        }

        if ($writing && $w && @$w) {
            # write as much as we can; move to the next packet (after its
            # delay) once this one is out
            for (1 .. 100_000) {
                my $rest = length($wbuf) - $woff;
                if ($rest > 0) {
                    my $n = syswrite $sock, $wbuf, $rest, $woff;
                    if (!defined $n) {
                        last if $! == EAGAIN || $! == EWOULDBLOCK;
                        warn "WARNING: $name - write failed: $!\n";
                        $writing = 0;
                        last;
                    }
                    $woff += $n;
                    next;
                }
                my $next = shift @bits;
                if (!defined $next) {
                    $writing = 0;
                    my $shutdown = $block->shutdown;
                    if (defined $shutdown) {
                        $shutdown = 1 if $shutdown !~ /\d/;
                        shutdown $sock, $shutdown + 0;
                    }
                    last;
                }
                my $delay = $next->{delay_before} // $middle_delay;
                sleep parse_time($delay) if $delay;
                ($wbuf, $woff) = ($next->{value} // '', 0);
            }
        }

        if ($r && @$r) {
            my $eof = 0;
            for (1 .. 100_000) {
                my $n = sysread $sock, my $buf, 65536;
                if (!defined $n) {
                    last if $! == EAGAIN || $! == EWOULDBLOCK;
                    # e.g. ECONNRESET: keep what we have
                    warn "WARNING: $name - HTTP response read failure: $!\n"
                        if $resp eq '';
                    $eof = 1;
                    last;
                }
                if ($n == 0) {
                    $eof = 1;
                    last;
                }
                $resp .= $buf;
            }
            last if $eof;
        }

        if (time > $hard_deadline) {
            $timed_out = 1;
            last;
        }
    }
    close $sock;

    if ($timed_out && !defined $block->abort) {
        fail("ERROR: client socket timed out - $name");
    }
    return ($resp, $head_req);
}

# Parse one response off the front of $raw.
# Returns ($res, $raw_headers, $left).
sub parse_response {
    my ($name, $raw, $head_req, $quiet) = @_;

    my $raw_headers = '';
    $raw_headers = $1 if $raw =~ /^(.*?\r\n)\r\n/s;

    my $res = HTTP::Response->parse($raw);
    my $code = $res->code;
    if (defined $code && $code !~ /^\d{3}$/) {
        undef $code;
        $res->code(undef);
    }

    my $left;
    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');

    if ($head_req || (defined $code
                      && ($code == 304 || $code == 204 || $code < 200)))
    {
        $left = $res->content;
        $left = undef if defined $left && $left eq '';
        $res->content('');

    } elsif (defined $enc && $enc =~ /\bchunked\b/i) {
        my $body = $res->content // '';
        my $decoded = '';
        my $error;
        pos($body) = 0;
        for (1 .. 10_000_000) {
            if ($body =~ /\G[ \t]*([0-9A-Fa-f]+)[^\r\n]*\r\n/gc) {
                my $size = hex $1;
                if ($size == 0) {
                    # trailers, then the final CRLF
                    for (1 .. 1000) {
                        last if $body =~ /\G\r\n/gc;
                        if ($body !~ /\G[^\r\n]+\r\n/gc) {
                            $error = "no end of the chunked body";
                            last;
                        }
                    }
                    last;
                }
                if (length($body) - pos($body) < $size) {
                    $error = "invalid chunked data received (not enough "
                             . "octets for the data section)";
                    last;
                }
                $decoded .= substr $body, pos($body), $size;
                pos($body) = pos($body) + $size;
                if ($body !~ /\G\r\n/gc) {
                    $error = "invalid chunked data received (expected CRLF)";
                    last;
                }
            } elsif ($body =~ /\G(.+)/gcs) {
                $error = "invalid chunked body received: $1";
                last;
            } else {
                $error = "no last chunk found - $body";
                last;
            }
        }
        if ($error) {
            fail("$name - $error");
        } else {
            my $p = pos($body) // length $body;
            $left = substr $body, $p if $p < length $body;
        }
        $res->content($decoded);

    } elsif (defined $len && $len =~ /^\d+$/) {
        my $body = $res->content // '';
        if (length $body < $len) {
            warn "WARNING: $name - response body truncated: $len expected, "
                 . "but got " . length($body) . "\n" if !$quiet;
        } elsif (length $body > $len) {
            $left = substr $body, $len;
            $res->content(substr $body, 0, $len);
        }
    }

    return ($res, $raw_headers, $left);
}

# ---- running one block ----------------------------------------------------------

sub run_test_helper {
    my ($block, $rep) = @_;
    my $name = $block->name;

    my $reqs = get_req_from_block($block);

    my $timeout = parse_time($block->timeout);
    $timeout = $Timeout if !defined $timeout || $timeout eq '';

    my $pipe = $block->pipelined_requests;
    my $npipe = ref $pipe eq 'ARRAY' ? scalar @$pipe : 0;
    my $need_array = $npipe ? 1 : @$reqs > 1;
    my $ignore = defined $block->ignore_response;

    my $req_idx = 0;
    for my $i (0 .. $#$reqs) {
        my ($raw, $head_req) = send_request($reqs->[$i],
            scalar $block->raw_request_middle_delay, $timeout, $block);
        $raw = '' if !defined $raw;

        my $count = $npipe || 1;
        for my $j (1 .. $count) {
            if (!$ignore) {
                my ($res, $raw_headers, $left) =
                    parse_response($name, $raw, $head_req,
                                   defined $block->abort);
                if ($npipe) {
                    $raw = $left // '';
                } elsif (defined $left && $left ne '') {
                    (my $l = $left) =~ s/([\0-\037\200-\377])/
                        sprintf('\x{%02x}', ord $1)/eg;
                    warn "WARNING: $name - unexpected extra bytes after "
                         . "last chunk in response: \"$l\"\n";
                }
                check_error_code($block, $res, $req_idx, $need_array);
                check_raw_response_headers($block, $raw_headers, $req_idx,
                                           $need_array);
                check_response_headers($block, $res, $raw_headers,
                                       $req_idx, $need_array);
                check_response_body($block, $res, $req_idx, $rep,
                                    $need_array);
            }

            if ($j < $count || $i < $#$reqs) {
                sleep parse_time($block->wait) if $block->wait;
                check_error_log($block, $rep);
            }
            $req_idx++;
        }
    }

    sleep parse_time($block->wait) if $block->wait;
    check_error_log($block, $rep);
}

# (value or undef, error or undef)
sub get_indexed_value {
    my ($value, $req_idx, $need_array) = @_;
    if (ref $value && ref $value eq 'ARRAY') {
        return ($value->[$req_idx], undef) if $need_array || $req_idx == 0;
        return (undef, "SHOULD NOT HAPPEN: idx != 0 and don't need array");
    }
    if ($need_array) {
        return (undef, "You asked for many requests, the expected "
                       . "results should be arrays as well.");
    }
    return ($value, undef);
}

sub subst_port {
    my ($v, $name) = @_;
    return $v if !defined $v || ref $v;
    $v =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
    $v =~ s/\$ServerPort\b/$ServerPort/g;
    return expand_env_in_text($v, $name);
}

sub check_error_code {
    my ($block, $res, $req_idx, $need_array) = @_;
    my $name = $block->name;
    my $code = ($res && $res->code) || '';

    if (defined $block->error_code_like) {
        my ($val, $err) = get_indexed_value(scalar $block->error_code_like,
                                            $req_idx, $need_array);
        return fail("$name - $err") if $err;
        like($code, qr/$val/sm, "$name - status code ok");

    } elsif (defined $block->error_code) {
        my ($val, $err) = get_indexed_value(scalar $block->error_code,
                                            $req_idx, $need_array);
        return fail("$name - $err") if $err;
        Test::More::is($code, $val, "$name - status code ok");

    } else {
        Test::More::is($code, 200, "$name - status code ok");
    }
}

sub check_raw_response_headers {
    my ($block, $raw_headers, $req_idx, $need_array) = @_;
    my $name = $block->name;
    for my $kind (qw(like unlike)) {
        my $sec = "raw_response_headers_$kind";
        my $v = $block->$sec;
        next if !defined $v;
        my ($pat, $err) = get_indexed_value($v, $req_idx, $need_array);
        if ($err) { fail("$name - $err"); next }
        if ($kind eq 'like') {
            like($raw_headers, qr/$pat/s, "$name - raw resp headers like");
        } else {
            unlike($raw_headers, qr/$pat/s,
                   "$name - raw resp headers unlike");
        }
    }
}

sub check_response_headers {
    my ($block, $res, $raw_headers, $req_idx, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->response_headers) {
        my ($spec, $err) = get_indexed_value(scalar $block->response_headers,
                                             $req_idx, $need_array);
        return fail("$name - $err") if $err;
        for my $kv (@{ parse_headers($spec) }) {
            my ($key, $val) = @$kv;
            if (!defined $val) {
                unlike($raw_headers, qr/^\s*\Q$key\E\s*:/mi,
                       "$name - header $key not present in the raw headers");
                next;
            }
            $val = subst_port($val, $name);
            my $actual = $res ? $res->header($key) : undef;
            $actual = '' if !defined $actual;
            Test::More::is($actual, $val, "$name - header $key ok");
        }

    } elsif (defined $block->response_headers_like) {
        my ($spec, $err) = get_indexed_value(scalar $block->response_headers_like,
                                             $req_idx, $need_array);
        return fail("$name - $err") if $err;
        for my $kv (@{ parse_headers($spec) }) {
            my ($key, $val) = @$kv;
            $val = '' if !defined $val;
            my $actual = $res ? $res->header($key) : undef;
            $actual = '' if !defined $actual;
            like($actual, qr/^$val$/, "$name - header $key like ok");
        }
    }
}

sub check_response_body {
    my ($block, $res, $req_idx, $rep, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;

    if (defined $block->response_body) {
        my ($expected, $err) = get_indexed_value(scalar $block->response_body,
                                                 $req_idx, $need_array);
        return fail("$name - $err") if $err;
        if (ref $expected) {
            like($content, $expected, "$name - response_body - like "
                 . "(repeated req $rep, req $req_idx)");
        } else {
            $expected = subst_port($expected, $name);
            is_str($content, $expected, "$name - response_body - response "
                   . "is expected (repeated req $rep, req $req_idx)");
        }

    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my $kind = defined $block->response_body_like ? 'like' : 'unlike';
        my $sec = "response_body_$kind";
        my ($pat, $err) = get_indexed_value(scalar $block->$sec, $req_idx,
                                            $need_array);
        return fail("$name - $err") if $err;
        $pat = subst_port($pat, $name) if !ref $pat;
        my $summary = $content // '';
        $summary =~ s/\s+/ /g;
        $summary =~ s/^ | $//g;
        $summary = substr($summary, 0, 200) . '...' if length $summary > 200;
        my $re = ref $pat eq 'Regexp' ? $pat : qr/$pat/s;
        if ($kind eq 'like') {
            like($content, $re,
                 "$name - response_body_like - response is expected "
                 . "($summary)");
        } else {
            unlike($content, $re,
                   "$name - response_body_unlike - response is expected "
                   . "($summary)");
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $content, $req_idx, $rep, 0);
    }
}

# ---- error log --------------------------------------------------------------------

sub fmt_str {
    my $s = shift;
    $s = "$s";
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

# section value -> arrayref of patterns (strings or Regexps)
sub normalize_patterns {
    my ($v, $name) = @_;
    my @pats;
    if (!defined $v) {
        return [];
    } elsif (!ref $v) {
        chomp $v;
        @pats = grep { length } split /\n+/, $v;
    } elsif (ref $v eq 'Regexp') {
        @pats = ($v);
    } elsif (ref $v eq 'ARRAY') {
        @pats = grep { defined } @$v;
    } else {
        die "bad pattern list $v\n";
    }
    return [map { ref $_ ? $_ : expand_env_in_text($_, $name) } @pats];
}

sub line_matches {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

# Does one of the patterns mention $needle ("[alert" ...)?  A qr// counts
# when its text does (as in the real runner) or when it matches
# "$needle]" (e.g. qr/\[alert\]/).
sub value_contains {
    my ($vals, $needle) = @_;
    for my $v (@$vals) {
        next if !defined $v;
        if (ref $v eq 'ARRAY') {
            return 1 if value_contains($v, $needle);
        } elsif ("$v" =~ /\Q$needle\E/) {
            return 1;
        } elsif (ref $v eq 'Regexp' && "$needle]" =~ $v) {
            return 1;
        }
    }
    return 0;
}

# The lines of the current slice (advances the slice unless
# check_accum_error_log()).
sub error_log_data {
    sleep $TestNginxSleep * 3;    # log-phase lines come after the response
    my $from = $CheckAccumErrLog ? $BlockLogStart : $LogPos;
    my ($lines, $pos) = read_log_lines(errlog_file(), $from);
    $LogPos = $pos if !$CheckAccumErrLog;
    return $lines;
}

sub check_error_log {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $lines = error_log_data();

    # grep_error_log / grep_error_log_out
    my $grep_pats = $block->grep_error_log;
    if (defined $grep_pats) {
        my $grep_pat = ref $grep_pats eq 'ARRAY' ? $grep_pats->[$rep]
                                                 : $grep_pats;
        my $expected = $block->grep_error_log_out;
        die "No --- grep_error_log_out defined but --- grep_error_log is "
            . "defined\n" if !defined $expected;
        $expected = $expected->[$rep] if ref $expected eq 'ARRAY';
        my $matched = '';
        if (defined $grep_pat) {
            for my $line (@$lines) {
                my $hit;
                if (ref $grep_pat) {
                    $hit = $& if $line =~ $grep_pat;
                } elsif (index($line, $grep_pat) >= 0) {
                    $hit = $grep_pat;
                }
                $matched .= "$hit\n" if defined $hit && $hit !~ /\n/;
            }
        }
        if (ref $expected eq 'Regexp') {
            like($matched, $expected, "$name - grep_error_log_out (req $rep)");
        } else {
            is_str($matched, $expected,
                   "$name - grep_error_log_out (req $rep)");
        }
    } elsif (defined $block->grep_error_log_out) {
        die "No --- grep_error_log defined but --- grep_error_log_out is "
            . "defined\n";
    }

    if (defined $block->error_log) {
        my $pats = normalize_patterns(scalar $block->error_log, $name);
        for my $pat (@$pats) {
            my $found = grep { line_matches($_, $pat) } @$lines;
            my $p = fmt_str($pat);
            if ($found) {
                pass("$name - pattern \"$p\" matches a line in error.log "
                     . "(req $rep)");
            } else {
                fail("$name - pattern \"$p\" should match a line in "
                     . "error.log (req $rep)");
            }
        }
    }

    if (defined $block->no_error_log) {
        my $pats = normalize_patterns(scalar $block->no_error_log, $name);
        for my $pat (@$pats) {
            my @hits = grep { line_matches($_, $pat) } @$lines;
            my $p = fmt_str($pat);
            if (@hits) {
                fail("$name - pattern \"$p\" should not match any line in "
                     . "error.log but matches line \"" . fmt_str($hits[0])
                     . "\" (req $rep)"
                     . (@hits > 1 ? " and " . (@hits - 1) . " more" : ''));
            } else {
                pass("$name - pattern \"$p\" does not match a line in "
                     . "error.log (req $rep)");
            }
        }
    }

    extra_log_checks($name, $lines, [scalar $block->error_log, scalar $block->no_error_log],
                     "req $rep");
}

# Stricter than the real Test::Nginx, which only prints a WARNING for
# [alert]/[crit]/[emerg] lines: here they fail the test, unless one of the
# block's log patterns mentions them ("[alert", "[crit", "[emerg"), the
# same exemption the real runner applies to its warning.  Sanitizer
# reports, failed assertions and crashed workers always fail.
sub extra_log_checks {
    my ($name, $lines, $pattern_values, $where) = @_;
    my @levels = grep { !value_contains($pattern_values, "[$_") }
                 qw(alert crit emerg);
    my $level_re = @levels ? join('|', @levels) : undef;

    my (@bad_level, @trouble);
    for my $line (@$lines) {
        if (trouble_line($line)) {
            push @trouble, $line;
        } elsif (defined $level_re && $line =~ /\[(?:$level_re)\]/) {
            push @bad_level, $line;
        }
    }
    if (@bad_level) {
        fail("$name - unexpected [alert]/[crit]/[emerg] in error.log "
             . "($where; this runner fails on them):\n"
             . join('', @bad_level[0 .. min($#bad_level, 9)]));
    }
    if (@trouble) {
        fail("$name - sanitizer/assertion/crash report in error.log "
             . "($where):\n" . join('', @trouble[0 .. min($#trouble, 19)]));
    }
}

sub check_shutdown_error_log {
    my ($block, $lines) = @_;
    my $name = $block->name;

    if (defined $block->shutdown_error_log) {
        my $pats = normalize_patterns(scalar $block->shutdown_error_log, $name);
        for my $pat (@$pats) {
            my $p = fmt_str($pat);
            if (grep { line_matches($_, $pat) } @$lines) {
                pass("$name - pattern \"$p\" matches a line in error.log");
            } else {
                fail("$name - pattern \"$p\" should match a line in "
                     . "error.log");
            }
        }
    }

    if (defined $block->no_shutdown_error_log) {
        my $pats = normalize_patterns(scalar $block->no_shutdown_error_log, $name);
        for my $pat (@$pats) {
            my $p = fmt_str($pat);
            my @hits = grep { line_matches($_, $pat) } @$lines;
            if (@hits) {
                fail("$name - pattern \"$p\" should not match any line in "
                     . "error.log but matches line \"" . fmt_str($hits[0])
                     . "\"");
            } else {
                pass("$name - pattern \"$p\" does not match a line in "
                     . "error.log");
            }
        }
    }
}

# ---- filters ----------------------------------------------------------------------

package Test::Nginx::Socket::Filter;

# Test::Base looks for "<our class>::Filter" first.  Same filters as
# Test::Base::Filter, except: "eval" dies loudly (block name + error)
# instead of returning the error text as the value, and "env" expands
# $NAME / ${NAME} (upper-case names only, so nginx variables are left
# alone) from %ENV - an Evently extension.

use strict;
use warnings;

BEGIN {
    require Test::Base::Filter;
    our @ISA = ('Test::Base::Filter');
}

sub eval {
    my $self = shift;
    $self->assert_scalar(@_);
    my $code = shift;
    my ($ok, @ret) = Test::Base::Filter::_evently_eval($code);
    if (!$ok) {
        my $block = $self->current_block;
        my $name = $block ? $block->name : '?';
        die "$name - the eval filter failed: $ret[0]"
            . "(variables of the .t file must be written \$::name)\n";
    }
    return @ret;
}

sub env {
    my $self = shift;
    my $block = $self->current_block;
    my $name = $block ? $block->name : '?';
    return map {
        my $s = $_;
        if (defined $s) {
            $s =~ s{\$\{([A-Z_][A-Z0-9_]*)\}|\$([A-Z_][A-Z0-9_]*)}{
                my $var = $1 // $2;
                die "$name - env filter: \$$var is not set\n"
                    if !defined $ENV{$var};
                $ENV{$var};
            }ge;
        }
        $s;
    } @_;
}

package Test::Base::Filter;

use strict;
use warnings;

# Evaluated in package Test::Base::Filter under strict, like the stock
# eval filter.  Returns (1, values) or (0, error).
sub _evently_eval {
    my @r = CORE::eval($_[0]);
    return (0, $@) if $@;
    return (1, @r);
}

package Test::Nginx::Socket;

1;
