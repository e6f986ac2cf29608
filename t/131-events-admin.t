# Events, admin routes: GET/POST /api/v1/admin/events,
# GET/PUT/DELETE /api/v1/admin/events/{id}.
#
# Fixtures in SQL (no venue or tag endpoints): templates "Theatre" (sections
# Stalls A..B x 4, Circle C x 4) and "Studio" (section Pit 1..1 x 5),
# tags rock, jazz, pop. Covers create (validation, all-or-nothing), the
# admin list and detail (drafts included), update (If-Match/ETag,
# version, status rules, template change, date rules, replace semantics),
# cancellation (outbox row, Kafka message, the hook), delete.

use strict;
use warnings;

use Test::More;
use Evently::Test;
use JSON::PP ();
use POSIX qw(strftime);

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;
my $JSON = JSON::PP->new->utf8->canonical;

reset_db();

psql(<<'_SQL_');
INSERT INTO evently.venue_templates (id, name, description, default_rows,
                                     default_seats_per_row, layout_type)
VALUES ('30000000-0000-4000-8000-000000000001', 'Theatre', 'red seats',
        3, 4, 'THEATER'),
       ('30000000-0000-4000-8000-000000000002', 'Studio', NULL,
        1, 5, 'GENERAL');
INSERT INTO evently.venue_sections (id, template_id, name, row_start,
                                    row_end, seats_per_row, total_seats)
VALUES ('30000000-0000-4000-8000-000000000011',
        '30000000-0000-4000-8000-000000000001', 'Stalls', 'A', 'B', 4, 8),
       ('30000000-0000-4000-8000-000000000012',
        '30000000-0000-4000-8000-000000000001', 'Circle', 'C', 'C', 4, 4),
       ('30000000-0000-4000-8000-000000000021',
        '30000000-0000-4000-8000-000000000002', 'Pit', '1', '1', 5, 5);
SELECT evently.generate_seats(id) FROM evently.venue_sections;
INSERT INTO evently.tags (id, name, slug, color)
VALUES ('30000000-0000-4000-8000-000000000101', 'Rock', 'rock', '#111111'),
       ('30000000-0000-4000-8000-000000000102', 'Jazz', 'jazz', '#222222'),
       ('30000000-0000-4000-8000-000000000103', 'Pop', 'pop', '#333333');
_SQL_

my $THEATRE = '30000000-0000-4000-8000-000000000001';
my $STUDIO = '30000000-0000-4000-8000-000000000002';
my $STALLS = '30000000-0000-4000-8000-000000000011';
my $CIRCLE = '30000000-0000-4000-8000-000000000012';
my $PIT = '30000000-0000-4000-8000-000000000021';

my $admin = create_user(role => 'ADMIN');
my $user = create_user();

my $ng = start_nginx(name => 'events-admin', port => $port,
                     http_config => http_config(),
                     config => server_config(),
                     main_config => main_config());

sub call {
    my ($method, $path, %o) = @_;
    $o{token} = $admin->{token} if !exists $o{token};
    delete $o{token} if !defined $o{token};
    return api($method, $path, port => $port, %o);
}

sub future {
    my ($days) = @_;
    return strftime('%Y-%m-%dT%H:00:00Z', gmtime(time + $days * 86400));
}

sub counts {
    return psql(<<'_SQL_');
SELECT (SELECT count(*) FROM evently.events) || '/'
    || (SELECT count(*) FROM evently.event_section_pricing) || '/'
    || (SELECT count(*) FROM evently.event_tags) || '/'
    || (SELECT count(*) FROM evently.outbox)
_SQL_
}

sub valid {
    return {
        name => 'Gala Night',
        description => 'An evening',
        venue => 'The Theatre',
        venue_template_id => $THEATRE,
        date_time => future(30),
        base_price => 100.25,
        tags => ['rock', 'jazz'],
        section_pricing => [{ section_id => $CIRCLE, price_multiplier => 2.5 }],
        @_,
    };
}

sub create_ok {
    my ($body, $what) = @_;
    my $r = call(POST => '/api/v1/admin/events', body => $body);
    is $r->{status}, 201, "$what: 201" or diag $r->{body};
    return $r->{json}{data};
}

sub fails {
    my ($r, $status, $code, $what) = @_;
    is $r->{status}, $status, "$what: $status";
    is $r->{json}{errors}{code}, $code, "$what: $code";
    is $r->{json}{status}, 'error', "$what: error envelope";
}

sub field_error {
    my ($body, $field, $what, $want) = @_;
    my $before = counts();
    my $r = call(POST => '/api/v1/admin/events', body => $body);
    fails($r, 400, 'VALIDATION_FAILED', $what);
    my $msg = $r->{json}{errors}{fields}{$field};
    ok defined $msg, "$what: errors.fields.$field"
        or diag $r->{body};
    like $msg // '', $want, "$what: message" if $want;
    is counts(), $before, "$what: nothing written";
    return $r;
}

sub outbox_rows {
    my ($id) = @_;
    return psql_rows(<<'_SQL_', { id => $id });
SELECT topic, event_key, event_type, payload::text
FROM evently.outbox WHERE event_key = :'id' ORDER BY id
_SQL_
}

# ---- create -------------------------------------------------------------------------

my $ev;
{
    my $body = valid();
    my $r = call(POST => '/api/v1/admin/events', body => $body);
    is $r->{status}, 201, 'create: 201';
    is $r->{json}{message}, 'Event created successfully', 'create: message';
    is $r->{headers}{etag}, '"1"', 'create: ETag "1"';
    $ev = $r->{json}{data};
    like $ev->{id}, qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
        'create: a v4 UUID';
    is $ev->{name}, 'Gala Night', 'create: name';
    is $ev->{description}, 'An evening', 'create: description';
    is $ev->{venue}, 'The Theatre', 'create: venue';
    is $ev->{venue_template_id}, $THEATRE, 'create: template';
    is $ev->{date_time}, $body->{date_time}, 'create: date_time';
    is $ev->{base_price}, 100.25, 'create: base_price';
    is $ev->{currency}, 'INR', 'create: currency defaults to INR';
    is $ev->{status}, 'published', 'create: status defaults to published';
    is $ev->{image_url}, undef, 'create: image_url null';
    is $ev->{version}, 1, 'create: version 1';
    is $ev->{total_capacity}, 12, 'create: capacity 12';
    is $ev->{booked_count}, 0, 'create: booked 0';
    is $ev->{available_tickets}, 12, 'create: available 12';
    is_deeply [map { $_->{slug} } @{ $ev->{tags} }], [qw(jazz rock)],
        'create: tags (by name)';
    is_deeply [map { [$_->{name}, $_->{price_multiplier}, $_->{price}] }
               @{ $ev->{venue_sections} }],
        [['Circle', 2.5, 250.63], ['Stalls', 1, 100.25]],
        'create: venue_sections with multipliers (missing = 1.00) and '
        . 'prices (100.25 x 2.5 = 250.625 -> 250.63)';
    like $r->{body}, qr/"price_multiplier"\s*:\s*2\.50,\s*"price"\s*:\s*250\.63/,
        'create: money as exact 2-decimal numbers';
    like $r->{body},
        qr/"data":\{"id"\s*:\s*"[^"]+",\s*"name"\s*:\s*"Gala Night",\s*"description"\s*:\s*"An evening",\s*"venue"\s*:\s*"The Theatre",\s*"venue_template_id"\s*:\s*"$THEATRE",\s*"venue_sections"\s*:\s*\[.*\],\s*"date_time"\s*:\s*"[^"]+",\s*"total_capacity"\s*:\s*12,\s*"booked_count"\s*:\s*0,\s*"available_tickets"\s*:\s*12,\s*"base_price"\s*:\s*100\.25,\s*"currency"\s*:\s*"INR",\s*"status"\s*:\s*"published",\s*"image_url"\s*:\s*null,\s*"tags"\s*:\s*\[.*\],\s*"version"\s*:\s*1,\s*"created_at"\s*:\s*"[^"]+",\s*"updated_at"\s*:\s*"[^"]+"\}\}$/s,
        'create: Event keys in contract order';

    my $rows = psql_rows(<<'_SQL_', { id => $ev->{id} });
SELECT e.created_by, (SELECT count(*) FROM evently.event_section_pricing p
                      WHERE p.event_id = e.id),
       (SELECT string_agg(t.slug, ',' ORDER BY t.slug)
        FROM evently.event_tags et JOIN evently.tags t ON t.id = et.tag_id
        WHERE et.event_id = e.id)
FROM evently.events e WHERE e.id = :'id'
_SQL_
    is_deeply $rows, [[$admin->{id}, 1, 'jazz,rock']],
        'create: created_by, one pricing row, two tag rows in the database';
    is_deeply outbox_rows($ev->{id}), [], 'create: no domain event';

    my $d = call(GET => "/api/v1/events/$ev->{id}", token => undef);
    is $d->{status}, 200, 'create: publicly visible';
}

{
    my $d = create_ok({ name => 'Free Gig', venue => 'Studio Venue',
                        venue_template_id => $STUDIO, date_time => future(5),
                        base_price => 0, currency => 'usd',
                        status => 'DRAFT', image_url => 'https://x.example/i.png',
                        description => '  spaces trimmed  ' },
                      'create minimal draft, free');
    is $d->{base_price}, 0, 'create: base_price 0 allowed';
    is $d->{currency}, 'USD', 'create: currency upper-cased';
    is $d->{status}, 'draft', 'create: status draft (case-insensitive)';
    is $d->{image_url}, 'https://x.example/i.png', 'create: image_url';
    is $d->{description}, 'spaces trimmed', 'create: trimmed';
    is_deeply $d->{tags}, [], 'create: no tags';
    is_deeply [map { $_->{price} } @{ $d->{venue_sections} }], [0],
        'create: free: price 0';

    my $r = call(GET => "/api/v1/events/$d->{id}", token => undef);
    fails($r, 404, 'EVENT_NOT_FOUND', 'draft: not public');
    $r = call(GET => "/api/v1/admin/events/$d->{id}");
    is $r->{status}, 200, 'draft: admin detail 200';
    is $r->{headers}{etag}, '"1"', 'draft: admin detail ETag';
    $r = call(GET => '/api/v1/admin/events');
    is $r->{json}{data}{total_count}, 2, 'admin list: draft included (2)';
    $r = call(GET => '/api/v1/admin/events?status=draft');
    is_deeply [map { $_->{id} } @{ $r->{json}{data}{events} }], [$d->{id}],
        'admin list: status=draft';
    $r = call(GET => '/api/v1/admin/events?status=published&search=gala');
    is_deeply [map { $_->{id} } @{ $r->{json}{data}{events} }], [$ev->{id}],
        'admin list: status and search';
    $r = call(GET => '/api/v1/admin/events?limit=1&page=2');
    is_deeply [@{ $r->{json}{data} }{qw(total_count page limit total_pages)}],
        [2, 2, 1, 2], 'admin list: paging';
    is $r->{json}{data}{events}[0]{id}, $ev->{id},
        'admin list: by date_time (the draft is sooner)';
    $r = call(GET => '/api/v1/events');
    is $r->{json}{data}{total_count}, 1, 'public list: draft left out';

    create_ok(valid(base_price => 9999999999.99, section_pricing => []),
              'create: base_price at the maximum');
    create_ok(valid(name => 'x' x 255, venue => 'v' x 255,
                    description => 'd' x 2000,
                    image_url => 'http://e.example/' . ('p' x 2031)),
              'create: every string at its maximum');
    create_ok(valid(name => 'Ünï', section_pricing => [
                  { section_id => $CIRCLE, price_multiplier => 0.1 },
                  { section_id => $STALLS, price_multiplier => 10 }]),
              'create: 3 characters (not bytes), multipliers 0.1 and 10');
    psql("DELETE FROM evently.events WHERE id NOT IN (:'a', :'b')",
         { a => $ev->{id}, b => $d->{id} });
}

# ---- create: validation, all-or-nothing ----------------------------------------------

{
    for my $f (qw(name venue venue_template_id date_time base_price)) {
        my $b = valid();
        delete $b->{$f};
        field_error($b, $f, "create without $f", qr/required/);
    }
    field_error(valid(name => 'ab'), 'name', 'name 2 chars', qr/3 and 255/);
    field_error(valid(name => 'x' x 256), 'name', 'name 256 chars');
    field_error(valid(name => '   '), 'name', 'name blank');
    field_error(valid(name => 42), 'name', 'name a number', qr/string/);
    field_error(valid(name => undef), 'name', 'name null');
    field_error(valid(description => 'd' x 2001), 'description',
                'description 2001 chars');
    field_error(valid(venue => 'ab'), 'venue', 'venue 2 chars');
    field_error(valid(venue_template_id => 'nope'), 'venue_template_id',
                'template not a UUID', qr/UUID/);
    field_error(valid(date_time => '2020-01-01T00:00:00Z'), 'date_time',
                'date_time in the past', qr/future/);
    field_error(valid(date_time => '2030-13-01T00:00:00Z'), 'date_time',
                'date_time month 13', qr/RFC 3339/);
    field_error(valid(date_time => 'tomorrow'), 'date_time', 'date_time text');
    field_error(valid(date_time => '2030-01-01'), 'date_time',
                'date_time without a time');
    field_error(valid(base_price => -1), 'base_price', 'base_price negative');
    field_error(valid(base_price => 1.005), 'base_price',
                'base_price 3 decimals', qr/two decimal/);
    field_error(valid(base_price => '12.50'), 'base_price',
                'base_price a string', qr/number/);
    field_error(valid(base_price => 10000000000), 'base_price',
                'base_price above the maximum');
    field_error(valid(base_price => 9999999999.99,
                      section_pricing => [{ section_id => $CIRCLE,
                                            price_multiplier => 2 }]),
                'base_price', 'base_price x multiplier above the maximum',
                qr/multiplier/);
    field_error(valid(currency => 'EURO'), 'currency', 'currency 4 letters');
    field_error(valid(currency => '1A2'), 'currency', 'currency with digits',
                qr/ISO 4217/);
    field_error(valid(image_url => 'ftp://x.example/a.png'), 'image_url',
                'image_url not http(s)', qr/URL/);
    field_error(valid(image_url => 'https://x.example/' . ('p' x 2031)),
                'image_url', 'image_url 2049 chars');
    field_error(valid(status => 'cancelled'), 'status',
                'create as cancelled', qr/draft, published/);
    field_error(valid(status => 'completed'), 'status', 'create as completed');
    field_error(valid(tags => 'rock'), 'tags', 'tags not an array');
    field_error(valid(tags => [1]), 'tags', 'tags with a number');
    field_error(valid(tags => ['rock', 'ROCK']), 'tags', 'duplicate tags',
                qr/duplicates/);
    field_error(valid(tags => [map { "t$_" } 1 .. 21]), 'tags', '21 tags');
    my $r = field_error(valid(tags => ['rock', 'zeta', 'alpha']), 'tags',
                        'unknown tags', qr/^unknown tags: alpha, zeta$/);
    is_deeply $r->{json}{errors}{unknown_tags}, ['alpha', 'zeta'],
        'unknown tags: errors.unknown_tags lists them';
    field_error(valid(section_pricing => { section_id => $CIRCLE }),
                'section_pricing', 'section_pricing not an array');
    field_error(valid(section_pricing => [{ section_id => $CIRCLE,
                                            price_multiplier => 0.09 }]),
                'section_pricing[0].price_multiplier', 'multiplier 0.09');
    field_error(valid(section_pricing => [{ section_id => $CIRCLE,
                                            price_multiplier => 10.01 }]),
                'section_pricing[0].price_multiplier', 'multiplier 10.01');
    field_error(valid(section_pricing => [{ price_multiplier => 1 }]),
                'section_pricing[0].section_id', 'pricing without section_id');
    field_error(valid(section_pricing => [{ section_id => $CIRCLE }]),
                'section_pricing[0].price_multiplier',
                'pricing without multiplier');
    field_error(valid(section_pricing => ['x']), 'section_pricing[0]',
                'pricing item not an object');
    field_error(valid(section_pricing => [
                    { section_id => $CIRCLE, price_multiplier => 1.5 },
                    { section_id => $PIT, price_multiplier => 1.5 }]),
                'section_pricing[1].section_id',
                'a section of another template', qr/not a section/);
    field_error(valid(section_pricing => [
                    { section_id => $CIRCLE, price_multiplier => 1.5 },
                    { section_id => $CIRCLE, price_multiplier => 2 }]),
                'section_pricing[1].section_id', 'a duplicate section',
                qr/more than once/);
    field_error(valid(section_pricing => [
                    { section_id => '30000000-0000-4000-8000-00000000ffff',
                      price_multiplier => 1.5 }]),
                'section_pricing[0].section_id', 'an unknown section');

    # several errors at once, from C: every field listed
    $r = call(POST => '/api/v1/admin/events',
              body => { name => 'x', base_price => -5 });
    fails($r, 400, 'VALIDATION_FAILED', 'several bad fields');
    is_deeply [sort keys %{ $r->{json}{errors}{fields} }],
        [qw(base_price date_time name venue venue_template_id)],
        'several bad fields: all listed';

    my $before = counts();
    $r = call(POST => '/api/v1/admin/events',
              body => valid(venue_template_id =>
                            '30000000-0000-4000-8000-00000000ffff'));
    fails($r, 404, 'TEMPLATE_NOT_FOUND', 'unknown template');
    is counts(), $before, 'unknown template: nothing written';

    $r = call(POST => '/api/v1/admin/events', body => '{"name": "x",');
    fails($r, 400, 'INVALID_JSON', 'malformed JSON');
    $r = call(POST => '/api/v1/admin/events', body => '[1,2]');
    fails($r, 400, 'INVALID_JSON', 'a JSON array body');
    $r = call(POST => '/api/v1/admin/events', body => '');
    is $r->{status}, 400, 'an empty body: 400';
    $r = call(POST => '/api/v1/admin/events', body => $JSON->encode(valid()),
              headers => { 'Content-Type' => 'text/plain' });
    fails($r, 415, 'UNSUPPORTED_MEDIA_TYPE', 'text/plain');
    $r = call(POST => '/api/v1/admin/events',
              body => $JSON->encode(valid(description => 'd' x 70000)));
    is $r->{status}, 413, 'a body over 64 KiB: 413';
    is counts(), $before, 'bad bodies: nothing written';

    # Idempotency-Key: a retried create replays the first answer
    my $b = valid(name => 'Idempotent Show');
    my $r1 = call(POST => '/api/v1/admin/events', body => $b,
                  headers => { 'Idempotency-Key' => 'create-1' });
    is $r1->{status}, 201, 'Idempotency-Key: first create 201';
    my $r2 = call(POST => '/api/v1/admin/events', body => $b,
                  headers => { 'Idempotency-Key' => 'create-1' });
    is $r2->{status}, 201, 'Idempotency-Key: the retry 201';
    is $r2->{json}{data}{id}, $r1->{json}{data}{id},
        'Idempotency-Key: the same event';
    is psql("SELECT count(*) FROM evently.events
             WHERE name = 'Idempotent Show'"), 1,
        'Idempotency-Key: created once';
    $r = call(POST => '/api/v1/admin/events', body => valid(name => 'Other'),
              headers => { 'Idempotency-Key' => 'create-1' });
    fails($r, 422, 'IDEMPOTENCY_KEY_REUSED',
          'Idempotency-Key with another body');
    psql("DELETE FROM evently.events WHERE name = 'Idempotent Show'");

    # unknown fields are ignored
    create_ok(valid(name => 'With Extra', extra => 'ignored', id => 'x',
                    version => 99), 'unknown fields ignored');
}

# ---- update: ETag / If-Match / version ---------------------------------------------

my $id = $ev->{id};
{
    my $r = call(GET => "/api/v1/admin/events/$id");
    is $r->{headers}{etag}, '"1"', 'update: GET ETag "1"';

    $r = call(PUT => "/api/v1/admin/events/$id", body => { name => 'Gala 2' },
              headers => { 'If-Match' => '"1"' });
    is $r->{status}, 200, 'update If-Match "1": 200';
    is $r->{json}{message}, 'Event updated successfully', 'update: message';
    is $r->{json}{data}{version}, 2, 'update: version 2';
    is $r->{headers}{etag}, '"2"', 'update: ETag "2"';
    is $r->{json}{data}{name}, 'Gala 2', 'update: name changed';
    is_deeply [map { $_->{slug} } @{ $r->{json}{data}{tags} }], [qw(jazz rock)],
        'update: tags untouched';
    ok exists $r->{json}{data}{venue_sections}, 'update: answers the full Event';

    my $before = counts();
    $r = call(PUT => "/api/v1/admin/events/$id", body => { name => 'Stale' },
              headers => { 'If-Match' => '"1"' });
    fails($r, 412, 'VERSION_MISMATCH', 'update with a stale If-Match');
    is $r->{json}{errors}{current_version}, 2, 'stale: current_version 2';
    is counts(), $before, 'stale: nothing written';
    is call(GET => "/api/v1/admin/events/$id")->{json}{data}{name}, 'Gala 2',
        'stale: name unchanged';

    for my $h ('W/"2"', '2') {
        $r = call(PUT => "/api/v1/admin/events/$id",
                  body => { venue => "Venue $h" },
                  headers => { 'If-Match' => $h });
        is $r->{status}, 200, "If-Match $h: 200";
        is $r->{json}{data}{version}, 3, "If-Match $h: version 3";
        psql("UPDATE evently.events SET version = 2 WHERE id = :'id'",
             { id => $id });
    }
    $r = call(PUT => "/api/v1/admin/events/$id", body => { venue => 'Star' },
              headers => { 'If-Match' => '*' });
    is $r->{status}, 200, 'If-Match *: 200';
    is $r->{json}{data}{version}, 3, 'If-Match *: version 3';
    $r = call(PUT => "/api/v1/admin/events/$id", body => { venue => 'Nope' },
              headers => { 'If-Match' => 'garbage' });
    fails($r, 412, 'VERSION_MISMATCH', 'If-Match garbage');
    $r = call(PUT => "/api/v1/admin/events/$id", body => { venue => 'No IM' });
    is $r->{status}, 200, 'no If-Match: 200';
    is $r->{json}{data}{version}, 4, 'no If-Match: version 4';

    # nothing changes: no new version, no domain event
    my $n = scalar @{ outbox_rows($id) };
    $r = call(PUT => "/api/v1/admin/events/$id",
              body => { venue => 'No IM', name => 'Gala 2',
                        tags => ['rock', 'jazz'], date_time => $ev->{date_time},
                        section_pricing => [{ section_id => $CIRCLE,
                                              price_multiplier => 2.5 },
                                            { section_id => $STALLS,
                                              price_multiplier => 1 }] },
              headers => { 'If-Match' => '"4"' });
    is $r->{status}, 200, 'no-op update: 200';
    is $r->{json}{data}{version}, 4, 'no-op update: version stays 4';
    is $r->{headers}{etag}, '"4"', 'no-op update: ETag "4"';
    is scalar @{ outbox_rows($id) }, $n, 'no-op update: no domain event';
    $r = call(PUT => "/api/v1/admin/events/$id", body => {});
    is $r->{status}, 200, 'empty object: 200';
    is $r->{json}{data}{version}, 4, 'empty object: version 4';

    my $rows = outbox_rows($id);
    is scalar @$rows, 5, 'five changes: five outbox rows';
    is_deeply [map { [@$_[0 .. 2]] } @$rows],
        [map { ['events', $id, 'event.updated'] } 1 .. 5],
        'outbox: topic events, key = event id, type event.updated';
    my $p = $JSON->decode($rows->[0][3]);
    is $p->{type}, 'event.updated', 'event.updated payload: type';
    is $p->{event_id}, $id, 'event.updated payload: event_id';
    is_deeply $p->{data}{changes}, ['name'], 'event.updated payload: changes';
    is $p->{data}{version}, 2, 'event.updated payload: version';
    like $p->{id}, qr/^[0-9a-f-]{36}$/, 'event.updated payload: id';
}

# ---- update: fields, replace semantics, validation -----------------------------------

{
    my $r = call(PUT => "/api/v1/admin/events/$id",
                 body => { description => undef, image_url => 'http://i.example/a.jpg',
                           base_price => 10, currency => 'eur',
                           tags => ['pop'],
                           section_pricing => [{ section_id => $STALLS,
                                                 price_multiplier => 3 }] });
    is $r->{status}, 200, 'update several: 200';
    my $d = $r->{json}{data};
    is $d->{description}, undef, 'update: description null clears it';
    is $d->{image_url}, 'http://i.example/a.jpg', 'update: image_url';
    is $d->{currency}, 'EUR', 'update: currency';
    is_deeply [map { $_->{slug} } @{ $d->{tags} }], ['pop'],
        'update: tags replaced';
    is_deeply [map { [$_->{name}, $_->{price_multiplier}, $_->{price}] }
               @{ $d->{venue_sections} }],
        [['Circle', 1, 10], ['Stalls', 3, 30]],
        'update: section_pricing replaced (Circle back to 1.00)';
    my $p = $JSON->decode(outbox_rows($id)->[-1][3]);
    is_deeply [sort @{ $p->{data}{changes} }],
        [sort qw(description image_url base_price currency tags section_pricing)],
        'update: event.updated lists the changes';

    $r = call(PUT => "/api/v1/admin/events/$id", body => { tags => [] });
    is_deeply $r->{json}{data}{tags}, [], 'update: tags [] removes all';
    $r = call(PUT => "/api/v1/admin/events/$id",
              body => { image_url => undef, section_pricing => [] });
    is $r->{json}{data}{image_url}, undef, 'update: image_url null';
    is_deeply [map { $_->{price_multiplier} } @{ $r->{json}{data}{venue_sections} }],
        [1, 1], 'update: section_pricing [] = all 1.00';

    my $v = $r->{json}{data}{version};
    my $before = counts();
    for my $case ([{ name => 'ab' }, 'name'], [{ name => undef }, 'name'],
                  [{ base_price => -1 }, 'base_price'],
                  [{ date_time => 'soon' }, 'date_time'],
                  [{ date_time => '2020-01-01T00:00:00Z' }, 'date_time'],
                  [{ status => 'postponed' }, 'status'],
                  [{ currency => '$$$' }, 'currency'],
                  [{ tags => ['nope'] }, 'tags'],
                  [{ venue_template_id => 'x' }, 'venue_template_id'],
                  [{ section_pricing => [{ section_id => $PIT,
                                           price_multiplier => 2 }] },
                   'section_pricing[0].section_id'],
                  [{ base_price => 9999999999.99,
                     section_pricing => [{ section_id => $STALLS,
                                           price_multiplier => 1.01 }] },
                   'base_price'])
    {
        my ($body, $field) = @$case;
        my $what = 'update ' . $JSON->encode($body);
        $what = substr($what, 0, 60);
        $r = call(PUT => "/api/v1/admin/events/$id", body => $body);
        fails($r, 400, 'VALIDATION_FAILED', $what);
        ok defined $r->{json}{errors}{fields}{$field},
            "$what: errors.fields.$field" or diag $r->{body};
    }
    is counts(), $before, 'bad updates: nothing written';
    is call(GET => "/api/v1/admin/events/$id")->{json}{data}{version}, $v,
        'bad updates: version unchanged';

    $r = call(PUT => "/api/v1/admin/events/$id", body => '{bad');
    fails($r, 400, 'INVALID_JSON', 'update: malformed JSON');
    $r = call(PUT => '/api/v1/admin/events/30000000-0000-4000-8000-00000000dead',
              body => { name => 'Ghost' });
    fails($r, 404, 'EVENT_NOT_FOUND', 'update: unknown event');
    $r = call(PUT => '/api/v1/admin/events/nope', body => { name => 'Ghost' });
    fails($r, 400, 'INVALID_ID', 'update: bad UUID');

    # the date_time rule: unchanged may be past, a new one must be future
    psql("UPDATE evently.events SET date_time = '2021-05-05T10:00:00.5Z'
          WHERE id = :'id'", { id => $id });
    $r = call(PUT => "/api/v1/admin/events/$id",
              body => { date_time => '2021-05-05T10:00:00Z', name => 'Past' });
    is $r->{status}, 200, 'update: an unchanged past date_time is accepted';
    is $r->{json}{data}{date_time}, '2021-05-05T10:00:00Z',
        'update: ... and kept';
    $r = call(PUT => "/api/v1/admin/events/$id",
              body => { date_time => '2021-05-06T10:00:00Z' });
    fails($r, 400, 'VALIDATION_FAILED', 'update: another past date_time');
    like $r->{json}{errors}{fields}{date_time}, qr/future/,
        'update: date_time must be in the future';
    my $when = future(40);
    $r = call(PUT => "/api/v1/admin/events/$id", body => { date_time => $when });
    is $r->{json}{data}{date_time}, $when, 'update: a future date_time';
}

# ---- update: template change ------------------------------------------------------

{
    my $r = call(PUT => "/api/v1/admin/events/$id",
                 body => { section_pricing => [{ section_id => $CIRCLE,
                                                 price_multiplier => 2 }] });
    is $r->{status}, 200, 'template: pricing on Theatre';
    $r = call(PUT => "/api/v1/admin/events/$id",
              body => { venue_template_id => '30000000-0000-4000-8000-00000000ffff' });
    fails($r, 404, 'TEMPLATE_NOT_FOUND', 'template: unknown template');
    $r = call(PUT => "/api/v1/admin/events/$id",
              body => { venue_template_id => $STUDIO,
                        section_pricing => [{ section_id => $CIRCLE,
                                              price_multiplier => 2 }] });
    fails($r, 400, 'VALIDATION_FAILED', 'template: pricing of the old template');
    $r = call(PUT => "/api/v1/admin/events/$id",
              body => { venue_template_id => $STUDIO });
    is $r->{status}, 200, 'template: change to Studio 200';
    is $r->{json}{data}{venue_template_id}, $STUDIO, 'template: Studio';
    is_deeply [map { [$_->{name}, $_->{price_multiplier}] }
               @{ $r->{json}{data}{venue_sections} }], [['Pit', 1]],
        'template: Studio sections at 1.00';
    is $r->{json}{data}{total_capacity}, 5, 'template: capacity 5';
    is psql("SELECT count(*) FROM evently.event_section_pricing
             WHERE event_id = :'id'", { id => $id }), 0,
        'template: old multipliers dropped';
    $r = call(PUT => "/api/v1/admin/events/$id",
              body => { venue_template_id => $THEATRE,
                        section_pricing => [{ section_id => $STALLS,
                                              price_multiplier => 1.25 }] });
    is $r->{status}, 200, 'template: back to Theatre with pricing';
    is_deeply [map { [$_->{name}, $_->{price_multiplier}] }
               @{ $r->{json}{data}{venue_sections} }],
        [['Circle', 1], ['Stalls', 1.25]], 'template: new pricing applied';

    # a booking (made in SQL) freezes the template
    my $seat = psql("SELECT id FROM evently.seats WHERE section_id = :'s'
                     AND seat_number = 'A1'", { s => $STALLS });
    psql(<<'_SQL_', { id => $id, user => $user->{id}, seat => $seat, sec => $STALLS });
WITH b AS (
    INSERT INTO evently.bookings (booking_ref, user_id, event_id,
                                  total_seats, total_price)
    VALUES ('EVT-20300101-ADMIN1', :'user', :'id', 1, 10.00)
    RETURNING id, event_id)
INSERT INTO evently.booking_seats (booking_id, event_id, seat_id, section_id,
                                   seat_number, row_label, section_name,
                                   price)
SELECT b.id, b.event_id, :'seat', :'sec', 'A1', 'A', 'Stalls', 10.00 FROM b
_SQL_
    my $before = counts();
    $r = call(PUT => "/api/v1/admin/events/$id",
              body => { venue_template_id => $STUDIO });
    fails($r, 409, 'EVENT_HAS_BOOKINGS', 'template: change with bookings');
    is counts(), $before, 'template: nothing written';
    $r = call(GET => "/api/v1/admin/events/$id");
    is $r->{json}{data}{booked_count}, 1, 'booked_count 1 after the booking';
    is $r->{json}{data}{available_tickets}, 11, 'available 11';
    $r = call(PUT => "/api/v1/admin/events/$id",
              body => { venue_template_id => $THEATRE, name => 'Same venue' });
    is $r->{status}, 200, 'template: the same template with bookings is fine';

    # delete with a booking
    $r = call(DELETE => "/api/v1/admin/events/$id");
    fails($r, 409, 'EVENT_HAS_BOOKINGS', 'delete with a booking');
    is call(GET => "/api/v1/admin/events/$id")->{status}, 200,
        'delete with a booking: still there';
}

# ---- status changes and cancellation ---------------------------------------------

{
    my $r = call(PUT => "/api/v1/admin/events/$id", body => { status => 'completed' });
    is $r->{json}{data}{status}, 'completed', 'status: completed';
    $r = call(PUT => "/api/v1/admin/events/$id", body => { status => 'Published' });
    is $r->{json}{data}{status}, 'published', 'status: back to published';
    $r = call(PUT => "/api/v1/admin/events/$id", body => { status => 'draft' });
    is $r->{status}, 409, 'status: back to draft refused once sold';
    is $r->{json}{errors}{code}, 'EVENT_HAS_BOOKINGS',
        'status: back to draft: EVENT_HAS_BOOKINGS';
    $r = call(PUT => "/api/v1/admin/events/$id", body => { status => 'published' });

    my $v = $r->{json}{data}{version};
    my $n = scalar @{ outbox_rows($id) };
    $r = call(PUT => "/api/v1/admin/events/$id", body => { status => 'cancelled' },
              headers => { 'If-Match' => qq{"$v"} });
    is $r->{status}, 200, 'cancel: 200';
    is $r->{json}{data}{status}, 'cancelled', 'cancel: status cancelled';
    is $r->{json}{data}{version}, $v + 1, 'cancel: version + 1';
    my $row = psql_rows("SELECT cancelled_at IS NOT NULL,
                                cancelled_at > now() - interval '1 minute'
                         FROM evently.events WHERE id = :'id'", { id => $id });
    is_deeply $row, [['t', 't']], 'cancel: cancelled_at recorded';

    # the event's one booking is refunded in the same transaction:
    # booking.cancelled + its e-mail, then event.cancelled
    my $rows = outbox_rows($id);
    is scalar @$rows, $n + 3, 'cancel: three outbox rows';
    is_deeply [ map { $_->[2] } @$rows[-3 .. -1] ],
              [ 'booking.cancelled', 'email.booking_cancelled',
                'event.cancelled' ],
        'cancel: the booking is cancelled before the event';
    is_deeply [@{ $rows->[-1] }[0 .. 2]], ['events', $id, 'event.cancelled'],
        'cancel: topic events, key event id, type event.cancelled';
    my $p = $JSON->decode($rows->[-1][3]);
    is $p->{type}, 'event.cancelled', 'cancel payload: type';
    is $p->{event_id}, $id, 'cancel payload: event_id';
    ok !exists $p->{booking_id} && !exists $p->{user_id},
        'cancel payload: no booking_id/user_id';
    like $p->{occurred_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
        'cancel payload: occurred_at';
    is $p->{data}{name}, 'Same venue', 'cancel payload: data.name';
    is $p->{data}{previous_status}, 'published', 'cancel payload: previous_status';
    is $p->{data}{version}, $v + 1, 'cancel payload: version';
    is $p->{data}{bookings_cancelled}, 1,
        'cancel payload: bookings_cancelled (refunded in full)';
    like $p->{data}{cancelled_at}, qr/Z$/, 'cancel payload: cancelled_at';

    # the relay sends it to Kafka (key = event id)
    my $sent = wait_until(sub {
        psql("SELECT count(*) FROM evently.outbox
              WHERE event_key = :'id' AND event_type = 'event.cancelled'
                AND sent_at IS NOT NULL", { id => $id }) == 1
    }, timeout => 20, interval => 0.2);
    ok $sent, 'cancel: the outbox row was relayed';
    my @msgs = grep { $_->[0] eq $id }
               kafka_consume(kafka_topic('events'), w => 2000, T => 20000);
    my ($msg) = grep { my $m = eval { $JSON->decode($_->[1]) };
                       $m && $m->{type} eq 'event.cancelled' } @msgs;
    ok $msg, 'cancel: event.cancelled consumed from Kafka, key = event id';
    is $JSON->decode($msg->[1])->{id}, $p->{id},
        'cancel: the Kafka message is the outbox payload' if $msg;

    # final
    my $before = counts();
    for my $body ({ status => 'published' }, { name => 'Revived' },
                  { status => 'cancelled' })
    {
        $r = call(PUT => "/api/v1/admin/events/$id", body => $body);
        fails($r, 409, 'EVENT_CANCELLED', 'cancelled: ' . $JSON->encode($body));
    }
    is counts(), $before, 'cancelled: nothing written';
    $r = call(GET => "/api/v1/events/$id", token => undef);
    is $r->{json}{data}{status}, 'cancelled', 'cancelled: public detail shows it';
}

# ---- delete ---------------------------------------------------------------------------

{
    my $d = create_ok(valid(name => 'To Delete', tags => ['pop']),
                      'delete: create');
    psql("INSERT INTO evently.cancellation_policies (event_id,
          allow_cancellation) VALUES (:'id', true)", { id => $d->{id} });
    my $r = call(DELETE => "/api/v1/admin/events/$d->{id}",
                 headers => { 'If-Match' => '"7"' });
    fails($r, 412, 'VERSION_MISMATCH', 'delete: stale If-Match');
    $r = call(DELETE => "/api/v1/admin/events/$d->{id}",
              headers => { 'If-Match' => '"1"' });
    is $r->{status}, 200, 'delete: 200';
    is $r->{json}{message}, 'Event deleted successfully', 'delete: message';
    is $r->{json}{data}{id}, $d->{id}, 'delete: data.id';
    is psql("SELECT (SELECT count(*) FROM evently.events WHERE id = :'id')
             + (SELECT count(*) FROM evently.event_tags WHERE event_id = :'id')
             + (SELECT count(*) FROM evently.event_section_pricing
                WHERE event_id = :'id')
             + (SELECT count(*) FROM evently.cancellation_policies
                WHERE event_id = :'id')", { id => $d->{id} }), 0,
        'delete: event, tags, pricing and policy gone';
    $r = call(GET => "/api/v1/admin/events/$d->{id}");
    fails($r, 404, 'EVENT_NOT_FOUND', 'delete: then GET');
    $r = call(DELETE => "/api/v1/admin/events/$d->{id}");
    fails($r, 404, 'EVENT_NOT_FOUND', 'delete: twice');
    $r = call(DELETE => '/api/v1/admin/events/123');
    fails($r, 400, 'INVALID_ID', 'delete: bad UUID');
    $d = create_ok(valid(name => 'Delete Me Too'), 'delete: create another');
    $r = call(DELETE => "/api/v1/admin/events/$d->{id}");
    is $r->{status}, 200, 'delete without If-Match: 200';
}

# ---- admin detail and list errors -------------------------------------------------

{
    my $r = call(GET => '/api/v1/admin/events/30000000-0000-4000-8000-00000000dead');
    fails($r, 404, 'EVENT_NOT_FOUND', 'admin detail: unknown');
    $r = call(GET => '/api/v1/admin/events/zzz');
    fails($r, 400, 'INVALID_ID', 'admin detail: bad UUID');
    $r = call(GET => '/api/v1/admin/events?status=nope');
    fails($r, 400, 'VALIDATION_FAILED', 'admin list: bad status');
    $r = call(GET => '/api/v1/admin/events?limit=101');
    fails($r, 400, 'VALIDATION_FAILED', 'admin list: limit 101');
    $r = call(GET => '/api/v1/admin/events?status=cancelled');
    is_deeply [map { $_->{id} } @{ $r->{json}{data}{events} }], [$id],
        'admin list: status=cancelled';
}

# ---- admin only, on every route and method ------------------------------------------

{
    my $some = '30000000-0000-4000-8000-00000000dead';
    for my $case (['GET', '/api/v1/admin/events'],
                  ['POST', '/api/v1/admin/events'],
                  ['GET', "/api/v1/admin/events/$id"],
                  ['PUT', "/api/v1/admin/events/$id"],
                  ['DELETE', "/api/v1/admin/events/$id"])
    {
        my ($m, $path) = @$case;
        my $before = counts();
        my %body = $m eq 'POST' || $m eq 'PUT' ? (body => valid()) : ();
        my $r = call($m => $path, token => undef, %body);
        fails($r, 401, 'AUTH_REQUIRED', "$m $path, no token");
        $r = call($m => $path, token => $user->{token}, %body);
        fails($r, 403, 'FORBIDDEN', "$m $path, USER");
        $r = call($m => $path, token => 'not.a.jwt', %body);
        is $r->{status}, 401, "$m $path, a bad token: 401";
        my $expired = jwt_for($admin, exp => time - 10, iat => time - 100);
        $r = call($m => $path, token => $expired, %body);
        is $r->{status}, 401, "$m $path, an expired ADMIN token: 401";
        is counts(), $before, "$m $path: nothing written by the refused calls";
    }
    my $r = call(PATCH => "/api/v1/admin/events/$id", body => {});
    is $r->{status}, 405, 'PATCH admin event: 405';
    like $r->{headers}{allow}, qr/GET, HEAD, PUT, DELETE/, 'PATCH: Allow';
    $r = call(DELETE => '/api/v1/admin/events');
    is $r->{status}, 405, 'DELETE the collection: 405';
    like $r->{headers}{allow}, qr/GET, HEAD, POST/, 'collection: Allow';
}

ok stop_nginx('events-admin'), 'nginx stopped';
no_alerts_ok($ng);

done_testing;
