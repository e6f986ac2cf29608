# POST /api/v1/auth/login in the Test::Nginx block format: the seeded
# admin and users log in (every seeded password is "qwerty"), the e-mail
# is matched case-insensitively, an unknown e-mail and a wrong password
# give the very same 401 INVALID_CREDENTIALS, and every malformed,
# missing, oversized or mistyped input is a clear 4xx.
#
# That both 401 cases cost one bcrypt hash (no timing oracle) is shown
# in t/104-auth-ratelimit.t by timing them.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Evently::Test;

evently_defaults(auth_rate => '100000r/s');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: the seeded admin logs in: AuthResponse with role ADMIN
--- init
Evently::Test::reset_db();
Evently::Test::seed();
--- config eval: Evently::Test::server_config()
--- more_headers
Content-Type: application/json; charset=utf-8
--- request
POST /api/v1/auth/login
{"email":"admin@gmail.com","password":"qwerty"}
--- error_code: 200
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body_like eval
qr/^\{"status":"success","status_code":200,"message":"Login successful","data":\{"user":\{"id"\s*:\s*"00000000-0000-4000-8000-000000000001",\s*"first_name"\s*:\s*"Admin",\s*"last_name"\s*:\s*"User",\s*"email"\s*:\s*"admin\@gmail.com",\s*"role"\s*:\s*"ADMIN",\s*"created_at"\s*:\s*"[^"]+Z",\s*"updated_at"\s*:\s*"[^"]+Z"\},"access_token":"[\w-]+\.[\w-]+\.[\w-]{43}","refresh_token":"[\w-]+\.[\w-]+\.[\w-]{43}","expires_in":900\}\}$/
--- no_error_log
[error]



=== TEST 2: a seeded user logs in with the e-mail in another case and surrounding spaces
--- config eval: Evently::Test::server_config()
--- request
POST /api/v1/auth/login
{"email":"  MitShah2406@GMAIL.com ","password":"qwerty"}
--- error_code: 200
--- response_body_like: "id"\s*:\s*"00000000-0000-4000-8000-000000000002".*"email"\s*:\s*"mitshah2406@gmail.com",\s*"role"\s*:\s*"USER"



=== TEST 3: wrong password and unknown e-mail: the same 401, byte for byte
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/login
{\"email\":\"admin\@gmail.com\",\"password\":\"qwertY\"}",
"POST /api/v1/auth/login
{\"email\":\"nobody\@gmail.com\",\"password\":\"qwerty\"}",
"POST /api/v1/auth/login
{\"email\":\"admin\@gmail.com\",\"password\":\"qwerty \"}"]
--- error_code eval
[401, 401, 401]
--- response_body eval
['{"status":"error","status_code":401,"message":"Invalid email or password","errors":{"code":"INVALID_CREDENTIALS"}}',
 '{"status":"error","status_code":401,"message":"Invalid email or password","errors":{"code":"INVALID_CREDENTIALS"}}',
 '{"status":"error","status_code":401,"message":"Invalid email or password","errors":{"code":"INVALID_CREDENTIALS"}}']
--- no_error_log
[error]



=== TEST 4: a password over 72 bytes is 400 (bcrypt would silently cut it to 72)
--- config eval: Evently::Test::server_config()
--- request eval
"POST /api/v1/auth/login
{\"email\":\"admin\@gmail.com\",\"password\":\"qwerty" . ("x" x 67) . "\"}"
--- error_code: 400
--- response_body chomp
{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"password":"must be between 1 and 72 bytes long"}}}



=== TEST 5: missing fields, empty password, malformed e-mail
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/login
{}",
"POST /api/v1/auth/login
{\"email\":\"admin\@gmail.com\",\"password\":\"\"}",
"POST /api/v1/auth/login
{\"email\":\"admin\",\"password\":\"qwerty\"}",
"POST /api/v1/auth/login
{\"email\":\"a\@" . ("b" x 249) . ".com\",\"password\":\"qwerty\"}"]
--- error_code eval
[400, 400, 400, 400]
--- response_body eval
['{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"email":"is required","password":"is required"}}}',
 '{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"password":"must be between 1 and 72 bytes long"}}}',
 '{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"email":"must be a valid email address"}}}',
 '{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"email":"must be a valid email address"}}}']



=== TEST 6: wrong types and nulls
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/login
{\"email\":[\"admin\@gmail.com\"],\"password\":123456}",
"POST /api/v1/auth/login
{\"email\":null,\"password\":{\"p\":\"qwerty\"}}",
"POST /api/v1/auth/login
{\"email\":\"admin\@gmail.com\",\"password\":true}"]
--- error_code eval
[400, 400, 400]
--- response_body eval
['{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"email":"must be a string","password":"must be a string"}}}',
 '{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"email":"is required","password":"must be a string"}}}',
 '{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"password":"must be a string"}}}']



=== TEST 7: malformed JSON, not an object, no body
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/login
{\"email\":\"admin\@gmail.com\",\"password\":\"qwerty\"",
"POST /api/v1/auth/login
\"admin\@gmail.com\"",
"POST /api/v1/auth/login"]
--- error_code eval
[400, 400, 400]
--- response_body_like eval
[qr/"code":"INVALID_JSON"/, qr/"code":"INVALID_JSON"/, qr/"code":"INVALID_JSON"/]



=== TEST 8: an oversized body is 413, a form body 415
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/auth/login
{\"email\":\"admin\@gmail.com\",\"password\":\"" . ("q" x 66000) . "\"}",
"POST /api/v1/auth/login
email=admin\@gmail.com&password=qwerty"]
--- more_headers eval
["Content-Type: application/json", "Content-Type: text/plain"]
--- error_code eval
[413, 415]
--- response_body_like eval
[qr/"code":"PAYLOAD_TOO_LARGE"/, qr/"code":"UNSUPPORTED_MEDIA_TYPE"/]



=== TEST 9: GET and PUT are 405 with Allow: POST
--- config eval: Evently::Test::server_config()
--- request eval
["GET /api/v1/auth/login", "PUT /api/v1/auth/login
{}"]
--- error_code eval
[405, 405]
--- response_headers eval
["Allow: POST", "Allow: POST"]
--- response_body_like eval
[qr/"code":"METHOD_NOT_ALLOWED"/, qr/"code":"METHOD_NOT_ALLOWED"/]



=== TEST 10: an Authorization header, even a bad one, does not matter on the public login
--- config eval: Evently::Test::server_config()
--- more_headers
Authorization: Bearer garbage
--- request
POST /api/v1/auth/login
{"email":"mitshah2406.work@gmail.com","password":"qwerty"}
--- error_code: 200
--- response_body_like: "email"\s*:\s*"mitshah2406.work@gmail.com"



=== TEST 11: an account with a hash that is not bcrypt is refused like a wrong password (no 500)
--- init
Evently::Test::create_user(email => 'broken@example.com',
                           password_hash => 'not-a-bcrypt-hash');
--- config eval: Evently::Test::server_config()
--- request
POST /api/v1/auth/login
{"email":"broken@example.com","password":"qwerty"}
--- error_code: 401
--- response_body_like: "code":"INVALID_CREDENTIALS"
--- no_error_log
[error]
