# Events, public routes: GET /api/v1/events (filters, pagination),
# GET /api/v1/events/upcoming, GET /api/v1/events/{id}.
#
# Fixtures in SQL (no venue or admin endpoints): two templates, tags rock,
# jazz, pop, and events with chosen names, venues, dates and statuses:
#
#   E1 Rock Night      Arena One      2030-06-01T00:00:00Z published rock
#   E2 Jazz Evening    Blue Note Club 2030-06-01T23:59:59Z published jazz
#   E3 Pop Party       Arena Two      2030-06-02T12:00:00Z published pop,rock
#   E4 Old Gig         Old Hall       2020-01-01T19:00:00Z published rock
#   E5 Cancelled Show  Arena One      2030-06-03T00:00:00Z cancelled jazz
#   E6 Finished Fest   City Park      2030-05-31T23:59:59Z completed
#   E7 Secret Draft    Arena One      2030-06-01T12:00:00Z draft     rock
#   F01..F13 Filler    Filler Venue   2031-01-01..13        published
#
# so 17 published events (E4 in the past), 16 upcoming.

use strict;
use warnings;

use Test::More;
use Evently::Test;

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;

reset_db();

psql(<<'_SQL_');
INSERT INTO evently.venue_templates (id, name, default_rows,
                                     default_seats_per_row, layout_type)
VALUES ('20000000-0000-4000-8000-000000000001', 'Club', 1, 4, 'GENERAL'),
       ('20000000-0000-4000-8000-000000000002', 'Arena', 2, 3, 'STADIUM');
INSERT INTO evently.venue_sections (id, template_id, name, description,
                                    row_start, row_end, seats_per_row,
                                    total_seats)
VALUES ('20000000-0000-4000-8000-000000000011',
        '20000000-0000-4000-8000-000000000001', 'Floor', 'standing',
        'A', 'A', 4, 4),
       ('20000000-0000-4000-8000-000000000021',
        '20000000-0000-4000-8000-000000000002', 'Lower', NULL,
        '1', '1', 3, 3),
       ('20000000-0000-4000-8000-000000000022',
        '20000000-0000-4000-8000-000000000002', 'Upper', 'high up',
        '2', '2', 3, 3);
SELECT evently.generate_seats(id) FROM evently.venue_sections;
INSERT INTO evently.tags (id, name, slug, color)
VALUES ('20000000-0000-4000-8000-000000000101', 'Rock', 'rock', '#111111'),
       ('20000000-0000-4000-8000-000000000102', 'Jazz', 'jazz', '#222222'),
       ('20000000-0000-4000-8000-000000000103', 'Pop', 'pop', '#333333');

INSERT INTO evently.events (id, name, description, venue, venue_template_id,
                            date_time, base_price, currency, status,
                            image_url)
VALUES
 ('20000000-0000-4000-8000-0000000000e1', 'Rock Night', 'loud guitars',
  'Arena One', '20000000-0000-4000-8000-000000000002',
  '2030-06-01T00:00:00Z', 99.99, 'INR', 'published',
  'https://img.example.com/rock.png'),
 ('20000000-0000-4000-8000-0000000000e2', 'Jazz Evening',
  'smooth 100% jazz', 'Blue Note Club',
  '20000000-0000-4000-8000-000000000001', '2030-06-01T23:59:59Z', 0.00,
  'USD', 'published', NULL),
 ('20000000-0000-4000-8000-0000000000e3', 'Pop Party', NULL, 'Arena Two',
  '20000000-0000-4000-8000-000000000002', '2030-06-02T12:00:00Z', 10.00,
  'INR', 'published', NULL),
 ('20000000-0000-4000-8000-0000000000e4', 'Old Gig', 'long ago', 'Old Hall',
  '20000000-0000-4000-8000-000000000001', '2020-01-01T19:00:00Z', 5.00,
  'INR', 'published', NULL),
 ('20000000-0000-4000-8000-0000000000e5', 'Cancelled Show', 'nope',
  'Arena One', '20000000-0000-4000-8000-000000000002',
  '2030-06-03T00:00:00Z', 5.00, 'INR', 'cancelled', NULL),
 ('20000000-0000-4000-8000-0000000000e6', 'Finished Fest', 'done',
  'City Park', '20000000-0000-4000-8000-000000000001',
  '2030-05-31T23:59:59Z', 5.00, 'INR', 'completed', NULL),
 ('20000000-0000-4000-8000-0000000000e7', 'Secret Draft', 'hush',
  'Arena One', '20000000-0000-4000-8000-000000000002',
  '2030-06-01T12:00:00Z', 5.00, 'INR', 'draft', NULL);
UPDATE evently.events SET cancelled_at = now() WHERE status = 'cancelled';

INSERT INTO evently.events (id, name, venue, venue_template_id, date_time,
                            base_price)
SELECT ('20000000-0000-4000-8000-0000000001' || lpad(i::text, 2, '0'))::uuid,
       'Filler ' || lpad(i::text, 2, '0'), 'Filler Venue',
       '20000000-0000-4000-8000-000000000001',
       timestamptz '2031-01-01T20:00:00Z' + make_interval(days => i - 1),
       1.00
FROM generate_series(1, 13) AS i;

INSERT INTO evently.event_tags (event_id, tag_id)
VALUES ('20000000-0000-4000-8000-0000000000e1',
        '20000000-0000-4000-8000-000000000101'),
       ('20000000-0000-4000-8000-0000000000e2',
        '20000000-0000-4000-8000-000000000102'),
       ('20000000-0000-4000-8000-0000000000e3',
        '20000000-0000-4000-8000-000000000103'),
       ('20000000-0000-4000-8000-0000000000e3',
        '20000000-0000-4000-8000-000000000101'),
       ('20000000-0000-4000-8000-0000000000e4',
        '20000000-0000-4000-8000-000000000101'),
       ('20000000-0000-4000-8000-0000000000e5',
        '20000000-0000-4000-8000-000000000102'),
       ('20000000-0000-4000-8000-0000000000e7',
        '20000000-0000-4000-8000-000000000101');

INSERT INTO evently.event_section_pricing (event_id, section_id,
                                           price_multiplier)
VALUES ('20000000-0000-4000-8000-0000000000e1',
        '20000000-0000-4000-8000-000000000022', 1.50);
_SQL_

my %E = map { ("E$_" => "20000000-0000-4000-8000-0000000000e$_") } 1 .. 7;
my @F = map { sprintf '20000000-0000-4000-8000-0000000001%02d', $_ } 1 .. 13;
my %name = reverse %E;
$name{ $F[$_ - 1] } = sprintf 'F%02d', $_ for 1 .. 13;

my $user = create_user();
my $admin = create_user(role => 'ADMIN');

my $ng = start_nginx(name => 'events-public', port => $port,
                     http_config => http_config(),
                     config => server_config(),
                     main_config => main_config());

sub get {
    my ($path, %o) = @_;
    return api(GET => $path, port => $port, %o);
}

# the names (E1.., F01..) of a list answer, in order
sub names {
    my ($r) = @_;
    return [map { $name{ $_->{id} } // $_->{id} }
            @{ $r->{json}{data}{events} || [] }];
}

sub list_ok {
    my ($query, $want, $what) = @_;
    my $r = get("/api/v1/events$query");
    is $r->{status}, 200, "$what: 200";
    is_deeply names($r), $want, "$what: events";
    is $r->{json}{data}{total_count}, scalar @$want, "$what: total_count";
    return $r;
}

sub bad_param {
    my ($path, $field, $what) = @_;
    my $r = get($path);
    is $r->{status}, 400, "$what: 400";
    is $r->{json}{errors}{code}, 'VALIDATION_FAILED',
        "$what: VALIDATION_FAILED";
    ok defined $r->{json}{errors}{fields}{$field},
        "$what: errors.fields.$field";
    return $r;
}

my @published = ('E4', 'E1', 'E2', 'E3', map { sprintf 'F%02d', $_ } 1 .. 13);

# ---- default list: published only, by date_time ---------------------------------

{
    my $r = get('/api/v1/events');
    is $r->{status}, 200, 'list: 200';
    is $r->{json}{status}, 'success', 'list: envelope status';
    is $r->{json}{message}, 'Events retrieved successfully', 'list: message';
    is_deeply names($r), [@published[0 .. 9]],
        'list: first 10 published events by date_time (default limit 10)';
    my $d = $r->{json}{data};
    is_deeply [@$d{qw(total_count page limit total_pages)}], [17, 1, 10, 2],
        'list: total_count 17, page 1, limit 10, total_pages 2';
    like $r->{body},
        qr/"data":\{"events"\s*:\s*\[.*\],\s*"total_count"\s*:\s*17,\s*"page"\s*:\s*1,\s*"limit"\s*:\s*10,\s*"total_pages"\s*:\s*2\}\}$/s,
        'list: paging keys in contract order';
    like $r->{headers}{'content-type'}, qr{^application/json}, 'list: JSON';
    ok !defined $r->{headers}{etag}, 'list: no ETag';

    # the Event object (no venue_sections in a list), keys in order
    like $r->{body},
        qr/\{"id"\s*:\s*"$E{E1}",\s*"name"\s*:\s*"Rock Night",\s*"description"\s*:\s*"loud guitars",\s*"venue"\s*:\s*"Arena One",\s*"venue_template_id"\s*:\s*"20000000-0000-4000-8000-000000000002",\s*"date_time"\s*:\s*"2030-06-01T00:00:00Z",\s*"total_capacity"\s*:\s*6,\s*"booked_count"\s*:\s*0,\s*"available_tickets"\s*:\s*6,\s*"base_price"\s*:\s*99\.99,\s*"currency"\s*:\s*"INR",\s*"status"\s*:\s*"published",\s*"image_url"\s*:\s*"https:\/\/img\.example\.com\/rock\.png",\s*"tags"\s*:\s*\[\{"id"\s*:\s*"20000000-0000-4000-8000-000000000101",\s*"name"\s*:\s*"Rock",\s*"slug"\s*:\s*"rock",\s*"color"\s*:\s*"#111111"\}\],\s*"version"\s*:\s*1,\s*"created_at"\s*:\s*"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",\s*"updated_at"\s*:\s*"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\}/,
        'list: Event in contract key order, without venue_sections';
    like $r->{body}, qr/"name"\s*:\s*"Jazz Evening",.*?"base_price"\s*:\s*0\.00,\s*"currency"\s*:\s*"USD"/,
        'list: a free event: base_price 0.00, its currency';
    like $r->{body}, qr/"name"\s*:\s*"Pop Party",\s*"description"\s*:\s*null,.*?"tags"\s*:\s*\[\{[^]]*"slug"\s*:\s*"pop"[^]]*\},\s*\{[^]]*"slug"\s*:\s*"rock"[^]]*\}\]/,
        'list: null description; tags by name';
    my ($f1) = grep { $_->{id} eq $F[0] } @{ $d->{events} };
    is_deeply $f1->{tags}, [], 'list: no tags = []';
    is $f1->{image_url}, undef, 'list: no image = null';
}

# ---- pagination arithmetic -------------------------------------------------------

{
    my @seen;
    for my $page (1 .. 4) {
        my $r = get("/api/v1/events?limit=5&page=$page");
        is $r->{status}, 200, "page $page of 4: 200";
        my $d = $r->{json}{data};
        is_deeply [@$d{qw(total_count page limit total_pages)}],
            [17, $page, 5, 4], "page $page: 17 / $page / 5 / 4";
        is scalar @{ $d->{events} }, $page < 4 ? 5 : 2,
            "page $page: " . ($page < 4 ? 5 : 2) . ' events';
        push @seen, @{ names($r) };
    }
    is_deeply \@seen, \@published, 'pages 1..4: every event once, in order';

    my $r = get('/api/v1/events?limit=5&page=5');
    is $r->{status}, 200, 'page beyond the end: 200';
    is_deeply $r->{json}{data}{events}, [], 'page beyond the end: []';
    is $r->{json}{data}{total_count}, 17, 'page beyond the end: total 17';
    is $r->{json}{data}{total_pages}, 4, 'page beyond the end: 4 pages';
    is $r->{json}{data}{page}, 5, 'page beyond the end: page 5';

    $r = get('/api/v1/events?limit=100');
    is scalar @{ $r->{json}{data}{events} }, 17, 'limit 100: all 17';
    is $r->{json}{data}{total_pages}, 1, 'limit 100: one page';
    $r = get('/api/v1/events?limit=17');
    is $r->{json}{data}{total_pages}, 1, 'limit 17: one page';
    $r = get('/api/v1/events?limit=16');
    is $r->{json}{data}{total_pages}, 2, 'limit 16: two pages';
    $r = get('/api/v1/events?limit=1&page=17');
    is_deeply names($r), ['F13'], 'limit 1 page 17: the last event';

    bad_param('/api/v1/events?limit=0', 'limit', 'limit=0');
    bad_param('/api/v1/events?limit=101', 'limit', 'limit=101');
    bad_param('/api/v1/events?limit=abc', 'limit', 'limit=abc');
    bad_param('/api/v1/events?limit=1.5', 'limit', 'limit=1.5');
    bad_param('/api/v1/events?page=0', 'page', 'page=0');
    bad_param('/api/v1/events?page=-1', 'page', 'page=-1');
    bad_param('/api/v1/events?page=100001', 'page', 'page=100001');
    my $r2 = bad_param('/api/v1/events?page=0&limit=0', 'page', 'page=0&limit=0');
    ok defined $r2->{json}{errors}{fields}{limit}, 'page=0&limit=0: both fields';
}

# ---- search, venue ------------------------------------------------------------------

list_ok('?search=arena', [qw(E1 E3)], 'search=arena (venue)');
list_ok('?search=ARENA', [qw(E1 E3)], 'search is case-insensitive');
list_ok('?search=GUITARS', ['E1'], 'search matches the description');
list_ok('?search=jazz', ['E2'], 'search matches the name (cancelled E5 not listed)');
list_ok('?search=100%25', ['E2'], 'search: % is literal');
list_ok('?search=%25', ['E2'], 'search=% matches only a literal %');
list_ok('?search=_', [], 'search=_ matches only a literal _');
list_ok('?search=rock+night', ['E1'], 'search with a space (+)');
list_ok('?search=nothing-like-this', [], 'search: no match, total 0');
list_ok('?venue=arena', [qw(E1 E3)], 'venue=arena (substring)');
list_ok('?venue=Blue%20Note', ['E2'], 'venue=Blue Note');
list_ok('?venue=loud', [], 'venue= does not match the description');
list_ok('?search=arena&venue=two', ['E3'], 'search and venue together');
bad_param('/api/v1/events?search=' . ('x' x 256), 'search', 'search too long');

# ---- date range, inclusive UTC days --------------------------------------------------

list_ok('?date_from=2030-06-01&date_to=2030-06-01', [qw(E1 E2)],
        'one day: 00:00:00 and 23:59:59 both in, 05-31 23:59:59 out');
list_ok('?date_from=2030-06-02&limit=100', ['E3', map { sprintf 'F%02d', $_ } 1 .. 13],
        'date_from only');
list_ok('?date_to=2030-05-31', ['E4'], 'date_to only (completed E6 not listed)');
list_ok('?date_from=2030-06-02&date_to=2030-06-02', ['E3'], 'date 06-02');
list_ok('?date_from=2031-01-13&date_to=2031-01-13', ['F13'], 'last day');
list_ok('?date_from=2030-06-03&date_to=2030-06-30', [], 'an empty range');
{
    my $r = bad_param('/api/v1/events?date_from=2030-06-02&date_to=2030-06-01',
                      'date_to', 'date_to before date_from');
    bad_param('/api/v1/events?date_from=2030-13-01', 'date_from',
              'date_from month 13');
    bad_param('/api/v1/events?date_to=2030-02-30', 'date_to',
              'date_to Feb 30');
    bad_param('/api/v1/events?date_from=01-06-2030', 'date_from',
              'date_from not YYYY-MM-DD');
    bad_param('/api/v1/events?date_from=2030-06-01T00:00:00Z', 'date_from',
              'date_from with a time');
}

# ---- status ---------------------------------------------------------------------------

list_ok('?status=cancelled', ['E5'], 'status=cancelled');
list_ok('?status=completed', ['E6'], 'status=completed');
list_ok('?status=published&limit=100', \@published, 'status=published');
list_ok('?status=PUBLISHED&limit=100', \@published, 'status is case-insensitive');
bad_param('/api/v1/events?status=draft', 'status', 'status=draft is not public');
bad_param('/api/v1/events?status=bogus', 'status', 'status=bogus');

# ---- tags (ANY of the slugs) -------------------------------------------------------------

list_ok('?tags=jazz', ['E2'], 'tags=jazz (cancelled E5 not listed)');
list_ok('?tags=rock', [qw(E4 E1 E3)], 'tags=rock (draft E7 not listed)');
list_ok('?tags=pop,jazz', [qw(E2 E3)], 'tags=pop,jazz: any of them');
list_ok('?tags=pop,%20jazz', [qw(E2 E3)], 'tags with a space after the comma');
list_ok('?tags=ROCK', [qw(E4 E1 E3)], 'tags are case-insensitive');
list_ok('?tags=rock,pop', [qw(E4 E1 E3)], 'an event with both tags once');
list_ok('?tags=nope', [], 'unknown tag: nothing');
list_ok('?tags=jazz&status=cancelled', ['E5'], 'tags and status');
list_ok('?tags=rock&search=arena&date_from=2030-06-02', ['E3'],
        'tags, search and date together');
bad_param('/api/v1/events?tags=' . join(',', map { "t$_" } 1 .. 21), 'tags',
          '21 tags');

# ---- upcoming ----------------------------------------------------------------------------

{
    my $r = get('/api/v1/events/upcoming');
    is $r->{status}, 200, 'upcoming: 200';
    is $r->{json}{message}, 'Upcoming events retrieved successfully',
        'upcoming: message';
    is_deeply names($r), [@published[1 .. 10]],
        'upcoming: future published events, soonest first (no past E4)';
    is_deeply [@{ $r->{json}{data} }{qw(total_count page limit total_pages)}],
        [16, 1, 10, 2], 'upcoming: 16 / 1 / 10 / 2';

    $r = get('/api/v1/events/upcoming?limit=2');
    is_deeply names($r), [qw(E1 E2)], 'upcoming limit=2';
    is $r->{json}{data}{total_pages}, 8, 'upcoming limit=2: 8 pages';
    $r = get('/api/v1/events/upcoming?limit=100');
    is scalar @{ $r->{json}{data}{events} }, 16, 'upcoming limit=100: 16';
    $r = get('/api/v1/events/upcoming?limit=5&page=4');
    is_deeply names($r), ['F13'], 'upcoming page 4 of 5-item pages';
    bad_param('/api/v1/events/upcoming?limit=101', 'limit', 'upcoming limit=101');
    bad_param('/api/v1/events/upcoming?limit=0', 'limit', 'upcoming limit=0');
    # filters of the full list do not apply here
    $r = get('/api/v1/events/upcoming?status=cancelled&limit=100');
    is scalar @{ $r->{json}{data}{events} }, 16,
        'upcoming: status= is ignored (published only)';
}

# ---- detail --------------------------------------------------------------------------------

{
    my $r = get("/api/v1/events/$E{E1}");
    is $r->{status}, 200, 'detail: 200';
    is $r->{json}{message}, 'Event retrieved successfully', 'detail: message';
    is $r->{headers}{etag}, '"1"', 'detail: ETag "1"';
    my $d = $r->{json}{data};
    is $d->{id}, $E{E1}, 'detail: id';
    is $d->{total_capacity}, 6, 'detail: capacity 6';
    is $d->{available_tickets}, 6, 'detail: available 6';
    is $d->{version}, 1, 'detail: version 1';
    like $r->{body},
        qr/"venue_template_id"\s*:\s*"20000000-0000-4000-8000-000000000002",\s*"venue_sections"\s*:\s*\[\{"id"\s*:\s*"20000000-0000-4000-8000-000000000021",\s*"name"\s*:\s*"Lower",\s*"description"\s*:\s*null,\s*"row_start"\s*:\s*"1",\s*"row_end"\s*:\s*"1",\s*"seats_per_row"\s*:\s*3,\s*"total_seats"\s*:\s*3,\s*"price_multiplier"\s*:\s*1\.00,\s*"price"\s*:\s*99\.99\},\s*\{"id"\s*:\s*"20000000-0000-4000-8000-000000000022",\s*"name"\s*:\s*"Upper",\s*"description"\s*:\s*"high up",\s*"row_start"\s*:\s*"2",\s*"row_end"\s*:\s*"2",\s*"seats_per_row"\s*:\s*3,\s*"total_seats"\s*:\s*3,\s*"price_multiplier"\s*:\s*1\.50,\s*"price"\s*:\s*149\.99\}\],\s*"date_time"\s*:\s*"2030-06-01T00:00:00Z",/,
        'detail: venue_sections between venue_template_id and date_time, '
        . 'price = round(99.99 x 1.50, 2)';

    $r = get("/api/v1/events/$E{E5}");
    is $r->{status}, 200, 'detail: a cancelled event is public';
    is $r->{json}{data}{status}, 'cancelled', 'detail: status cancelled';
    $r = get("/api/v1/events/$E{E6}");
    is $r->{status}, 200, 'detail: a completed event is public';
    $r = get("/api/v1/events/$E{E4}");
    is $r->{status}, 200, 'detail: a past event is public';

    $r = get("/api/v1/events/$E{E7}");
    is $r->{status}, 404, 'detail: a draft is 404';
    is $r->{json}{errors}{code}, 'EVENT_NOT_FOUND', 'detail: draft: EVENT_NOT_FOUND';
    $r = get("/api/v1/events/$E{E7}", token => $admin->{token});
    is $r->{status}, 404, 'detail: a draft is 404 on the public route even for an admin';

    $r = get('/api/v1/events/20000000-0000-4000-8000-00000000dead');
    is $r->{status}, 404, 'detail: unknown id 404';
    is $r->{json}{status}, 'error', 'detail: unknown: error envelope';
    is $r->{json}{errors}{code}, 'EVENT_NOT_FOUND', 'detail: EVENT_NOT_FOUND';

    for my $bad ('not-a-uuid', '20000000-0000-4000-8000-0000000000e', '1',
                 '20000000-0000-4000-8000-0000000000eZ',
                 '20000000x0000-4000-8000-0000000000e1')
    {
        $r = get("/api/v1/events/$bad");
        is $r->{status}, 400, "detail: \"$bad\" 400";
        is $r->{json}{errors}{code}, 'INVALID_ID', "detail: \"$bad\" INVALID_ID";
    }

    $r = get('/api/v1/events/' . uc $E{E1});
    is $r->{status}, 200, 'detail: upper-case UUID';
    is $r->{json}{data}{id}, $E{E1}, 'detail: ... same event';

    $r = get("/api/v1/events/$E{E1}", token => $user->{token});
    is $r->{status}, 200, 'detail: with a user token too';

    # conditional headers on a GET do not turn into nginx HTML pages
    for my $h (['If-Match', '"1"'], ['If-Match', '"7"'],
               ['If-None-Match', '"1"'])
    {
        $r = get("/api/v1/events/$E{E1}", headers => { $h->[0] => $h->[1] });
        is $r->{status}, 200, "detail with $h->[0]: $h->[1]: 200";
        is $r->{json}{data}{id}, $E{E1}, "detail with $h->[0]: $h->[1]: JSON";
    }

    $r = get("/api/v1/events/$E{E1}", headers => { Authorization => 'Bearer junk' });
    ok $r->{status} == 200 || $r->{status} == 401,
        'detail: a junk token on a public route: 200 or 401, never 500';
}

# ---- methods --------------------------------------------------------------------------------

{
    for my $case (['/api/v1/events', 'POST'], ['/api/v1/events/upcoming', 'DELETE'],
                  ["/api/v1/events/$E{E1}", 'PUT'], ["/api/v1/events/$E{E1}", 'DELETE'])
    {
        my ($path, $m) = @$case;
        my $r = api($m => $path, port => $port, token => $admin->{token},
                    body => {});
        is $r->{status}, 405, "$m $path: 405";
        is $r->{json}{errors}{code}, 'METHOD_NOT_ALLOWED', "$m $path: code";
        like $r->{headers}{allow}, qr/^GET, HEAD$/, "$m $path: Allow: GET, HEAD";
    }

    my $r = api(HEAD => "/api/v1/events/$E{E1}", port => $port);
    is $r->{status}, 200, 'HEAD detail: 200';
    is $r->{headers}{etag}, '"1"', 'HEAD detail: ETag';
}

# ---- an update shows at once in the lists (no stale cache) ----------------------------------

{
    psql("UPDATE evently.events SET status = 'cancelled', cancelled_at = now()
          WHERE id = :'id'", { id => $E{E2} });
    list_ok('?date_from=2030-06-01&date_to=2030-06-01', ['E1'],
            'after cancelling E2 in SQL: gone from the published list');
    list_ok('?status=cancelled', [qw(E2 E5)], 'and in the cancelled list');
}

ok stop_nginx('events-public'), 'nginx stopped';
no_alerts_ok($ng);

done_testing;
