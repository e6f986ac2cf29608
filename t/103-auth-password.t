# PUT and POST /api/v1/auth/change-password, procedurally (the flow
# needs tokens from earlier responses): a wrong current password is 401
# INVALID_CREDENTIALS and changes nothing; success stores a new bcrypt
# hash and revokes EVERY refresh token of the user (all sessions) and
# no one else's; the old password stops working; ADMIN may use it; a
# token of a deleted user is 401; validation of both fields; an
# Idempotency-Key replays the first answer without changing twice; of
# two concurrent changes from the same password exactly one wins.

use strict;
use warnings;

use Test::More;
use Evently::Test;

my $port = $ENV{TEST_NGINX_PORT} // 1984;
my $path = '/api/v1/auth/change-password';

reset_db();
seed();

my $ng = start_nginx(name => 'auth-password', port => $port,
                     http_config => http_config(auth_rate => '100000r/s'),
                     config => server_config(), main_config => main_config());

sub call { my ($m, $p, %o) = @_; return api($m, $p, port => $port, %o) }

sub login {
    my ($email, $password) = @_;
    return call(POST => '/api/v1/auth/login',
                body => { email => $email, password => $password });
}

sub live_tokens {
    my $user = shift;
    return psql(<<'_SQL_', { u => $user });
SELECT count(*) FROM evently.refresh_tokens
WHERE user_id = :'u' AND revoked_at IS NULL;
_SQL_
}

sub stored_hash {
    return psql("SELECT password_hash FROM evently.users WHERE id = :'u'",
                { u => shift });
}

# ---- a user with three sessions (register + two logins), and another user

my $reg = call(POST => '/api/v1/auth/register',
               body => { first_name => 'Pat', last_name => 'Word',
                         email => 'pat@example.com',
                         password => 'first password' });
is $reg->{status}, 201, 'registered';
my $pat = $reg->{json}{data}{user}{id};
my $access = $reg->{json}{data}{access_token};
my @refresh = ($reg->{json}{data}{refresh_token});

for (1 .. 2) {
    my $r = login('pat@example.com', 'first password');
    is $r->{status}, 200, "login $_";
    push @refresh, $r->{json}{data}{refresh_token};
}
is live_tokens($pat), 3, 'three live sessions';

my $other = login('mitshah2406@gmail.com', 'qwerty');
is $other->{status}, 200, 'another user logged in';

my $hash0 = stored_hash($pat);
like $hash0, qr/^\$2b\$10\$[.\/A-Za-z0-9]{53}$/, 'bcrypt $2b$, cost 10';

# ---- refusals --------------------------------------------------------------

my $r = call(PUT => $path, token => $access,
             body => { current_password => 'not my password',
                       new_password => 'second password' });
is $r->{status}, 401, 'wrong current password: 401';
is $r->{body}, '{"status":"error","status_code":401,"message":"Current '
               . 'password is incorrect","errors":{"code":'
               . '"INVALID_CREDENTIALS"}}', '... INVALID_CREDENTIALS';
is stored_hash($pat), $hash0, '... hash unchanged';
is live_tokens($pat), 3, '... no session revoked';

my @bad = (
    ['both missing', {},
     { current_password => 'is required', new_password => 'is required' }],
    ['new password of 5 bytes',
     { current_password => 'first password', new_password => 'short' },
     { new_password => 'must be between 8 and 72 bytes long' }],
    ['new password of 73 bytes',
     { current_password => 'first password', new_password => 'n' x 73 },
     { new_password => 'must be between 8 and 72 bytes long' }],
    ['current password of 73 bytes',
     { current_password => 'c' x 73, new_password => 'second password' },
     { current_password => 'must be between 1 and 72 bytes long' }],
    ['new password equal to the current one',
     { current_password => 'first password',
       new_password => 'first password' },
     { new_password => 'must differ from current_password' }],
    ['wrong types',
     { current_password => 12345678, new_password => ['second password'] },
     { current_password => 'must be a string',
       new_password => 'must be a string' }],
    ['new password null',
     { current_password => 'first password', new_password => undef },
     { new_password => 'is required' }],
);
for my $case (@bad) {
    my ($name, $body, $fields) = @$case;
    my $res = call(PUT => $path, token => $access, body => $body);
    is $res->{status}, 400, "validation: $name: 400";
    is_deeply $res->{json}{errors},
              { code => 'VALIDATION_FAILED', fields => $fields },
              '... errors.fields';
}

$r = call(PUT => $path, token => $access, body => '{"current_password":');
is $r->{status}, 400, 'malformed JSON: 400';
is $r->{json}{errors}{code}, 'INVALID_JSON', '... INVALID_JSON';

$r = call(PUT => $path, body => { current_password => 'first password',
                                  new_password => 'second password' });
is $r->{status}, 401, 'no token: 401';
is $r->{json}{errors}{code}, 'AUTH_REQUIRED', '... AUTH_REQUIRED';

$r = call(PUT => $path, token => $refresh[1],
          body => { current_password => 'first password',
                    new_password => 'second password' });
is $r->{status}, 401, 'a refresh token as the access token: 401';

$r = call(PUT => $path,
          token => jwt(sub => $pat, user_id => $pat, role => 'USER',
                       exp => time - 1),
          body => { current_password => 'first password',
                    new_password => 'second password' });
is $r->{json}{errors}{code}, 'TOKEN_EXPIRED', 'expired token: TOKEN_EXPIRED';

$r = call(GET => $path, token => $access);
is $r->{status}, 405, 'GET: 405';
is $r->{headers}{allow}, 'POST, PUT', '... Allow: POST, PUT';

is stored_hash($pat), $hash0, 'nothing changed by the refusals';
is live_tokens($pat), 3, '... and every session is live';

# ---- success (PUT) ------------------------------------------------------------

$r = call(PUT => $path, token => $access,
          body => { current_password => 'first password',
                    new_password => 'second password' });
is $r->{status}, 200, 'PUT change-password: 200';
is $r->{body}, '{"status":"success","status_code":200,"message":"Password '
               . 'changed successfully","data":null}', '... envelope';

my $hash1 = stored_hash($pat);
like $hash1, qr/^\$2b\$10\$/, 'new bcrypt hash stored';
isnt $hash1, $hash0, '... a different one';
is live_tokens($pat), 0, 'every refresh token of the user is revoked';

for my $i (0 .. $#refresh) {
    my $res = call(POST => '/api/v1/auth/refresh',
                   body => { refresh_token => $refresh[$i] });
    is $res->{status}, 401, "session $i can no longer refresh";
}

my $res = call(POST => '/api/v1/auth/refresh',
               body => { refresh_token => $other->{json}{data}{refresh_token} });
is $res->{status}, 200, "another user's session is untouched";

is login('pat@example.com', 'first password')->{status}, 401,
   'the old password no longer logs in';
$r = login('pat@example.com', 'second password');
is $r->{status}, 200, 'the new one does';

# ---- success (POST), with the token of the new session -------------------------

$access = $r->{json}{data}{access_token};
my $session = $r->{json}{data}{refresh_token};

$r = call(POST => $path, token => $access,
          body => { current_password => 'second password',
                    new_password => 'third password' });
is $r->{status}, 200, 'POST change-password: 200';
is call(POST => '/api/v1/auth/refresh',
        body => { refresh_token => $session })->{status}, 401,
   '... the session it was made from is revoked too';
is login('pat@example.com', 'third password')->{status}, 200,
   '... the newest password logs in';

# ---- Idempotency-Key: the retry gets the first answer, nothing runs twice -----

my %idem = (headers => { 'Idempotency-Key' => 'pw-change-1' });
$r = call(PUT => $path, token => $access, %idem,
          body => { current_password => 'third password',
                    new_password => 'fourth password' });
is $r->{status}, 200, 'with an Idempotency-Key: 200';
my $hash4 = stored_hash($pat);
my $again = call(PUT => $path, token => $access, %idem,
                 body => { current_password => 'third password',
                           new_password => 'fourth password' });
is $again->{status}, 200, '... the retry: 200';
is $again->{body}, $r->{body}, '... the same answer';
is stored_hash($pat), $hash4, '... and the hash was not changed again';
is login('pat@example.com', 'fourth password')->{status}, 200,
   '... the password is the one of the first call';

# ---- two concurrent changes from the same password: exactly one wins ---------

my @new = ('fifth password A', 'fifth password B');
my $results = race(n => 2, timeout => 30, run => sub {
    my ($i) = @_;
    my $x = api(PUT => $path, port => $port, token => $access,
                body => { current_password => 'fourth password',
                          new_password => $new[$i] });
    return [$x->{status}, $x->{json} && $x->{json}{errors}
                          ? $x->{json}{errors}{code} : undef];
});
my @won = grep { ref $results->[$_] && $results->[$_][0] == 200 } 0, 1;
is scalar(@won), 1, 'concurrent changes: exactly one 200';
my $lost = $results->[1 - ($won[0] // 0)];
note 'the other got ' . join(' ', map { $_ // '' } @$lost) if ref $lost;
ok ref $lost && (($lost->[0] == 409 && $lost->[1] eq 'CONFLICT_RETRY')
                 || ($lost->[0] == 401
                     && $lost->[1] eq 'INVALID_CREDENTIALS')),
   '... the other is 409 CONFLICT_RETRY (or 401 if it came after)';
if (@won) {
    is login('pat@example.com', $new[$won[0]])->{status}, 200,
       "... the winner's password is the one stored";
    is login('pat@example.com', $new[1 - $won[0]])->{status}, 401,
       "... the loser's is not";
}

# ---- ADMIN on this user route ---------------------------------------------------

$r = login('admin@gmail.com', 'qwerty');
my $admin = $r->{json}{data}{access_token};
$r = call(PUT => $path, token => $admin,
          body => { current_password => 'qwerty',
                    new_password => 'admin password' });
is $r->{status}, 200, 'the seeded ADMIN changes its password';
is login('admin@gmail.com', 'admin password')->{status}, 200,
   '... and logs in with it';

# ---- a token of a deleted user ----------------------------------------------------

my $gone = create_user(email => 'gone@example.com');
psql("DELETE FROM evently.users WHERE id = :'u'", { u => $gone->{id} });
$r = call(PUT => $path, token => $gone->{token},
          body => { current_password => 'qwerty',
                    new_password => 'whatever1' });
is $r->{status}, 401, 'deleted user: 401';
is $r->{json}{errors}{code}, 'INVALID_TOKEN', '... INVALID_TOKEN';
is $r->{json}{message}, 'User no longer exists', '... says why';

ok stop_nginx('auth-password'), 'nginx stopped cleanly';
no_alerts_ok($ng);

done_testing;
