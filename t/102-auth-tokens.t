# Tokens in the Test::Nginx block format.
#
# GET /api/v1/auth/me with every kind of bad access token: none, not
# Bearer, a flipped signature byte, alg "none", alg HS512 (claimed and
# real), expired, a refresh token used as an access token, wrong or
# missing issuer, missing or malformed subject, another secret,
# duplicate claims, garbage; a valid token of a deleted user (401, see
# the README).  ADMIN tokens work on this user route.
#
# POST /refresh and /logout with bad refresh tokens: missing, mistyped,
# oversized (400); garbage, an access token, another secret, expired,
# unknown, without a family (401).  Logout is idempotent: an authentic
# token that is unknown, or expired, is 200.
#
# Rotation, reuse detection and the stored rows are in
# t/105-auth-rotation.t.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Evently::Test;
use Digest::SHA qw(hmac_sha512);
use MIME::Base64 qw(encode_base64url);

our $User = '00000000-0000-4000-8000-000000000002';
our $Admin = '00000000-0000-4000-8000-000000000001';
our $Ghost = '6f0d3c1e-8a55-4c7e-9d0b-2f1e4a6b7c8d';

sub user_token {
    return Evently::Test::jwt(sub => $User, user_id => $User,
                              email => 'mitshah2406@gmail.com',
                              role => 'USER', @_);
}

sub refresh_token {
    my $now = time;
    return Evently::Test::jwt(sub => $User, user_id => $User,
                              type => 'refresh', exp => $now + 3600,
                              fam => $Ghost, @_);
}

# one base64url character of the signature changed (in the middle: the
# last character also carries padding bits)
sub flipped {
    my @p = split /\./, shift;
    my $c = substr($p[2], 10, 1);
    substr($p[2], 10, 1) = $c eq 'A' ? 'B' : 'A';
    return join '.', @p;
}

sub hs512 {
    my ($header, $payload) = @_;
    my $input = encode_base64url($header) . '.' . encode_base64url($payload);
    return $input . '.'
           . encode_base64url(hmac_sha512($input,
                                          $ENV{TEST_NGINX_JWT_SECRET}));
}

sub payload {
    my $now = time;
    return qq({"sub":"$User","user_id":"$User","email":"x\@example.com",)
           . qq("role":"USER","type":"access","iat":$now,)
           . qq("exp":@{[$now + 600]},"iss":"evently",)
           . qq("jti":"0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f"});
}

evently_defaults(auth_rate => '100000r/s');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: /me with a valid USER token
--- init
Evently::Test::reset_db();
Evently::Test::seed();
--- config eval: Evently::Test::server_config()
--- more_headers eval
"Authorization: Bearer " . main::user_token()
--- request
GET /api/v1/auth/me
--- error_code: 200
--- response_body_like eval
qr/^\{"status":"success","status_code":200,"message":"User retrieved successfully","data":\{"id"\s*:\s*"00000000-0000-4000-8000-000000000002",\s*"first_name"\s*:\s*"Mit",\s*"last_name"\s*:\s*"Shah",\s*"email"\s*:\s*"mitshah2406\@gmail.com",\s*"role"\s*:\s*"USER",\s*"created_at"\s*:\s*"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\}\}$/
--- no_error_log
[error]



=== TEST 2: /me with an ADMIN token (ADMIN may use every user route)
--- config eval: Evently::Test::server_config()
--- more_headers eval
"Authorization: Bearer " . Evently::Test::jwt(sub => $main::Admin,
    user_id => $main::Admin, email => 'admin@gmail.com', role => 'ADMIN')
--- request
GET /api/v1/auth/me
--- error_code: 200
--- response_body_like: "id"\s*:\s*"00000000-0000-4000-8000-000000000001".*"role"\s*:\s*"ADMIN"



=== TEST 3: the role shown is the stored one, not the token's
--- config eval: Evently::Test::server_config()
--- more_headers eval
"Authorization: Bearer " . main::user_token(role => 'ADMIN')
--- request
GET /api/v1/auth/me
--- error_code: 200
--- response_body_like: "role"\s*:\s*"USER"



=== TEST 4: no Authorization header: 401 AUTH_REQUIRED
--- config eval: Evently::Test::server_config()
--- request
GET /api/v1/auth/me
--- error_code: 401
--- response_body chomp
{"status":"error","status_code":401,"message":"Authorization header with a Bearer token is required","errors":{"code":"AUTH_REQUIRED"}}



=== TEST 5: not a Bearer token
--- config eval: Evently::Test::server_config()
--- more_headers eval
["Authorization: Basic YWRtaW46cXdlcnR5",
 "Authorization: " . main::user_token(),
 "Authorization: Bearer"]
--- request eval
["GET /api/v1/auth/me", "GET /api/v1/auth/me", "GET /api/v1/auth/me"]
--- error_code eval
[401, 401, 401]
--- response_body_like eval
[qr/"code":"INVALID_TOKEN"/, qr/"code":"INVALID_TOKEN"/,
 qr/"code":"INVALID_TOKEN"/]



=== TEST 6: a flipped signature byte
--- config eval: Evently::Test::server_config()
--- more_headers eval
"Authorization: Bearer " . main::flipped(main::user_token())
--- request
GET /api/v1/auth/me
--- error_code: 401
--- response_body chomp
{"status":"error","status_code":401,"message":"Token is invalid","errors":{"code":"INVALID_TOKEN"}}



=== TEST 7: alg "none" (no signature, and with a valid HS256 signature)
--- config eval: Evently::Test::server_config()
--- more_headers eval
["Authorization: Bearer "
 . MIME::Base64::encode_base64url('{"alg":"none","typ":"JWT"}') . '.'
 . MIME::Base64::encode_base64url(main::payload()) . '.',
 "Authorization: Bearer "
 . Evently::Test::jwt_raw('{"alg":"none","typ":"JWT"}', main::payload()),
 "Authorization: Bearer "
 . Evently::Test::jwt_raw('{"alg":"None"}', main::payload())]
--- request eval
["GET /api/v1/auth/me", "GET /api/v1/auth/me", "GET /api/v1/auth/me"]
--- error_code eval
[401, 401, 401]
--- response_body_like eval
[qr/"code":"INVALID_TOKEN"/, qr/"code":"INVALID_TOKEN"/,
 qr/"code":"INVALID_TOKEN"/]



=== TEST 8: alg HS512, only claimed and really used; no header alg at all
--- config eval: Evently::Test::server_config()
--- more_headers eval
["Authorization: Bearer "
 . Evently::Test::jwt_raw('{"alg":"HS512","typ":"JWT"}', main::payload()),
 "Authorization: Bearer "
 . main::hs512('{"alg":"HS512","typ":"JWT"}', main::payload()),
 "Authorization: Bearer "
 . Evently::Test::jwt_raw('{"typ":"JWT"}', main::payload())]
--- request eval
["GET /api/v1/auth/me", "GET /api/v1/auth/me", "GET /api/v1/auth/me"]
--- error_code eval
[401, 401, 401]
--- response_body_like eval
[qr/"code":"INVALID_TOKEN"/, qr/"code":"INVALID_TOKEN"/,
 qr/"code":"INVALID_TOKEN"/]



=== TEST 9: expired: 401 TOKEN_EXPIRED
--- config eval: Evently::Test::server_config()
--- more_headers eval
"Authorization: Bearer " . main::user_token(iat => time - 1000,
                                            exp => time - 10)
--- request
GET /api/v1/auth/me
--- error_code: 401
--- response_body chomp
{"status":"error","status_code":401,"message":"Token has expired","errors":{"code":"TOKEN_EXPIRED"}}



=== TEST 10: a refresh token as an access token; a token without type
--- config eval: Evently::Test::server_config()
--- more_headers eval
["Authorization: Bearer " . main::refresh_token(),
 "Authorization: Bearer " . main::user_token(type => undef),
 "Authorization: Bearer " . main::user_token(type => 'ACCESS')]
--- request eval
["GET /api/v1/auth/me", "GET /api/v1/auth/me", "GET /api/v1/auth/me"]
--- error_code eval
[401, 401, 401]
--- response_body_like eval
[qr/"code":"INVALID_TOKEN"/, qr/"code":"INVALID_TOKEN"/,
 qr/"code":"INVALID_TOKEN"/]



=== TEST 11: wrong and missing issuer
--- config eval: Evently::Test::server_config()
--- more_headers eval
["Authorization: Bearer " . main::user_token(iss => 'evil'),
 "Authorization: Bearer " . main::user_token(iss => undef)]
--- request eval
["GET /api/v1/auth/me", "GET /api/v1/auth/me"]
--- error_code eval
[401, 401]
--- response_body_like eval
[qr/"code":"INVALID_TOKEN"/, qr/"code":"INVALID_TOKEN"/]



=== TEST 12: missing subject, a subject that is not a UUID, no exp, exp as a string
--- config eval: Evently::Test::server_config()
--- more_headers eval
["Authorization: Bearer " . main::user_token(sub => undef),
 "Authorization: Bearer " . main::user_token(sub => "1 OR 1=1"),
 "Authorization: Bearer " . main::user_token(exp => undef),
 "Authorization: Bearer " . main::user_token(exp => "" . (time + 600))]
--- request eval
["GET /api/v1/auth/me", "GET /api/v1/auth/me", "GET /api/v1/auth/me",
 "GET /api/v1/auth/me"]
--- error_code eval
[401, 401, 401, 401]
--- response_body_like eval
[qr/"code":"INVALID_TOKEN"/, qr/"code":"INVALID_TOKEN"/,
 qr/"code":"INVALID_TOKEN"/, qr/"code":"INVALID_TOKEN"/]



=== TEST 13: signed with another secret; duplicate claims
--- config eval: Evently::Test::server_config()
--- more_headers eval
["Authorization: Bearer "
 . Evently::Test::jwt_raw('{"alg":"HS256","typ":"JWT"}', main::payload(),
                          'another-secret-0123456789abcdef0123456789'),
 "Authorization: Bearer "
 . Evently::Test::jwt_raw('{"alg":"HS256","typ":"JWT"}',
                          substr(main::payload(), 0, -1)
                          . qq(,"sub":"$main::Admin"}))]
--- request eval
["GET /api/v1/auth/me", "GET /api/v1/auth/me"]
--- error_code eval
[401, 401]
--- response_body_like eval
[qr/"code":"INVALID_TOKEN"/, qr/"code":"INVALID_TOKEN"/]



=== TEST 14: garbage of every shape
--- config eval: Evently::Test::server_config()
--- more_headers eval
["Authorization: Bearer garbage",
 "Authorization: Bearer a.b.c",
 "Authorization: Bearer ..",
 "Authorization: Bearer " . main::user_token() . ".extra",
 "Authorization: Bearer " . ("A" x 5000),
 "Authorization: Bearer e30.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
 "Authorization: Bearer \xff\xfe.\x01.\x02"]
--- request eval
["GET /api/v1/auth/me", "GET /api/v1/auth/me", "GET /api/v1/auth/me",
 "GET /api/v1/auth/me", "GET /api/v1/auth/me", "GET /api/v1/auth/me",
 "GET /api/v1/auth/me"]
--- error_code eval
[401, 401, 401, 401, 401, 401, 401]
--- response_body_like eval
[qr/"code":"INVALID_TOKEN"/, qr/"code":"INVALID_TOKEN"/,
 qr/"code":"INVALID_TOKEN"/, qr/"code":"INVALID_TOKEN"/,
 qr/"code":"INVALID_TOKEN"/, qr/"code":"INVALID_TOKEN"/,
 qr/"code":"INVALID_TOKEN"/]
--- no_error_log
[error]



=== TEST 15: a valid token of a user that does not exist (deleted): 401
--- config eval: Evently::Test::server_config()
--- more_headers eval
"Authorization: Bearer " . main::user_token(sub => $main::Ghost,
                                            user_id => $main::Ghost)
--- request
GET /api/v1/auth/me
--- error_code: 401
--- response_body chomp
{"status":"error","status_code":401,"message":"User no longer exists","errors":{"code":"INVALID_TOKEN"}}



=== TEST 16: /me answers GET (and HEAD) only
--- config eval: Evently::Test::server_config()
--- more_headers eval
"Authorization: Bearer " . main::user_token()
--- request
POST /api/v1/auth/me
{}
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body_like: "code":"METHOD_NOT_ALLOWED"



=== TEST 17: refresh and logout: missing, mistyped, empty, oversized token is 400
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/refresh
{}",
"POST /api/v1/auth/refresh
{\"refresh_token\":123}",
"POST /api/v1/auth/refresh
{\"refresh_token\":\"\"}",
"POST /api/v1/auth/refresh
{\"refresh_token\":\"" . ("a" x 4097) . "\"}",
"POST /api/v1/auth/logout
{\"refresh_token\":null}",
"POST /api/v1/auth/logout
{\"refresh_token\":[\"x\"]}"]
--- error_code eval
[400, 400, 400, 400, 400, 400]
--- response_body eval
['{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"refresh_token":"is required"}}}',
 '{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"refresh_token":"must be a string"}}}',
 '{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"refresh_token":"must be between 1 and 4096 bytes long"}}}',
 '{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"refresh_token":"must be between 1 and 4096 bytes long"}}}',
 '{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"refresh_token":"is required"}}}',
 '{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"refresh_token":"must be a string"}}}']



=== TEST 18: refresh with garbage, an access token, another secret, alg none, no family: 401 INVALID_TOKEN
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/refresh
{\"refresh_token\":\"garbage\"}",
"POST /api/v1/auth/refresh
{\"refresh_token\":\"" . main::user_token() . "\"}",
"POST /api/v1/auth/refresh
{\"refresh_token\":\"" . main::flipped(main::refresh_token()) . "\"}",
"POST /api/v1/auth/refresh
{\"refresh_token\":\"" . MIME::Base64::encode_base64url('{"alg":"none"}') . "." . MIME::Base64::encode_base64url(qq({"sub":"$main::User","type":"refresh","iss":"evently","exp":) . (time + 600) . qq(,"fam":"$main::Ghost"})) . ".\"}",
"POST /api/v1/auth/refresh
{\"refresh_token\":\"" . main::refresh_token(fam => undef) . "\"}",
"POST /api/v1/auth/refresh
{\"refresh_token\":\"" . main::refresh_token(fam => 'not-a-uuid') . "\"}"]
--- error_code eval
[401, 401, 401, 401, 401, 401]
--- response_body eval
['{"status":"error","status_code":401,"message":"Refresh token is invalid","errors":{"code":"INVALID_TOKEN"}}',
 '{"status":"error","status_code":401,"message":"Refresh token is invalid","errors":{"code":"INVALID_TOKEN"}}',
 '{"status":"error","status_code":401,"message":"Refresh token is invalid","errors":{"code":"INVALID_TOKEN"}}',
 '{"status":"error","status_code":401,"message":"Refresh token is invalid","errors":{"code":"INVALID_TOKEN"}}',
 '{"status":"error","status_code":401,"message":"Refresh token is invalid","errors":{"code":"INVALID_TOKEN"}}',
 '{"status":"error","status_code":401,"message":"Refresh token is invalid","errors":{"code":"INVALID_TOKEN"}}']



=== TEST 19: refresh with an expired token is TOKEN_EXPIRED; an authentic but unknown one is INVALID_TOKEN
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/refresh
{\"refresh_token\":\"" . main::refresh_token(iat => time - 100, exp => time - 5) . "\"}",
"POST /api/v1/auth/refresh
{\"refresh_token\":\"" . main::refresh_token() . "\"}"]
--- error_code eval
[401, 401]
--- response_body eval
['{"status":"error","status_code":401,"message":"Refresh token has expired","errors":{"code":"TOKEN_EXPIRED"}}',
 '{"status":"error","status_code":401,"message":"Refresh token is invalid","errors":{"code":"INVALID_TOKEN"}}']
--- no_error_log
[error]



=== TEST 20: logout with garbage, an access token, a flipped byte: 401
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/logout
{\"refresh_token\":\"garbage\"}",
"POST /api/v1/auth/logout
{\"refresh_token\":\"" . main::user_token() . "\"}",
"POST /api/v1/auth/logout
{\"refresh_token\":\"" . main::flipped(main::refresh_token()) . "\"}"]
--- error_code eval
[401, 401, 401]
--- response_body_like eval
[qr/"code":"INVALID_TOKEN"/, qr/"code":"INVALID_TOKEN"/,
 qr/"code":"INVALID_TOKEN"/]



=== TEST 21: logout with an authentic token that is unknown, or expired: 200 (idempotent)
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/logout
{\"refresh_token\":\"" . main::refresh_token() . "\"}",
"POST /api/v1/auth/logout
{\"refresh_token\":\"" . main::refresh_token(iat => time - 100, exp => time - 5) . "\"}"]
--- error_code eval
[200, 200]
--- response_body eval
['{"status":"success","status_code":200,"message":"Logged out successfully","data":null}',
 '{"status":"success","status_code":200,"message":"Logged out successfully","data":null}']



=== TEST 22: refresh and logout answer POST only
--- config eval: Evently::Test::server_config()
--- request eval
["GET /api/v1/auth/refresh", "DELETE /api/v1/auth/logout"]
--- error_code eval
[405, 405]
--- response_headers eval
["Allow: POST", "Allow: POST"]



=== TEST 23: malformed JSON on refresh and logout
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/refresh
{\"refresh_token\":",
"POST /api/v1/auth/logout
not json"]
--- error_code eval
[400, 400]
--- response_body_like eval
[qr/"code":"INVALID_JSON"/, qr/"code":"INVALID_JSON"/]
