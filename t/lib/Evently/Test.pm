package Evently::Test;

use strict;
use warnings;

use base 'Exporter';

use Digest::SHA qw(hmac_sha256);
use File::Spec ();
use File::Temp qw(tempdir);
use HTTP::Tiny ();
use IO::Select ();
use IPC::Run ();
use JSON::PP ();
use MIME::Base64 qw(encode_base64url);
use POSIX ();
use Time::HiRes qw(sleep time);

use Evently::Nginx qw(build_nginx_conf setup_server_root
                      start_nginx_instance stop_nginx_instance
                      trouble_line);

our $VERSION = '0.01';

=head1 NAME

Evently::Test - helpers for Evently's tests

=head1 SYNOPSIS

Test::Nginx-style file (works under our runner and the real one; code in
C<eval> sections runs in another package, so qualify the names):

    use Test::Nginx::Socket 'no_plan';
    use Evently::Test;

    evently_defaults();    # http_config/main_config of every block
    no_shuffle();
    run_tests();

    __DATA__

    === TEST 1: ping
    --- init
    Evently::Test::reset_db();
    --- config eval: Evently::Test::server_config()
    --- request
    GET /ping
    --- more_headers eval
    "Authorization: Bearer " . Evently::Test::jwt(sub => "u1", role => "USER")
    --- response_body_like: "pong"

Procedural file:

    use Test::More;
    use Evently::Test;

    my $ng = start_nginx(name => 'race', port => 1990, workers => 2,
                         http_config => http_config(),
                         config => server_config(),
                         main_config => main_config());
    my $res = api(GET => '/ping', port => 1990);
    is $res->{status}, 200;
    ok stop_nginx('race'), 'nginx stopped cleanly';
    no_alerts_ok($ng);
    done_testing;

=head1 ENVIRONMENT

Set by C<scripts/test>; when missing (prove run by hand) these defaults
are put in C<%ENV> when the module loads, so that C<$TEST_NGINX_*> in
configurations expands too: C<TEST_NGINX_EVENTLY_ROOT> (the checkout),
C<TEST_NGINX_PG_CONNINFO> (C<EVENTLY_PG_TEST_CONNINFO>, else host
127.0.0.1 port 5433 dbname evently_test user/password evently),
C<TEST_NGINX_REDIS> (127.0.0.1:6380), C<TEST_NGINX_REDIS_DB> (1),
C<TEST_NGINX_KAFKA_BROKERS> (from C<$EVENTLY_VAR/kafka/bootstrap> when it
exists), C<TEST_NGINX_KAFKA_TOPIC_PREFIX> (evently_test.),
C<TEST_NGINX_JWT_SECRET> (the one of scripts/test).

=head1 FUNCTIONS (all exported)

=over

=item http_config(%opts), main_config(), server_config()

Configuration text. C<http_config> gives the C<evently_*> directives from
the environment and the two C<limit_req_zone>s, after an C<include> of
C<conf/evently-http.conf> (when it exists; C<http_include> gives another
file, C<undef> none); C<%opts> override them:
C<postgres>, C<redis>, C<redis_db>, C<kafka_brokers>,
C<kafka_topic_prefix>, C<jwt_secret>, C<thread_pool>, C<auth_rate>
(e.g. '30r/m'), C<api_rate>; C<undef> drops the directive; C<extra> is raw
text appended; any other key C<k> appends C<evently_k value;>.

=item evently_defaults(%http_opts)

Adds a block preprocessor (our runner or the real one) that gives every
block without them C<http_config(%http_opts)> and C<main_config()>.

=item psql($sql, \%vars), psql_rows($sql, \%vars), sql_quote($s)

Run SQL on the test database (psql -X -A -t -q, ON_ERROR_STOP). C<%vars>
become psql variables: write C<:'name'> in the SQL for a safely quoted
literal. C<psql> returns the trimmed output, C<psql_rows> an arrayref of
rows (arrayrefs; NULL is C<undef>). Both die on error.

=item reset_db(), seed()

C<reset_db> truncates every table of schema C<evently> but
C<schema_migrations> (RESTART IDENTITY CASCADE) and flushes the test Redis
database. C<seed> loads C<sql/seed.sql>.

=item book_seat($event, $seat, $user_id, %opts), hold_in_redis($event, $seat, $ttl)

Fixtures written behind the API's back: C<book_seat> inserts a booking of
one seat (price C<price>, default 100.00; C<cancelled> makes it a
cancelled booking, its seat inactive) and returns the booking id;
C<hold_in_redis> marks a seat held for an event for C<$ttl> seconds
(default 600, negative: already expired) in the key layout of
ngx_http_evently_holds.h.

=item redis(@args)

redis-cli on the test Redis database; returns its output (chomped).

=item jwt(%claims), jwt_for($user), jwt_raw($header_json, $payload_json, $secret)

HS256 tokens signed with C<TEST_NGINX_JWT_SECRET>. C<jwt> defaults:
C<iss> evently, C<type> access, C<iat> now, C<exp> now+900, C<jti>
random; an C<undef> claim is left out. C<jwt_for> adds C<sub>,
C<user_id>, C<email>, C<role> of a user from C<create_user>.

=item create_user(%opts)

Inserts into C<evently.users> (C<first_name>, C<last_name>, C<email>,
C<role> 'USER', C<password_hash> of 'qwerty') and returns
C<{id, email, role, first_name, last_name, password, token}>.

=item api($method, $path, body => ..., token => ..., headers => {...}, port => ..., timeout => ...)

HTTP::Tiny request to 127.0.0.1 (port C<TEST_NGINX_SERVER_PORT> or 1984).
A reference body is sent as JSON. Returns C<{status, headers (lower-case
names), body, json}> (C<json> undef when the body is not JSON).

=item start_nginx(%opts), stop_nginx($name), error_log_text($x), no_alerts_ok($x, $test_name)

An nginx outside the block format: C<name> ('proc'), C<port>, C<servroot>
(default C<$TEST_NGINX_SERVROOT.NAME>), C<http_config>, C<config>,
C<main_config>, C<workers> (1; master on when more), C<master>,
C<worker_connections> (64),
C<log_level>, C<valgrind>. Dies when nginx does not start; returns a
handle. C<stop_nginx> (all when no name) returns true when nginx exited
within the bounded wait after SIGQUIT. C<$x> is a handle, a name or a
server root path. C<no_alerts_ok> fails on C<[alert]>/C<[crit]>/C<[emerg]>
and sanitizer/assertion/crash lines. Instances still running at exit are
stopped.

=item race(n => 500, run => sub { my ($i) = @_; ... }, timeout => 60)

Forks C<n> children (at most 2000), releases them together (pipe
barrier), each runs C<run($i)> and reports what it returns (a string or
any JSON-encodable value; "DIED: ..." when it dies). Returns an arrayref
indexed by C<$i> (C<undef> for children killed at the timeout).

=item wait_until(sub { ... }, timeout => 10, interval => 0.1)

Polls until the sub returns true (returns its value) or the time is up
(returns false).

=item kafka_consume($topic, n => ..., w => idle_ms, T => total_ms), kafka_topic($short)

Runs C<kafka-consume> (C<EVENTLY_KAFKA_CONSUME>, else
C<build/kafka-consume>) on the test brokers; returns a list of
C<[key, value]>. C<kafka_topic> prefixes C<TEST_NGINX_KAFKA_TOPIC_PREFIX>.

=back

=cut

our @EXPORT = qw(
    http_config main_config server_config evently_defaults
    psql psql_rows sql_quote reset_db seed redis book_seat hold_in_redis
    jwt jwt_for jwt_raw create_user api
    start_nginx stop_nginx error_log_text no_alerts_ok
    race wait_until kafka_consume kafka_topic
);

our $PasswordHash =
    '$2b$10$a8fwyE4F7NDYEZJtZ5H1OOCwfBwnlhgqxf589PnzDw8KQHdhDqNnW';
our $Password = 'qwerty';
our $MaxRace = 2000;

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

# ---- environment defaults ------------------------------------------------------

sub _root {
    my $pm = File::Spec->rel2abs(__FILE__);    # <root>/t/lib/Evently/Test.pm
    (my $root = $pm) =~ s{/t/lib/Evently/Test\.pm$}{};
    return $root;
}

sub _set_env_defaults {
    my $root = _root();
    $ENV{TEST_NGINX_EVENTLY_ROOT} //= $ENV{EVENTLY_ROOT} // $root;
    $ENV{TEST_NGINX_PG_CONNINFO} //= $ENV{EVENTLY_PG_TEST_CONNINFO}
        // 'host=127.0.0.1 port=' . ($ENV{EVENTLY_PG_PORT} // 5433)
           . ' dbname=' . ($ENV{EVENTLY_PG_TEST_DB} // 'evently_test')
           . ' user=' . ($ENV{EVENTLY_PG_USER} // 'evently')
           . ' password=' . ($ENV{EVENTLY_PG_PASSWORD} // 'evently');
    $ENV{TEST_NGINX_REDIS} //= '127.0.0.1:'
                               . ($ENV{EVENTLY_REDIS_PORT} // 6380);
    $ENV{TEST_NGINX_REDIS_DB} //= 1;
    if (!defined $ENV{TEST_NGINX_KAFKA_BROKERS}) {
        my $var = $ENV{EVENTLY_VAR} // "$root/var";
        my $file = $ENV{EVENTLY_KAFKA_BOOTSTRAP_FILE}
                   // "$var/kafka/bootstrap";
        if (open my $in, '<', $file) {
            my $b = <$in>;
            close $in;
            if (defined $b) {
                $b =~ s/\s+//g;
                $ENV{TEST_NGINX_KAFKA_BROKERS} = $b if $b ne '';
            }
        }
    }
    $ENV{TEST_NGINX_KAFKA_TOPIC_PREFIX} //= 'evently_test.';
    $ENV{TEST_NGINX_JWT_SECRET} //=
        'evently-test-secret-0123456789abcdef0123456789abcdef';
}

_set_env_defaults();

sub _env {
    my $name = shift;
    my $v = $ENV{$name};
    die "Evently::Test: \$$name is not set (run the tests with "
        . "scripts/test, or set it)\n" if !defined $v || $v eq '';
    return $v;
}

# ---- configuration text ------------------------------------------------------

sub _nginx_quote {
    my $s = shift;
    $s =~ s/(["\\])/\\$1/g;
    return qq{"$s"};
}

my @HttpKeys = qw(postgres redis redis_db kafka_brokers kafka_topic_prefix
                  jwt_secret thread_pool auth_rate api_rate);

sub http_config {
    my (%o) = @_;
    my %dir = (
        postgres => sub { 'evently_postgres ' . _nginx_quote(shift) },
        redis => sub { 'evently_redis ' . shift },
        redis_db => sub { 'evently_redis_db ' . shift },
        kafka_brokers => sub { 'evently_kafka_brokers ' . _nginx_quote(shift) },
        kafka_topic_prefix => sub { 'evently_kafka_topic_prefix ' . shift },
        jwt_secret => sub { 'evently_jwt_secret ' . _nginx_quote(shift) },
        thread_pool => sub { 'evently_thread_pool ' . shift },
        auth_rate => sub {
            'limit_req_zone $binary_remote_addr zone=evently_auth:1m rate='
            . shift },
        api_rate => sub {
            'limit_req_zone $binary_remote_addr zone=evently_api:1m rate='
            . shift },
    );
    my %default = (
        postgres => sub { _env('TEST_NGINX_PG_CONNINFO') },
        redis => sub { _env('TEST_NGINX_REDIS') },
        redis_db => sub { _env('TEST_NGINX_REDIS_DB') },
        kafka_brokers => sub { _env('TEST_NGINX_KAFKA_BROKERS') },
        kafka_topic_prefix => sub { _env('TEST_NGINX_KAFKA_TOPIC_PREFIX') },
        jwt_secret => sub { _env('TEST_NGINX_JWT_SECRET') },
        thread_pool => sub { 'evently' },
        auth_rate => sub { '6000r/m' },
        api_rate => sub { '100000r/s' },
    );

    my $text = '';
    my $inc = exists $o{http_include}
              ? $o{http_include}
              : _env('TEST_NGINX_EVENTLY_ROOT') . '/conf/evently-http.conf';
    $text .= "    include $inc;\n" if defined $inc && -f $inc;
    for my $k (@HttpKeys) {
        my $v = exists $o{$k} ? $o{$k} : $default{$k}->();
        next if !defined $v;
        $text .= '    ' . $dir{$k}->($v) . ";\n";
    }
    # the API documentation, once docs/ has it (the directive reads both)
    my $docs = _env('TEST_NGINX_EVENTLY_ROOT') . '/docs';
    $text .= "    evently_docs $docs;\n"
        if !exists $o{docs} && -f "$docs/openapi.yaml" && -f "$docs/index.html";
    for my $k (sort keys %o) {
        next if $dir{$k} || $k eq 'extra' || $k eq 'http_include'
                || !defined $o{$k};
        $text .= "    evently_$k $o{$k};\n";
    }
    if (defined $o{extra}) {
        for my $line (split /\n/, $o{extra}) {
            $line =~ s/^\s+//;
            $text .= "    $line\n" if $line ne '';
        }
    }
    return $text;
}

sub main_config {
    return "thread_pool evently threads=4;\n";
}

sub server_config {
    return "include " . _env('TEST_NGINX_EVENTLY_ROOT')
           . "/conf/evently.conf;\n";
}

sub evently_defaults {
    my (%http_opts) = @_;
    my $pre = sub {
        my $block = shift;
        if (!defined $block->http_config) {
            $block->set_value(http_config => http_config(%http_opts));
        }
        if (!defined $block->main_config) {
            $block->set_value(main_config => main_config());
        }
    };
    # add_block_preprocessor has a (&) prototype in both runners
    &Test::Nginx::Util::add_block_preprocessor($pre);
    return;
}

# ---- PostgreSQL / Redis ----------------------------------------------------------

my $NullMark = "\x02NULL\x03";

sub _run {
    my ($cmd, $in, $timeout, $what) = @_;
    my ($out, $err) = ('', '');
    local $ENV{PSQLRC} = '/dev/null';
    local $ENV{PAGER} = 'cat';
    local $ENV{PGCONNECT_TIMEOUT} = $ENV{PGCONNECT_TIMEOUT} // 10;
    my $ok = eval {
        IPC::Run::run($cmd, \$in, \$out, \$err, IPC::Run::timeout($timeout));
    };
    if (!$ok) {
        my $why = $@ ? "$@" : 'exit status ' . ($? >> 8);
        chomp $why;
        die "$what failed ($why): $err$out\n";
    }
    return $out;
}

sub _psql_cmd {
    my ($vars, @extra) = @_;
    my @cmd = ('psql', '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1',
               '-d', _env('TEST_NGINX_PG_CONNINFO'), @extra);
    for my $k (sort keys %{ $vars || {} }) {
        die "psql: bad variable name \"$k\"\n" if $k !~ /^\w+$/;
        my $v = $vars->{$k};
        push @cmd, '-v', "$k=" . (defined $v ? $v : '');
    }
    return @cmd;
}

sub psql {
    my ($sql, $vars) = @_;
    my $out = _run([_psql_cmd($vars), '-f', '-'], $sql, 60, 'psql');
    $out =~ s/^\s+|\s+$//g;
    return $out;
}

sub psql_rows {
    my ($sql, $vars) = @_;
    my $out = _run([_psql_cmd($vars, '-F', "\x1f", '-R', "\x1e",
                              '-P', "null=$NullMark"), '-f', '-'],
                   $sql, 60, 'psql');
    $out =~ s/\n\z//;
    my @rows;
    for my $rec (split /\x1e/, $out) {
        next if $rec eq '';
        push @rows, [map { $_ eq $NullMark ? undef : $_ }
                     split /\x1f/, $rec, -1];
    }
    return \@rows;
}

sub sql_quote {
    my $s = shift;
    return 'NULL' if !defined $s;
    $s =~ s/'/''/g;
    return "'$s'";
}

sub reset_db {
    psql(<<'_SQL_');
DO $$
DECLARE
    t text;
BEGIN
    SELECT string_agg(format('%I.%I', schemaname, tablename), ', ')
      INTO t
      FROM pg_tables
     WHERE schemaname = 'evently' AND tablename <> 'schema_migrations';
    IF t IS NOT NULL THEN
        EXECUTE 'TRUNCATE ' || t || ' RESTART IDENTITY CASCADE';
    END IF;
END
$$;
_SQL_
    redis('FLUSHDB');
    return 1;
}

sub seed {
    my $file = _env('TEST_NGINX_EVENTLY_ROOT') . '/sql/seed.sql';
    return 0 if !-f $file;
    _run([_psql_cmd(undef), '-f', $file], '', 120, "psql -f $file");
    return 1;
}

sub redis {
    my @args = @_;
    my ($host, $port) = split /:/, _env('TEST_NGINX_REDIS'), 2;
    my $out = _run(['redis-cli', '-h', $host, '-p', $port // 6379,
                    '-n', _env('TEST_NGINX_REDIS_DB'), @args],
                   '', 30, "redis-cli @args");
    chomp $out;
    return $out;
}

# ---- JWT ------------------------------------------------------------------------

sub _uuid4 {
    my @b = map { int rand 256 } 1 .. 16;
    $b[6] = ($b[6] & 0x0f) | 0x40;
    $b[8] = ($b[8] & 0x3f) | 0x80;
    my $h = join '', map { sprintf '%02x', $_ } @b;
    return join '-', substr($h, 0, 8), substr($h, 8, 4), substr($h, 12, 4),
                     substr($h, 16, 4), substr($h, 20);
}

sub jwt_raw {
    my ($header_json, $payload_json, $secret) = @_;
    $secret = _env('TEST_NGINX_JWT_SECRET') if !defined $secret;
    my $input = encode_base64url($header_json) . '.'
                . encode_base64url($payload_json);
    return $input . '.' . encode_base64url(hmac_sha256($input, $secret));
}

sub jwt {
    my (%claims) = @_;
    my $now = time;
    $now = int $now;
    my %c = (iss => 'evently', type => 'access', iat => $now,
             exp => $now + 900, jti => _uuid4(), %claims);
    delete $c{$_} for grep { !defined $c{$_} } keys %c;
    return jwt_raw('{"alg":"HS256","typ":"JWT"}', $JSON->encode(\%c));
}

sub jwt_for {
    my ($user, %more) = @_;
    return jwt(sub => $user->{id}, user_id => $user->{id},
               email => $user->{email}, role => $user->{role}, %more);
}

# ---- users ------------------------------------------------------------------------

sub create_user {
    my (%o) = @_;
    my $tag = join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 10;
    my %u = (
        first_name    => $o{first_name} // 'Test',
        last_name     => $o{last_name} // 'User',
        email         => lc($o{email} // "user-$tag\@example.com"),
        role          => $o{role} // 'USER',
        password_hash => $o{password_hash} // $PasswordHash,
    );
    my $id = psql(<<'_SQL_', \%u);
INSERT INTO evently.users (first_name, last_name, email, password_hash, role)
VALUES (:'first_name', :'last_name', :'email', :'password_hash', :'role')
RETURNING id;
_SQL_
    die "create_user: no id returned\n" if $id !~ /\S/;
    my $user = { id => $id, email => $u{email}, role => $u{role},
                 first_name => $u{first_name}, last_name => $u{last_name},
                 password => $Password };
    $user->{token} = jwt_for($user);
    return $user;
}

# ---- HTTP client ----------------------------------------------------------------

sub api {
    my ($method, $path, %o) = @_;
    my $port = $o{port} // $ENV{TEST_NGINX_SERVER_PORT} // 1984;
    my %h = %{ $o{headers} || {} };
    $h{Authorization} = "Bearer $o{token}" if defined $o{token};

    my $content;
    if (exists $o{body} && defined $o{body}) {
        $content = ref $o{body} ? $JSON->encode($o{body}) : $o{body};
        $h{'Content-Type'} = 'application/json'
            if !grep { lc $_ eq 'content-type' } keys %h;
    }

    my $http = HTTP::Tiny->new(timeout => $o{timeout} // 10,
                               keep_alive => 0, agent => 'evently-test/1',
                               max_redirect => 0);
    my $res = $http->request(uc $method, "http://127.0.0.1:$port$path", {
        headers => \%h,
        (defined $content ? (content => $content) : ()),
    });
    my $json;
    if (defined $res->{content} && $res->{content} =~ /^\s*[\[{"]/) {
        $json = eval { $JSON->decode($res->{content}) };
    }
    return { status => $res->{status}, headers => $res->{headers},
             body => $res->{content}, json => $json,
             reason => $res->{reason} };
}

# ---- fixtures ----------------------------------------------------------------------

sub book_seat {
    my ($event, $seat, $user, %o) = @_;
    my $ref = 'EVT-20260101-' . join '', map { ('A' .. 'Z', 0 .. 9)[rand 36] }
                                           1 .. 6;
    my %v = (e => $event, s => $seat, u => $user, r => $ref,
             c => $o{cancelled} ? 1 : 0, p => $o{price} // '100.00');
    return psql(<<'_SQL_', \%v);
WITH b AS (
    INSERT INTO evently.bookings (booking_ref, user_id, event_id,
                                  total_seats, total_price, status,
                                  cancelled_at)
    VALUES (:'r', :'u', :'e', 1, :'p',
            CASE WHEN :'c' = '1' THEN 'CANCELLED' ELSE 'CONFIRMED' END,
            CASE WHEN :'c' = '1' THEN now() END)
    RETURNING id, event_id)
INSERT INTO evently.booking_seats (booking_id, event_id, seat_id, section_id,
                                   seat_number, row_label, section_name,
                                   price, active)
SELECT b.id, b.event_id, s.id, s.section_id, s.seat_number, s.row_label,
       sec.name, :'p', :'c' <> '1'
FROM b, evently.seats AS s
JOIN evently.venue_sections AS sec ON sec.id = s.section_id
WHERE s.id = :'s'
RETURNING booking_id;
_SQL_
}

sub hold_in_redis {
    my ($event, $seat, $ttl) = @_;
    my $expires = int((time + ($ttl // 600)) * 1000);
    redis('ZADD', "evently:event_held:$event", $expires, $seat);
    # held_events keeps an event's latest expiry (GT: never lowered)
    redis('ZADD', 'evently:held_events', 'GT', $expires, $event);
    return;
}

# ---- nginx outside the block format ------------------------------------------------

my %Instances;
my %Stopped;        # name -> server root, so that logs stay readable

sub _servroot_for {
    my $name = shift;
    my $base = $ENV{TEST_NGINX_SERVROOT}
               // File::Spec->rel2abs('t/servroot');
    return File::Spec->rel2abs("$base.$name");
}

sub start_nginx {
    my (%o) = @_;
    my $name = $o{name} // 'proc';
    die "start_nginx: bad name \"$name\"\n" if $name !~ /^[\w.-]+$/;
    my $root = File::Spec->rel2abs($o{servroot} // _servroot_for($name));
    my $port = $o{port} // $ENV{TEST_NGINX_SERVER_PORT} // 1984;
    my $workers = $o{workers} // 1;
    my $master = $o{master} // ($workers > 1 ? 'on' : 'off');
    my $valgrind = exists $o{valgrind} ? $o{valgrind}
                                       : $ENV{TEST_NGINX_USE_VALGRIND};

    stop_nginx($name) if $Instances{$name};

    setup_server_root($root);
    my $conf = build_nginx_conf(
        root        => $root,
        port        => $port,
        workers     => $workers,
        master      => $master,
        daemon      => $valgrind ? 'off' : 'on',
        log_level   => $o{log_level},
        main_config => $o{main_config},
        http_config => $o{http_config},
        config      => $o{config},
        no_root_location => $o{no_root_location},
        worker_connections => $o{worker_connections},
    );
    open my $out, '>', "$root/conf/nginx.conf"
        or die "start_nginx: cannot write $root/conf/nginx.conf: $!\n";
    print $out $conf;
    close $out;

    my ($inst, $err) = start_nginx_instance(root => $root, port => $port,
                                            valgrind => $valgrind,
                                            name => $name);
    die "start_nginx($name): $err\n" if !$inst;
    $inst->{name} = $name;
    $Instances{$name} = $inst;
    return $inst;
}

# stop_nginx($name or $handle) / stop_nginx() = all.  True when every
# instance exited within the bounded wait after SIGQUIT.
sub stop_nginx {
    my @which = @_ ? @_ : sort keys %Instances;
    my $clean = 1;
    for my $w (@which) {
        my $name = ref $w ? $w->{name} : $w;
        my $inst = delete $Instances{$name} or next;
        $Stopped{$name} = $inst->{root};
        my ($ok, $msg) = stop_nginx_instance($inst);
        if (!$ok) {
            warn "stop_nginx($name): $msg\n";
            $clean = 0;
        }
    }
    return $clean;
}

END {
    local $?;
    for my $name (sort keys %Instances) {
        my $inst = delete $Instances{$name};
        stop_nginx_instance($inst, 5);
    }
}

sub _root_of {
    my $x = shift;
    return $x->{root} if ref $x;
    return $Instances{$x}{root} if $Instances{$x};
    return $Stopped{$x} if $Stopped{$x};
    return $x;
}

sub _slurp {
    my $file = shift;
    open my $in, '<', $file or return '';
    local $/;
    my $s = <$in>;
    close $in;
    return $s // '';
}

sub error_log_text {
    my $x = shift;
    return _slurp(_root_of($x) . '/logs/error.log');
}

sub no_alerts_ok {
    my ($x, $test_name) = @_;
    my $root = _root_of($x);
    $test_name //= "no [alert]/[crit]/[emerg] or sanitizer lines in "
                   . "$root/logs/error.log";
    my @bad;
    # a check of a log that is not there would pass for nothing
    push @bad, "no error log at $root/logs/error.log\n"
        if !-s "$root/logs/error.log";
    for my $file ("$root/logs/error.log", "$root/logs/nginx.stderr") {
        for my $line (split /^/, _slurp($file)) {
            push @bad, $line
                if trouble_line($line) || $line =~ /\[(?:alert|crit|emerg)\]/;
        }
    }
    require Test::More;
    my $tb = Test::More->builder;
    my $ok = $tb->ok(!@bad, $test_name);
    $tb->diag(join '', @bad[0 .. ($#bad < 19 ? $#bad : 19)]) if @bad;
    return $ok;
}

# ---- concurrency ------------------------------------------------------------------

sub race {
    my (%o) = @_;
    my $n = $o{n} // die "race: n needed\n";
    my $run = $o{run} // die "race: run needed\n";
    my $timeout = $o{timeout} // 60;
    die "race: n must be 1..$MaxRace\n" if $n < 1 || $n > $MaxRace;

    my $tmp = tempdir('evently-race-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    pipe(my $go_r, my $go_w) or die "race: pipe: $!\n";
    pipe(my $res_r, my $res_w) or die "race: pipe: $!\n";

    my @pids;
    for my $i (0 .. $n - 1) {
        my $pid = fork;
        if (!defined $pid) {
            my $err = $!;
            kill 'KILL', @pids;
            waitpid($_, 0) for @pids;
            die "race: fork failed after $i children: $err\n";
        }
        if ($pid == 0) {
            close $go_w;
            close $res_r;
            # barrier: wait for EOF on the "go" pipe (bounded)
            IO::Select->new($go_r)->can_read($timeout);
            my ($val, $err);
            if (!eval { $val = $run->($i); 1 }) {
                $err = "$@";
                chomp $err;
            }
            my $line = eval { $JSON->encode([$i, defined $err
                                ? "DIED: $err" : $val]) }
                       // $JSON->encode([$i, "DIED: result not JSON: $@"]);
            if (length $line > 4000) {
                # longer than PIPE_BUF: not atomic on the pipe
                my $f = "$tmp/$i.json";
                if (open my $fh, '>', $f) {
                    print $fh $line;
                    close $fh;
                    $line = $JSON->encode([$i, undef, $f]);
                }
            }
            $line .= "\n";
            my $off = 0;
            for (1 .. 1000) {
                my $w = syswrite $res_w, $line, length($line) - $off, $off;
                last if !defined $w;
                $off += $w;
                last if $off >= length $line;
            }
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }

    close $go_r;
    close $res_w;
    close $go_w;    # go!

    my %res;
    my $buf = '';
    my $deadline = time + $timeout;
    my $sel = IO::Select->new($res_r);
    for (1 .. 10_000_000) {
        last if keys %res >= $n;
        my $left = $deadline - time;
        last if $left <= 0;
        next if !$sel->can_read($left < 1 ? $left : 1);
        my $got = sysread $res_r, my $chunk, 65536;
        last if !$got;    # EOF: every child is gone
        $buf .= $chunk;
        while ($buf =~ s/^([^\n]*)\n//) {
            my $rec = eval { $JSON->decode($1) } or next;
            my ($i, $val, $file) = @$rec;
            if (defined $file) {
                my $full = eval { $JSON->decode(_slurp($file)) };
                $val = $full ? $full->[1] : "DIED: lost result file $file";
            }
            $res{$i} = $val;
        }
    }
    close $res_r;

    # stragglers
    for my $pid (@pids) {
        kill 'KILL', $pid if waitpid($pid, POSIX::WNOHANG()) == 0;
    }
    my $reap_deadline = time + 10;
    my %left = map { $_ => 1 } @pids;
    for (1 .. 100_000) {
        for my $pid (keys %left) {
            delete $left{$pid} if waitpid($pid, POSIX::WNOHANG()) != 0;
        }
        last if !%left || time > $reap_deadline;
        sleep 0.01;
    }

    return [map { $res{$_} } 0 .. $n - 1];
}

sub wait_until {
    my ($cond, %o) = @_;
    my $timeout = $o{timeout} // 10;
    my $interval = $o{interval} // 0.1;
    my $deadline = time + $timeout;
    for (1 .. 1_000_000) {
        my $v = $cond->();
        return $v if $v;
        last if time > $deadline;
        sleep $interval;
    }
    return;
}

# ---- Kafka --------------------------------------------------------------------------

sub kafka_topic {
    my $short = shift;
    return ($ENV{TEST_NGINX_KAFKA_TOPIC_PREFIX} // '') . $short;
}

sub kafka_consume {
    my ($topic, %o) = @_;
    my $tool = $ENV{EVENTLY_KAFKA_CONSUME}
               // _env('TEST_NGINX_EVENTLY_ROOT') . '/build/kafka-consume';
    my $brokers = $o{brokers} // _env('TEST_NGINX_KAFKA_BROKERS');
    my $idle = $o{w} // $o{wait} // 2000;
    my $total = $o{T} // 30000;
    my @cmd = ($tool, '-b', $brokers, '-t', $topic, '-w', $idle,
               '-T', $total);
    push @cmd, '-n', $o{n} if defined $o{n};
    my $out = _run(\@cmd, '', $total / 1000 + 15, "kafka-consume $topic");
    my @msgs;
    for my $line (split /\n/, $out) {
        my ($k, $v) = split /\t/, $line, 2;
        push @msgs, [$k, $v // ''];
    }
    return @msgs;
}

1;
