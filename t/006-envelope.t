# Request plumbing shared by every route, exercised on a BODY route
# (POST /api/v1/admin/tags, admin token): 413 for a body over 64 KiB
# (announced, chunked, or refused by nginx itself through error_page),
# 415 for a non-JSON Content-Type, 400 INVALID_JSON for malformed JSON,
# an array, a scalar, duplicate keys or no body; all in the JSON
# envelope. X-Request-Id on every response, CORS headers for an allowed
# Origin only, OPTIONS preflight 204.

use strict;
use warnings;

# the first request after each start may wait for the PostgreSQL pool's
# SCRAM handshakes, which take seconds under ASan
BEGIN { $ENV{TEST_NGINX_TIMEOUT} ||= 10 }

use Test::Nginx::Socket 'no_plan';
use Evently::Test;

our $Admin = 'Authorization: Bearer '
    . Evently::Test::jwt(sub => '6f0b4c1e-2a4d-4d5e-9a8b-1c2d3e4f5a6b',
                         role => 'ADMIN', email => 'admin@example.com');
our $Json = "Content-Type: application/json";

# a JSON object of exactly $len bytes (a description padded with x)
sub json_of_len {
    my ($len) = @_;
    my $head = '{"name":"Padded","description":"';
    my $tail = '"}';
    return $head . ('x' x ($len - length($head) - length($tail))) . $tail;
}

# a chunked request for POST /api/v1/admin/tags with $body in 8 KiB chunks
sub chunked_request {
    my ($body) = @_;
    my $req = "POST /api/v1/admin/tags HTTP/1.1\r\nHost: localhost\r\n"
              . "$Admin\r\n$Json\r\nTransfer-Encoding: chunked\r\n"
              . "Connection: close\r\n\r\n";
    for (my $off = 0; $off < length $body; $off += 8192) {
        my $c = substr $body, $off, 8192;
        $req .= sprintf("%x\r\n", length $c) . "$c\r\n";
    }
    return $req . "0\r\n\r\n";
}

our $Over = json_of_len(65537);
our $Exact = json_of_len(65536);

evently_defaults();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: the BODY route works (baseline): 201 and the envelope
--- init
Evently::Test::reset_db();
--- config eval: Evently::Test::server_config()
--- more_headers eval
"$::Admin\n$::Json"
--- request
POST /api/v1/admin/tags
{"name":"Envelope Test"}
--- error_code: 201
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- response_body_like: ^\{"status":"success","status_code":201,"message":"Tag created successfully","data":\{.*"slug"\s*:\s*"envelope-test"
--- no_error_log
[error]



=== TEST 2: body over 64 KiB with Content-Length: 413 envelope
--- config eval: Evently::Test::server_config()
--- more_headers eval
"$::Admin\n$::Json"
--- request eval
"POST /api/v1/admin/tags\n$::Over"
--- error_code: 413
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- response_body chomp
{"status":"error","status_code":413,"message":"Request body is too large","errors":{"code":"PAYLOAD_TOO_LARGE"}}



=== TEST 3: body of exactly 64 KiB is read (then fails validation, not 413)
--- config eval: Evently::Test::server_config()
--- more_headers eval
"$::Admin\n$::Json"
--- request eval
"POST /api/v1/admin/tags\n$::Exact"
--- error_code: 400
--- response_body_like: "code":"VALIDATION_FAILED".*"description"



=== TEST 4: chunked body over 64 KiB (no Content-Length): 413 envelope
--- config eval: Evently::Test::server_config()
--- raw_request eval
main::chunked_request($::Over)
--- error_code: 413
--- response_body chomp
{"status":"error","status_code":413,"message":"Request body is too large","errors":{"code":"PAYLOAD_TOO_LARGE"}}



=== TEST 5: chunked body under the limit is read normally
--- config eval: Evently::Test::server_config()
--- raw_request eval
main::chunked_request('{"name":"Chunked Tag"}')
--- error_code: 201
--- response_body_like: "slug"\s*:\s*"chunked-tag"



=== TEST 6: nginx's own 413 (client_max_body_size) is the envelope too
--- config eval
Evently::Test::server_config() . <<'_EOC_';
location = /t/small-body {
    client_max_body_size 1k;
    evently_auth admin;
    evently POST tag_create;
}
_EOC_
--- more_headers eval
"$::Admin\n$::Json"
--- request eval
"POST /t/small-body\n" . main::json_of_len(2048)
--- error_code: 413
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body chomp
{"status":"error","status_code":413,"message":"Request body is too large","errors":{"code":"PAYLOAD_TOO_LARGE"}}



=== TEST 7: non-JSON Content-Types: 415 envelope
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/admin/tags\n{\"name\":\"Plain\"}",
 "POST /api/v1/admin/tags\nname=Form",
 "POST /api/v1/admin/tags\n{\"name\":\"Jsonx\"}"]
--- more_headers eval
["$::Admin\nContent-Type: text/plain",
 "$::Admin\nContent-Type: application/x-www-form-urlencoded",
 "$::Admin\nContent-Type: application/jsonx"]
--- error_code eval
[415, 415, 415]
--- response_body eval
['{"status":"error","status_code":415,"message":"Content-Type must be application/json","errors":{"code":"UNSUPPORTED_MEDIA_TYPE"}}',
 qr/"code":"UNSUPPORTED_MEDIA_TYPE"/,
 qr/"code":"UNSUPPORTED_MEDIA_TYPE"/]



=== TEST 8: JSON Content-Types with parameters, any case, are accepted
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/admin/tags\n{\"name\":\"Charset One\"}",
 "POST /api/v1/admin/tags\n{\"name\":\"Charset Two\"}"]
--- more_headers eval
["$::Admin\nContent-Type: application/json; charset=utf-8",
 "$::Admin\nContent-Type: Application/JSON"]
--- error_code eval
[201, 201]
--- response_body_like eval
['"slug"\s*:\s*"charset-one"', '"slug"\s*:\s*"charset-two"']



=== TEST 9: malformed JSON, array, scalar, duplicate keys: 400 INVALID_JSON
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/admin/tags\n{\"name\":",
 "POST /api/v1/admin/tags\n[{\"name\":\"In Array\"}]",
 "POST /api/v1/admin/tags\n\"just a string\"",
 "POST /api/v1/admin/tags\n{\"name\":\"Dup One\",\"name\":\"Dup Two\"}",
 "POST /api/v1/admin/tags\n{'name':'single quotes'}",
 "POST /api/v1/admin/tags\n{\"name\":\"Trailing\"} junk"]
--- more_headers eval
[("$::Admin\n$::Json") x 6]
--- error_code eval
[400, 400, 400, 400, 400, 400]
--- response_body eval
['{"status":"error","status_code":400,"message":"Request body is not valid JSON","errors":{"code":"INVALID_JSON"}}',
 '{"status":"error","status_code":400,"message":"Request body must be a JSON object","errors":{"code":"INVALID_JSON"}}',
 qr/"code":"INVALID_JSON"/,
 qr/"code":"INVALID_JSON"/,
 qr/"code":"INVALID_JSON"/,
 qr/"code":"INVALID_JSON"/]



=== TEST 10: no body at all: 400 INVALID_JSON
--- config eval: Evently::Test::server_config()
--- more_headers eval
"$::Admin\n$::Json\nContent-Length: 0"
--- request
POST /api/v1/admin/tags
--- error_code: 400
--- response_body chomp
{"status":"error","status_code":400,"message":"Request body is required","errors":{"code":"INVALID_JSON"}}



=== TEST 11: invalid UTF-8 in a JSON string: 400 INVALID_JSON, not 500
--- config eval: Evently::Test::server_config()
--- more_headers eval
"$::Admin\n$::Json"
--- request eval
"POST /api/v1/admin/tags\n{\"name\":\"bad \xff\xfe utf8\"}"
--- error_code: 400
--- response_body_like: "code":"INVALID_JSON"



=== TEST 12: X-Request-Id on every kind of response, unique per request
--- config eval: Evently::Test::server_config()
--- request eval
["GET /ping", "GET /api/v1/nope", "POST /health", "GET /api/v1/tags/active",
 "POST /api/v1/admin/tags\n{}", "GET /"]
--- more_headers eval
["", "", "", "", "Content-Type: application/json", ""]
--- error_code eval
[200, 404, 405, 200, 401, 301]
--- response_headers_like eval
[("X-Request-Id: [0-9a-f]{32}") x 6]



=== TEST 13: CORS: an allowed Origin is echoed, with the other CORS headers
--- config eval: Evently::Test::server_config()
--- more_headers
Origin: http://localhost:3000
--- request
GET /api/v1/tags/active
--- error_code: 200
--- response_headers
Access-Control-Allow-Origin: http://localhost:3000
Access-Control-Expose-Headers: ETag, Retry-After, X-Request-Id
Vary: Origin



=== TEST 14: CORS: also on errors (401, 404) for an allowed Origin
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/admin/tags\n{}", "GET /api/v1/nope"]
--- more_headers eval
["Origin: http://127.0.0.1:5173\nContent-Type: application/json",
 "Origin: http://localhost"]
--- error_code eval
[401, 404]
--- response_headers eval
["Access-Control-Allow-Origin: http://127.0.0.1:5173",
 "Access-Control-Allow-Origin: http://localhost"]



=== TEST 15: CORS: other origins get no Access-Control-Allow-Origin
--- config eval: Evently::Test::server_config()
--- request eval
["GET /api/v1/tags/active", "GET /api/v1/tags/active",
 "GET /api/v1/tags/active", "GET /api/v1/tags/active"]
--- more_headers eval
["Origin: http://evil.example.com",
 "Origin: http://localhost.evil.example.com",
 "Origin: https://localhost:3000.evil.example.com",
 ""]
--- error_code eval
[200, 200, 200, 200]
--- response_headers eval
["!Access-Control-Allow-Origin", "!Access-Control-Allow-Origin",
 "!Access-Control-Allow-Origin", "!Access-Control-Allow-Origin"]



=== TEST 16: OPTIONS preflight: 204 with the CORS headers, no auth needed
--- config eval: Evently::Test::server_config()
--- more_headers
Origin: http://localhost:3000
Access-Control-Request-Method: POST
Access-Control-Request-Headers: Authorization, Content-Type, Idempotency-Key
--- request
OPTIONS /api/v1/admin/tags
--- error_code: 204
--- response_headers
Access-Control-Allow-Origin: http://localhost:3000
Access-Control-Allow-Methods: GET, POST, PUT, PATCH, DELETE, OPTIONS
Access-Control-Allow-Headers: Authorization, Content-Type, If-Match, Idempotency-Key
Access-Control-Max-Age: 600
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- response_body chomp



=== TEST 17: the checks run after authentication: no token + bad body is 401
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/admin/tags\n{\"name\":", "POST /api/v1/admin/tags\nx=1"]
--- more_headers eval
["Content-Type: application/json", "Content-Type: text/plain"]
--- error_code eval
[401, 401]
--- response_body_like eval
['"code":"AUTH_REQUIRED"', '"code":"AUTH_REQUIRED"']



=== TEST 18: a refused mutation never runs: 401, 403, 415, 400 leave no row
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/admin/tags\n{\"name\":\"Sneaky No Token\"}",
 "POST /api/v1/admin/tags\n{\"name\":\"Sneaky User\"}",
 "POST /api/v1/admin/tags\n{\"name\":\"Sneaky Bad Token\"}",
 "POST /api/v1/admin/tags\n{\"name\":\"Sneaky Plain\"}",
 "POST /api/v1/admin/tags\n{\"name\":\"Sneaky Dup\",\"name\":\"x\"}",
 "GET /api/v1/tags/active"]
--- more_headers eval
["Content-Type: application/json",
 "Content-Type: application/json\nAuthorization: Bearer "
     . Evently::Test::jwt(sub => '0b7c3f8e-1d2a-4c5b-8e9f-0a1b2c3d4e5f',
                          role => 'USER'),
 "Content-Type: application/json\nAuthorization: Bearer abc.def.ghi",
 "$::Admin\nContent-Type: text/plain",
 "$::Admin\n$::Json",
 ""]
--- error_code eval
[401, 403, 401, 415, 400, 200]
--- response_body_like eval
['"code":"AUTH_REQUIRED"', '"code":"FORBIDDEN"', '"code":"INVALID_TOKEN"',
 '"code":"UNSUPPORTED_MEDIA_TYPE"', '"code":"INVALID_JSON"',
 qr/^(?!.*[Ss]neaky)/s]
