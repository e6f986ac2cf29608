# Venue sections (admin): creation with seat generation in the same
# transaction (letter and number rows, single rows, total_seats checks,
# reversed and mixed ranges, the per-section cap, a 10,000-seat section),
# the list by name, update (rename, regeneration, refused once an event on
# the template has bookings or while seats are held), delete, and
# admin-only enforcement.  The seat list used to check the generated seats
# is GET /sections/{id}/seats (t/122-seats.t covers its errors).

use strict;
use warnings;

use IO::Socket::INET ();
use Test::More;
use Time::HiRes qw(time);
use Evently::Test;

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;

my $TS = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
my $TPL = '/api/v1/admin/venue-templates';
my $SEC = '/api/v1/admin/sections';
my $SMALL_THEATER = '00000000-0000-4000-8000-000000000201';
my $PREMIUM = '00000000-0000-4000-8000-000000000301';
my $NOBODY = '00000000-0000-4000-8000-00000000ffff';

reset_db();
seed();

sub nginx {
    my ($name, %http) = @_;
    return start_nginx(name => $name, port => $port,
                       http_config => http_config(%http),
                       config => server_config(),
                       main_config => main_config());
}

my $ng = nginx('venue-sections');

my $admin = create_user(role => 'ADMIN');
my $user = create_user();

sub call {
    my ($method, $path, %o) = @_;
    $o{token} = $admin->{token} if !exists $o{token};
    delete $o{token} if !defined $o{token};
    return api($method, $path, port => $port, timeout => 30, %o);
}

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

sub template {
    my ($name) = @_;
    my $r = call(POST => $TPL, body => { name => $name, default_rows => 5,
                                         default_seats_per_row => 5,
                                         layout_type => 'GENERAL' });
    die "template($name): $r->{status} $r->{body}\n" if $r->{status} != 201;
    return $r->{json}{data}{id};
}

sub section {
    my ($tid, %b) = @_;
    my $r = call(POST => "$TPL/$tid/sections", body => \%b);
    die "section($b{name}): $r->{status} $r->{body}\n"
        if $r->{status} != 201;
    return $r->{json}{data};
}

sub seats {
    my ($sid) = @_;
    my $r = call(GET => "/api/v1/sections/$sid/seats", token => undef);
    die "seats($sid): $r->{status}\n" if $r->{status} != 200;
    return $r->{json}{data}{seats};
}

sub counts {
    return psql("SELECT (SELECT count(*) FROM evently.venue_sections) || '/'"
                . " || (SELECT count(*) FROM evently.seats)");
}

sub event_on {
    my ($tid) = @_;
    return psql(<<'_SQL_', { t => $tid });
INSERT INTO evently.events (name, venue, venue_template_id, date_time,
                            base_price)
VALUES ('Section Test Event', 'Section Test Venue', :'t',
        now() + interval '10 days', 100.00)
RETURNING id;
_SQL_
}

# a booking of one seat made directly in SQL
sub book { my ($e, $seat, %o) = @_; return book_seat($e, $seat, $user->{id}, %o) }

# a live hold of a seat for an event, in the key layout of
# ngx_http_evently_holds.h
sub hold { return hold_in_redis(@_) }

sub labels {
    return [map { $_->{seat_number} } @{ $_[0] }];
}

# ---- admin-only ----------------------------------------------------------------

{
    my $body = { name => 'Nope', row_start => 'A', row_end => 'A',
                 seats_per_row => 1 };
    for my $rt ([GET => "$TPL/$SMALL_THEATER/sections"],
                [POST => "$TPL/$SMALL_THEATER/sections", $body],
                [PUT => "$SEC/$PREMIUM", { name => 'Hijacked' }],
                [DELETE => "$SEC/$PREMIUM"])
    {
        my ($m, $p, $b) = @$rt;
        fails(call($m, $p, token => undef, body => $b), 401,
              'AUTH_REQUIRED', "$m $p without a token");
        fails(call($m, $p, token => $user->{token}, body => $b), 403,
              'FORBIDDEN', "$m $p as USER");
    }
    is counts(), '4/54', 'refused requests changed nothing';
    is psql("SELECT name FROM evently.venue_sections "
            . "WHERE id = '$PREMIUM'"), 'Premium', 'Premium not renamed';
}

# ---- create: generation edge cases --------------------------------------------

my $tid = template('Generation Hall');

{
    my $r = call(POST => "$TPL/$tid/sections", body => {
        name => 'Letters', description => 'Three letter rows',
        row_start => 'A', row_end => 'C', seats_per_row => 5,
        total_seats => 15 });
    my $d = succeeds($r, 201, 'letters A..C x 5');
    is $r->{json}{message}, 'Section created successfully', 'create: message';
    like $d->{id}, $UUID, 'create: id';
    is $d->{template_id}, $tid, 'create: template_id';
    is $d->{name}, 'Letters', 'create: name';
    is $d->{description}, 'Three letter rows', 'create: description';
    is_deeply [@$d{qw(row_start row_end seats_per_row total_seats)}],
        ['A', 'C', 5, 15], 'create: rows, seats_per_row, total_seats';
    like $d->{created_at}, $TS, 'create: created_at';
    like $d->{updated_at}, $TS, 'create: updated_at';
    like $r->{body}, qr/"data":\{"id" : "[^"]+", "template_id" : "[^"]+", "name" : "Letters", "description" : "Three letter rows", "row_start" : "A", "row_end" : "C", "seats_per_row" : 5, "total_seats" : 15, "created_at" : "[^"]+", "updated_at" : "[^"]+"\}\}$/,
        'create: VenueSection keys in contract order';

    my $s = seats($d->{id});
    is_deeply labels($s),
        [map { my $r = $_; map { "$r$_" } 1 .. 5 } qw(A B C)],
        'letters: A1..A5, B1..B5, C1..C5 in row, position order';
    is_deeply [map { "$_->{row}:$_->{position}" } @$s[0, 4, 5, 14]],
        ['A:1', 'A:5', 'B:1', 'C:5'], 'letters: row and position';
    ok !(grep { $_->{status} ne 'AVAILABLE' } @$s), 'letters: all AVAILABLE';
    ok !(grep { $_->{section_id} ne $d->{id} } @$s), 'letters: section_id';

    $d = section($tid, name => 'Numbers', row_start => '8', row_end => '11',
                 seats_per_row => 3, total_seats => 12);
    is $d->{total_seats}, 12, 'numbers 8..11 x 3: total_seats 12';
    is_deeply labels(seats($d->{id})),
        [map { my $r = $_; map { "$r-$_" } 1 .. 3 } 8 .. 11],
        'numbers: 8-1..11-3, rows in numeric order (8, 9, 10, 11)';

    $d = section($tid, name => 'Single Letter', row_start => 'Q',
                 row_end => 'Q', seats_per_row => 7);
    is $d->{total_seats}, 7, 'single row Q x 7 (total_seats computed)';
    is_deeply labels(seats($d->{id})), [map { "Q$_" } 1 .. 7],
        'single row: Q1..Q7';

    $d = section($tid, name => 'Single Number', row_start => 9999,
                 row_end => '9999', seats_per_row => 1, total_seats => 1);
    is_deeply [$d->{row_start}, $d->{row_end}, $d->{total_seats}],
        ['9999', '9999', 1], 'single seat in row 9999 (number accepted)';
    is_deeply labels(seats($d->{id})), ['9999-1'], 'single seat: 9999-1';

    $d = section($tid, name => 'Lower Case', row_start => 'x',
                 row_end => 'z', seats_per_row => 2, total_seats => 6);
    is_deeply [$d->{row_start}, $d->{row_end}], ['X', 'Z'],
        'lower-case letters stored upper-case';
    is_deeply labels(seats($d->{id})), [qw(X1 X2 Y1 Y2 Z1 Z2)],
        'lower-case letters: X1..Z2';

    $d = section($tid, name => 'Full Alphabet', row_start => 'A',
                 row_end => 'Z', seats_per_row => 100, total_seats => 2600);
    my $all = seats($d->{id});
    is scalar @$all, 2600, 'A..Z x 100: 2600 seats';
    is_deeply [$all->[0]{seat_number}, $all->[-1]{seat_number}],
        ['A1', 'Z100'], 'A..Z x 100: A1 .. Z100';

    # the original Postman collection: template_id in the body is ignored
    $r = call(POST => "$TPL/$tid/sections", body => {
        template_id => 'c021e826-a7c1-42a1-b3b4-b42fc2250465',
        name => 'Standard Section', description => 'Normal seating area',
        row_start => 'N', row_end => 'Z', seats_per_row => 1,
        total_seats => 13 });
    $d = succeeds($r, 201, 'Postman body with template_id');
    is $d->{template_id}, $tid, 'Postman body: the path names the template';
    is scalar @{ seats($d->{id}) }, 13, 'Postman body: 13 seats';

    $d = section($tid, name => 'No Description', row_start => 'A',
                 row_end => 'A', seats_per_row => 1, description => '');
    ok !defined $d->{description}, 'empty description is null';
}

# ---- create: errors (nothing written) ------------------------------------------

{
    my %ok = (name => 'Valid', row_start => 'A', row_end => 'C',
              seats_per_row => 5);
    my $before = counts();

    fails(call(POST => "$TPL/$tid/sections", body => {}), 400,
          'VALIDATION_FAILED', 'create: empty object',
          qw(name row_start row_end seats_per_row));

    my @bad = (
        [{ total_seats => 14 }, 'total_seats 14 for 3 x 5', 'total_seats'],
        [{ total_seats => 16 }, 'total_seats 16 for 3 x 5', 'total_seats'],
        [{ row_start => 'C', row_end => 'A' }, 'reversed letters', 'row_end'],
        [{ row_start => '11', row_end => '8' }, 'reversed numbers',
         'row_end'],
        [{ row_start => 'A', row_end => '3' }, 'mixed letter..number',
         'row_end'],
        [{ row_start => 2, row_end => 'B' }, 'mixed number..letter',
         'row_end'],
        [{ row_start => 'AA' }, 'two-letter row', 'row_start'],
        [{ row_start => '0' }, 'row 0', 'row_start'],
        [{ row_start => '01' }, 'row with a leading zero', 'row_start'],
        [{ row_end => '10000' }, 'row 10000', 'row_end'],
        [{ row_end => 10000 }, 'numeric row 10000', 'row_end'],
        [{ row_end => -1 }, 'negative row', 'row_end'],
        [{ row_start => '' }, 'empty row', 'row_start'],
        [{ row_start => 'É' }, 'non-ASCII row', 'row_start'],
        [{ row_start => 1.5 }, 'fractional row', 'row_start'],
        [{ row_start => undef }, 'null row', 'row_start'],
        [{ seats_per_row => 0 }, 'seats_per_row 0', 'seats_per_row'],
        [{ seats_per_row => 101 }, 'seats_per_row 101', 'seats_per_row'],
        [{ seats_per_row => '5' }, 'seats_per_row as a string',
         'seats_per_row'],
        [{ total_seats => 0 }, 'total_seats 0', 'total_seats'],
        [{ total_seats => 'all' }, 'total_seats as a string', 'total_seats'],
        [{ name => '' }, 'empty name', 'name'],
        [{ name => 'n' x 256 }, 'name of 256 characters', 'name'],
        [{ description => 'd' x 501 }, 'description of 501 characters',
         'description'],
        [{ row_start => '1', row_end => '101', seats_per_row => 100 },
         '101 x 100 seats (over the 10000 cap)', 'total_seats'],
    );
    for my $b (@bad) {
        my ($patch, $name, @fields) = @$b;
        fails(call(POST => "$TPL/$tid/sections", body => { %ok, %$patch }),
              400, 'VALIDATION_FAILED', "create: $name", @fields);
    }

    my $r = call(POST => "$TPL/$tid/sections",
                 body => { %ok, total_seats => 14 });
    like $r->{json}{errors}{fields}{total_seats}, qr/15/,
        'total_seats mismatch: the expected count is named';

    fails(call(POST => "$TPL/$tid/sections", body => '{"name":'), 400,
          'INVALID_JSON', 'create: malformed JSON');
    fails(call(POST => "$TPL/$tid/sections", body => { %ok,
                                                       name => 'LETTERS' }),
          409, 'SECTION_EXISTS', 'create: name taken in the template');
    fails(call(POST => "$TPL/$NOBODY/sections", body => \%ok), 404,
          'TEMPLATE_NOT_FOUND', 'create: unknown template');
    fails(call(POST => "$TPL/nope/sections", body => \%ok), 400,
          'INVALID_ID', 'create: bad template UUID');

    is counts(), $before, 'create errors: no section and no seat written';

    my $other = template('Other Hall');
    my $d = section($other, %ok, name => 'Letters');
    is $d->{total_seats}, 15, 'same section name in another template: ok';
}

# ---- a 10,000-seat section -------------------------------------------------------

{
    my $big = template('Stadium Hall');
    my $t0 = time;
    my $r = call(POST => "$TPL/$big/sections", body => {
        name => 'Bowl', row_start => '1', row_end => '100',
        seats_per_row => 100, total_seats => 10000 });
    my $ms = int((time - $t0) * 1000);
    my $d = succeeds($r, 201, '100 x 100 section');
    is $d->{total_seats}, 10000, '100 x 100: total_seats 10000';
    cmp_ok $ms, '<', 5000, "100 x 100: created in $ms ms (< 5 s)";
    is psql("SELECT count(*) FROM evently.seats "
            . "WHERE section_id = '$d->{id}'"), 10000,
        '100 x 100: 10000 seat rows';

    $t0 = time;
    $r = call(GET => "/api/v1/sections/$d->{id}/seats", token => undef);
    $ms = int((time - $t0) * 1000);
    my $l = succeeds($r, 200, '100 x 100: seat list');
    cmp_ok $ms, '<', 5000, "100 x 100: listed in $ms ms (< 5 s)";
    my $s = $l->{seats};
    is scalar @$s, 10000, '100 x 100: 10000 seats listed';
    is $l->{total_count}, 10000, '100 x 100: total_count';
    is_deeply [@{ $s->[0] }{qw(seat_number row position)}], ['1-1', '1', 1],
        '100 x 100: first seat 1-1';
    is_deeply [@{ $s->[-1] }{qw(seat_number row position)}],
        ['100-100', '100', 100], '100 x 100: last seat 100-100';
    is_deeply [@{ $s->[100] }{qw(seat_number row position)}],
        ['2-1', '2', 1], '100 x 100: row 2 follows row 1';
    my %ids = map { $_->{id} => 1 } @$s;
    is scalar(keys %ids), 10000, '100 x 100: distinct ids';
    my $ordered = 1;
    for my $i (1 .. $#$s) {
        my ($a, $b) = @$s[$i - 1, $i];
        $ordered = 0 if $a->{row} > $b->{row}
                        || ($a->{row} == $b->{row}
                            && $a->{position} >= $b->{position});
    }
    ok $ordered, '100 x 100: ordered by row then position';
}

# ---- list ----------------------------------------------------------------------

{
    my $r = call(GET => "$TPL/$tid/sections");
    my $d = succeeds($r, 200, 'list');
    is $r->{json}{message}, 'Sections retrieved successfully', 'list: message';
    my @names = map { $_->{name} } @{ $d->{sections} };
    is_deeply \@names, [sort @names], 'list: by name';
    is_deeply \@names, ['Full Alphabet', 'Letters', 'Lower Case',
                        'No Description', 'Numbers', 'Single Letter',
                        'Single Number', 'Standard Section'],
        'list: every section of the template';
    is $d->{total_count}, 8, 'list: total_count';
    is $d->{template_id}, $tid, 'list: template_id';
    ok !(grep { $_->{template_id} ne $tid } @{ $d->{sections} }),
        'list: only this template';

    my $empty = template('Empty Hall');
    $d = succeeds(call(GET => "$TPL/$empty/sections"), 200, 'list: empty');
    is_deeply [$d->{sections}, $d->{total_count}], [[], 0],
        'list: no sections';

    fails(call(GET => "$TPL/$NOBODY/sections"), 404, 'TEMPLATE_NOT_FOUND',
          'list: unknown template');
    fails(call(GET => "$TPL/xyz/sections"), 400, 'INVALID_ID',
          'list: bad UUID');
    fails(call(DELETE => "$TPL/$tid/sections"), 405, 'METHOD_NOT_ALLOWED',
          'list: DELETE not allowed');
}

# ---- update ----------------------------------------------------------------------

{
    my $t = template('Update Hall');
    my $s = section($t, name => 'Main', description => 'Floor',
                    row_start => 'A', row_end => 'B', seats_per_row => 4);
    my $before = seats($s->{id});
    my $url = "$SEC/$s->{id}";

    my $r = call(PUT => $url, body => { name => 'Updated Section Name',
                                        description => 'Updated section '
                                                       . 'description' });
    my $d = succeeds($r, 200, 'rename (Postman body)');
    is $r->{json}{message}, 'Section updated successfully',
        'update: message';
    is_deeply [@$d{qw(name description row_start row_end seats_per_row
                      total_seats)}],
        ['Updated Section Name', 'Updated section description', 'A', 'B', 4,
         8], 'rename: layout unchanged';
    is_deeply [map { $_->{id} } @{ seats($s->{id}) }],
        [map { $_->{id} } @$before], 'rename: same seats (same ids)';

    $d = succeeds(call(PUT => $url, body => { description => undef }), 200,
                  'description null');
    ok !defined $d->{description}, 'description null: cleared';

    $d = succeeds(call(PUT => $url, body => { seats_per_row => 6 }), 200,
                  'seats_per_row 4 -> 6');
    is $d->{total_seats}, 12, 'seats_per_row 6: total_seats recomputed';
    my $after = seats($s->{id});
    is_deeply labels($after), [map { my $r = $_; map { "$r$_" } 1 .. 6 }
                               qw(A B)], 'seats_per_row 6: A1..B6';
    my %old = map { $_->{id} => 1 } @$before;
    ok !(grep { $old{ $_->{id} } } @$after), 'regeneration: new seat ids';

    $d = succeeds(call(PUT => $url, body => { row_start => '3',
                                              row_end => '5',
                                              seats_per_row => 2,
                                              total_seats => 6 }),
                  200, 'letters -> numbers 3..5 x 2');
    is_deeply [@$d{qw(row_start row_end total_seats)}], ['3', '5', 6],
        'numbers: section fields';
    is_deeply labels(seats($s->{id})), [qw(3-1 3-2 4-1 4-2 5-1 5-2)],
        'numbers: 3-1..5-2';

    $d = succeeds(call(PUT => $url, body => { row_end => '3' }), 200,
                  'row_end only: single row');
    is $d->{total_seats}, 2, 'single row: total_seats 2';

    my $snapshot = psql("SELECT row_start || row_end || seats_per_row || '/'"
                        . " || total_seats FROM evently.venue_sections "
                        . "WHERE id = '$s->{id}'");
    fails(call(PUT => $url, body => { seats_per_row => 3,
                                      total_seats => 7 }),
          400, 'VALIDATION_FAILED', 'update: total_seats mismatch',
          'total_seats');
    fails(call(PUT => $url, body => { row_start => 'A' }), 400,
          'VALIDATION_FAILED', 'update: row_start of another kind',
          'row_start');
    fails(call(PUT => $url, body => { row_end => '2' }), 400,
          'VALIDATION_FAILED', 'update: row_end before row_start',
          'row_end');
    fails(call(PUT => $url, body => { row_start => 'B', row_end => 'A' }),
          400, 'VALIDATION_FAILED', 'update: reversed letters', 'row_end');
    fails(call(PUT => $url, body => { row_start => '1', row_end => '101',
                                      seats_per_row => 100 }),
          400, 'VALIDATION_FAILED', 'update: over the 10000 cap',
          'total_seats');
    fails(call(PUT => $url, body => { seats_per_row => 0, name => '' }),
          400, 'VALIDATION_FAILED', 'update: two bad fields',
          qw(seats_per_row name));
    fails(call(PUT => $url, body => 'nope'), 400, 'INVALID_JSON',
          'update: malformed JSON');
    is psql("SELECT row_start || row_end || seats_per_row || '/'"
            . " || total_seats FROM evently.venue_sections "
            . "WHERE id = '$s->{id}'"), $snapshot,
        'update errors: section unchanged';
    is scalar @{ seats($s->{id}) }, 2, 'update errors: seats unchanged';

    section($t, name => 'Balcony', row_start => 'A', row_end => 'A',
            seats_per_row => 1);
    fails(call(PUT => $url, body => { name => 'BALCONY' }), 409,
          'SECTION_EXISTS', 'update: name of a sibling section');
    $d = succeeds(call(PUT => $url, body => { name => 'updated section name' }),
                  200, 'update: own name in another case');

    fails(call(PUT => "$SEC/$NOBODY", body => { name => 'X' }), 404,
          'SECTION_NOT_FOUND', 'update: unknown section');
    fails(call(PUT => "$SEC/12", body => { name => 'X' }), 400,
          'INVALID_ID', 'update: bad UUID');
    fails(call(GET => $url), 405, 'METHOD_NOT_ALLOWED',
          'GET /admin/sections/{id}: 405');
}

# ---- regeneration and delete vs events, bookings, holds --------------------------

{
    my $t = template('Booked Hall');
    my $s = section($t, name => 'Stalls', row_start => 'A', row_end => 'B',
                    seats_per_row => 3);
    my $spare = section($t, name => 'Spare', row_start => 'A',
                        row_end => 'A', seats_per_row => 2);
    my $url = "$SEC/$s->{id}";

    # an event without bookings does not freeze the layout
    my $event = event_on($t);
    psql("INSERT INTO evently.event_section_pricing (event_id, section_id, "
         . "price_multiplier) VALUES ('$event', '$s->{id}', 2.0)");
    my $d = succeeds(call(PUT => $url, body => { seats_per_row => 4 }), 200,
                     'regenerate with an event but no booking');
    is $d->{total_seats}, 8, 'event without bookings: 8 seats';
    is psql("SELECT price_multiplier FROM evently.event_section_pricing "
            . "WHERE section_id = '$s->{id}'"), '2.00',
        'regeneration keeps the event\'s section pricing';

    # a hold on a seat of the section, for an event on the template
    my $seat = seats($s->{id})->[0]{id};
    hold($event, $seat);
    fails(call(PUT => $url, body => { seats_per_row => 5 }), 409,
          'SECTION_HAS_HOLDS', 'regenerate while a seat is held');
    fails(call(DELETE => $url), 409, 'SECTION_HAS_HOLDS',
          'delete while a seat is held');
    succeeds(call(PUT => $url, body => { name => 'Stalls (held)' }), 200,
             'rename while a seat is held');
    $d = succeeds(call(PUT => "$SEC/$spare->{id}",
                       body => { seats_per_row => 3 }),
                  200, 'regenerate a sibling section without holds');
    redis('DEL', "evently:event_held:$event");
    hold($event, $seat, -60);
    succeeds(call(PUT => $url, body => { seats_per_row => 3 }), 200,
             'an expired hold does not block regeneration');
    redis('DEL', "evently:event_held:$event", 'evently:held_events');

    # a hold of a seat for an event on ANOTHER template does not count
    my $other_event = event_on($SMALL_THEATER);
    hold($other_event, seats($s->{id})->[0]{id});
    succeeds(call(PUT => $url, body => { seats_per_row => 4 }), 200,
             'a hold under another template\'s event does not count');
    redis('DEL', "evently:event_held:$other_event", 'evently:held_events');

    # a cancelled booking is history: the layout stays frozen
    my $booked = seats($s->{id})->[1];
    book($event, $booked->{id}, cancelled => 1);
    fails(call(PUT => $url, body => { seats_per_row => 2 }), 409,
          'SECTION_HAS_BOOKINGS', 'regenerate after a (cancelled) booking');
    fails(call(PUT => $url, body => { row_end => 'C' }), 409,
          'SECTION_HAS_BOOKINGS', 'new row range after a booking');
    fails(call(PUT => "$SEC/$spare->{id}", body => { seats_per_row => 1 }),
          409, 'SECTION_HAS_BOOKINGS',
          'regenerate a sibling section after a booking');
    fails(call(DELETE => $url), 409, 'SECTION_HAS_BOOKINGS',
          'delete after a booking');
    fails(call(DELETE => "$SEC/$spare->{id}"), 409, 'SECTION_HAS_BOOKINGS',
          'delete a sibling section after a booking');
    is scalar @{ seats($s->{id}) }, 8, 'refused: seats unchanged';

    $d = succeeds(call(PUT => $url, body => { name => 'Renamed Stalls',
                                              description => 'still ok',
                                              seats_per_row => 4,
                                              total_seats => 8 }),
                  200, 'rename with the same layout after a booking');
    is $d->{name}, 'Renamed Stalls', 'rename after a booking: renamed';
    is psql("SELECT count(*) FROM evently.seats WHERE id = "
            . "'$booked->{id}'"), 1, 'rename after a booking: seat kept';
}

# ---- delete ----------------------------------------------------------------------

{
    my $t = template('Delete Hall');
    my $s = section($t, name => 'Gone', row_start => '1', row_end => '2',
                    seats_per_row => 2);
    my $event = event_on($t);
    psql("INSERT INTO evently.event_section_pricing (event_id, section_id, "
         . "price_multiplier) VALUES ('$event', '$s->{id}', 1.5)");

    my $r = call(DELETE => "$SEC/$s->{id}");
    my $d = succeeds($r, 200, 'delete');
    is $r->{json}{message}, 'Section deleted successfully',
        'delete: message';
    is $d->{id}, $s->{id}, 'delete: id echoed';
    is psql("SELECT count(*) FROM evently.seats "
            . "WHERE section_id = '$s->{id}'"), 0, 'delete: seats gone';
    is psql("SELECT count(*) FROM evently.event_section_pricing "
            . "WHERE section_id = '$s->{id}'"), 0, 'delete: pricing gone';
    fails(call(GET => "/api/v1/sections/$s->{id}/seats", token => undef),
          404, 'SECTION_NOT_FOUND', 'seat list after delete');
    fails(call(DELETE => "$SEC/$s->{id}"), 404, 'SECTION_NOT_FOUND',
          'delete again');
    fails(call(DELETE => "$SEC/not-a-uuid"), 400, 'INVALID_ID',
          'delete: bad UUID');
}

ok stop_nginx('venue-sections'), 'nginx stopped cleanly';
no_alerts_ok($ng);

# ---- Redis unreachable -----------------------------------------------------------

{
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => 0, Listen => 1)
        or die "no free port: $!\n";
    my $closed = $sock->sockport;
    close $sock;

    my $down = nginx('venue-sections-noredis', redis => "127.0.0.1:$closed");
    my $t = template('No Redis Hall');
    my $s = section($t, name => 'Pit', row_start => 'A', row_end => 'A',
                    seats_per_row => 2);

    fails(call(PUT => "$SEC/$s->{id}", body => { seats_per_row => 3 }),
          503, 'HOLDS_UNAVAILABLE', 'Redis down: regeneration refused');
    my $r = call(DELETE => "$SEC/$s->{id}");
    fails($r, 503, 'HOLDS_UNAVAILABLE', 'Redis down: delete refused');
    ok defined $r->{headers}{'retry-after'}, 'Redis down: Retry-After';
    is scalar @{ seats($s->{id}) }, 2, 'Redis down: seats unchanged';
    my $d = succeeds(call(PUT => "$SEC/$s->{id}", body => { name => 'Pit 2' }),
                     200, 'Redis down: rename still works');
    is $d->{name}, 'Pit 2', 'Redis down: renamed';

    ok stop_nginx('venue-sections-noredis'), 'Redis down: nginx stopped';
    no_alerts_ok($down, 'Redis down: no alerts');
}

done_testing;
