package Test::Nginx::Util;

# Settings and helpers of Evently's Test::Nginx-compatible runner (names
# and defaults of the real Test::Nginx::Util).  Process management lives
# in Evently::Nginx, shared with procedural tests.

use strict;
use warnings;

use base 'Exporter';

use Carp qw(croak);
use File::Spec ();
use Time::HiRes qw(sleep time);

use Evently::Nginx qw(setup_server_root start_nginx_instance
                      stop_nginx_instance nginx_alive read_log_lines
                      log_size trouble_line nginx_version
                      nginx_env_assignments gen_rand_port);

our $VERSION = '0.01';

=head1 NAME

Test::Nginx::Util - server management for Evently's Test::Nginx subset

=head1 DESCRIPTION

Used by L<Test::Nginx::Socket>. Reads the C<TEST_NGINX_*> settings (see
L<Test::Nginx::Socket> for the list), holds the functions the C<.t> files
call to change them (C<repeat_each>, C<workers>, C<master_on>, ...), parses
times and header lists, expands C<$TEST_NGINX_*>, and wraps
L<Evently::Nginx> (nginx.conf generation, start, stop, error log slices)
with these settings as defaults.

=cut

our @EXPORT = qw(
    bail_out parse_time parse_headers expand_env_in_text
    repeat_each no_shuffle no_root_location workers master_on master_off
    master_process_enabled log_level env_to_nginx timeout
    worker_connections config_preamble server_name server_addr
    server_port server_port_for_client server_root html_dir
    no_nginx_manager use_hup check_accum_error_log no_long_string
    add_block_preprocessor add_cleanup_handler sleep_time is_running
    $ServerPort $ServerPortForClient $ServRoot $NginxBinary
    $RepeatEach $NoLongString
);

our @EXPORT_OK = qw(
    build_nginx_conf start_nginx_instance stop_nginx_instance
    setup_server_root read_log_lines log_size trouble_line
    nginx_alive nginx_version nginx_env_assignments eval_init_code
    run_cleanup_handlers gen_rand_port
    $LogLevel $UseHup $UseValgrind $NoNginxManager $ForceRestartOnTest
    $NoClean $TotalErrLog $TestNginxSleep $CheckAccumErrLog $Timeout
    $ServerAddr $ServerName $NoShuffle @BlockPreprocessors $QuitTimeout
    $Verbose
);

# ---- settings (names and defaults of the real Test::Nginx::Util) --------

# shared with Evently::Nginx (one variable, two names)
our ($NginxBinary, $LoadModules, $WorkerUser, $QuitTimeout, $Verbose);
*NginxBinary = \$Evently::Nginx::NginxBinary;
*LoadModules = \$Evently::Nginx::LoadModules;
*WorkerUser  = \$Evently::Nginx::WorkerUser;
*QuitTimeout = \$Evently::Nginx::QuitTimeout;
*Verbose     = \$Evently::Nginx::Verbose;

our $Timeout         = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $LogLevel        = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $NoShuffle       = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $UseHup          = $ENV{TEST_NGINX_USE_HUP} || 0;
our $ForceRestartOnTest = defined $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST}
                          ? $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} : 1;
our $NoClean         = $ENV{TEST_NGINX_NO_CLEAN} || 0;
our $TestNginxSleep  = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $UseValgrind     = $ENV{TEST_NGINX_USE_VALGRIND};
our $TotalErrLog     = $ENV{TEST_NGINX_ERROR_LOG};
our $Randomize       = $ENV{TEST_NGINX_RANDOMIZE};
our $NoNginxManager  = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $CheckAccumErrLog = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG} || 0;

# $QuitTimeout (TEST_NGINX_QUIT_TIMEOUT, Evently extension): seconds to wait
# for nginx to exit after SIGQUIT (the real runner waits timeout(), i.e.
# 3 s; our module may flush to Kafka/PostgreSQL on exit, so allow 10).

our $RepeatEach        = 1;
our $Workers           = 1;
our $WorkerConnections = 64;
our $NoRootLocation    = 0;
our $ConfigPreamble    = '';
our $ServerName        = 'localhost';
our $ServerAddr        = '127.0.0.1';
our $NoLongString;
our @EnvToNginx;
our @BlockPreprocessors;
our @CleanupHandlers;

if ($UseHup) {
    $MasterProcessEnabled = 'on';    # reload needs a master
}

our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                  || 1984;

if ($Randomize) {
    srand($$ ^ time);
    my $port = gen_rand_port(1000);
    die "Cannot find an available listening port after 1000 attempts\n"
        if !defined $port;
    $ServerPort = $port;
}

our $ServerPortForClient = $Randomize ? $ServerPort
                         : ($ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort);

our $ServRoot;
if ($Randomize) {
    $ServRoot = File::Spec->rel2abs("t/servroot_$ServerPort");
} else {
    $ServRoot = File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT}
                                    || 't/servroot');
}

# What the real runner exports to the tests (and what $TEST_NGINX_* in
# configs may refer to).
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
$ENV{TEST_NGINX_SERVER_PORT} = $ServerPort
    if $Randomize || !defined $ENV{TEST_NGINX_SERVER_PORT};

# ---- small accessors exported to the .t files ----------------------------

sub repeat_each (@)      { $RepeatEach = shift if @_; $RepeatEach }
sub no_shuffle ()        { $NoShuffle = 1 }
sub no_root_location ()  { $NoRootLocation = 1 }
sub workers (@)          { $Workers = shift if @_; $Workers }
sub master_on ()         { $MasterProcessEnabled = 'on' }
sub master_off ()        { $MasterProcessEnabled = 'off' }
sub log_level (@)        { $LogLevel = shift if @_; $LogLevel }
sub timeout (@)          { $Timeout = shift if @_; $Timeout }
sub worker_connections (@) { $WorkerConnections = shift if @_;
                             $WorkerConnections }
sub config_preamble ($)  { $ConfigPreamble = shift }
sub server_name (@)      { $ServerName = shift if @_; $ServerName }
sub server_addr (@)      { $ServerAddr = shift if @_; $ServerAddr }
sub server_port (@)      { $ServerPort = shift if @_; $ServerPort }
sub server_port_for_client (@) { $ServerPortForClient = shift if @_;
                                 $ServerPortForClient }
sub server_root ()       { $ServRoot }
sub html_dir ()          { "$ServRoot/html" }
sub no_nginx_manager ()  { $NoNginxManager = 1 }
sub use_hup ()           { $UseHup = 1; $MasterProcessEnabled = 'on' }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub no_long_string ()    { $NoLongString = 1 }
sub sleep_time ()        { $TestNginxSleep }

sub master_process_enabled (@) {
    if (@_) {
        $MasterProcessEnabled = shift() ? 'on' : 'off';
    }
    return $MasterProcessEnabled;
}

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" if !@_;
    for my $v (@_) {
        croak "env_to_nginx: bad argument value: $v"
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)    { unshift @CleanupHandlers, shift }

sub bail_out (@) {
    my @msg = @_;
    run_cleanup_handlers();
    require Test::More;
    Test::More::BAIL_OUT(join '', @msg);
}

sub run_cleanup_handlers {
    for my $hdl (@CleanupHandlers) {
        eval { $hdl->(); 1 } or warn "cleanup handler failed: $@";
    }
}

# The --- init section runs here, in package Test::Nginx::Util, like in
# the real runner.  Returns the error, or undef.
sub eval_init_code {
    my $code = shift;
    eval $code;
    return $@ ? $@ : undef;
}

# ---- parsing helpers --------------------------------------------------------

# "3", "3s", "500ms" -> seconds
sub parse_time ($) {
    my $tm = shift;
    return undef if !defined $tm;
    $tm =~ s/^\s+|\s+$//g;
    if ($tm =~ /^([\d.]+)ms$/) {
        return $1 / 1000;
    }
    if ($tm =~ /^([\d.]+)s?$/) {
        return $1 + 0;
    }
    return $tm;
}

# "K: V" lines -> ordered list of [key, value]; "!K" -> [key, undef].
# (The real runner returns a hash; a later line for the same key wins
# there too, which we keep by de-duplicating on the key.)
sub parse_headers ($) {
    my $s = shift;
    my (@order, %val);
    for my $line (split /\n/, $s // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        my ($key, $v);
        if ($line =~ s/^!\s*//) {
            $key = $line;
        } else {
            ($key, $v) = split /\s*:\s*/, $line, 2;
            $v = '' if !defined $v;
        }
        push @order, $key if !exists $val{$key};
        $val{$key} = $v;
    }
    return [map { [$_, $val{$_}] } @order];
}

# Replace $TEST_NGINX_FOO with $ENV{TEST_NGINX_FOO}; an undefined one is
# fatal (like the real runner, which bails out).  $TEST_NGINX_RAND_PORT_N
# becomes a free port, the same one for the same N within one call site
# ($rand_ports shared by the caller).
sub expand_env_in_text ($$;$) {
    my ($text, $name, $rand_ports) = @_;
    return $text if !defined $text || ref $text;
    $rand_ports ||= {};
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $rand_ports->{$var} //= gen_rand_port(1000, {
                $ServerPort => 1, map { $_ => 1 } values %$rand_ports });
            bail_out("$name - no free port found for \$$var")
                if !defined $rand_ports->{$var};
            $val = $rand_ports->{$var};
        } else {
            bail_out("$name - No environment $var defined.\n")
                if !defined $ENV{$var};
            $val = $ENV{$var};
        }
        $val;
    }ge;
    return $text;
}

# ---- nginx processes (see Evently::Nginx) -------------------------------------

sub is_running ($) { nginx_alive(shift) }

# nginx.conf text with this runner's settings as defaults
sub build_nginx_conf {
    my (%o) = @_;
    return Evently::Nginx::build_nginx_conf(
        port               => $ServerPort,
        workers            => $Workers,
        master             => $MasterProcessEnabled,
        log_level          => $LogLevel,
        worker_connections => $WorkerConnections,
        server_name        => $ServerName,
        no_root_location   => $NoRootLocation,
        preamble           => $ConfigPreamble,
        env                => [@EnvToNginx],
        %o,
    );
}

1;
