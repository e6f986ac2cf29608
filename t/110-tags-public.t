# Tags, public routes: GET /api/v1/tags/active, GET /api/v1/tags/slug/{slug}.
#
# Starts from the seed (tags ...0101..0106) plus the changes each block's
# init makes. JSON built by PostgreSQL has " : " between keys and values,
# hence the \s* in the patterns.

use strict;
use warnings;

use Test::Nginx::Socket 'no_plan';
use Evently::Test;

evently_defaults();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: active tags by name (case-insensitive), inactive left out, Tag shape
--- init
Evently::Test::reset_db();
Evently::Test::seed();
Evently::Test::psql(q{
    UPDATE evently.tags SET is_active = false WHERE slug = 'sports';
    INSERT INTO evently.tags (name, slug, color)
    VALUES ('apple pie', 'apple-pie', '#000000'),
           ('zz hidden', 'zz-hidden', '#000000');
    UPDATE evently.tags SET is_active = false WHERE slug = 'zz-hidden';
});
--- config eval: Evently::Test::server_config()
--- request
GET /api/v1/tags/active
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body_like eval
qr/^(?!.*"(?:Sports|zz hidden)")\{"status":"success","status_code":200,"message":"Active tags retrieved successfully","data":\[\{"id"\s*:\s*"[0-9a-f-]{36}",\s*"name"\s*:\s*"apple pie",\s*"slug"\s*:\s*"apple-pie",\s*"description"\s*:\s*null,\s*"color"\s*:\s*"#000000",\s*"is_active"\s*:\s*true,\s*"created_at"\s*:\s*"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",\s*"updated_at"\s*:\s*"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\},\s*\{"id"\s*:\s*"00000000-0000-4000-8000-000000000105",\s*"name"\s*:\s*"Arts",\s*"slug"\s*:\s*"arts",\s*"description"\s*:\s*"Art exhibitions and cultural events",\s*"color"\s*:\s*"#F59E0B",\s*"is_active"\s*:\s*true,[^}]*\},\s*\{[^}]*"name"\s*:\s*"Business"[^}]*\},\s*\{[^}]*"name"\s*:\s*"Food"[^}]*\},\s*\{[^}]*"name"\s*:\s*"Music"[^}]*\},\s*\{[^}]*"name"\s*:\s*"Technology"[^}]*\}\]\}$/s
--- no_error_log
[error]



=== TEST 2: no tags at all: an empty array
--- init
Evently::Test::reset_db();
--- config eval: Evently::Test::server_config()
--- request
GET /api/v1/tags/active
--- response_body chomp
{"status":"success","status_code":200,"message":"Active tags retrieved successfully","data":[]}
--- no_error_log
[error]



=== TEST 3: no active tag: an empty array
--- init
Evently::Test::reset_db();
Evently::Test::seed();
Evently::Test::psql(q{UPDATE evently.tags SET is_active = false});
--- config eval: Evently::Test::server_config()
--- request
GET /api/v1/tags/active
--- response_body chomp
{"status":"success","status_code":200,"message":"Active tags retrieved successfully","data":[]}
--- no_error_log
[error]



=== TEST 4: a tag by slug, the whole Tag
--- init
Evently::Test::reset_db();
Evently::Test::seed();
--- config eval: Evently::Test::server_config()
--- request
GET /api/v1/tags/slug/music
--- response_body_like eval
qr/^\{"status":"success","status_code":200,"message":"Tag retrieved successfully","data":\{"id"\s*:\s*"00000000-0000-4000-8000-000000000102",\s*"name"\s*:\s*"Music",\s*"slug"\s*:\s*"music",\s*"description"\s*:\s*"Musical performances and concerts",\s*"color"\s*:\s*"#EF4444",\s*"is_active"\s*:\s*true,\s*"created_at"\s*:\s*"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",\s*"updated_at"\s*:\s*"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\}\}$/
--- no_error_log
[error]



=== TEST 5: slugs compare case-insensitively; a multi-word slug
--- init
Evently::Test::psql(q{
    INSERT INTO evently.tags (name, slug) VALUES ('Food & Wine', 'food-wine');
});
--- config eval: Evently::Test::server_config()
--- request eval
["GET /api/v1/tags/slug/MUSIC", "GET /api/v1/tags/slug/Food-Wine",
 "GET /api/v1/tags/slug/food-wine"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/"data":\{"id"\s*:\s*"00000000-0000-4000-8000-000000000102",\s*"name"\s*:\s*"Music",\s*"slug"\s*:\s*"music"/,
 qr/"data":\{"id"\s*:\s*"[0-9a-f-]{36}",\s*"name"\s*:\s*"Food & Wine",\s*"slug"\s*:\s*"food-wine"/,
 qr/"data":\{"id"\s*:\s*"[0-9a-f-]{36}",\s*"name"\s*:\s*"Food & Wine",\s*"slug"\s*:\s*"food-wine"/]
--- no_error_log
[error]



=== TEST 6: unknown slug: 404 TAG_NOT_FOUND
--- config eval: Evently::Test::server_config()
--- request
GET /api/v1/tags/slug/no-such-tag
--- error_code: 404
--- response_body chomp
{"status":"error","status_code":404,"message":"Tag not found","errors":{"code":"TAG_NOT_FOUND"}}
--- no_error_log
[error]



=== TEST 7: an inactive tag is not public: 404 TAG_NOT_FOUND
--- init
Evently::Test::psql(q{
    UPDATE evently.tags SET is_active = false WHERE slug = 'sports';
});
--- config eval: Evently::Test::server_config()
--- request
GET /api/v1/tags/slug/sports
--- error_code: 404
--- response_body chomp
{"status":"error","status_code":404,"message":"Tag not found","errors":{"code":"TAG_NOT_FOUND"}}
--- no_error_log
[error]



=== TEST 8: text that can never be a slug: 404, never a 500
--- config eval: Evently::Test::server_config()
--- request eval
["GET /api/v1/tags/slug/mu_sic", "GET /api/v1/tags/slug/-music",
 "GET /api/v1/tags/slug/music-", "GET /api/v1/tags/slug/mu--sic",
 "GET /api/v1/tags/slug/m%20usic", "GET /api/v1/tags/slug/m%C3%BCsic",
 "GET /api/v1/tags/slug/%27%20OR%201=1%20--",
 "GET /api/v1/tags/slug/" . ("a" x 101)]
--- error_code eval
[404, 404, 404, 404, 404, 404, 404, 404]
--- response_body eval
[("{\"status\":\"error\",\"status_code\":404,\"message\":\"Tag not found\",\"errors\":{\"code\":\"TAG_NOT_FOUND\"}}") x 8]
--- no_error_log
[error]



=== TEST 9: a path segment over 128 bytes or not UTF-8: 400 INVALID_ID
--- config eval: Evently::Test::server_config()
--- request eval
["GET /api/v1/tags/slug/" . ("a" x 129), "GET /api/v1/tags/slug/%FF%FE"]
--- error_code eval
[400, 400]
--- response_body_like eval
[qr/^\{"status":"error","status_code":400,"message":"[^"]+","errors":\{"code":"INVALID_ID"\}\}$/,
 qr/^\{"status":"error","status_code":400,"message":"[^"]+","errors":\{"code":"INVALID_ID"\}\}$/]
--- no_error_log
[error]



=== TEST 10: paths next to the tag routes are not tag routes
--- config eval: Evently::Test::server_config()
--- request eval
["GET /api/v1/tags/slug/music/extra", "GET /api/v1/tags/slug/",
 "GET /api/v1/tags", "GET /api/v1/tags/active/x"]
--- error_code eval
[404, 404, 404, 404]
--- response_body_like eval
[(qr/"errors":\{"code":"ROUTE_NOT_FOUND"\}/) x 4]
--- no_error_log
[error]



=== TEST 11: wrong method: 405 with Allow
--- config eval: Evently::Test::server_config()
--- request eval
["POST /api/v1/tags/active\n{}", "DELETE /api/v1/tags/slug/music",
 "PUT /api/v1/tags/slug/music\n{}"]
--- more_headers
Content-Type: application/json
--- error_code eval
[405, 405, 405]
--- response_headers eval
["Allow: GET, HEAD", "Allow: GET, HEAD", "Allow: GET, HEAD"]
--- response_body_like eval
[(qr/"errors":\{"code":"METHOD_NOT_ALLOWED"\}/) x 3]
--- no_error_log
[error]



=== TEST 12: public routes answer the same with a USER or an ADMIN token
--- config eval: Evently::Test::server_config()
--- request eval
["GET /api/v1/tags/active", "GET /api/v1/tags/slug/music",
 "GET /api/v1/tags/active", "GET /api/v1/tags/slug/music"]
--- more_headers eval
[map { "Authorization: Bearer "
       . Evently::Test::jwt(sub => "00000000-0000-4000-8000-00000000000$_->[0]",
                            user_id => "00000000-0000-4000-8000-00000000000$_->[0]",
                            email => $_->[1], role => $_->[2]) }
 ([2, 'mitshah2406@gmail.com', 'USER'], [2, 'mitshah2406@gmail.com', 'USER'],
  [1, 'admin@gmail.com', 'ADMIN'], [1, 'admin@gmail.com', 'ADMIN'])]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
[qr/"message":"Active tags retrieved successfully","data":\[\{.*"name"\s*:\s*"Arts"/,
 qr/"data":\{"id"\s*:\s*"00000000-0000-4000-8000-000000000102"/,
 qr/"message":"Active tags retrieved successfully","data":\[\{.*"name"\s*:\s*"Arts"/,
 qr/"data":\{"id"\s*:\s*"00000000-0000-4000-8000-000000000102"/]
--- no_error_log
[error]
