# Events: the exact envelopes of the error paths and a few answers on the
# sample data (sql/seed.sql: events ...0401..0406, all published),
# Test::Nginx blocks. The detailed behaviour is in t/130-132.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Evently::Test;

our $Admin = 'Authorization: Bearer ' . Evently::Test::jwt(
    sub => '00000000-0000-4000-8000-000000000001',
    user_id => '00000000-0000-4000-8000-000000000001',
    email => 'admin@gmail.com', role => 'ADMIN');
our $User = 'Authorization: Bearer ' . Evently::Test::jwt(
    sub => '00000000-0000-4000-8000-000000000002',
    user_id => '00000000-0000-4000-8000-000000000002',
    email => 'mitshah2406@gmail.com', role => 'USER');

evently_defaults();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: no events: an empty page
--- init
Evently::Test::reset_db();
--- config eval: Evently::Test::server_config()
--- request
GET /api/v1/events
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body_like eval
qr/^\{"status":"success","status_code":200,"message":"Events retrieved successfully","data":\{"events"\s*:\s*\[\],\s*"total_count"\s*:\s*0,\s*"page"\s*:\s*1,\s*"limit"\s*:\s*10,\s*"total_pages"\s*:\s*0\}\}$/
--- no_error_log
[error]



=== TEST 2: the sample data: tags=music,food (any), by date_time
--- init
Evently::Test::reset_db();
Evently::Test::seed();
--- config eval: Evently::Test::server_config()
--- request
GET /api/v1/events?tags=music,food
--- response_body_like eval
qr/^\{"status":"success","status_code":200,"message":"Events retrieved successfully","data":\{"events"\s*:\s*\[\{"id"\s*:\s*"00000000-0000-4000-8000-000000000402",\s*"name"\s*:\s*"Classical Music Evening",.*\},\s*\{"id"\s*:\s*"00000000-0000-4000-8000-000000000404",\s*"name"\s*:\s*"Food & Wine Festival",.*\}\],\s*"total_count"\s*:\s*2,\s*"page"\s*:\s*1,\s*"limit"\s*:\s*10,\s*"total_pages"\s*:\s*1\}\}$/s
--- no_error_log
[error]



=== TEST 3: detail of a sample event: ETag, sections with prices
--- config eval: Evently::Test::server_config()
--- request
GET /api/v1/events/00000000-0000-4000-8000-000000000401
--- response_headers
ETag: "1"
--- response_body_like eval
qr/"venue_sections"\s*:\s*\[\{"id"\s*:\s*"00000000-0000-4000-8000-000000000304",\s*"name"\s*:\s*"General",.*"price_multiplier"\s*:\s*1\.00,\s*"price"\s*:\s*1500\.00\},\s*\{"id"\s*:\s*"00000000-0000-4000-8000-000000000303",\s*"name"\s*:\s*"VIP",.*"price_multiplier"\s*:\s*2\.00,\s*"price"\s*:\s*3000\.00\}\],.*"total_capacity"\s*:\s*28,\s*"booked_count"\s*:\s*0,\s*"available_tickets"\s*:\s*28,\s*"base_price"\s*:\s*1500\.00,\s*"currency"\s*:\s*"INR"/s
--- no_error_log
[error]



=== TEST 4: bad query parameters: 400 with errors.fields
--- config eval: Evently::Test::server_config()
--- request eval
["GET /api/v1/events?limit=0", "GET /api/v1/events?status=draft",
 "GET /api/v1/events?date_from=2030-02-30",
 "GET /api/v1/events?date_from=2030-02-02&date_to=2030-02-01",
 "GET /api/v1/events/upcoming?limit=500"]
--- error_code eval
[400, 400, 400, 400, 400]
--- response_body eval
['{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"limit":"must be an integer between 1 and 100"}}}',
 '{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"status":"must be one of published, cancelled, completed"}}}',
 '{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"date_from":"must be a date YYYY-MM-DD"}}}',
 qr/^\{"status":"error","status_code":400,"message":"Validation failed","errors":\{"code":"VALIDATION_FAILED","fields"\s*:\s*\{"date_to"\s*:\s*"must not be before date_from"\}\}\}$/,
 '{"status":"error","status_code":400,"message":"Validation failed","errors":{"code":"VALIDATION_FAILED","fields":{"limit":"must be an integer between 1 and 100"}}}']
--- no_error_log
[error]



=== TEST 5: bad and unknown ids
--- config eval: Evently::Test::server_config()
--- more_headers eval
[$::User, $::User, $::User, $::Admin]
--- request eval
["GET /api/v1/events/abc",
 "GET /api/v1/events/00000000-0000-4000-8000-00000000ffff",
 "GET /api/v1/events/00000000-0000-4000-8000-00000000ffff/venue/layout",
 "DELETE /api/v1/admin/events/00000000-0000-4000-8000-00000000ffff"]
--- error_code eval
[400, 404, 404, 404]
--- response_body eval
['{"status":"error","status_code":400,"message":"Identifier must be a UUID","errors":{"code":"INVALID_ID"}}',
 '{"status":"error","status_code":404,"message":"Event not found","errors":{"code":"EVENT_NOT_FOUND"}}',
 '{"status":"error","status_code":404,"message":"Event not found","errors":{"code":"EVENT_NOT_FOUND"}}',
 '{"status":"error","status_code":404,"message":"Event not found","errors":{"code":"EVENT_NOT_FOUND"}}']
--- no_error_log
[error]



=== TEST 6: who may call what: 401 without a token, 403 for a USER
--- config eval: Evently::Test::server_config()
--- more_headers eval
["", "", $::User, $::User, $::User, $::User]
--- request eval
["GET /api/v1/events/00000000-0000-4000-8000-000000000401/venue/layout",
 "GET /api/v1/events/00000000-0000-4000-8000-000000000401/sections",
 "GET /api/v1/admin/events",
 "POST /api/v1/admin/events\n{}",
 "PUT /api/v1/admin/events/00000000-0000-4000-8000-000000000401\n{}",
 "DELETE /api/v1/admin/events/00000000-0000-4000-8000-000000000401"]
--- error_code eval
[401, 401, 403, 403, 403, 403]
--- response_body eval
['{"status":"error","status_code":401,"message":"Authorization header with a Bearer token is required","errors":{"code":"AUTH_REQUIRED"}}',
 '{"status":"error","status_code":401,"message":"Authorization header with a Bearer token is required","errors":{"code":"AUTH_REQUIRED"}}',
 '{"status":"error","status_code":403,"message":"Admin access required","errors":{"code":"FORBIDDEN"}}',
 '{"status":"error","status_code":403,"message":"Admin access required","errors":{"code":"FORBIDDEN"}}',
 '{"status":"error","status_code":403,"message":"Admin access required","errors":{"code":"FORBIDDEN"}}',
 '{"status":"error","status_code":403,"message":"Admin access required","errors":{"code":"FORBIDDEN"}}']
--- no_error_log
[error]



=== TEST 7: the admin: malformed JSON, unknown template, stale If-Match
--- config eval: Evently::Test::server_config()
--- more_headers eval
[$::Admin, $::Admin, "$::Admin\nIf-Match: \"9\""]
--- request eval
["POST /api/v1/admin/events\n{\"name\": ",
 "POST /api/v1/admin/events\n" . '{"name":"Show","venue":"Somewhere","venue_template_id":"00000000-0000-4000-8000-00000000ffff","date_time":"2099-01-01T10:00:00Z","base_price":10}',
 "PUT /api/v1/admin/events/00000000-0000-4000-8000-000000000401\n{\"name\":\"Renamed\"}"]
--- error_code eval
[400, 404, 412]
--- response_body eval
['{"status":"error","status_code":400,"message":"Request body is not valid JSON","errors":{"code":"INVALID_JSON"}}',
 '{"status":"error","status_code":404,"message":"Venue template not found","errors":{"code":"TEMPLATE_NOT_FOUND"}}',
 qr/^\{"status":"error","status_code":412,"message":"The event has changed since it was read","errors":\{"code":"VERSION_MISMATCH","current_version"\s*:\s*1\}\}$/]
--- no_error_log
[error]



=== TEST 8: wrong methods: 405 with Allow
--- config eval: Evently::Test::server_config()
--- more_headers eval
[$::Admin, $::Admin, $::Admin]
--- request eval
["DELETE /api/v1/events", "POST /api/v1/events/00000000-0000-4000-8000-000000000401\n{}",
 "PATCH /api/v1/admin/events/00000000-0000-4000-8000-000000000401\n{}"]
--- error_code eval
[405, 405, 405]
--- response_headers eval
["Allow: GET, HEAD", "Allow: GET, HEAD", "Allow: GET, HEAD, PUT, DELETE"]
--- response_body eval
['{"status":"error","status_code":405,"message":"Method not allowed","errors":{"code":"METHOD_NOT_ALLOWED"}}',
 '{"status":"error","status_code":405,"message":"Method not allowed","errors":{"code":"METHOD_NOT_ALLOWED"}}',
 '{"status":"error","status_code":405,"message":"Method not allowed","errors":{"code":"METHOD_NOT_ALLOWED"}}']
--- no_error_log
[error]



=== TEST 9: the admin cancels a sample event; then it is final
--- config eval: Evently::Test::server_config()
--- more_headers eval
["$::Admin\nIf-Match: \"1\"", $::Admin, ""]
--- request eval
["PUT /api/v1/admin/events/00000000-0000-4000-8000-000000000403\n{\"status\":\"cancelled\"}",
 "PUT /api/v1/admin/events/00000000-0000-4000-8000-000000000403\n{\"status\":\"published\"}",
 "GET /api/v1/events?status=cancelled"]
--- error_code eval
[200, 409, 200]
--- response_body eval
[qr/^\{"status":"success","status_code":200,"message":"Event updated successfully","data":\{"id"\s*:\s*"00000000-0000-4000-8000-000000000403",.*"status"\s*:\s*"cancelled",.*"version"\s*:\s*2,/s,
 '{"status":"error","status_code":409,"message":"The event is cancelled; cancellation is final","errors":{"code":"EVENT_CANCELLED"}}',
 qr/"events"\s*:\s*\[\{"id"\s*:\s*"00000000-0000-4000-8000-000000000403",.*"status"\s*:\s*"cancelled",.*\}\],\s*"total_count"\s*:\s*1,\s*"page"/s]
--- no_error_log
[error]
