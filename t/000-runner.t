# Self-test of the Test::Nginx-compatible runner (t/lib/Test/Nginx/*.pm),
# with stock nginx only (no Evently module):
#
#   PERL5LIB=t/lib TEST_NGINX_BINARY=/usr/sbin/nginx prove -v t/000-runner.t
#
# The plan is exact on purpose: it checks that the runner counts tests the
# way the real Test::Nginx does (the per-block count is in each title).

use strict;
use warnings;

use Test::Nginx::Socket;

our $http_config = <<'_EOC_';
    map $uri $from_http_config {
        default "mapped-by-http-config";
    }
_EOC_

repeat_each(2);
no_shuffle();

# tests per block and repetition, in file order, and tests run once per
# block whatever repeat_each (shutdown_error_log patterns)
my @per_block = (3, 5, 2, 9, 4, 4, 1, 4, 2, 2, 4, 3, 1, 3, 2, 2, 2, 6, 2);
my $once = 1;
my $per_file = 0;
$per_file += $_ for @per_block;
die "update \@per_block: ", scalar(@per_block), " counts for ",
    scalar(blocks()), " blocks\n" if @per_block != blocks();

plan tests => repeat_each() * $per_file + $once;

run_tests();

__DATA__

=== TEST 1: sanity (3: status, body, no_error_log)
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /t
--- response_body
hello
--- no_error_log
[error]



=== TEST 2: error_code, response_headers with !Header (5)
--- config
    location = /t {
        add_header X-Foo bar always;
        return 404 "nope\n";
    }
--- request
GET /t
--- error_code: 404
--- response_headers
X-Foo: bar
!X-Bar
Content-Type: text/plain
--- response_body_like: ^nope$



=== TEST 3: more_headers and a trimmed request body with Content-Length (2)
--- config
    location = /echo {
        return 200 "$http_x_test|$request_method|$content_length|$http_connection\n";
    }
--- more_headers
X-Test: abc
--- request
POST /echo
  hello world

--- response_body
abc|POST|11|close



=== TEST 4: several requests, per-request expectations (9: 3 x (status, body, no_error_log))
--- config
    location = /a { return 200 "a\n"; }
    location = /b { return 201 "b\n"; }
--- request eval
["GET /a", "GET /b", "GET /missing"]
--- error_code eval
[200, 201, 404]
--- response_body eval
["a\n", "b\n", qr/404 Not Found/]
--- no_error_log
[crit]



=== TEST 5: per-request more_headers, response_headers eval (4)
--- config
    location = /h {
        add_header X-Got "$http_x_in" always;
        return 204;
    }
--- request eval
["GET /h", "GET /h"]
--- more_headers eval
["X-In: one", "X-In: two"]
--- error_code eval
[204, 204]
--- response_headers eval
["X-Got: one", "X-Got: two"]



=== TEST 6: main_config, http_config (eval of an `our` variable), user_files (4)
--- main_config
    thread_pool rtest threads=1;
--- http_config eval: $::http_config
--- config
    location = /m {
        return 200 "$from_http_config\n";
    }
    location /static/ {
        root html;
        aio threads=rtest;
    }
--- user_files
>>> static/f.txt
from a user file
--- request eval
["GET /m", "GET /static/f.txt"]
--- response_body eval
["mapped-by-http-config\n", "from a user file\n"]
--- error_code eval
[200, 200]
--- timeout: 5



=== TEST 7: timeout + abort: the client gives up without failing (1)
--- config
    location /slow/ {
        root html;
        limit_rate_after 1000;
        limit_rate 50;
    }
--- user_files eval
[["slow/big.txt", "x" x 5000]]
--- request
GET /slow/big.txt
--- timeout: 300ms
--- abort



=== TEST 8: pipelined requests (4)
--- config
    location = /a { return 200 "a\n"; }
    location = /b { return 200 "b\n"; }
--- pipelined_requests eval
["GET /a", "GET /b"]
--- response_body eval
["a\n", "b\n"]



=== TEST 9: a request split in packets, with a delay (2)
--- config
    location = /a { return 200 "a\n"; }
--- request eval
[["GE", {value => "T /a\n", delay_before => 0.1}]]
--- response_body
a



=== TEST 10: raw_request sent verbatim (2)
--- config
    location = /a { return 200 "a\n"; }
--- raw_request eval
"GET /a HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_body
a



=== TEST 11: chunked response is decoded (4)
--- config
    location /c/ {
        root html;
        sub_filter_types text/plain;
        sub_filter 'hello' 'HELLO';
    }
--- user_files
>>> c/x.txt
hello chunked
--- request
GET /c/x.txt
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- response_body
HELLO chunked



=== TEST 12: response_headers_like, raw_response_headers_like (3)
--- config
    location = /a { return 200 "a\n"; }
--- request
GET /a
--- response_headers_like
Server: nginx(/.*)?
--- raw_response_headers_like: ^HTTP/1\.1 200 OK\r\n



=== TEST 13: error_code_like (1)
--- config
    location = /a { return 403; }
--- request
GET /a
--- error_code_like: ^40[34]$



=== TEST 14: error_log found in this block's log slice (3)
--- config
    location = /e { return 200 "e\n"; }
--- request
GET /e?marker=found-me
--- error_log
/e?marker=found-me
--- response_body_like: ^e$



=== TEST 15: grep_error_log (2)
--- config
    location = /g { return 200 "g\n"; }
--- request
GET /g
--- grep_error_log eval
qr/http request line: "[^"]+"/
--- grep_error_log_out
http request line: "GET /g HTTP/1.1"



=== TEST 16: $TEST_NGINX_* expansion in config and expected body (2)
--- config
    location = /port {
        return 200 "port=$TEST_NGINX_SERVER_PORT\n";
    }
--- request
GET /port
--- response_body
port=$TEST_NGINX_SERVER_PORT



=== TEST 17: init runs before the requests (2)
--- config
    location /i/ { root html; }
--- init
my $dir = Test::Nginx::Util::html_dir() . '/i';
mkdir $dir;
open my $fh, '>', "$dir/init.txt" or die "cannot write: $!";
print $fh "init ran\n";
close $fh;
--- request
GET /i/init.txt
--- response_body
init ran



=== TEST 18: error_log with qr// and an [error] line the test expects (6: 2 x (status, error_log, no_error_log))
--- config
    location /x/ { root html; }
--- request eval
["GET /x/nope1", "GET /x/nope2"]
--- error_code eval
[404, 404]
--- error_log eval
[qr/open\(\) ".*nope\d" failed/]
--- no_error_log
[alert]



=== TEST 19: shutdown_error_log, checked once after nginx stops (2 + 1 once)
--- config
    location = /a { return 200 "a\n"; }
--- request
GET /a
--- response_body
a
--- shutdown_error_log
signal 3 (SIGQUIT) received
