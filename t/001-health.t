# Service routes in the Test::Nginx block format: /health with each
# dependency unreachable (a closed port: deterministic, no waiting), the
# shapes of /ping and /status, the redirect of /, the JSON envelope of
# unknown routes and of a wrong method.
#
# /health with every dependency up, and the timings of the down cases,
# are in t/001-health-live.t (they need polling and clocks).

use strict;
use warnings;

# the first request after each start may wait for the PostgreSQL pool's
# SCRAM handshakes, which take seconds under ASan
BEGIN { $ENV{TEST_NGINX_TIMEOUT} ||= 10 }

use Test::Nginx::Socket 'no_plan';
use Evently::Test;
use IO::Socket::INET ();

# a TCP port on which nothing listens: bind an ephemeral port, release it
sub closed_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1)
        or die "closed_port: $!\n";
    my $port = $s->sockport;
    close $s;
    return $port;
}

our $ClosedPg = closed_port();
our $ClosedRedis = closed_port();
our $ClosedKafka = closed_port();

our $PgDown = "host=127.0.0.1 port=$ClosedPg dbname=evently user=evently "
              . "password=evently";

evently_defaults();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: /ping answers pong in plain JSON (no envelope)
--- config eval: Evently::Test::server_config()
--- request
GET /ping
--- error_code: 200
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body chomp
{"message":"pong","version":"v1"}
--- no_error_log
[error]



=== TEST 2: /status shape, RFC 3339 UTC timestamp
--- config eval: Evently::Test::server_config()
--- request
GET /status
--- error_code: 200
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body_like: ^\{"status":"operational","api_version":"v1","timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\}$
--- no_error_log
[error]



=== TEST 3: / redirects to /health
--- config eval: Evently::Test::server_config()
--- request
GET /
--- error_code: 301
--- response_headers_like
Location: (https?://[^/]+)?/health



=== TEST 4: an unknown /api/v1 path is the 404 ROUTE_NOT_FOUND envelope
--- config eval: Evently::Test::server_config()
--- request
GET /api/v1/no/such/route
--- error_code: 404
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body chomp
{"status":"error","status_code":404,"message":"Route not found","errors":{"code":"ROUTE_NOT_FOUND"}}
--- no_error_log
[error]



=== TEST 5: POST on an unknown /api/v1 path is 404 too, body ignored
--- config eval: Evently::Test::server_config()
--- more_headers
Content-Type: application/json
--- request
POST /api/v1/nope
{"a":1}
--- error_code: 404
--- response_body_like: "code":"ROUTE_NOT_FOUND"
--- no_error_log
[error]



=== TEST 6: POST /health is 405 with Allow: GET, HEAD, in the envelope
--- config eval: Evently::Test::server_config()
--- request
POST /health
--- error_code: 405
--- response_headers
Allow: GET, HEAD
Content-Type: application/json; charset=utf-8
--- response_body chomp
{"status":"error","status_code":405,"message":"Method not allowed","errors":{"code":"METHOD_NOT_ALLOWED"}}



=== TEST 7: DELETE /ping and PUT /status are 405 as well
--- config eval: Evently::Test::server_config()
--- request eval
["DELETE /ping", "PUT /status"]
--- error_code eval
[405, 405]
--- response_headers eval
["Allow: GET, HEAD", "Allow: GET, HEAD"]
--- response_body_like eval
['"code":"METHOD_NOT_ALLOWED"', '"code":"METHOD_NOT_ALLOWED"']



=== TEST 8: HEAD /health answers without a body
--- config eval: Evently::Test::server_config()
--- request
HEAD /health
--- error_code_like: ^(200|503)$
--- response_body chomp



=== TEST 9: PostgreSQL unreachable: 503 unhealthy, postgres down
--- http_config eval: Evently::Test::http_config(postgres => $::PgDown)
--- config eval: Evently::Test::server_config()
--- request
GET /health
--- error_code: 503
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body_like: ^\{"status":"unhealthy","service":"evently","timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ","checks":\{"postgres":"down","redis":"up","kafka":"(up|down)"\}\}$
--- error_log
connecting to PostgreSQL failed



=== TEST 10: PostgreSQL unreachable: /ping and /status still answer
--- http_config eval: Evently::Test::http_config(postgres => $::PgDown)
--- config eval: Evently::Test::server_config()
--- request eval
["GET /ping", "GET /status", "GET /health"]
--- error_code eval
[200, 200, 503]
--- response_body_like eval
['"pong"', '"operational"', '"postgres":"down"']



=== TEST 11: Redis unreachable: 503 unhealthy, redis down
--- http_config eval: Evently::Test::http_config(redis => "127.0.0.1:$::ClosedRedis")
--- config eval: Evently::Test::server_config()
--- request
GET /health
--- error_code: 503
--- response_body_like: ^\{"status":"unhealthy","service":"evently","timestamp":"[^"]+","checks":\{"postgres":"up","redis":"down","kafka":"(up|down)"\}\}$
--- error_log
connecting to Redis failed



=== TEST 12: PostgreSQL and Redis unreachable: both down
--- http_config eval
Evently::Test::http_config(postgres => $::PgDown,
                           redis => "127.0.0.1:$::ClosedRedis")
--- config eval: Evently::Test::server_config()
--- request
GET /health
--- error_code: 503
--- response_body_like: "status":"unhealthy".*"checks":\{"postgres":"down","redis":"down","kafka":"(up|down)"\}



=== TEST 13: Kafka unreachable: 200 degraded, kafka down
--- http_config eval: Evently::Test::http_config(kafka_brokers => "127.0.0.1:$::ClosedKafka")
--- config eval: Evently::Test::server_config()
--- request eval
["GET /health", "GET /health"]
--- error_code eval
[200, 200]
--- response_body_like eval
['^\{"status":"degraded","service":"evently","timestamp":"[^"]+","checks":\{"postgres":"up","redis":"up","kafka":"down"\}\}$',
 '"status":"degraded"']



=== TEST 14: no Kafka configured at all: kafka "disabled", still healthy
--- http_config eval: Evently::Test::http_config(kafka_brokers => undef)
--- config eval: Evently::Test::server_config()
--- request
GET /health
--- error_code: 200
--- response_body_like: ^\{"status":"healthy","service":"evently","timestamp":"[^"]+","checks":\{"postgres":"up","redis":"up","kafka":"disabled"\}\}$
--- no_error_log
[error]
