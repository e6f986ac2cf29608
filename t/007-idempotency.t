# Idempotency-Key (ngx_http_evently_idempotency.c, sql/functions/
# 06_idempotency.sql), on a mutation route: POST /api/v1/admin/tags.
# - same key + same request: the very same status and body, with
#   Idempotent-Replayed: true, and one row only; errors (4xx) replay too;
# - same key + another request: 422 IDEMPOTENCY_KEY_REUSED;
# - a key is the caller's own; a 5xx is not remembered (the retry runs);
# - a retry while the first attempt still runs: 409 IDEMPOTENCY_IN_PROGRESS;
# - a replay carries the op's headers too (ETag);
# - invalid keys: 400 INVALID_IDEMPOTENCY_KEY; reads ignore the header.

use strict;
use warnings;

use Test::More;
use Evently::Test;
use Evently::Outage;
use Time::HiRes qw(time sleep);

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;
my $Path = '/api/v1/admin/tags';

reset_db();
my $admin = create_user(role => 'ADMIN');
my $admin2 = create_user(role => 'ADMIN');

my $ng = start_nginx(name => 'idempotency', port => $port,
                     log_level => 'info',
                     http_config => http_config(
                         extra => 'evently_postgres_statement_timeout 1s;'),
                     config => server_config(),
                     main_config => main_config());
wait_until(sub { api(GET => '/api/v1/tags/active', port => $port)->{status}
                 == 200 }, timeout => 10)
    or BAIL_OUT('nginx never answered 200');
pool_ready($ng->{pid}, 8) or BAIL_OUT('the PostgreSQL pool did not connect');

sub post {
    my ($body, %o) = @_;
    my %h;
    $h{'Idempotency-Key'} = $o{key} if defined $o{key};
    return api(POST => $o{path} // $Path, port => $port, body => $body,
               token => ($o{user} // $admin)->{token}, headers => \%h);
}

sub tags_named {
    my $name = shift;
    return psql('SELECT count(*) FROM evently.tags WHERE name = :\'n\'',
                { n => $name });
}

sub key_row {
    my ($user, $key) = @_;
    return psql_rows(<<'_SQL_', { u => $user->{id}, k => $key })->[0];
SELECT response_status, completed_at IS NOT NULL
  FROM evently.idempotency_keys
 WHERE user_id = (:'u')::uuid AND idem_key = :'k'
_SQL_
}

# ---- no key: a normal request -----------------------------------------------

{
    my $r = post({ name => 'No Key' });
    is $r->{status}, 201, 'no key: 201';
    ok !exists $r->{headers}{'idempotent-replayed'},
        'no key: no Idempotent-Replayed';
    my $r2 = post({ name => 'No Key' });
    is $r2->{status}, 409, 'no key: the repeat runs again (409 TAG_EXISTS)';
    is $r2->{json}{errors}{code}, 'TAG_EXISTS', 'no key: TAG_EXISTS';
    is psql('SELECT count(*) FROM evently.idempotency_keys'), 0,
        'no key: nothing stored';
}

# ---- same key, same request: replay -----------------------------------------

{
    my $key = 'create-rock-1';
    my $first = post({ name => 'Rock', color => '#AA0000' }, key => $key);
    is $first->{status}, 201, 'key: first 201';
    ok !exists $first->{headers}{'idempotent-replayed'},
        'key: the first answer is not marked replayed';
    is_deeply key_row($admin, $key), [201, 't'],
        'key: stored with its status, completed';

    my $second = post({ name => 'Rock', color => '#AA0000' }, key => $key);
    is $second->{status}, 201, 'replay: same status 201';
    is $second->{body}, $first->{body}, 'replay: byte-identical body';
    is $second->{headers}{'idempotent-replayed'}, 'true',
        'replay: Idempotent-Replayed: true';
    is $second->{headers}{'content-type'}, 'application/json; charset=utf-8',
        'replay: JSON content type';
    isnt $second->{headers}{'x-request-id'}, $first->{headers}{'x-request-id'},
        'replay: its own X-Request-Id';

    my $third = post({ name => 'Rock', color => '#AA0000' }, key => $key);
    is $third->{body}, $first->{body}, 'replay again: same body';
    is tags_named('Rock'), 1, 'replay: exactly one row created';

    # the same key with another body, path or method
    my $other = post({ name => 'Jazz' }, key => $key);
    is $other->{status}, 422, 'reuse: another body 422';
    is $other->{json}{errors}{code}, 'IDEMPOTENCY_KEY_REUSED',
        'reuse: IDEMPOTENCY_KEY_REUSED';
    is tags_named('Jazz'), 0, 'reuse: nothing created';

    # (api() encodes canonically: the first body was {"color":..,"name":..})
    my $ws = post('{"name":"Rock","color":"#AA0000"}', key => $key);
    is $ws->{status}, 422, 'reuse: the same fields in another order 422 '
                           . '(the key covers the exact bytes)';

    my $id = $first->{json}{data}{id};
    my $put = api(PUT => "$Path/$id", port => $port, body => { name => 'Rock' },
                  token => $admin->{token},
                  headers => { 'Idempotency-Key' => $key });
    is $put->{status}, 422, 'reuse: another method and path 422';

    # the key belongs to its caller
    my $mine = post({ name => 'Rock', color => '#AA0000' }, key => $key,
                    user => $admin2);
    is $mine->{status}, 409, 'scope: another caller with the same key runs '
                             . 'its own request (409 TAG_EXISTS)';
    ok !exists $mine->{headers}{'idempotent-replayed'},
        'scope: not a replay';
}

# ---- errors replay too; a 5xx is not remembered -----------------------------

{
    my $e1 = post({ name => 'Rock' }, key => 'dup-rock');
    is $e1->{status}, 409, '4xx with a key: 409';
    my $e2 = post({ name => 'Rock' }, key => 'dup-rock');
    is $e2->{status}, 409, '4xx replay: 409 again';
    is $e2->{headers}{'idempotent-replayed'}, 'true', '4xx replay: marked';
    is $e2->{body}, $e1->{body}, '4xx replay: same body';

    my $v1 = post({ name => 'x' }, key => 'bad-name');
    is $v1->{status}, 400, 'validation error with a key: 400';
    my $v2 = post({ name => 'x' }, key => 'bad-name');
    is $v2->{status}, 400, 'validation error replay: 400';

    # 503 (statement timeout on a locked table): the retry runs for real
    my $lock = pg_lock('evently.tags', 6);
    my $s1 = post({ name => 'Blues' }, key => 'blues-1');
    is $s1->{status}, 503, '5xx with a key: 503 while the table is locked';
    ok pg_unlock($lock), 'lock released';
    is key_row($admin, 'blues-1'), undef, '5xx: the key is forgotten';
    my $s2 = post({ name => 'Blues' }, key => 'blues-1');
    is $s2->{status}, 201, '5xx: the retry with the same key runs: 201';
    ok !exists $s2->{headers}{'idempotent-replayed'}, '5xx: not a replay';
    is tags_named('Blues'), 1, '5xx: one row';
}

# ---- a retry while the first attempt still runs -----------------------------

{
    my $lock = pg_lock('evently.tags', 10);
    my $h = http_start(POST => $Path, port => $port,
                       headers => {
                           'Authorization' => "Bearer $admin->{token}",
                           'Content-Type' => 'application/json',
                           'Idempotency-Key' => 'slow-1',
                       },
                       body => '{"name":"Slow Tag"}');
    ok !http_ready($h, 0.3), 'in progress: the first attempt waits';

    my $t0 = time;
    my $r = api(POST => $Path, port => $port, body => '{"name":"Slow Tag"}',
                token => $admin->{token},
                headers => { 'Idempotency-Key' => 'slow-1' });
    is $r->{status}, 409, 'in progress: the retry 409';
    is $r->{json}{errors}{code}, 'IDEMPOTENCY_IN_PROGRESS',
        'in progress: IDEMPOTENCY_IN_PROGRESS';
    cmp_ok ms_since($t0), '<', 500, 'in progress: answered at once';

    ok pg_unlock($lock), 'lock released';
    my $first = http_finish($h, 5);
    is $first->{status}, 201, 'in progress: the first attempt then 201';

    my $again = api(POST => $Path, port => $port,
                    body => '{"name":"Slow Tag"}', token => $admin->{token},
                    headers => { 'Idempotency-Key' => 'slow-1' });
    is $again->{status}, 201, 'in progress: later retry replays 201';
    is $again->{body}, $first->{body}, 'in progress: same body';
    is tags_named('Slow Tag'), 1, 'in progress: one row';
}

# ---- a replay is the very same answer: headers of the op included -----------
#
# POST /admin/venue-templates answers with ETag (the new version); the
# replay must carry it too, or the client cannot send If-Match.

{
    my $body = { name => 'Idem Hall', default_rows => 2,
                 default_seats_per_row => 3, layout_type => 'THEATER' };
    my $first = post($body, key => 'hall-1',
                     path => '/api/v1/admin/venue-templates');
    is $first->{status}, 201, 'etag: template created';
    ok defined $first->{headers}{etag}, 'etag: the first answer has an ETag';

    my $again = post($body, key => 'hall-1',
                     path => '/api/v1/admin/venue-templates');
    is $again->{headers}{'idempotent-replayed'}, 'true', 'etag: replayed';
    is $again->{body}, $first->{body}, 'etag: same body';
    is $again->{headers}{etag}, $first->{headers}{etag},
        'etag: the replay carries the same ETag';
}

# ---- invalid keys; reads ignore the header ----------------------------------

{
    my %bad = (
        'too long (256)'   => 'k' x 256,
        'a space'          => 'has space',
        'a tab'            => "has\ttab",
        'empty'            => '',
    );
    for my $what (sort keys %bad) {
        my $r = post({ name => "Bad Key $what" }, key => $bad{$what});
        is $r->{status}, 400, "invalid key, $what: 400";
        is $r->{json}{errors}{code}, 'INVALID_IDEMPOTENCY_KEY',
            "invalid key, $what: INVALID_IDEMPOTENCY_KEY";
    }
    # HTTP::Tiny refuses to send 8-bit header bytes: a raw request
    my $h = http_start(POST => $Path, port => $port,
                       headers => {
                           'Authorization' => "Bearer $admin->{token}",
                           'Content-Type' => 'application/json',
                           'Idempotency-Key' => "caf\xc3\xa9",
                       },
                       body => '{"name":"Bad Key non-ASCII"}');
    my $r = http_finish($h, 5);
    is $r->{status}, 400, 'invalid key, non-ASCII: 400';
    is $r->{json}{errors}{code}, 'INVALID_IDEMPOTENCY_KEY',
        'invalid key, non-ASCII: INVALID_IDEMPOTENCY_KEY';

    is psql(q{SELECT count(*) FROM evently.tags WHERE name LIKE 'Bad Key%'}),
        0, 'invalid keys: nothing created';

    my $max = post({ name => 'Max Key' }, key => 'k' x 255);
    is $max->{status}, 201, 'a 255-character key is fine';
    my $maxr = post({ name => 'Max Key' }, key => 'k' x 255);
    is $maxr->{headers}{'idempotent-replayed'}, 'true',
        'and it replays';

    my $g = api(GET => '/api/v1/tags/active', port => $port,
                headers => { 'Idempotency-Key' => 'not valid at all' });
    is $g->{status}, 200, 'GET ignores Idempotency-Key';
    ok !exists $g->{headers}{'idempotent-replayed'}, 'GET: no replay header';
}

ok stop_nginx('idempotency'), 'nginx stopped cleanly';
no_alerts_ok($ng);

done_testing;
