# Tags, admin routes: POST/GET /api/v1/admin/tags,
# GET /api/v1/admin/tags/active, GET/PUT/DELETE /api/v1/admin/tags/{id}.
#
# Procedural (Test::More + Evently::Test::api): the checks depend on what
# earlier requests wrote. Starts from reset_db() + seed(); tokens are minted
# with create_user() (no login endpoint involved).

use strict;
use warnings;

use Test::More;
use Evently::Test;
use Encode ();
use JSON::PP ();
use POSIX qw(ceil);
use Time::HiRes qw(sleep);

my $PORT = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;
my $JSON = JSON::PP->new->utf8->canonical;

my $MUSIC = '00000000-0000-4000-8000-000000000102';
my $SPORTS = '00000000-0000-4000-8000-000000000103';
my $TECH = '00000000-0000-4000-8000-000000000101';
my $TEMPLATE = '00000000-0000-4000-8000-000000000201';
my $NO_SUCH = '00000000-0000-4000-8000-00000000ffff';
my $TS = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
my $UUID = qr/^[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}$/;
my @TAG_KEYS = qw(id name slug description color is_active created_at
                  updated_at);

reset_db();
seed();

my $ng = start_nginx(name => 'tags-admin', port => $PORT,
                     http_config => http_config(),
                     main_config => main_config(),
                     config => server_config());

my ($admin, $user);

sub fresh_users {
    $admin = create_user(role => 'ADMIN');
    $user = create_user(role => 'USER');
}

fresh_users();

# ---- helpers ---------------------------------------------------------------

sub call {
    my ($method, $path, %o) = @_;
    $o{token} = $admin->{token} if !exists $o{token};
    delete $o{token} if !defined $o{token};
    return api($method, $path, port => $PORT, %o);
}

sub label {
    my ($res) = @_;
    return "$res->{status} " . substr($res->{body} // '', 0, 300);
}

# a success envelope; returns its data
sub success_ok {
    my ($res, $status, $message, $name) = @_;
    my $j = $res->{json};
    my $ok = $res->{status} == $status
             && $j && ($j->{status} // '') eq 'success'
             && ($j->{status_code} // 0) == $status
             && ($j->{message} // '') eq $message
             && exists $j->{data}
             && ($res->{headers}{'content-type'} // '')
                eq 'application/json; charset=utf-8';
    ok $ok, $name or diag label($res);
    return $j ? $j->{data} : undef;
}

# an error envelope with the code; returns the errors object
sub error_ok {
    my ($res, $status, $code, $name) = @_;
    my $j = $res->{json};
    my $ok = $res->{status} == $status
             && $j && ($j->{status} // '') eq 'error'
             && ($j->{status_code} // 0) == $status
             && defined $j->{message} && $j->{message} ne ''
             && ref $j->{errors} eq 'HASH'
             && (!defined $code || ($j->{errors}{code} // '') eq $code);
    ok $ok, $name or diag label($res);
    return $j && ref $j->{errors} eq 'HASH' ? $j->{errors} : {};
}

# 400 VALIDATION_FAILED naming exactly these fields
sub fields_ok {
    my ($res, $fields, $name) = @_;
    my $e = error_ok($res, 400, 'VALIDATION_FAILED', $name);
    my $got = ref $e->{fields} eq 'HASH' ? [sort keys %{ $e->{fields} }]
                                         : [];
    is_deeply $got, [sort @$fields], "$name: errors.fields"
        or diag label($res);
    return $e->{fields} || {};
}

# the Tag object, keys in the contract's order
sub tag_shape_ok {
    my ($res, $name) = @_;
    my $data = $res->{json} ? $res->{json}{data} : undef;
    my $ok = ref $data eq 'HASH'
             && join(',', sort keys %$data) eq join(',', sort @TAG_KEYS)
             && $data->{id} =~ $UUID
             && $data->{created_at} =~ $TS && $data->{updated_at} =~ $TS
             && JSON::PP::is_bool($data->{is_active});
    my $order = join '.*', map { qq{"\Q$_\E"\\s*:} } @TAG_KEYS;
    $ok &&= $res->{body} =~ /"data":\{$order/s;
    ok $ok, "$name: Tag shape" or diag label($res);
    return $data;
}

sub db_tag {
    my ($where, $vars) = @_;
    my $rows = psql_rows("SELECT id, name, slug, description, color, "
                         . "is_active::text, "
                         . "extract(epoch FROM updated_at)::text "
                         . "FROM evently.tags WHERE $where", $vars);
    return $rows->[0];
}

sub tag_count {
    return psql('SELECT count(*) FROM evently.tags') + 0;
}

sub db_snapshot {
    return psql(q{SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY id)),
                                  'empty')
                  FROM evently.tags t});
}

# ---- 1. authorization on every admin route ---------------------------------

{
    my @routes = (
        [GET => '/api/v1/admin/tags'],
        [POST => '/api/v1/admin/tags', { name => 'Sneaky' }],
        [GET => '/api/v1/admin/tags/active'],
        [GET => "/api/v1/admin/tags/$MUSIC"],
        [PUT => "/api/v1/admin/tags/$MUSIC",
         { name => 'Hacked', is_active => JSON::PP::false }],
        [DELETE => "/api/v1/admin/tags/$SPORTS"],
    );

    my $before = db_snapshot();

    for my $r (@routes) {
        my ($m, $p, $body) = @$r;
        my %b = $body ? (body => $body) : ();

        error_ok(call($m, $p, token => undef, %b), 401, undef,
                 "$m $p without a token: 401");
        error_ok(call($m, $p, token => 'not.a.jwt', %b), 401, undef,
                 "$m $p with a malformed token: 401");
        error_ok(call($m, $p, token => $user->{token}, %b), 403, undef,
                 "$m $p with a USER token: 403");
    }

    # a refused request must not have run: nothing changed, nothing created
    sleep 0.3;
    is db_snapshot(), $before,
       'tags unchanged after every 401/403 (no op ran behind the error)';
    is psql(q{SELECT count(*) FROM evently.tags
              WHERE name IN ('Sneaky', 'Hacked')}), '0',
       'no tag created or renamed by a refused request';

    # ADMIN may use every route (each is exercised in detail below)
    my $tmp = call(POST => '/api/v1/admin/tags',
                   body => { name => 'Temp Tag' });
    my $id = success_ok($tmp, 201, 'Tag created successfully',
                        'ADMIN: POST /admin/tags')->{id} // $NO_SUCH;
    success_ok(call(GET => '/api/v1/admin/tags'), 200,
               'Tags retrieved successfully', 'ADMIN: GET /admin/tags');
    success_ok(call(GET => '/api/v1/admin/tags/active'), 200,
               'Active tags retrieved successfully',
               'ADMIN: GET /admin/tags/active');
    success_ok(call(GET => "/api/v1/admin/tags/$id"), 200,
               'Tag retrieved successfully', 'ADMIN: GET /admin/tags/{id}');
    success_ok(call(PUT => "/api/v1/admin/tags/$id",
                    body => { color => '#123456' }), 200,
               'Tag updated successfully', 'ADMIN: PUT /admin/tags/{id}');
    success_ok(call(DELETE => "/api/v1/admin/tags/$id"), 200,
               'Tag deleted successfully', 'ADMIN: DELETE /admin/tags/{id}');

    # wrong methods
    my $res = call(PATCH => '/api/v1/admin/tags', body => {});
    error_ok($res, 405, 'METHOD_NOT_ALLOWED', 'PATCH /admin/tags: 405');
    like $res->{headers}{allow} // '', qr/^(?=.*\bGET\b)(?=.*\bPOST\b)/,
         'Allow lists GET and POST';
    $res = call(POST => "/api/v1/admin/tags/$MUSIC", body => {});
    error_ok($res, 405, 'METHOD_NOT_ALLOWED', 'POST /admin/tags/{id}: 405');
    like $res->{headers}{allow} // '',
         qr/^(?=.*\bGET\b)(?=.*\bPUT\b)(?=.*\bDELETE\b)/,
         'Allow lists GET, PUT and DELETE';
    $res = call(POST => '/api/v1/admin/tags/active', body => {});
    error_ok($res, 405, 'METHOD_NOT_ALLOWED', 'POST /admin/tags/active: 405');
}

# ---- 2. create -------------------------------------------------------------

{
    my $res = call(POST => '/api/v1/admin/tags', body => {
        name => '  Food & Wine  ', description => 'Tastings and pairings',
        color => '#abcdef', slug => 'my-own-slug', unknown_field => [1, 2],
    });
    success_ok($res, 201, 'Tag created successfully', 'create: 201');
    my $t = tag_shape_ok($res, 'create') || {};
    is $t->{name}, 'Food & Wine', 'create: name trimmed';
    is $t->{slug}, 'food-wine', 'create: slug derived, body slug ignored';
    is $t->{description}, 'Tastings and pairings', 'create: description';
    is $t->{color}, '#ABCDEF', 'create: colour normalised to upper case';
    ok $t->{is_active}, 'create: active';
    is $t->{created_at}, $t->{updated_at}, 'create: created_at = updated_at';

    my $row = db_tag('id = :\'id\'', { id => $t->{id} // $NO_SUCH });
    is_deeply [@{ $row || [] }[1 .. 5]],
              ['Food & Wine', 'food-wine', 'Tastings and pairings',
               '#ABCDEF', 'true'],
              'create: the row as answered';

    my $get = call(GET => "/api/v1/admin/tags/" . ($t->{id} // $NO_SUCH));
    is_deeply $get->{json}{data}, $t, 'create: GET answers the same Tag';

    $res = call(POST => '/api/v1/admin/tags', body => { name => 'Plain' });
    $t = success_ok($res, 201, 'Tag created successfully',
                    'create: only a name') || {};
    is $t->{color}, '#6B7280', 'create: default colour #6B7280';
    ok exists $t->{description} && !defined $t->{description},
       'create: no description is null';

    $res = call(POST => '/api/v1/admin/tags',
                body => { name => 'Nulls', description => undef,
                          color => undef });
    $t = success_ok($res, 201, 'Tag created successfully',
                    'create: null description and colour') || {};
    is $t->{color}, '#6B7280', 'create: null colour is the default';
    ok !defined $t->{description}, 'create: null description';

    $res = call(POST => '/api/v1/admin/tags',
                body => { name => 'Empty Desc', description => '   ' });
    $t = success_ok($res, 201, 'Tag created successfully',
                    'create: blank description') || {};
    ok !defined $t->{description}, 'create: blank description stored as null';

    # limits: exactly 2 and 100 characters; characters, not bytes
    $res = call(POST => '/api/v1/admin/tags', body => { name => 'AB' });
    is((success_ok($res, 201, 'Tag created successfully',
                   'create: 2-character name') || {})->{slug}, 'ab',
       'create: slug of a 2-character name');
    my $long = 'x' x 100;
    $res = call(POST => '/api/v1/admin/tags', body => { name => $long });
    is((success_ok($res, 201, 'Tag created successfully',
                   'create: 100-character name') || {})->{slug}, $long,
       'create: 100-character slug');
    my $wide = "Ca" . ("\x{e9}" x 98);        # 100 characters, 198 bytes
    $res = call(POST => '/api/v1/admin/tags', body => { name => $wide });
    $t = success_ok($res, 201, 'Tag created successfully',
                    'create: 100 multi-byte characters') || {};
    is $t->{name}, $wide, 'create: UTF-8 name kept';
    is $t->{slug}, 'ca', 'create: slug keeps the ASCII letters';
    $res = call(POST => '/api/v1/admin/tags',
                body => { name => 'Desc Max', description => 'd' x 500 });
    success_ok($res, 201, 'Tag created successfully',
               'create: 500-character description');

    # duplicates
    my $n = tag_count();
    my $e = error_ok(call(POST => '/api/v1/admin/tags',
                          body => { name => 'MUSIC' }),
                     409, 'TAG_EXISTS', 'create: same name, other case: 409');
    $e = error_ok(call(POST => '/api/v1/admin/tags',
                       body => { name => 'food & wine' }),
                  409, 'TAG_EXISTS', 'create: existing name: 409');
    $e = error_ok(call(POST => '/api/v1/admin/tags',
                       body => { name => 'Food-Wine!' }),
                  409, 'TAG_EXISTS', 'create: name giving a taken slug: 409');
    is $e->{slug}, 'food-wine', 'create: the conflicting slug is named';
    is tag_count(), $n, 'create: nothing written on 409';

    # a name that leaves no slug
    for my $bad ('!!', '---', "\x{e9}\x{e8}", '** &&') {
        my $f = fields_ok(call(POST => '/api/v1/admin/tags',
                               body => { name => $bad }),
                          ['name'], "create: name \"$bad\" gives no slug");
        like $f->{name} // '', qr/letter or digit/,
             'create: errors.fields.name says why';
    }

    # field validation
    my @cases = (
        [{}, ['name'], 'no name'],
        [{ name => undef }, ['name'], 'null name'],
        [{ name => 'A' }, ['name'], '1-character name'],
        [{ name => '  A  ' }, ['name'], '1 character once trimmed'],
        [{ name => 'x' x 101 }, ['name'], '101-character name'],
        [{ name => "\x{e9}" x 101 }, ['name'], '101 multi-byte characters'],
        [{ name => 42 }, ['name'], 'numeric name'],
        [{ name => ['Music'] }, ['name'], 'array name'],
        [{ name => { a => 1 } }, ['name'], 'object name'],
        [{ name => JSON::PP::true }, ['name'], 'boolean name'],
        [{ name => "Bad\x{01}Name" }, ['name'], 'control character in name'],
        [{ name => 'Okay', description => 'd' x 501 }, ['description'],
         '501-character description'],
        [{ name => 'Okay', description => 7 }, ['description'],
         'numeric description'],
        [{ name => 'Okay', color => 'red' }, ['color'], 'colour "red"'],
        [{ name => 'Okay', color => '#12345' }, ['color'], 'short colour'],
        [{ name => 'Okay', color => '#1234567' }, ['color'], 'long colour'],
        [{ name => 'Okay', color => '#GGGGGG' }, ['color'], 'non-hex colour'],
        [{ name => 'Okay', color => '123456' }, ['color'], 'colour without #'],
        [{ name => 'Okay', color => 123456 }, ['color'], 'numeric colour'],
        [{ name => 'x', description => [], color => 'blue' },
         ['name', 'description', 'color'], 'every field wrong at once'],
    );
    for my $c (@cases) {
        my ($body, $fields, $what) = @$c;
        fields_ok(call(POST => '/api/v1/admin/tags', body => $body), $fields,
                  "create: $what");
    }

    # the body itself
    error_ok(call(POST => '/api/v1/admin/tags', body => '{"name": "Broken"'),
             400, 'INVALID_JSON', 'create: malformed JSON');
    error_ok(call(POST => '/api/v1/admin/tags',
                  body => '{"name":"A1","name":"A2"}'),
             400, 'INVALID_JSON', 'create: duplicate keys');
    error_ok(call(POST => '/api/v1/admin/tags', body => '["Music"]'),
             400, 'INVALID_JSON', 'create: array body');
    error_ok(call(POST => '/api/v1/admin/tags', body => '"Music"'),
             400, 'INVALID_JSON', 'create: string body');
    error_ok(call(POST => '/api/v1/admin/tags', body => '',
                  headers => { 'Content-Type' => 'application/json' }),
             400, 'INVALID_JSON', 'create: empty body');
    error_ok(call(POST => '/api/v1/admin/tags', body => 'name=Music',
                  headers => { 'Content-Type' =>
                               'application/x-www-form-urlencoded' }),
             415, 'UNSUPPORTED_MEDIA_TYPE', 'create: not JSON: 415');
    error_ok(call(POST => '/api/v1/admin/tags',
                  body => { name => 'Huge', description => 'd' x 70000 }),
             413, 'PAYLOAD_TOO_LARGE', 'create: body over 64 KiB: 413');

    sleep 0.3;
    is tag_count(), $n, 'create: nothing written by any refused create';
}

# ---- 3. get by id ----------------------------------------------------------

{
    psql("UPDATE evently.tags SET is_active = false WHERE id = '$SPORTS'");

    my $res = call(GET => "/api/v1/admin/tags/$SPORTS");
    my $t = success_ok($res, 200, 'Tag retrieved successfully',
                       'get: an inactive tag') || {};
    tag_shape_ok($res, 'get');
    is_deeply [@$t{qw(id name slug description color)}],
              [$SPORTS, 'Sports', 'sports',
               'Sporting events and competitions', '#10B981'],
              'get: the seeded values';
    ok !$t->{is_active}, 'get: is_active false';

    success_ok(call(GET => '/api/v1/admin/tags/' . uc $SPORTS), 200,
               'Tag retrieved successfully', 'get: upper-case UUID');

    error_ok(call(GET => "/api/v1/admin/tags/$NO_SUCH"), 404,
             'TAG_NOT_FOUND', 'get: unknown id: 404');
    for my $bad ('abc', '12345', "$MUSIC-0",
                 'zzzzzzzz-0000-4000-8000-000000000102',
                 '00000000000040008000000000000102') {
        error_ok(call(GET => "/api/v1/admin/tags/$bad"), 400, 'INVALID_ID',
                 "get: \"$bad\" is not a UUID: 400");
    }

    psql("UPDATE evently.tags SET is_active = true WHERE id = '$SPORTS'");
}

# ---- 4. admin active list = public active list -----------------------------

{
    psql("UPDATE evently.tags SET is_active = false WHERE id = '$SPORTS'");

    my $admin_res = call(GET => '/api/v1/admin/tags/active');
    my $public_res = call(GET => '/api/v1/tags/active', token => undef);
    my $adm = success_ok($admin_res, 200, 'Active tags retrieved successfully',
                       'admin active: 200');
    success_ok($public_res, 200, 'Active tags retrieved successfully',
               'public active: 200');
    is_deeply $adm, $public_res->{json}{data},
              'admin active list equals the public one';

    my @expected = map { Encode::decode('UTF-8', $_->[0]) } @{ psql_rows(q{
        SELECT name FROM evently.tags WHERE is_active}) };
    @expected = sort { lc $a cmp lc $b } @expected;
    is_deeply [map { $_->{name} } @{ $adm || [] }], \@expected,
              'admin active: every active tag, by name';
    ok !grep({ $_->{name} eq 'Sports' } @{ $adm || [] }),
       'admin active: the inactive tag is left out';

    psql("UPDATE evently.tags SET is_active = true WHERE id = '$SPORTS'");
}

# ---- 5. update -------------------------------------------------------------

{
    my $old = '2001-02-03 04:05:06+00';
    psql("UPDATE evently.tags SET updated_at = '$old' WHERE id = '$MUSIC'");

    my $res = call(PUT => "/api/v1/admin/tags/$MUSIC",
                   body => { name => 'Live Music', slug => 'ignored-slug' });
    my $t = success_ok($res, 200, 'Tag updated successfully',
                       'update: rename') || {};
    tag_shape_ok($res, 'update');
    is $t->{name}, 'Live Music', 'update: new name';
    is $t->{slug}, 'live-music', 'update: slug re-derived, body slug ignored';
    is $t->{description}, 'Musical performances and concerts',
       'update: description kept';
    is $t->{color}, '#EF4444', 'update: colour kept';
    ok $t->{is_active}, 'update: still active';
    isnt $t->{updated_at}, '2001-02-03T04:05:06Z', 'update: updated_at moved';
    cmp_ok $t->{created_at}, 'le', $t->{updated_at} // '',
           'update: updated_at not before created_at';
    success_ok(call(GET => '/api/v1/tags/slug/live-music', token => undef),
               200, 'Tag retrieved successfully',
               'update: the new slug is public');
    error_ok(call(GET => '/api/v1/tags/slug/music', token => undef),
             404, 'TAG_NOT_FOUND', 'update: the old slug is gone');

    # same name in another case: allowed, slug unchanged
    $t = success_ok(call(PUT => "/api/v1/admin/tags/$MUSIC",
                         body => { name => 'LIVE MUSIC' }),
                    200, 'Tag updated successfully',
                    'update: own name in another case') || {};
    is_deeply [@$t{qw(name slug)}], ['LIVE MUSIC', 'live-music'],
              'update: case change keeps the slug';

    # partial updates
    $t = success_ok(call(PUT => "/api/v1/admin/tags/$MUSIC",
                         body => { color => '#00ff7f' }),
                    200, 'Tag updated successfully', 'update: colour only')
         || {};
    is_deeply [@$t{qw(name color description)}],
              ['LIVE MUSIC', '#00FF7F', 'Musical performances and concerts'],
              'update: only the colour changed';

    $t = success_ok(call(PUT => "/api/v1/admin/tags/$MUSIC",
                         body => { description => 'New words' }),
                    200, 'Tag updated successfully', 'update: description')
         || {};
    is $t->{description}, 'New words', 'update: description set';
    $t = success_ok(call(PUT => "/api/v1/admin/tags/$MUSIC",
                         body => { description => undef }),
                    200, 'Tag updated successfully',
                    'update: null description') || {};
    ok exists $t->{description} && !defined $t->{description},
       'update: null clears the description';
    success_ok(call(PUT => "/api/v1/admin/tags/$MUSIC",
                    body => { description => 'Back again' }),
               200, 'Tag updated successfully', 'update: description again');
    $t = success_ok(call(PUT => "/api/v1/admin/tags/$MUSIC",
                         body => { description => '' }),
                    200, 'Tag updated successfully',
                    'update: empty description') || {};
    ok !defined $t->{description}, 'update: "" clears the description';

    # is_active
    $t = success_ok(call(PUT => "/api/v1/admin/tags/$MUSIC",
                         body => { is_active => JSON::PP::false }),
                    200, 'Tag updated successfully', 'update: deactivate')
         || {};
    ok defined $t->{is_active} && !$t->{is_active}, 'update: inactive';
    error_ok(call(GET => '/api/v1/tags/slug/live-music', token => undef),
             404, 'TAG_NOT_FOUND', 'update: an inactive tag is not public');
    my $active = call(GET => '/api/v1/tags/active', token => undef);
    ok !grep({ $_->{id} eq $MUSIC } @{ $active->{json}{data} || [] }),
       'update: an inactive tag is not in the active list';
    $t = success_ok(call(PUT => "/api/v1/admin/tags/$MUSIC",
                         body => { is_active => JSON::PP::true,
                                   name => 'Music' }),
                    200, 'Tag updated successfully',
                    'update: reactivate and rename back') || {};
    is_deeply [@$t{qw(name slug)}], ['Music', 'music'],
              'update: back to music';
    ok $t->{is_active}, 'update: active again';

    # nothing to change: the tag as it is, updated_at untouched
    psql("UPDATE evently.tags SET updated_at = '$old' WHERE id = '$MUSIC'");
    for my $body ({}, { name => 'Music', color => '#00FF7F' },
                  { name => '  Music  ', description => undef,
                    is_active => JSON::PP::true },
                  { unknown => 'field' }) {
        $t = success_ok(call(PUT => "/api/v1/admin/tags/$MUSIC",
                             body => $body),
                        200, 'Tag updated successfully',
                        'update: no change ' . $JSON->encode($body)) || {};
        is $t->{updated_at}, '2001-02-03T04:05:06Z',
           'update: no change keeps updated_at';
    }

    # conflicts
    my $before = db_snapshot();
    my $e = error_ok(call(PUT => "/api/v1/admin/tags/$MUSIC",
                          body => { name => 'sports' }),
                     409, 'TAG_EXISTS', 'update: another tag\'s name: 409');
    $e = error_ok(call(PUT => "/api/v1/admin/tags/$MUSIC",
                       body => { name => 'Sports!' }),
                  409, 'TAG_EXISTS', 'update: another tag\'s slug: 409');
    is $e->{slug}, 'sports', 'update: the conflicting slug is named';
    fields_ok(call(PUT => "/api/v1/admin/tags/$MUSIC",
                   body => { name => '!!' }),
              ['name'], 'update: a name that leaves no slug');

    # validation
    my @cases = (
        [{ name => undef }, ['name'], 'null name'],
        [{ name => 'M' }, ['name'], '1-character name'],
        [{ name => 'm' x 101 }, ['name'], '101-character name'],
        [{ name => 5 }, ['name'], 'numeric name'],
        [{ description => 'd' x 501 }, ['description'],
         '501-character description'],
        [{ description => { x => 1 } }, ['description'],
         'object description'],
        [{ color => undef }, ['color'], 'null colour'],
        [{ color => '#FFF' }, ['color'], '3-digit colour'],
        [{ color => 'blue' }, ['color'], 'colour name'],
        [{ is_active => 'yes' }, ['is_active'], 'is_active "yes"'],
        [{ is_active => 1 }, ['is_active'], 'is_active 1'],
        [{ is_active => undef }, ['is_active'], 'null is_active'],
        [{ name => 'Valid Name', color => 'nope' }, ['color'],
         'a valid name with a bad colour'],
    );
    for my $c (@cases) {
        my ($body, $fields, $what) = @$c;
        fields_ok(call(PUT => "/api/v1/admin/tags/$MUSIC", body => $body),
                  $fields, "update: $what");
    }
    error_ok(call(PUT => "/api/v1/admin/tags/$MUSIC", body => '{"name":'),
             400, 'INVALID_JSON', 'update: malformed JSON');
    error_ok(call(PUT => "/api/v1/admin/tags/$MUSIC", body => '[]'),
             400, 'INVALID_JSON', 'update: array body');
    error_ok(call(PUT => "/api/v1/admin/tags/$MUSIC", body => '',
                  headers => { 'Content-Type' => 'application/json' }),
             400, 'INVALID_JSON', 'update: empty body');
    error_ok(call(PUT => "/api/v1/admin/tags/$NO_SUCH",
                  body => { name => 'Ghost' }),
             404, 'TAG_NOT_FOUND', 'update: unknown id: 404');
    error_ok(call(PUT => '/api/v1/admin/tags/not-a-uuid',
                  body => { name => 'Ghost' }),
             400, 'INVALID_ID', 'update: bad id: 400');

    sleep 0.3;
    is db_snapshot(), $before, 'update: nothing written by a refused update';
}

# ---- 6. delete -------------------------------------------------------------

{
    my $t = success_ok(call(POST => '/api/v1/admin/tags',
                            body => { name => 'Used Tag' }),
                       201, 'Tag created successfully',
                       'delete: create a tag to use') || {};
    my $id = $t->{id} // $NO_SUCH;
    my $event = psql(<<"_SQL_");
INSERT INTO evently.events (name, venue, venue_template_id, date_time,
                            base_price)
VALUES ('Tag Test Event', 'Somewhere', '$TEMPLATE',
        now() + interval '30 days', 100.00)
RETURNING id;
_SQL_
    psql("INSERT INTO evently.event_tags (event_id, tag_id) "
         . "VALUES ('$event', '$id')");

    my $e = error_ok(call(DELETE => "/api/v1/admin/tags/$id"), 409,
                     'TAG_IN_USE', 'delete: tag used by an event: 409');
    is $e->{event_count}, 1, 'delete: errors.event_count';
    is psql("SELECT count(*) FROM evently.tags WHERE id = '$id'"), '1',
       'delete: the tag in use is still there';

    error_ok(call(DELETE => "/api/v1/admin/tags/$TECH"), 409, 'TAG_IN_USE',
             'delete: a seeded tag used by seeded events: 409');

    psql("DELETE FROM evently.events WHERE id = '$event'");
    my $d = success_ok(call(DELETE => "/api/v1/admin/tags/$id"), 200,
                       'Tag deleted successfully',
                       'delete: no longer used: 200');
    is $d->{id}, $id, 'delete: data.id';
    is psql("SELECT count(*) FROM evently.tags WHERE id = '$id'"), '0',
       'delete: gone from the database';
    error_ok(call(GET => "/api/v1/admin/tags/$id"), 404, 'TAG_NOT_FOUND',
             'delete: GET after delete: 404');
    error_ok(call(DELETE => "/api/v1/admin/tags/$id"), 404, 'TAG_NOT_FOUND',
             'delete: twice: 404');
    error_ok(call(DELETE => "/api/v1/admin/tags/$NO_SUCH"), 404,
             'TAG_NOT_FOUND', 'delete: unknown id: 404');
    error_ok(call(DELETE => '/api/v1/admin/tags/xyz'), 400, 'INVALID_ID',
             'delete: bad id: 400');

    # the name is free again
    success_ok(call(POST => '/api/v1/admin/tags',
                    body => { name => 'Used Tag' }),
               201, 'Tag created successfully',
               'delete: the name can be used again');
}

# ---- 7. list: pagination, search, filter, sort -----------------------------

{
    reset_db();
    seed();
    fresh_users();

    # 6 seeded tags (same created_at/updated_at) + 16 with known times
    my @fixture;
    for my $i (1 .. 14) {
        push @fixture, {
            name => sprintf('Gen %02d', $i),
            slug => sprintf('gen-%02d', $i),
            description => $i == 3 ? 'Blue Whale watching'
                         : $i % 3 == 0 ? undef : "Generic number $i",
            is_active => $i % 2 ? 1 : 0,
            created => sprintf('2000-01-%02d 10:00:00+00', $i),
            updated => sprintf('2000-03-%02d 10:00:00+00', 20 - $i),
        };
    }
    push @fixture,
        { name => '100% Fun', slug => '100-fun', description => 'Percent',
          is_active => 1, created => '2000-02-01 00:00:00+00',
          updated => '2000-02-01 00:00:00+00' },
        { name => 'under_score', slug => 'under-score', description => undef,
          is_active => 0, created => '2000-02-02 00:00:00+00',
          updated => '2000-02-02 00:00:00+00' };

    for my $f (@fixture) {
        psql(q{INSERT INTO evently.tags (name, slug, description, is_active,
                                         created_at, updated_at)
               VALUES (:'name', :'slug', nullif(:'description', ''),
                       :'is_active', :'created', :'updated')},
             { %$f, description => $f->{description} // '',
               is_active => $f->{is_active} ? 'true' : 'false' });
    }

    # the expected answers, computed here from the rows
    my @all = map {
        { name => $_->[0], description => $_->[1], is_active => $_->[2] eq 't',
          created => $_->[3], updated => $_->[4] }
    } @{ psql_rows(q{SELECT name, description, is_active,
                            extract(epoch FROM created_at)::numeric,
                            extract(epoch FROM updated_at)::numeric
                     FROM evently.tags}) };
    is scalar @all, 22, 'list: 22 tags in the fixture';

    my $expect = sub {
        my (%q) = @_;
        my @rows = @all;
        if (defined $q{is_active}) {
            @rows = grep { $_->{is_active} == $q{is_active} } @rows;
        }
        if (defined $q{search}) {
            my $s = lc $q{search};
            @rows = grep { index(lc $_->{name}, $s) >= 0
                           || index(lc($_->{description} // ''), $s) >= 0 }
                    @rows;
        }
        my $by = $q{sort_by} // 'name';
        my $desc = ($q{sort_order} // 'asc') eq 'desc';
        my $key = $by eq 'created_at' ? 'created'
                : $by eq 'updated_at' ? 'updated' : undef;
        @rows = sort {
            my $c = $key ? ($a->{$key} <=> $b->{$key}) : 0;
            $c ||= lc $a->{name} cmp lc $b->{name};
            $desc ? -$c : $c;
        } @rows;
        my $page = $q{page} // 1;
        my $limit = $q{limit} // 10;
        my $total = @rows;
        my @slice = grep { defined } @rows[($page - 1) * $limit
                                           .. $page * $limit - 1];
        return { names => [map { $_->{name} } @slice], total_count => $total,
                 page => $page, limit => $limit,
                 total_pages => $total ? ceil($total / $limit) : 0 };
    };

    my $list_ok = sub {
        my ($query, %q) = @_;
        my $res = call(GET => "/api/v1/admin/tags$query");
        my $d = success_ok($res, 200, 'Tags retrieved successfully',
                           "list $query: 200") || {};
        my $got = { names => [map { $_->{name} } @{ $d->{tags} || [] }],
                    map { $_ => $d->{$_} }
                        qw(total_count page limit total_pages) };
        is_deeply $got, $expect->(%q), "list $query: items and totals"
            or diag label($res);
        like $res->{body},
             qr/"data":\{"tags"\s*:.*"total_count"\s*:.*"page"\s*:
                .*"limit"\s*:.*"total_pages"\s*:/sx,
             "list $query: keys in order";
        return $d;
    };

    my $d = $list_ok->('');
    is scalar @{ $d->{tags} || [] }, 10, 'list: default limit 10';
    is_deeply [sort keys %{ $d->{tags}[0] || {} }], [sort @TAG_KEYS],
              'list: items are Tags';
    $list_ok->('?page=2', page => 2);
    $list_ok->('?page=3', page => 3);
    $d = $list_ok->('?page=4', page => 4);
    is_deeply $d->{tags}, [], 'list: a page past the end is empty';
    $list_ok->('?page=1000000', page => 1000000);
    $list_ok->('?limit=100', limit => 100);
    $list_ok->('?limit=1', limit => 1);
    $list_ok->('?limit=1&page=22', limit => 1, page => 22);
    $list_ok->('?limit=7&page=4', limit => 7, page => 4);
    $list_ok->('?limit=11&page=2', limit => 11, page => 2);

    $list_ok->('?is_active=true', is_active => 1);
    $list_ok->('?is_active=false', is_active => 0);
    $list_ok->('?is_active=false&limit=3&page=2', is_active => 0, limit => 3,
               page => 2);

    $list_ok->('?search=gen', search => 'gen');
    $list_ok->('?search=GEN+1', search => 'gen 1');
    $list_ok->('?search=gen%201&is_active=true', search => 'gen 1',
               is_active => 1);
    $list_ok->('?search=whale', search => 'whale');
    $list_ok->('?search=Conferences', search => 'conferences');
    $list_ok->('?search=number&limit=4&page=3', search => 'number',
               limit => 4, page => 3);
    $list_ok->('?search=%25', search => '%');
    $list_ok->('?search=_', search => '_');
    $list_ok->('?search=nothing-matches-this',
               search => 'nothing-matches-this');
    $list_ok->('?search=%20%20');
    $list_ok->('?search=' . ('q' x 100), search => 'q' x 100);
    $list_ok->('?search=%27%3B%20DROP%20TABLE%20evently.tags%3B--',
               search => "'; DROP TABLE evently.tags;--");

    $list_ok->('?sort_by=name&sort_order=desc', sort_order => 'desc');
    $list_ok->('?sort_by=created_at', sort_by => 'created_at');
    $list_ok->('?sort_by=created_at&sort_order=desc',
               sort_by => 'created_at', sort_order => 'desc');
    $list_ok->('?sort_by=updated_at&sort_order=asc&limit=5&page=2',
               sort_by => 'updated_at', limit => 5, page => 2);
    $list_ok->('?sort_by=updated_at&sort_order=desc',
               sort_by => 'updated_at', sort_order => 'desc');
    $list_ok->('?sort_by=CREATED_AT&sort_order=DESC',
               sort_by => 'created_at', sort_order => 'desc');
    $list_ok->('?sort_by=created_at&sort_order=desc&is_active=true'
               . '&search=gen&limit=3&page=2',
               sort_by => 'created_at', sort_order => 'desc', is_active => 1,
               search => 'gen', limit => 3, page => 2);
    $list_ok->('?unknown=1&foo=bar');

    my @bad = (
        ['?limit=101', ['limit']], ['?limit=0', ['limit']],
        ['?limit=-1', ['limit']], ['?limit=ten', ['limit']],
        ['?limit=2.5', ['limit']], ['?page=0', ['page']],
        ['?page=-3', ['page']], ['?page=x', ['page']],
        ['?page=1000001', ['page']],
        ['?page=99999999999999999999', ['page']],
        ['?is_active=maybe', ['is_active']],
        ['?sort_by=slug', ['sort_by']], ['?sort_by=id', ['sort_by']],
        ['?sort_order=up', ['sort_order']],
        ['?search=' . ('q' x 101), ['search']],
        ['?search=a%01b', ['search']],
        ['?search=%FF', ['search']],
        ['?limit=500&page=0&sort_by=x&sort_order=y&is_active=2',
         ['limit', 'page', 'sort_by', 'sort_order', 'is_active']],
    );
    for my $b (@bad) {
        fields_ok(call(GET => "/api/v1/admin/tags$b->[0]"), $b->[1],
                  "list $b->[0]: 400");
    }

    is tag_count(), 22, 'list: the fixture is intact';
}

# ---- 8. concurrent creates of one name: one 201, the rest 409 --------------

{
    my $n = 20;
    my $results = race(n => $n, timeout => 60, run => sub {
        my ($i) = @_;
        my $res = api(POST => '/api/v1/admin/tags', port => $PORT,
                      token => $admin->{token},
                      body => { name => $i % 2 ? 'Race Tag' : 'race-tag' });
        return join ' ', $res->{status},
                    ($res->{json} && $res->{json}{errors}
                     ? $res->{json}{errors}{code} // '' : '');
    });
    my %count;
    $count{$_ // 'undef'}++ for @$results;
    is $count{'201 '} // 0, 1, 'race: exactly one create succeeds'
        or diag explain \%count;
    is $count{'409 TAG_EXISTS'} // 0, $n - 1,
       'race: every other create is 409 TAG_EXISTS'
        or diag explain \%count;
    is psql(q{SELECT count(*) FROM evently.tags WHERE slug = 'race-tag'}), '1',
       'race: one row';
}

ok stop_nginx('tags-admin'), 'nginx stopped cleanly';
no_alerts_ok($ng);

done_testing();
