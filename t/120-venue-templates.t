# Venue templates (admin): create, list (filters, sorting, pagination
# arithmetic), get with ETag, update and delete with If-Match, 409s,
# validation with errors.fields, bad UUIDs, and admin-only enforcement.

use strict;
use warnings;

use Test::More;
use Evently::Test;

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;

my $TS = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
my $BASE = '/api/v1/admin/venue-templates';
my $SMALL_THEATER = '00000000-0000-4000-8000-000000000201';
my $NOBODY = '00000000-0000-4000-8000-00000000ffff';

reset_db();
seed();

my $ng = start_nginx(name => 'venue-templates', port => $port,
                     http_config => http_config(),
                     config => server_config(),
                     main_config => main_config());

my $admin = create_user(role => 'ADMIN');
my $user = create_user();

sub call {
    my ($method, $path, %o) = @_;
    $o{token} = $admin->{token} if !exists $o{token};
    delete $o{token} if !defined $o{token};
    return api($method, $path, port => $port, %o);
}

# status, errors.code and, when given, the fields of errors.fields
sub fails {
    my ($r, $status, $code, $name, @fields) = @_;
    my $ok = is($r->{status}, $status, "$name: $status")
             & is($r->{json} && $r->{json}{errors}
                  ? $r->{json}{errors}{code} : undef, $code,
                  "$name: $code");
    if (@fields) {
        my $f = $r->{json} && $r->{json}{errors}
                ? $r->{json}{errors}{fields} || {} : {};
        $ok &= is_deeply([sort keys %$f], [sort @fields],
                         "$name: errors.fields = @fields");
    }
    diag explain $r->{json} // $r->{body} if !$ok;
    return $ok;
}

sub succeeds {
    my ($r, $status, $name) = @_;
    my $ok = is($r->{status}, $status, "$name: $status");
    $ok &= is($r->{json} && $r->{json}{status}, 'success',
              "$name: success envelope");
    diag explain $r->{json} // $r->{body} if !$ok;
    return $r->{json} ? $r->{json}{data} : undef;
}

sub create_template {
    my (%b) = @_;
    my $r = call(POST => $BASE, body => { default_rows => 5,
                                          default_seats_per_row => 10,
                                          layout_type => 'GENERAL', %b });
    die "create_template($b{name}): $r->{status} $r->{body}\n"
        if $r->{status} != 201;
    return $r->{json}{data};
}

# ---- admin-only ----------------------------------------------------------------

{
    my @routes = (
        [GET => $BASE],
        [POST => $BASE, { name => 'Nope', default_rows => 1,
                          default_seats_per_row => 1,
                          layout_type => 'GENERAL' }],
        [GET => "$BASE/$SMALL_THEATER"],
        [PUT => "$BASE/$SMALL_THEATER", { name => 'Hijacked' }],
        [DELETE => "$BASE/$SMALL_THEATER"],
    );
    for my $rt (@routes) {
        my ($m, $p, $body) = @$rt;
        fails(call($m, $p, token => undef, body => $body), 401,
              'AUTH_REQUIRED', "$m $p without a token");
        fails(call($m, $p, token => $user->{token}, body => $body), 403,
              'FORBIDDEN', "$m $p as USER");
        fails(call($m, $p, token => 'not.a.jwt', body => $body), 401,
              'INVALID_TOKEN', "$m $p with a bad token");
    }
    is psql("SELECT name FROM evently.venue_templates WHERE id = "
            . "'$SMALL_THEATER'"), 'Small Theater',
        'refused writes changed nothing';
    is psql("SELECT count(*) FROM evently.venue_templates"), 2,
        'refused create wrote nothing';
}

# ---- create ----------------------------------------------------------------------

my $theatre;
{
    my $r = call(POST => $BASE, body => {
        name => '  Theatre  ', description => 'Medium-sized concert venue',
        default_rows => 10, default_seats_per_row => 20,
        layout_type => 'theater' });
    my $d = succeeds($r, 201, 'create');
    $theatre = $d;
    is $r->{json}{message}, 'Venue template created successfully',
        'create: message';
    is $r->{headers}{etag}, '"1"', 'create: ETag "1"';
    like $d->{id}, $UUID, 'create: id';
    is $d->{name}, 'Theatre', 'create: name trimmed';
    is $d->{description}, 'Medium-sized concert venue', 'create: description';
    is $d->{default_rows}, 10, 'create: default_rows';
    is $d->{default_seats_per_row}, 20, 'create: default_seats_per_row';
    is $d->{layout_type}, 'THEATER', 'create: layout_type upper-cased';
    is $d->{version}, 1, 'create: version 1';
    like $d->{created_at}, $TS, 'create: created_at RFC 3339';
    like $d->{updated_at}, $TS, 'create: updated_at RFC 3339';
    like $r->{body},
        qr/"data":\{"id" : "[^"]+", "name" : "Theatre", "description" : .*"default_rows" : 10, "default_seats_per_row" : 20, "layout_type" : "THEATER", "version" : 1, "created_at" : "[^"]+", "updated_at" : "[^"]+"\}\}$/,
        'create: VenueTemplate keys in contract order';

    $r = call(POST => $BASE, body => { name => 'Bare Hall', default_rows => 1,
                                       default_seats_per_row => 1,
                                       layout_type => 'Stadium' });
    $d = succeeds($r, 201, 'create without description');
    ok exists $d->{description} && !defined $d->{description},
        'create: absent description is null';
    is $d->{layout_type}, 'STADIUM', 'create: mixed-case layout_type';

    $r = call(POST => $BASE, body => { name => 'Edge Hall',
                                       description => 'x' x 1000,
                                       default_rows => 50,
                                       default_seats_per_row => 100,
                                       layout_type => 'CONFERENCE' });
    succeeds($r, 201, 'create with every maximum');

    $r = call(POST => $BASE, body => { name => 'abc', default_rows => 1,
                                       default_seats_per_row => 1,
                                       layout_type => 'GENERAL',
                                       description => '' });
    $d = succeeds($r, 201, 'create with a 3-character name');
    ok !defined $d->{description}, 'create: empty description is null';
}

# ---- create: errors -------------------------------------------------------------

{
    my %ok = (name => 'Valid Name', default_rows => 5,
              default_seats_per_row => 5, layout_type => 'GENERAL');
    my $before = psql("SELECT count(*) FROM evently.venue_templates");

    fails(call(POST => $BASE, body => {}), 400, 'VALIDATION_FAILED',
          'create: empty object', qw(name default_rows default_seats_per_row
                                     layout_type));

    my @bad = (
        [name => 'ab', 'name of 2 characters'],
        [name => 'x' x 256, 'name of 256 characters'],
        [name => '   ', 'blank name'],
        [name => 42, 'numeric name'],
        [name => undef, 'null name'],
        [description => 'd' x 1001, 'description of 1001 characters'],
        [description => ['x'], 'array description'],
        [default_rows => 0, 'default_rows 0'],
        [default_rows => 51, 'default_rows 51'],
        [default_rows => '10', 'default_rows as a string'],
        [default_rows => 2.5, 'default_rows 2.5'],
        [default_seats_per_row => 0, 'default_seats_per_row 0'],
        [default_seats_per_row => 101, 'default_seats_per_row 101'],
        [layout_type => 'ARENA', 'layout_type ARENA'],
        [layout_type => '', 'empty layout_type'],
        [layout_type => 1, 'numeric layout_type'],
    );
    for my $b (@bad) {
        my ($field, $value, $name) = @$b;
        fails(call(POST => $BASE, body => { %ok, $field => $value }), 400,
              'VALIDATION_FAILED', "create: $name", $field);
    }

    my $r = call(POST => $BASE, body => '{"name": "Broken",');
    fails($r, 400, 'INVALID_JSON', 'create: malformed JSON');
    fails(call(POST => $BASE, body => '[1,2]'), 400, 'INVALID_JSON',
          'create: a JSON array');
    fails(call(POST => $BASE, body => '{"name":"A","name":"B"}'), 400,
          'INVALID_JSON', 'create: duplicate keys');
    fails(call(POST => $BASE, body => 'name=x',
               headers => { 'Content-Type' => 'text/plain' }),
          415, 'UNSUPPORTED_MEDIA_TYPE', 'create: text/plain body');
    fails(call(POST => $BASE), 400, 'INVALID_JSON', 'create: no body');
    fails(call(POST => $BASE,
               body => { %ok, description => 'x' x 70000 }),
          413, 'PAYLOAD_TOO_LARGE', 'create: body over 64 KiB');

    fails(call(POST => $BASE, body => { %ok, name => 'THEATRE' }), 409,
          'TEMPLATE_EXISTS', 'create: same name, other case');
    fails(call(POST => $BASE, body => { %ok, name => 'small theater' }), 409,
          'TEMPLATE_EXISTS', 'create: name of a seeded template');

    is psql("SELECT count(*) FROM evently.venue_templates"), $before,
        'create: failures wrote nothing';
}

# ---- Idempotency-Key ------------------------------------------------------------

{
    my %b = (name => 'Idem Hall', default_rows => 2,
             default_seats_per_row => 2, layout_type => 'GENERAL');
    my $r1 = call(POST => $BASE, body => \%b,
                  headers => { 'Idempotency-Key' => 'venue-idem-1' });
    my $r2 = call(POST => $BASE, body => \%b,
                  headers => { 'Idempotency-Key' => 'venue-idem-1' });
    is $r1->{status}, 201, 'idempotent create: 201';
    is $r2->{status}, 201, 'idempotent create: replayed 201';
    is $r2->{json}{data}{id}, $r1->{json}{data}{id},
        'idempotent create: same template';
    is psql("SELECT count(*) FROM evently.venue_templates "
            . "WHERE name = 'Idem Hall'"), 1, 'idempotent create: one row';
}

# ---- get -------------------------------------------------------------------------

{
    my $r = call(GET => "$BASE/$theatre->{id}");
    my $d = succeeds($r, 200, 'get');
    is $r->{headers}{etag}, '"1"', 'get: ETag "1"';
    is_deeply $d, $theatre, 'get: the created template';
    is $r->{json}{message}, 'Venue template retrieved successfully',
        'get: message';

    $r = call(GET => "$BASE/" . uc $theatre->{id});
    succeeds($r, 200, 'get: upper-case UUID');

    fails(call(GET => "$BASE/$NOBODY"), 404, 'TEMPLATE_NOT_FOUND',
          'get: unknown id');
    fails(call(GET => "$BASE/not-a-uuid"), 400, 'INVALID_ID',
          'get: bad UUID');
    fails(call(GET => "$BASE/00000000-0000-4000-8000-00000000000g"), 400,
          'INVALID_ID', 'get: UUID with a non-hex digit');
    fails(call(PATCH => "$BASE/$theatre->{id}", body => {}), 405,
          'METHOD_NOT_ALLOWED', 'PATCH: 405');
    like call(PATCH => "$BASE/$theatre->{id}", body => {})->{headers}{allow},
        qr/^GET, HEAD, PUT, DELETE$/, 'PATCH: Allow header';
}

# ---- list ------------------------------------------------------------------------

{
    reset_db();
    seed();
    $admin = create_user(role => 'ADMIN');

    # 2 seeded (Small Theater, Conference Hall) + 23 created, with
    # distinct created_at so that the default order is defined
    my @names;
    for my $i (1 .. 23) {
        my $type = (qw(THEATER STADIUM CONFERENCE GENERAL))[$i % 4];
        my $name = sprintf 'Hall %02d %s', $i, lc $type;
        push @names, $name;
        my $t = create_template(name => $name, layout_type => $type);
        psql("UPDATE evently.venue_templates SET created_at = "
             . "now() + interval '$i minutes', updated_at = now() - "
             . "interval '$i minutes' WHERE id = '$t->{id}'");
    }
    create_template(name => '100% Fun_Park', layout_type => 'GENERAL');
    psql("UPDATE evently.venue_templates SET created_at = now() - "
         . "interval '1 day' WHERE name = '100% Fun_Park'");
    my $total = 26;

    my $r = call(GET => $BASE);
    my $d = succeeds($r, 200, 'list: defaults');
    is $d->{total_count}, $total, 'list: total_count';
    is $d->{page}, 1, 'list: page 1';
    is $d->{limit}, 20, 'list: default limit 20';
    is $d->{total_pages}, 2, 'list: total_pages = ceil(26/20)';
    is scalar @{ $d->{templates} }, 20, 'list: 20 items';
    is $d->{templates}[0]{name}, 'Hall 23 general',
        'list: newest first by default';
    like $r->{body}, qr/"data":\{"templates" : \[.*\], "total_count" : 26, "page" : 1, "limit" : 20, "total_pages" : 2\}\}$/s,
        'list: key order';

    $d = succeeds(call(GET => "$BASE?page=2"), 200, 'list: page 2');
    is scalar @{ $d->{templates} }, 6, 'list: page 2 has the 6 others';
    is $d->{templates}[-1]{name}, '100% Fun_Park', 'list: oldest last';

    $d = succeeds(call(GET => "$BASE?page=3"), 200, 'list: page 3');
    is_deeply $d->{templates}, [], 'list: past the end is empty';
    is $d->{total_count}, $total, 'list: past the end keeps total_count';

    $d = succeeds(call(GET => "$BASE?limit=7&page=4"), 200,
                  'list: limit 7 page 4');
    is $d->{total_pages}, 4, 'list: total_pages = ceil(26/7)';
    is scalar @{ $d->{templates} }, 5, 'list: last page of 5';

    $d = succeeds(call(GET => "$BASE?limit=100"), 200, 'list: limit 100');
    is scalar @{ $d->{templates} }, $total, 'list: limit 100: all';

    my %seen;
    for my $page (1 .. 6) {
        my $p = call(GET => "$BASE?limit=5&page=$page&sort_by=name")
                ->{json}{data}{templates};
        $seen{ $_->{id} }++ for @$p;
    }
    is scalar(keys %seen), $total, 'list: pages of 5 cover every template';
    ok !(grep { $_ != 1 } values %seen), 'list: no template on two pages';

    $d = call(GET => "$BASE?sort_by=name&sort_order=asc&limit=100")
         ->{json}{data};
    is_deeply [map { $_->{name} } @{ $d->{templates} }],
        [sort map { $_->{name} } @{ $d->{templates} }],
        'list: sort_by=name asc';
    $d = call(GET => "$BASE?sort_by=name&sort_order=DESC&limit=100")
         ->{json}{data};
    is_deeply [map { $_->{name} } @{ $d->{templates} }],
        [reverse sort map { $_->{name} } @{ $d->{templates} }],
        'list: sort_by=name DESC (any case)';
    $d = call(GET => "$BASE?sort_by=updated_at&sort_order=asc&limit=1")
         ->{json}{data};
    is $d->{templates}[0]{name}, 'Hall 23 general',
        'list: sort_by=updated_at asc';
    $d = call(GET => "$BASE?sort_by=created_at&sort_order=asc&limit=1")
         ->{json}{data};
    is $d->{templates}[0]{name}, '100% Fun_Park',
        'list: sort_by=created_at asc';

    $d = succeeds(call(GET => "$BASE?search=HALL%201"), 200,
                  'list: search');
    is_deeply [sort map { $_->{name} } @{ $d->{templates} }],
        [sort grep { /^Hall 1/ } @names], 'list: search is case-insensitive';
    is $d->{total_count}, 10, 'list: search total_count';

    $d = call(GET => "$BASE?search=100%25")->{json}{data};
    is_deeply [map { $_->{name} } @{ $d->{templates} }], ['100% Fun_Park'],
        'list: search "%" is a literal';
    $d = call(GET => "$BASE?search=n_p")->{json}{data};
    is_deeply [map { $_->{name} } @{ $d->{templates} }], ['100% Fun_Park'],
        'list: search "_" is a literal';
    $d = call(GET => "$BASE?search=zzz")->{json}{data};
    is_deeply [$d->{templates}, $d->{total_count}, $d->{total_pages}],
        [[], 0, 0], 'list: search without match';

    $d = succeeds(call(GET => "$BASE?layout_type=stadium&limit=3"), 200,
                  'list: layout_type filter');
    is $d->{total_count}, 6, 'list: layout_type total_count';
    is $d->{total_pages}, 2, 'list: layout_type total_pages';
    ok !(grep { $_->{layout_type} ne 'STADIUM' } @{ $d->{templates} }),
        'list: only STADIUM';

    $d = call(GET => "$BASE?layout_type=THEATER&search=hall")->{json}{data};
    is $d->{total_count}, 5, 'list: layout_type + search';

    for my $q ('limit=101', 'limit=0', 'limit=-1', 'limit=abc', 'page=0',
               'page=x', 'page=1.5', 'sort_by=id', 'sort_order=up',
               'layout_type=ARENA', 'search=' . ('s' x 256))
    {
        my ($field) = $q =~ /^(\w+)=/;
        fails(call(GET => "$BASE?$q"), 400, 'VALIDATION_FAILED',
              "list: $q", $field);
    }
}

# ---- update and If-Match ---------------------------------------------------------

{
    my $t = create_template(name => 'Versioned Hall', description => 'v1',
                            layout_type => 'THEATER');
    my $url = "$BASE/$t->{id}";

    my $r = call(PUT => $url, body => { name => 'Updated Concert Hall',
                                        description => 'Updated',
                                        layout_type => 'stadium' });
    my $d = succeeds($r, 200, 'update without If-Match');
    is $d->{version}, 2, 'update: version 2';
    is $r->{headers}{etag}, '"2"', 'update: ETag "2"';
    is $d->{name}, 'Updated Concert Hall', 'update: name';
    is $d->{layout_type}, 'STADIUM', 'update: layout_type';
    is $d->{default_rows}, 5, 'update: untouched field kept';
    is $r->{json}{message}, 'Venue template updated successfully',
        'update: message';

    my $g = call(GET => $url);
    is $g->{headers}{etag}, '"2"', 'get after update: ETag "2"';
    is_deeply $g->{json}{data}, $d, 'get after update: same template';

    $r = call(PUT => $url, body => { default_rows => 7 },
              headers => { 'If-Match' => $g->{headers}{etag} });
    $d = succeeds($r, 200, 'update with the current ETag');
    is $d->{version}, 3, 'update with If-Match: version 3';
    is $d->{default_rows}, 7, 'update with If-Match: default_rows';
    is $r->{headers}{etag}, '"3"', 'update with If-Match: ETag "3"';

    $r = call(PUT => $url, body => { default_rows => 9 },
              headers => { 'If-Match' => '"2"' });
    fails($r, 412, 'VERSION_MISMATCH', 'update with a stale ETag');
    is $r->{json}{errors}{current_version}, 3,
        'stale ETag: current_version given';
    is psql("SELECT default_rows || '/' || version FROM "
            . "evently.venue_templates WHERE id = '$t->{id}'"), '7/3',
        'stale ETag: nothing written';

    fails(call(PUT => $url, body => { default_rows => 9 },
               headers => { 'If-Match' => 'garbage' }),
          412, 'VERSION_MISMATCH', 'update with a garbage If-Match');

    $d = succeeds(call(PUT => $url, body => { default_seats_per_row => 30 },
                       headers => { 'If-Match' => 'W/"3"' }),
                  200, 'update with a weak ETag');
    is $d->{version}, 4, 'weak ETag: version 4';

    $d = succeeds(call(PUT => $url, body => { description => undef },
                       headers => { 'If-Match' => '*' }),
                  200, 'update with If-Match *');
    ok !defined $d->{description}, 'update: description null clears it';
    is $d->{version}, 5, 'If-Match *: version 5';

    $d = succeeds(call(PUT => $url, body => { name => 'updated concert hall' }),
                  200, 'update: own name in another case');
    is $d->{name}, 'updated concert hall', 'update: renamed';

    fails(call(PUT => $url, body => { name => 'Small Theater' }), 409,
          'TEMPLATE_EXISTS', 'update: name of another template');
    fails(call(PUT => $url, body => { default_rows => 51 }), 400,
          'VALIDATION_FAILED', 'update: default_rows 51', 'default_rows');
    fails(call(PUT => $url, body => { name => 'ab', layout_type => 'X' }),
          400, 'VALIDATION_FAILED', 'update: two bad fields',
          qw(name layout_type));
    fails(call(PUT => $url, body => { name => undef }), 400,
          'VALIDATION_FAILED', 'update: null name', 'name');
    fails(call(PUT => $url, body => '{oops'), 400, 'INVALID_JSON',
          'update: malformed JSON');
    fails(call(PUT => "$BASE/$NOBODY", body => { name => 'Ghost Hall' }),
          404, 'TEMPLATE_NOT_FOUND', 'update: unknown id');
    fails(call(PUT => "$BASE/1234", body => { name => 'Ghost Hall' }),
          400, 'INVALID_ID', 'update: bad UUID');
    is psql("SELECT version FROM evently.venue_templates "
            . "WHERE id = '$t->{id}'"), 6, 'failed updates wrote nothing';
}

# ---- delete ----------------------------------------------------------------------

{
    my $t = create_template(name => 'Doomed Hall');
    psql(<<"_SQL_");
INSERT INTO evently.venue_sections (template_id, name, row_start, row_end,
                                    seats_per_row, total_seats)
VALUES ('$t->{id}', 'Floor', 'A', 'B', 3, 6);
SELECT evently.generate_seats(id) FROM evently.venue_sections
WHERE template_id = '$t->{id}';
_SQL_
    my $url = "$BASE/$t->{id}";

    fails(call(DELETE => $url, headers => { 'If-Match' => '"7"' }), 412,
          'VERSION_MISMATCH', 'delete with a stale ETag');
    is call(GET => $url)->{status}, 200, 'stale delete: still there';

    my $r = call(DELETE => $url, headers => { 'If-Match' => '"1"' });
    my $d = succeeds($r, 200, 'delete with the current ETag');
    is $d->{id}, $t->{id}, 'delete: id echoed';
    is $r->{json}{message}, 'Venue template deleted successfully',
        'delete: message';
    fails(call(GET => $url), 404, 'TEMPLATE_NOT_FOUND', 'get after delete');
    is psql("SELECT count(*) FROM evently.venue_sections s "
            . "LEFT JOIN evently.seats x ON x.section_id = s.id "
            . "WHERE s.template_id = '$t->{id}'"), 0,
        'delete: sections and seats gone';
    fails(call(DELETE => $url), 404, 'TEMPLATE_NOT_FOUND', 'delete again');

    my $t2 = create_template(name => 'Plain Delete Hall');
    succeeds(call(DELETE => "$BASE/$t2->{id}"), 200,
             'delete without If-Match');

    fails(call(DELETE => "$BASE/$SMALL_THEATER"), 409, 'TEMPLATE_IN_USE',
          'delete of a template used by events');
    is psql("SELECT count(*) FROM evently.venue_sections "
            . "WHERE template_id = '$SMALL_THEATER'"), 2,
        'template in use: sections kept';

    fails(call(DELETE => "$BASE/$NOBODY"), 404, 'TEMPLATE_NOT_FOUND',
          'delete: unknown id');
    fails(call(DELETE => "$BASE/zzz"), 400, 'INVALID_ID',
          'delete: bad UUID');
}

ok stop_nginx('venue-templates'), 'nginx stopped cleanly';
no_alerts_ok($ng);

done_testing;
