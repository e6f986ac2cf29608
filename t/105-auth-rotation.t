# Refresh-token rotation and reuse detection, procedurally.
#
# - the exact claims of access and refresh tokens (header HS256/JWT)
# - what is stored: the refresh token only as sha256 hex, its id = jti,
#   its family, its expiry = exp; the password only as bcrypt
# - /refresh rotates: old token revoked with replaced_by = the new one,
#   same family; the new access token carries the CURRENT role/e-mail
# - presenting a revoked token revokes the whole family: 401
#   TOKEN_REUSED, even the newest token of that family dies; other
#   families live on
# - two concurrent refreshes of one token: one wins, the family dies
# - a row expired in the database, a deleted user: 401
# - logout ends the session, idempotently
# - login purges the user's expired tokens
# - with error_log at debug level, no token, token hash or password
#   appears in the log (nginx core's own dump of the Authorization
#   request header is the only place an access token shows up)

use strict;
use warnings;

use Test::More;
use Evently::Test;
use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use MIME::Base64 qw(decode_base64url);

my $port = $ENV{TEST_NGINX_PORT} // 1984;
my $JSON = JSON::PP->new->canonical;
my $Uuid4 = qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

reset_db();
seed();

my $ng = start_nginx(name => 'auth-rotation', port => $port,
                     log_level => 'debug',
                     http_config => http_config(auth_rate => '100000r/s'),
                     config => server_config(), main_config => main_config());

my (@tokens, @secrets);    # everything that must never reach the log

sub call {
    my ($m, $p, %o) = @_;
    my $res = api($m, $p, port => $port, %o);
    my $d = $res->{json} && ref $res->{json}{data} eq 'HASH'
            ? $res->{json}{data} : {};
    push @tokens, grep { defined } $d->{access_token}, $d->{refresh_token};
    return $res;
}

sub refresh { call(POST => '/api/v1/auth/refresh',
                   body => { refresh_token => shift }) }
sub logout { call(POST => '/api/v1/auth/logout',
                  body => { refresh_token => shift }) }
sub login {
    my ($email, $password) = @_;
    push @secrets, $password;
    return call(POST => '/api/v1/auth/login',
                body => { email => $email, password => $password });
}

sub part {
    my ($token, $i) = @_;
    return $JSON->decode(decode_base64url((split /\./, $token)[$i]));
}

sub row {
    my $token = shift;
    my $rows = psql_rows(<<'_SQL_', { h => sha256_hex($token) });
SELECT id, user_id, family_id, extract(epoch FROM expires_at)::bigint,
       revoked_at IS NOT NULL, replaced_by
FROM evently.refresh_tokens WHERE token_hash = :'h';
_SQL_
    return undef if !@$rows;
    my %r;
    @r{qw(id user_id family_id expires revoked replaced_by)} = @{ $rows->[0] };
    $r{revoked} = $r{revoked} eq 't' ? 1 : 0;
    return \%r;
}

sub live_in_family {
    return psql(<<'_SQL_', { f => shift });
SELECT count(*) FROM evently.refresh_tokens
WHERE family_id = :'f' AND revoked_at IS NULL;
_SQL_
}

# ---- register: claims and what is stored --------------------------------------

push @secrets, 'rotation secret 1';
my $reg = call(POST => '/api/v1/auth/register',
               body => { first_name => 'Rota', last_name => 'Tion',
                         email => 'Rota@Example.com',
                         password => 'rotation secret 1' });
is $reg->{status}, 201, 'registered';
my $data = $reg->{json}{data};
my $uid = $data->{user}{id};
like $uid, $Uuid4, 'the user id is a v4 UUID made by the module';
is_deeply [sort keys %$data],
          [qw(access_token expires_in refresh_token user)],
          'AuthResponse keys';
is_deeply [sort keys %{ $data->{user} }],
          [qw(created_at email first_name id last_name role updated_at)],
          'AuthResponse.user keys';
is $data->{expires_in}, 900, 'expires_in 900';

for my $t ($data->{access_token}, $data->{refresh_token}) {
    is_deeply part($t, 0), { alg => 'HS256', typ => 'JWT' }, 'JWT header';
}

my $ac = part($data->{access_token}, 1);
is_deeply [sort keys %$ac],
          [qw(email exp iat iss jti role sub type user_id)],
          'access claims are exactly sub,user_id,email,role,type,iat,exp,'
          . 'iss,jti';
is_deeply { map { $_ => $ac->{$_} } qw(sub user_id email role type iss) },
          { sub => $uid, user_id => $uid, email => 'rota@example.com',
            role => 'USER', type => 'access', iss => 'evently' },
          '... their values';
is $ac->{exp} - $ac->{iat}, 900, '... 900 s';
ok abs($ac->{iat} - time) < 60, '... issued now';
like $ac->{jti}, $Uuid4, '... jti a v4 UUID';

my $rc = part($data->{refresh_token}, 1);
is_deeply [sort keys %$rc], [qw(exp fam iat iss jti sub type user_id)],
          'refresh claims are exactly sub,user_id,type,iat,exp,iss,jti,fam';
is_deeply { map { $_ => $rc->{$_} } qw(sub user_id type iss) },
          { sub => $uid, user_id => $uid, type => 'refresh',
            iss => 'evently' }, '... their values';
is $rc->{exp} - $rc->{iat}, 7 * 24 * 3600, '... 7 days';
like $rc->{jti}, $Uuid4, '... jti a v4 UUID';
is $rc->{fam}, $rc->{jti}, '... a new family is named after its first token';
isnt $rc->{jti}, $ac->{jti}, 'the two tokens have their own jti';

my $row = row($data->{refresh_token});
ok $row, 'the refresh token is stored as its sha256 hex';
is_deeply $row, { id => $rc->{jti}, user_id => $uid, family_id => $rc->{fam},
                  expires => $rc->{exp}, revoked => 0, replaced_by => undef },
          '... id = jti, family, expiry = exp, live';
my $sig = (split /\./, $data->{refresh_token})[2];
is psql(<<'_SQL_', { s => $sig }), 0, '... and the token text is nowhere';
SELECT count(*) FROM evently.refresh_tokens AS t
WHERE strpos(t::text, :'s') > 0;
_SQL_
like psql("SELECT password_hash FROM evently.users WHERE id = :'u'",
          { u => $uid }), qr/^\$2b\$10\$[.\/A-Za-z0-9]{53}$/,
     'the password is stored as bcrypt, cost 10';

my $me = call(GET => '/api/v1/auth/me', token => $data->{access_token});
is $me->{status}, 200, 'the access token works on /me';
is $me->{json}{data}{email}, 'rota@example.com', '... for that user';

# ---- rotation ---------------------------------------------------------------------

my $r1 = $data->{refresh_token};
my $fam = $rc->{fam};

my $res = refresh($r1);
is $res->{status}, 200, 'refresh: 200';
is $res->{json}{message}, 'Token refreshed successfully', '... message';
is_deeply [sort keys %{ $res->{json}{data} }],
          [qw(access_token expires_in refresh_token)],
          '... data {access_token,refresh_token,expires_in}';
my $r2 = $res->{json}{data}{refresh_token};
isnt $r2, $r1, '... a new refresh token';
my $c2 = part($r2, 1);
is $c2->{fam}, $fam, '... in the same family';
isnt $c2->{jti}, $rc->{jti}, '... with its own jti';
is part($res->{json}{data}{access_token}, 1)->{sub}, $uid,
   '... and an access token for the user';

my $old = row($r1);
is $old->{revoked}, 1, 'the presented token is revoked';
is $old->{replaced_by}, $c2->{jti}, '... replaced_by its successor';
is row($r2)->{revoked}, 0, 'the successor is live';
is live_in_family($fam), 1, 'one live token in the family';

# the new access token carries the role and e-mail as stored NOW
psql(<<'_SQL_', { u => $uid });
UPDATE evently.users SET role = 'ADMIN', email = 'rota.renamed@example.com'
WHERE id = :'u';
_SQL_
$res = refresh($r2);
is $res->{status}, 200, 'second rotation';
my $r3 = $res->{json}{data}{refresh_token};
my $a3 = part($res->{json}{data}{access_token}, 1);
is $a3->{role}, 'ADMIN', '... the access token has the current role';
is $a3->{email}, 'rota.renamed@example.com', '... and the current e-mail';
psql("UPDATE evently.users SET role = 'USER' WHERE id = :'u'", { u => $uid });

# ---- another family of the same user ---------------------------------------------

$res = login('rota.renamed@example.com', 'rotation secret 1');
is $res->{status}, 200, 'a second session (login)';
my $other = $res->{json}{data}{refresh_token};
isnt part($other, 1)->{fam}, $fam, '... is another family';

# ---- reuse ---------------------------------------------------------------------------

$res = refresh($r1);
is $res->{status}, 401, 'reusing a rotated token: 401';
is $res->{body}, '{"status":"error","status_code":401,"message":"Refresh '
                 . 'token was already used or revoked; the session has been '
                 . 'revoked","errors":{"code":"TOKEN_REUSED"}}',
   '... TOKEN_REUSED';
is live_in_family($fam), 0, '... every token of the family is revoked';
$res = refresh($r3);
is $res->{status}, 401, '... even the newest one';
is $res->{json}{errors}{code}, 'TOKEN_REUSED', '... (itself now a reuse)';

$res = refresh($other);
is $res->{status}, 200, 'the other family is untouched';
$other = $res->{json}{data}{refresh_token};

# ---- two concurrent refreshes of one token ----------------------------------------

$res = login('rota.renamed@example.com', 'rotation secret 1');
my $c1 = $res->{json}{data}{refresh_token};
my $cfam = part($c1, 1)->{fam};
my $results = race(n => 2, timeout => 30, run => sub {
    my $x = api(POST => '/api/v1/auth/refresh', port => $port,
                body => { refresh_token => $c1 });
    return [$x->{status}, $x->{json} ? $x->{json}{errors}{code} : undef,
            $x->{json} && ref $x->{json}{data} eq 'HASH'
            ? $x->{json}{data}{refresh_token} : undef];
});
my @st = sort map { $_->[0] } grep { ref } @$results;
is_deeply \@st, [200, 401], 'concurrent refreshes of one token: one wins';
is_deeply [grep { defined } map { $_->[1] } grep { ref } @$results],
          ['TOKEN_REUSED'], '... the other is a reuse';
push @tokens, grep { defined } map { $_->[2] } grep { ref } @$results;
is live_in_family($cfam), 0, '... and the family is revoked';

# ---- expired in the database, deleted user -------------------------------------------

$res = login('mitshah2406@gmail.com', 'qwerty');
my $mit = $res->{json}{data}{refresh_token};
psql(<<'_SQL_', { h => sha256_hex($mit) });
UPDATE evently.refresh_tokens SET expires_at = now() - interval '1 second'
WHERE token_hash = :'h';
_SQL_
$res = refresh($mit);
is $res->{status}, 401, 'a token expired in the database: 401';
is $res->{json}{errors}{code}, 'TOKEN_EXPIRED', '... TOKEN_EXPIRED';

my $before = psql(<<'_SQL_');
SELECT count(*) FROM evently.refresh_tokens
WHERE user_id = '00000000-0000-4000-8000-000000000002';
_SQL_
$res = login('mitshah2406@gmail.com', 'qwerty');
is $res->{status}, 200, 'login again';
is psql(<<'_SQL_'), $before, '... purged the expired token (one in, one out)';
SELECT count(*) FROM evently.refresh_tokens
WHERE user_id = '00000000-0000-4000-8000-000000000002';
_SQL_
is row($mit), undef, '... the expired row is gone';

push @secrets, 'short lived 1';
$res = call(POST => '/api/v1/auth/register',
            body => { first_name => 'Short', last_name => 'Lived',
                      email => 'short@example.com',
                      password => 'short lived 1' });
my $short = $res->{json}{data}{refresh_token};
psql("DELETE FROM evently.users WHERE email = 'short\@example.com'");
$res = refresh($short);
is $res->{status}, 401, 'the token of a deleted user: 401';
is $res->{json}{errors}{code}, 'INVALID_TOKEN', '... INVALID_TOKEN';

# ---- logout --------------------------------------------------------------------------

$res = login('mitshah2406.work@gmail.com', 'qwerty');
my $l1 = $res->{json}{data}{refresh_token};
my $lfam = part($l1, 1)->{fam};
$res = refresh($l1);
my $l2 = $res->{json}{data}{refresh_token};

$res = logout($l2);
is $res->{status}, 200, 'logout: 200';
is $res->{body}, '{"status":"success","status_code":200,"message":"Logged '
                 . 'out successfully","data":null}', '... envelope';
is live_in_family($lfam), 0, '... the session is over';
is refresh($l2)->{status}, 401, '... its token no longer refreshes';
is logout($l2)->{status}, 200, 'logout again: 200 (idempotent)';
is logout($l1)->{status}, 200, 'logout with an older token of it: 200';
is refresh($other)->{status}, 200,
   "logout ended one session, not the user's others";

# ---- the debug log ----------------------------------------------------------------------

ok stop_nginx('auth-rotation'), 'nginx stopped cleanly';
no_alerts_ok($ng);

my $log = error_log_text($ng);
ok length($log) > 10000 && $log =~ /\[debug\]/,
   'the error log was written at debug level';

# nginx core dumps request headers at debug level ("http header:
# "Authorization: Bearer ..."), nothing the module controls; any other
# line must not hold a token
(my $other_lines = $log) =~ s/^.*http header: "Authorization: .*$//mg;

my %seen;
my @leaks;
for my $t (grep { !$seen{$_}++ } @tokens) {
    my $sig = (split /\./, $t)[2];
    push @leaks, "token signature $sig" if index($other_lines, $sig) >= 0;
    my $payload = (split /\./, $t)[1];
    push @leaks, "token payload" if index($other_lines, $payload) >= 0;
    push @leaks, "sha256 of a token" if index($log, sha256_hex($t)) >= 0;
}
for my $s (@secrets) {
    push @leaks, "password \"$s\"" if index($log, $s) >= 0;
}
ok scalar(@tokens) > 20, scalar(@tokens) . ' tokens checked';
is_deeply \@leaks, [], 'no token, token hash or password in the debug log';

done_testing;
