# POST /api/v1/auth/register in the Test::Nginx block format: success
# (201 AuthResponse), e-mail normalisation and case-insensitive
# uniqueness (409 EMAIL_TAKEN), the role rules (USER in any case is fine,
# ADMIN in any case is 403 ROLE_NOT_ALLOWED, anything else 400), every
# field's limits (password in BYTES: 8..72), wrong types, malformed and
# oversized bodies, wrong method and media type.
#
# What is stored (bcrypt hash, refresh-token row) is checked in
# t/105-auth-rotation.t.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Evently::Test;

# a high auth rate: these blocks must not meet the rate limit (tested in
# t/104-auth-ratelimit.t)
evently_defaults(auth_rate => '100000r/s');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: register: 201 AuthResponse, e-mail trimmed and lower-cased, role USER
--- init
Evently::Test::reset_db();
Evently::Test::seed();
--- config eval: Evently::Test::server_config()
--- more_headers
Content-Type: application/json
--- request
POST /api/v1/auth/register
{"first_name":"Ann","last_name":"Lee","email":"  Ann.Lee@Example.COM ","password":"correct horse"}
--- error_code: 201
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body_like eval
qr/^\{"status":"success","status_code":201,"message":"User registered successfully","data":\{"user":\{"id"\s*:\s*"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",\s*"first_name"\s*:\s*"Ann",\s*"last_name"\s*:\s*"Lee",\s*"email"\s*:\s*"ann.lee\@example.com",\s*"role"\s*:\s*"USER",\s*"created_at"\s*:\s*"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",\s*"updated_at"\s*:\s*"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\},"access_token":"[\w-]+\.[\w-]+\.[\w-]{43}","refresh_token":"[\w-]+\.[\w-]+\.[\w-]{43}","expires_in":900\}\}$/
--- no_error_log
[error]



=== TEST 2: the same e-mail in another case is 409 EMAIL_TAKEN
--- config eval: Evently::Test::server_config()
--- request
POST /api/v1/auth/register
{"first_name":"Ann","last_name":"Other","email":"ANN.LEE@example.com","password":"another password"}
--- error_code: 409
--- response_body chomp
{"status":"error","status_code":409,"message":"An account with this email already exists","errors":{"code":"EMAIL_TAKEN"}}
--- no_error_log
[error]



=== TEST 3: a seeded e-mail is taken too
--- config eval: Evently::Test::server_config()
--- request
POST /api/v1/auth/register
{"first_name":"Mit","last_name":"Shah","email":"MitShah2406@gmail.com","password":"qwertyuiop"}
--- error_code: 409
--- response_body_like: "code":"EMAIL_TAKEN"



=== TEST 4: role "USER" in any case is accepted and gives a USER
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/register
{\"first_name\":\"Bo\",\"last_name\":\"One\",\"email\":\"bo1\@example.com\",\"password\":\"password\",\"role\":\"USER\"}",
"POST /api/v1/auth/register
{\"first_name\":\"Bo\",\"last_name\":\"Two\",\"email\":\"bo2\@example.com\",\"password\":\"password\",\"role\":\"user\"}",
"POST /api/v1/auth/register
{\"first_name\":\"Bo\",\"last_name\":\"Three\",\"email\":\"bo3\@example.com\",\"password\":\"password\",\"role\":\" User \"}",
"POST /api/v1/auth/register
{\"first_name\":\"Bo\",\"last_name\":\"Four\",\"email\":\"bo4\@example.com\",\"password\":\"password\",\"role\":null}"]
--- error_code eval
[201, 201, 201, 201]
--- response_body_like eval
[qr/"role"\s*:\s*"USER"/, qr/"role"\s*:\s*"USER"/, qr/"role"\s*:\s*"USER"/,
 qr/"role"\s*:\s*"USER"/]



=== TEST 5: role ADMIN in any case is 403 ROLE_NOT_ALLOWED (the original Postman body included)
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/register
{\"first_name\":\"Eve\",\"last_name\":\"Evil\",\"email\":\"eve1\@example.com\",\"password\":\"password\",\"role\":\"ADMIN\"}",
"POST /api/v1/auth/register
{\"first_name\":\"Eve\",\"last_name\":\"Evil\",\"email\":\"eve2\@example.com\",\"password\":\"password\",\"role\":\"Admin\"}",
"POST /api/v1/auth/register
{\"first_name\":\"Mit\",\"last_name\":\"Shah\",\"email\":\"mitshah.admin\@gmail.com\",\"password\":\"password123\",\"role\":\"admin\"}"]
--- error_code eval
[403, 403, 403]
--- response_body eval
['{"status":"error","status_code":403,"message":"Public registration cannot create an ADMIN account","errors":{"code":"ROLE_NOT_ALLOWED"}}',
 '{"status":"error","status_code":403,"message":"Public registration cannot create an ADMIN account","errors":{"code":"ROLE_NOT_ALLOWED"}}',
 '{"status":"error","status_code":403,"message":"Public registration cannot create an ADMIN account","errors":{"code":"ROLE_NOT_ALLOWED"}}']



=== TEST 6: nothing was created by the refused ADMIN registrations
--- config eval: Evently::Test::server_config()
--- request
POST /api/v1/auth/login
{"email":"eve1@example.com","password":"password"}
--- error_code: 401
--- response_body_like: "code":"INVALID_CREDENTIALS"



=== TEST 7: any other role, or a role that is not a string, is 400
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/register
{\"first_name\":\"Eve\",\"last_name\":\"Evil\",\"email\":\"eve3\@example.com\",\"password\":\"password\",\"role\":\"SUPERUSER\"}",
"POST /api/v1/auth/register
{\"first_name\":\"Eve\",\"last_name\":\"Evil\",\"email\":\"eve4\@example.com\",\"password\":\"password\",\"role\":\"\"}",
"POST /api/v1/auth/register
{\"first_name\":\"Eve\",\"last_name\":\"Evil\",\"email\":\"eve5\@example.com\",\"password\":\"password\",\"role\":1}",
"POST /api/v1/auth/register
{\"first_name\":\"Eve\",\"last_name\":\"Evil\",\"email\":\"eve6\@example.com\",\"password\":\"password\",\"role\":[\"ADMIN\"]}"]
--- error_code eval
[400, 400, 400, 400]
--- response_body eval
['{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"role":"must be one of USER, ADMIN"}}}',
 '{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"role":"must be one of USER, ADMIN"}}}',
 '{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"role":"must be a string"}}}',
 '{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"role":"must be a string"}}}']



=== TEST 8: missing fields: each one is named
--- config eval: Evently::Test::server_config()
--- request
POST /api/v1/auth/register
{}
--- error_code: 400
--- response_body chomp
{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"first_name":"is required","last_name":"is required","email":"is required","password":"is required"}}}



=== TEST 9: null and wrong types
--- config eval: Evently::Test::server_config()
--- request
POST /api/v1/auth/register
{"first_name":null,"last_name":42,"email":true,"password":["password"]}
--- error_code: 400
--- response_body chomp
{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"first_name":"is required","last_name":"must be a string","email":"must be a string","password":"must be a string"}}}



=== TEST 10: names: 1 and 101 characters are refused, 2 and 100 accepted (characters, not bytes)
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/register
{\"first_name\":\"A\",\"last_name\":\"" . ("b" x 101) . "\",\"email\":\"names1\@example.com\",\"password\":\"password\"}",
"POST /api/v1/auth/register
{\"first_name\":\"   A   \",\"last_name\":\"Bo\",\"email\":\"names2\@example.com\",\"password\":\"password\"}",
"POST /api/v1/auth/register
{\"first_name\":\"Al\",\"last_name\":\"" . ("\x{c3}\x{a9}" x 100) . "\",\"email\":\"names3\@example.com\",\"password\":\"password\"}",
"POST /api/v1/auth/register
{\"first_name\":\"" . ("x" x 100) . "\",\"last_name\":\"Bo\",\"email\":\"names4\@example.com\",\"password\":\"password\"}"]
--- error_code eval
[400, 400, 201, 201]
--- response_body_like eval
[qr/"fields":\{"first_name":"must be between 2 and 100 characters long","last_name":"must be between 2 and 100 characters long"\}/,
 qr/"fields":\{"first_name":"must be between 2 and 100 characters long"\}/,
 qr/"last_name"\s*:\s*"(\x{c3}\x{a9}){100}"/,
 qr/"first_name"\s*:\s*"x{100}"/]



=== TEST 11: e-mail: malformed, too long (255), or with a space is 400; 254 is fine
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/register
{\"first_name\":\"Em\",\"last_name\":\"Ail\",\"email\":\"not-an-email\",\"password\":\"password\"}",
"POST /api/v1/auth/register
{\"first_name\":\"Em\",\"last_name\":\"Ail\",\"email\":\"a b\@example.com\",\"password\":\"password\"}",
"POST /api/v1/auth/register
{\"first_name\":\"Em\",\"last_name\":\"Ail\",\"email\":\"x\@nodot\",\"password\":\"password\"}",
"POST /api/v1/auth/register
{\"first_name\":\"Em\",\"last_name\":\"Ail\",\"email\":\"a\@" . ("b" x 248) . ".com\",\"password\":\"password\"}",
"POST /api/v1/auth/register
{\"first_name\":\"Em\",\"last_name\":\"Ail\",\"email\":\"a\@" . ("b" x 249) . ".com\",\"password\":\"password\"}"]
--- error_code eval
[400, 400, 400, 201, 400]
--- response_body_like eval
[qr/"fields":\{"email":"must be a valid email address"\}/,
 qr/"fields":\{"email":"must be a valid email address"\}/,
 qr/"fields":\{"email":"must be a valid email address"\}/,
 qr/"email"\s*:\s*"a\@b{248}\.com"/,
 qr/"fields":\{"email":"must be a valid email address"\}/]



=== TEST 12: password: 7 bytes and 73 bytes refused; 8 and 72 accepted; multi-byte counted in bytes; spaces kept
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/register
{\"first_name\":\"Pw\",\"last_name\":\"Seven\",\"email\":\"pw7\@example.com\",\"password\":\"1234567\"}",
"POST /api/v1/auth/register
{\"first_name\":\"Pw\",\"last_name\":\"Eight\",\"email\":\"pw8\@example.com\",\"password\":\"12345678\"}",
"POST /api/v1/auth/register
{\"first_name\":\"Pw\",\"last_name\":\"Seventytwo\",\"email\":\"pw72\@example.com\",\"password\":\"" . ("p" x 72) . "\"}",
"POST /api/v1/auth/register
{\"first_name\":\"Pw\",\"last_name\":\"Seventythree\",\"email\":\"pw73\@example.com\",\"password\":\"" . ("p" x 73) . "\"}",
"POST /api/v1/auth/register
{\"first_name\":\"Pw\",\"last_name\":\"Utf\",\"email\":\"pwutf1\@example.com\",\"password\":\"" . ("\x{c3}\x{a9}" x 37) . "\"}",
"POST /api/v1/auth/register
{\"first_name\":\"Pw\",\"last_name\":\"Utf\",\"email\":\"pwutf2\@example.com\",\"password\":\"" . ("\x{c3}\x{a9}" x 36) . "\"}",
"POST /api/v1/auth/register
{\"first_name\":\"Pw\",\"last_name\":\"Spaces\",\"email\":\"pwspace\@example.com\",\"password\":\"   7ch   \"}"]
--- error_code eval
[400, 201, 201, 400, 400, 201, 201]
--- response_body_like eval
[qr/"fields":\{"password":"must be between 8 and 72 bytes long"\}/,
 qr/"status":"success"/,
 qr/"status":"success"/,
 qr/"fields":\{"password":"must be between 8 and 72 bytes long"\}/,
 qr/"fields":\{"password":"must be between 8 and 72 bytes long"\}/,
 qr/"status":"success"/,
 qr/"status":"success"/]



=== TEST 13: the password with its spaces is what logs in (no trimming)
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/login
{\"email\":\"pwspace\@example.com\",\"password\":\"7ch\"}",
"POST /api/v1/auth/login
{\"email\":\"pwspace\@example.com\",\"password\":\"   7ch   \"}",
"POST /api/v1/auth/login
{\"email\":\"pwutf2\@example.com\",\"password\":\"" . ("\x{c3}\x{a9}" x 36) . "\"}"]
--- error_code eval
[401, 200, 200]
--- response_body_like eval
[qr/"code":"INVALID_CREDENTIALS"/, qr/"message":"Login successful"/,
 qr/"message":"Login successful"/]



=== TEST 14: unknown fields are ignored
--- config eval: Evently::Test::server_config()
--- request
POST /api/v1/auth/register
{"first_name":"Un","last_name":"Known","email":"unknown@example.com","password":"password","id":"00000000-0000-4000-8000-000000000001","is_admin":true,"password_hash":"x"}
--- error_code: 201
--- response_body_like: "email"\s*:\s*"unknown@example.com",\s*"role"\s*:\s*"USER"



=== TEST 15: malformed JSON, a JSON array, an empty body are 400 INVALID_JSON
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/register
{\"first_name\":\"Ann\",",
"POST /api/v1/auth/register
[\"first_name\",\"Ann\"]",
"POST /api/v1/auth/register",
"POST /api/v1/auth/register
{\"first_name\":\"A\",\"first_name\":\"B\"}"]
--- error_code eval
[400, 400, 400, 400]
--- response_body eval
['{"status":"error","status_code":400,"message":"Request body is not valid JSON","errors":{"code":"INVALID_JSON"}}',
 '{"status":"error","status_code":400,"message":"Request body must be a JSON object","errors":{"code":"INVALID_JSON"}}',
 '{"status":"error","status_code":400,"message":"Request body is required","errors":{"code":"INVALID_JSON"}}',
 '{"status":"error","status_code":400,"message":"Request body is not valid JSON","errors":{"code":"INVALID_JSON"}}']



=== TEST 16: a body over 64 KiB is 413 in the envelope
--- config eval: Evently::Test::server_config()
--- request eval
"POST /api/v1/auth/register
{\"first_name\":\"" . ("a" x 70000) . "\"}"
--- error_code: 413
--- response_body_like: ^\{"status":"error","status_code":413,"message":"Request body is too large","errors":\{"code":"PAYLOAD_TOO_LARGE"\}\}$



=== TEST 17: a field of 10 KB (under the body limit) is 400, not stored
--- config eval: Evently::Test::server_config()
--- request eval
"POST /api/v1/auth/register
{\"first_name\":\"" . ("a" x 10000) . "\",\"last_name\":\"Big\",\"email\":\"big\@example.com\",\"password\":\"password\"}"
--- error_code: 400
--- response_body_like: "fields":\{"first_name":"must be between 2 and 100 characters long"\}



=== TEST 18: a non-JSON media type is 415
--- config eval: Evently::Test::server_config()
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /api/v1/auth/register
first_name=Ann&last_name=Lee&email=x@example.com&password=password
--- error_code: 415
--- response_body chomp
{"status":"error","status_code":415,"message":"Content-Type must be application/json","errors":{"code":"UNSUPPORTED_MEDIA_TYPE"}}



=== TEST 19: GET is 405 with Allow: POST
--- config eval: Evently::Test::server_config()
--- request
GET /api/v1/auth/register
--- error_code: 405
--- response_headers
Allow: POST
--- response_body chomp
{"status":"error","status_code":405,"message":"Method not allowed","errors":{"code":"METHOD_NOT_ALLOWED"}}



=== TEST 20: a control character in a name is refused
--- config eval: Evently::Test::server_config()
--- request
POST /api/v1/auth/register
{"first_name":"An\u0007n","last_name":"Lee","email":"ctl@example.com","password":"password"}
--- error_code: 400
--- response_body_like: "fields":\{"first_name":"must not contain control characters"\}



=== TEST 21: NUL inside the password is not valid JSON for us (never cut short)
--- config eval: Evently::Test::server_config()
--- request
POST /api/v1/auth/register
{"first_name":"Nul","last_name":"Byte","email":"nul@example.com","password":"password\u0000tail"}
--- error_code: 400
--- response_body_like: "code":"INVALID_JSON"
