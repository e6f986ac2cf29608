# The API documentation: docs/openapi.yaml (the OpenAPI 3 spec, the source)
# and docs/index.html (generated from it by scripts/docs).
# - the spec parses (YAML::PP, the module scripts/docs uses), is OpenAPI
#   3.x, every $ref resolves, every operation is complete;
# - it cannot drift from the code: every (method, path) that
#   conf/evently.conf serves is documented with its operation and access
#   level, and every documented operation is served; the fields, limits,
#   enumerations, success status and message of each operation are those
#   of the module's op tables; every error code the SQL functions and the
#   module can answer is documented;
# - scripts/docs reproduces docs/index.html byte for byte (the committed
#   page is never stale), deterministically, escapes what it prints, uses
#   no external resource, and fails (exit 1, nothing written) on a spec
#   that does not parse or has a dangling $ref;
# - nginx serves both: GET /openapi.yaml and /swagger.yaml (the same YAML),
#   GET /docs (the page, every path in it), POST /docs is 405;
# - the live responses of key operations (a hold, a booking, its
#   cancellation, a waitlist offer, reports, errors) match the spec:
#   documented status, strict schema, documented error code and headers.

use strict;
use warnings;

use Test::More;
use Evently::Test;
use File::Temp qw(tempdir);
use IPC::Run ();
use Encode ();
use YAML::PP ();
use B ();
use JSON::PP ();
use Scalar::Util qw(blessed);

my $port = $ENV{TEST_NGINX_SERVER_PORT} // $ENV{TEST_NGINX_PORT} // 1984;
my $Root = $ENV{TEST_NGINX_EVENTLY_ROOT};
my $SpecFile = "$Root/docs/openapi.yaml";
my $PageFile = "$Root/docs/index.html";
my $Generator = "$Root/scripts/docs";

my @Methods = qw(get put post delete patch head options trace);

# ops of the module that no location documents: the internal error page
# and the catch-all of /api/v1/ (ROUTE_NOT_FOUND, in the spec's
# conventions and common responses)
my %Undocumented = map { $_ => 1 } qw(error_page route_not_found);

# checks the C validator does not make alone: the seats of a hold are
# limited after the field check, by evently_hold_max_seats (default 10)
my %MaxItemsByConfig = ('hold_seats seat_ids' => 10);


sub slurp {
    my ($file) = @_;
    open my $in, '<:raw', $file or die "$file: $!\n";
    local $/;
    my $s = <$in>;
    close $in;
    return $s;
}

sub problems_ok {
    my ($problems, $name) = @_;
    my $ok = ok(!@$problems, $name);
    diag(join "\n", @$problems[0 .. ($#$problems < 39 ? $#$problems : 39)])
        if !$ok;
    return $ok;
}


# ---- the spec ---------------------------------------------------------------

my $spec_text = slurp($SpecFile);
sub yaml {
    my ($bytes) = @_;
    return YAML::PP->new->load_string(
        Encode::decode('UTF-8', $bytes,
                       Encode::FB_CROAK() | Encode::LEAVE_SRC()));
}

my $spec = eval { yaml($spec_text) };
ok(ref $spec eq 'HASH', 'docs/openapi.yaml parses as YAML (YAML::PP)')
    or BAIL_OUT("docs/openapi.yaml does not parse: $@");

like($spec->{openapi} // '', qr/^3\.\d+\.\d+$/, 'openapi is 3.x');
ok(defined $spec->{info}{title} && defined $spec->{info}{version}
   && ($spec->{info}{description} // '') =~ /Deliberate differences/,
   'info has a title, a version and the conventions');
ok((grep { $_->{url} eq 'http://127.0.0.1:8080' } @{ $spec->{servers} || [] }),
   'the server is http://127.0.0.1:8080');

sub resolve {
    my ($ref) = @_;
    return undef if !defined $ref || $ref !~ m{^#/(.*)$};
    my $node = $spec;
    for my $part (split m{/}, $1) {
        $part =~ s/~1/\//g;
        $part =~ s/~0/~/g;
        return undef if ref $node ne 'HASH' || !exists $node->{$part};
        $node = $node->{$part};
    }
    return $node;
}

sub deref {
    my ($node) = @_;
    for (1 .. 20) {
        last if ref $node ne 'HASH' || !exists $node->{'$ref'};
        $node = resolve($node->{'$ref'});
    }
    return $node;
}

{
    my @bad;
    my $walk;
    $walk = sub {
        my ($node, $where) = @_;
        if (ref $node eq 'HASH') {
            push @bad, "$where: $node->{'$ref'}"
                if exists $node->{'$ref'} && !defined resolve($node->{'$ref'});
            $walk->($node->{$_}, "$where/$_") for sort keys %$node;
        } elsif (ref $node eq 'ARRAY') {
            $walk->($node->[$_], "$where/$_") for 0 .. $#$node;
        }
    };
    $walk->($spec, '#');
    problems_ok(\@bad, 'every $ref resolves');
}

# every operation of the spec: [method, path, op, path item]
my @SpecOps;
for my $path (sort keys %{ $spec->{paths} }) {
    for my $m (@Methods) {
        my $op = $spec->{paths}{$path}{$m} or next;
        push @SpecOps, [$m, $path, $op, $spec->{paths}{$path}];
    }
}
cmp_ok(scalar @SpecOps, '>=', 50, 'the spec documents the operations');

{
    my (@bad, %ids);
    my %tags = map { $_->{name} => 1 } @{ $spec->{tags} || [] };
    for my $o (@SpecOps) {
        my ($m, $path, $op, $item) = @$o;
        my $w = uc($m) . " $path";
        my $id = $op->{operationId};
        push @bad, "$w: no operationId" if !defined $id;
        push @bad, "$w: operationId $id used twice"
            if defined $id && $ids{$id}++;
        push @bad, "$w: no summary" if !defined $op->{summary};
        push @bad, "$w: no declared tag"
            if !@{ $op->{tags} || [] } || grep { !$tags{$_} } @{ $op->{tags} };
        push @bad, "$w: no x-evently-op" if !defined $op->{'x-evently-op'};

        my $auth = $op->{'x-evently-auth'} // '';
        push @bad, "$w: x-evently-auth \"$auth\""
            if $auth !~ /^(public|user|admin)$/;
        my $sec = exists $op->{security} ? $op->{security}
                                         : $spec->{security};
        my $bearer = grep { exists $_->{bearerAuth} } @{ $sec || [] };
        push @bad, "$w: security does not match x-evently-auth $auth"
            if ($auth eq 'public') == !!$bearer;

        my $responses = $op->{responses} || {};
        push @bad, "$w: no success response"
            if !grep { /^[23]\d\d$/ } keys %$responses;
        if ($auth ne 'public') {
            push @bad, "$w: no 401" if !$responses->{401};
        }
        if ($auth eq 'admin') {
            push @bad, "$w: no 403" if !$responses->{403};
        }

        # path parameters: declared exactly once, required, in the path
        my %declared;
        for my $p (@{ $item->{parameters} || [] },
                   @{ $op->{parameters} || [] }) {
            my $r = deref($p);
            $declared{ $r->{name} } = $r if ($r->{in} // '') eq 'path';
        }
        my @in_path = $path =~ /\{(\w+)\}/g;
        for my $name (@in_path) {
            push @bad, "$w: path parameter {$name} not declared (or "
                       . "not required)"
                if !$declared{$name} || !$declared{$name}{required};
        }
        my %in_path = map { $_ => 1 } @in_path;
        push @bad, "$w: parameter $_ is not in the path"
            for grep { !$in_path{$_} } sort keys %declared;
    }
    problems_ok(\@bad, 'every operation has an operationId, a summary, '
                       . 'tags, x-evently-op/auth, matching security, '
                       . 'success and auth responses, its path parameters');
}


# ---- conf/evently.conf: every route documented, every operation served ------

# (method, OpenAPI path with {} for the parameter) => {op, auth, where}
sub conf_routes {
    my ($file) = @_;
    my (%routes, @bad, @stack);
    my $default_auth = 'public';
    my $n = 0;

    for my $line (split /\n/, slurp($file)) {
        $n++;
        $line =~ s/(?:^|\s)#.*$//;
        next if $line !~ /\S/;

        if ($line =~ /^\s*location\s+(=|~\*?|\^~)?\s*(\S+)\s*\{\s*$/) {
            push @stack, { type => 'location', mod => $1 // '', uri => $2,
                           line => $n, auth => undef, methods => [],
                           internal => 0, return => undef };
            next;
        }
        if ($line =~ /\{\s*$/) {
            push @stack, { type => 'block' };
            next;
        }
        if ($line =~ /^\s*\}\s*$/) {
            my $f = pop @stack;
            push @bad, "line $n: unbalanced }" if !$f;
            next if !$f || $f->{type} ne 'location';

            next if $f->{internal};
            next if $f->{mod} eq '' && $f->{uri} eq '/api/v1/';
            my $path = conf_path($f->{mod}, $f->{uri});
            if (!defined $path) {
                push @bad, "line $f->{line}: cannot map location "
                           . "\"$f->{mod} $f->{uri}\" to a path";
                next;
            }
            my @m = @{ $f->{methods} };
            @m = (['get', 'redirect']) if !@m && defined $f->{return};
            push @bad, "line $f->{line}: $path serves nothing" if !@m;
            push @bad, "line $f->{line}: $path has an \"evently\" line "
                       . 'without methods (every method)'
                if $f->{any};
            for my $mo (@m) {
                my ($method, $op) = @$mo;
                push @bad, "line $f->{line}: $method $path twice"
                    if $routes{"$method $path"};
                $routes{"$method $path"} = {
                    method => $method, path => $path, op => $op,
                    auth => $f->{auth} // $default_auth,
                    where => "conf/evently.conf line $f->{line}",
                };
            }
            next;
        }

        my $loc = @stack && $stack[-1]{type} eq 'location' ? $stack[-1]
                                                           : undef;
        if ($line =~ /^\s*evently_auth\s+(\w+)\s*;/) {
            if ($loc) {
                $loc->{auth} = $1;
            } elsif (!@stack) {
                $default_auth = $1;
            }
        } elsif ($loc && $line =~ /^\s*evently\s+([^;]+);/) {
            my @w = split ' ', $1;
            my $op = pop @w;
            $loc->{any} = 1 if !@w;
            push @{ $loc->{methods} }, [lc $_, $op] for @w;
        } elsif ($loc && $line =~ /^\s*internal\s*;/) {
            $loc->{internal} = 1;
        } elsif ($loc && $line =~ /^\s*return\s+(\d+)/) {
            $loc->{return} = $1;
        }
    }
    push @bad, 'unclosed block at the end' if @stack;
    return (\%routes, \@bad);
}

# "= /x/y" -> /x/y; "~ ^/x/(?<id>[^/]+)/y$" -> /x/{}/y; undef if unmappable
sub conf_path {
    my ($mod, $uri) = @_;
    return $uri if $mod eq '=';
    return undef if $mod !~ /^~/;
    my $re = $uri;
    return undef if $re !~ s/^\^// || $re !~ s/\$$//;
    $re =~ s/\(\?!(?:[^()]|\([^()]*\))*\)//g;      # lookaheads
    $re =~ s/\(\?<\w+>\[\^\/\]\+\)/{}/g;             # the path parameter
    $re =~ s/\\([.\/-])/$1/g;
    return undef if $re =~ /[\\()\[\]*+?|^\$]/;
    return $re;
}

sub spec_key {
    my ($method, $path) = @_;
    (my $p = $path) =~ s/\{\w+\}/{}/g;
    return "$method $p";
}

my ($routes, $conf_bad) = conf_routes("$Root/conf/evently.conf");
problems_ok($conf_bad, 'conf/evently.conf: every location maps to a path '
                       . 'and its methods');
cmp_ok(scalar keys %$routes, '>=', 50, 'conf/evently.conf has its routes');

my %spec_by_key = map { spec_key($_->[0], $_->[1]) => $_ } @SpecOps;
{
    my @bad;
    for my $k (sort keys %$routes) {
        my $r = $routes->{$k};
        my $s = $spec_by_key{$k};
        if (!$s) {
            push @bad, uc($r->{method}) . " $r->{path} ($r->{op}, "
                       . "$r->{where}) is not documented";
            next;
        }
        my $op = $s->[2];
        push @bad, uc($r->{method}) . " $s->[1]: x-evently-op "
                   . ($op->{'x-evently-op'} // '-') . ", the conf says "
                   . $r->{op}
            if ($op->{'x-evently-op'} // '') ne $r->{op};
        push @bad, uc($r->{method}) . " $s->[1]: x-evently-auth "
                   . ($op->{'x-evently-auth'} // '-') . ", the conf says "
                   . $r->{auth}
            if ($op->{'x-evently-auth'} // '') ne $r->{auth};
    }
    problems_ok(\@bad, 'every route of conf/evently.conf is documented with '
                       . 'its operation and access level');

    @bad = ();
    for my $o (@SpecOps) {
        push @bad, uc($o->[0]) . " $o->[1] is documented but not served"
            if !$routes->{ spec_key($o->[0], $o->[1]) };
    }
    problems_ok(\@bad, 'every documented operation is served by '
                       . 'conf/evently.conf');
}


# ---- the module's op tables: fields, limits, enumerations, status, message --

# the field tables, enumerations and op tables of ngx_evently_module/*.c
sub c_tables {
    my ($dir) = @_;
    my (%define, %fields, %enums, %ops, %text);
    my @files = (sort(glob "$dir/*.h"), sort(glob "$dir/*.c"));

    for my $f (@files) {
        my $t = slurp($f);
        $t =~ s{/\*.*?\*/}{}gs;
        $t =~ s/"\s+"//g;                       # "a" "b" is "ab"
        $text{$f} = $t;
        $define{$1} = $2 while $t =~ /^#define\s+(\w+)\s+(\S[^\n]*?)\s*$/mg;
    }
    my $value = sub {
        my ($v) = @_;
        $v =~ s/^\s+|\s+$//g;
        for (1 .. 5) {
            last if !exists $define{$v};
            ($v = $define{$v}) =~ s/^\s+|\s+$//g;
        }
        return $v;
    };

    for my $f (@files) {
        my $t = $text{$f};
        while ($t =~ /const\s+char\s+\*\s*(\w+)\[\]\s*=\s*\{(.*?)\};/sg) {
            my ($name, $body) = ($1, $2);
            $enums{$name} = [ $body =~ /"([^"]*)"/g ];
        }
        while ($t =~ /ngx_http_evently_field_t\s+(\w+)\[\]\s*=\s*
                      \{(.*?)\n\};/sgx) {
            my ($name, $body) = ($1, $2);
            my @list;
            while ($body =~ /\{\s*"([^"]+)"\s*,\s*NGX_HTTP_EVENTLY_(\w+)\s*,
                             ([^,]*),([^,]*),([^,]*),([^,]*),([^}]*)\}/sgx) {
                my ($fname, $type, $flags, $min, $max, $values, $sub) =
                    ($1, $2, $3, $4, $5, $6, $7);
                my %flag = map { s/^NGX_HTTP_EVENTLY_//r => 1 }
                           grep { /NGX/ } split /\|/, $flags =~ s/\s+//gr;
                push @list, {
                    name => $fname, type => $type, flags => \%flag,
                    min => $value->($min), max => $value->($max),
                    values => ($values =~ s/\s+//gr),
                    sub => ($sub =~ s/\s+//gr),
                };
            }
            $fields{$name} = \@list;
        }
        while ($t =~ /ngx_http_evently_op_t\s+\w+\[\]\s*=\s*\{(.*?)\n\};/sg) {
            my $body = $1;
            while ($body =~ /\{\s*ngx_string\("(\w+)"\)\s*,(.*?)
                             (?:NGX_HTTP_EVENTLY_API_SQL\(\w+\)
                                |NGX_HTTP_EVENTLY_NO_SQL)\s*\}/sgx) {
                my ($name, $rest) = ($1, $2);
                $rest =~ s/ngx_null_string/ngx_string("")/g;

                # handler, body, query, flags, status, message
                if ($rest !~ /^\s*\w+\s*,\s*(\w+)\s*,\s*(\w+)\s*,
                              \s*([\w\s|]+?)\s*,\s*(\w+)\s*,
                              \s*ngx_string\("((?:[^"\\]|\\.)*)"\)\s*,\s*$/sx)
                {
                    $ops{$name} = { unreadable => 1 };
                    next;
                }
                my ($b, $q, $flags, $status, $message) =
                    ($1, $2, $3, $4, $5);
                my %flag = map { s/^NGX_HTTP_EVENTLY_OP_//r => 1 }
                           grep { /NGX/ } split /\|/, $flags =~ s/\s+//gr;
                $ops{$name} = {
                    body => ($b eq 'NULL' ? undef : $b),
                    query => ($q eq 'NULL' ? undef : $q),
                    flags => \%flag, status => $status,
                    message => $message,
                };
            }
        }
    }
    return { fields => \%fields, enums => \%enums, ops => \%ops };
}

# the properties and required names of an object schema (allOf merged)
sub properties {
    my ($s) = @_;
    $s = deref($s);
    my (%p, %r);
    return (\%p, \%r) if ref $s ne 'HASH';
    for my $part (@{ $s->{allOf} || [] }) {
        my ($pp, $rr) = properties($part);
        %p = (%p, %$pp);
        %r = (%r, %$rr);
    }
    %p = (%p, %{ $s->{properties} || {} });
    $r{$_} = 1 for @{ $s->{required} || [] };
    return (\%p, \%r);
}

# a field of the validator against its schema
sub field_problems {
    my ($c, $where, $f, $schema) = @_;
    my @bad;
    my $s = deref($schema);
    $s = deref($s->{allOf}[0])
        if ref $s eq 'HASH' && $s->{allOf} && @{ $s->{allOf} } == 1
           && !$s->{type} && !$s->{enum};
    my $name = "$where $f->{name}";
    my ($min, $max, $t) = ($f->{min}, $f->{max}, $f->{type});
    my $eq = sub { defined $_[0] && $_[0] == $_[1] };

    if ($t eq 'STRING') {
        push @bad, "$name: minLength " . ($s->{minLength} // '-')
                   . ", the module $min"
            if !$eq->($s->{minLength} // 0, $min);
        push @bad, "$name: maxLength " . ($s->{maxLength} // '-')
                   . ", the module $max"
            if !$eq->($s->{maxLength}, $max);
    } elsif ($t eq 'EMAIL' || $t eq 'URL') {
        push @bad, "$name: maxLength " . ($s->{maxLength} // '-')
                   . ", the module $max"
            if !$eq->($s->{maxLength}, $max);
    } elsif ($t eq 'INT' || $t eq 'MONEY' || $t eq 'DECIMAL') {
        push @bad, "$name: minimum " . ($s->{minimum} // '-')
                   . ", the module $min"
            if !$eq->($s->{minimum}, $min);
        push @bad, "$name: maximum " . ($s->{maximum} // '-')
                   . ", the module $max"
            if !$eq->($s->{maximum}, $max);
        push @bad, "$name: type " . ($s->{type} // '-')
            if ($s->{type} // '') ne ($t eq 'INT' ? 'integer' : 'number');
    } elsif ($t =~ /_ARRAY$/) {
        my $limit = $MaxItemsByConfig{$where =~ s/ .*//r . " $f->{name}"}
                    // $max;
        if (($s->{type} // '') eq 'array') {
            push @bad, "$name: minItems " . ($s->{minItems} // '-')
                       . ", the module $min"
                if !$eq->($s->{minItems} // 0, $min);
            push @bad, "$name: maxItems " . ($s->{maxItems} // '-')
                       . ", the module $limit"
                if !$eq->($s->{maxItems}, $limit);
        } elsif (($s->{type} // '') ne 'string') {    # a comma list
            push @bad, "$name: neither an array nor a comma list";
        }
    } elsif ($t eq 'ENUM') {
        my $want = $c->{enums}{ $f->{values} } || [];
        my $got = $s->{enum} || [];
        push @bad, "$name: enum [@$got], the module [@$want]"
            if "@$got" ne "@$want";
    } elsif ($t eq 'UUID') {
        push @bad, "$name: not format uuid" if ($s->{format} // '') ne 'uuid';
    } elsif ($t eq 'BOOL') {
        push @bad, "$name: not boolean" if ($s->{type} // '') ne 'boolean';
    } elsif ($t eq 'DATETIME' || $t eq 'DATE') {
        my $fmt = $t eq 'DATE' ? 'date' : 'date-time';
        push @bad, "$name: not format $fmt" if ($s->{format} // '') ne $fmt;
    }

    my $nullable = deref($schema)->{nullable} ? 1 : 0;
    push @bad, "$name: nullable $nullable, the module "
               . ($f->{flags}{NULLABLE} ? 1 : 0)
        if $f->{type} ne 'OBJECT_ARRAY'
           && $nullable != ($f->{flags}{NULLABLE} ? 1 : 0);
    return @bad;
}

{
    my $c = c_tables("$Root/ngx_evently_module");
    my %status = (NGX_HTTP_OK => 200, NGX_HTTP_CREATED => 201);
    my @bad;

    cmp_ok(scalar keys %{ $c->{ops} }, '>=', 50,
           'the op tables of the module are read');

    for my $o (@SpecOps) {
        my ($m, $path, $op, $item) = @$o;
        my $name = $op->{'x-evently-op'} // '';
        next if $name eq 'redirect';
        my $w = uc($m) . " $path ($name)";
        my $c_op = $c->{ops}{$name};
        if (!$c_op) {
            push @bad, "$w: no such op in ngx_evently_module";
            next;
        }
        if ($c_op->{unreadable}) {
            push @bad, "$w: its op table entry cannot be read by this test";
            next;
        }

        # success status and message (a response's description is the
        # envelope's message)
        my $st = $status{ $c_op->{status} } // $c_op->{status};
        my $resp = deref($op->{responses}{$st});
        if (!$resp) {
            push @bad, "$w: no $st response, the op's success status";
        } elsif ($c_op->{message} ne ''
                 && ($resp->{description} // '') ne $c_op->{message}) {
            push @bad, "$w: $st says \"$resp->{description}\", the op "
                       . "\"$c_op->{message}\"";
        }

        my @params = map { deref($_) } @{ $item->{parameters} || [] },
                                       @{ $op->{parameters} || [] };
        my %query = map { $_->{name} => $_ } grep { $_->{in} eq 'query' }
                    @params;
        my %header = map { $_->{name} => $_ } grep { $_->{in} eq 'header' }
                     @params;
        my $has_path = grep { $_->{in} eq 'path' } @params;
        my $id_flag = $c_op->{flags}{ID} || $c_op->{flags}{RAW_ID};

        push @bad, "$w: a path parameter, and the op has no path id"
            if $has_path && !$id_flag;
        push @bad, "$w: the op reads a path id the path lacks"
            if $id_flag && !$has_path;
        push @bad, "$w: If-Match documented " . ($header{'If-Match'} ? 1 : 0)
                   . ", honoured " . ($c_op->{flags}{IF_MATCH} ? 1 : 0)
            if !!$header{'If-Match'} != !!$c_op->{flags}{IF_MATCH};
        my $mutation = $m =~ /^(post|put|patch|delete)$/
                       && ($op->{'x-evently-auth'} // '') ne 'public';
        push @bad, "$w: Idempotency-Key is "
                   . ($mutation ? 'accepted' : 'ignored') . " here"
            if !!$header{'Idempotency-Key'} != !!$mutation;

        # query parameters
        my $qf = $c_op->{query} ? $c->{fields}{ $c_op->{query} } || [] : [];
        my %qn = map { $_->{name} => 1 } @$qf;
        push @bad, "$w: query $_ is not read by the op"
            for grep { !$qn{$_} } sort keys %query;
        for my $f (@$qf) {
            my $p = $query{ $f->{name} };
            if (!$p) {
                push @bad, "$w: query $f->{name} is not documented";
                next;
            }
            push @bad, "$w: query $f->{name} required "
                       . ($p->{required} ? 1 : 0)
                if !!$p->{required} != !!$f->{flags}{REQUIRED};
            push @bad, field_problems($c, "$name ?", $f, $p->{schema});
        }

        # body
        my $body = deref($op->{requestBody});
        push @bad, "$w: request body documented " . ($body ? 1 : 0)
                   . ", read " . ($c_op->{flags}{BODY} ? 1 : 0)
            if !!$body != !!$c_op->{flags}{BODY};
        next if !$body;
        push @bad, "$w: the body is " . ($body->{required} ? '' : 'not ')
                   . 'required'
            if !!$body->{required} == !!$c_op->{flags}{BODY_OPT};

        my ($props, $req) =
            properties($body->{content}{'application/json'}{schema});
        my $bf = $c_op->{body} ? $c->{fields}{ $c_op->{body} } || [] : [];
        my %bn = map { $_->{name} => 1 } @$bf;
        push @bad, "$w: body field $_ is not read by the op"
            for grep { !$bn{$_} } sort keys %$props;
        for my $f (@$bf) {
            my $s = $props->{ $f->{name} };
            if (!$s) {
                push @bad, "$w: body field $f->{name} is not documented";
                next;
            }
            push @bad, "$w: body field $f->{name} required "
                       . ($req->{ $f->{name} } ? 1 : 0)
                if !!$req->{ $f->{name} } != !!$f->{flags}{REQUIRED};
            push @bad, field_problems($c, $name, $f, $s);

            next if $f->{type} ne 'OBJECT_ARRAY';
            my ($ip, $ir) = properties(deref($s)->{items});
            for my $sf (@{ $c->{fields}{ $f->{sub} } || [] }) {
                my $ss = $ip->{ $sf->{name} };
                if (!$ss) {
                    push @bad, "$w: $f->{name}\[].$sf->{name} is not "
                               . 'documented';
                    next;
                }
                push @bad, "$w: $f->{name}\[].$sf->{name} required "
                           . ($ir->{ $sf->{name} } ? 1 : 0)
                    if !!$ir->{ $sf->{name} } != !!$sf->{flags}{REQUIRED};
                push @bad, field_problems($c, "$name $f->{name}\[]", $sf,
                                          $ss);
            }
        }
    }
    problems_ok(\@bad, 'every operation matches its op table: path id, '
                       . 'If-Match, Idempotency-Key, query parameters and '
                       . 'body fields (required, limits, enumerations), '
                       . 'success status and message');
}


# ---- every error code is documented -----------------------------------------

# The codes of the files that serve routes: a domain's SQL or C file
# counts once conf/evently.conf routes one of its operations (a domain
# still being written has none yet); shared files (no operation of their
# own: 00_common.sql, the handler, the envelope, tokens ...) always count.
{
    my %routed = map { $_->{op} => 1 } values %$routes;
    my (%codes, @files);

    for my $f (sort(glob "$Root/sql/functions/*.sql"),
               sort(glob "$Root/ngx_evently_module/*.c")) {
        my $t = slurp($f);
        my @ops = $f =~ /\.sql$/
                  ? $t =~ /FUNCTION\s+evently\.api_(\w+)\s*\(/g
                  : $t =~ /\{\s*ngx_string\("(\w+)"\)\s*,/g;
        next if @ops && !grep { $routed{$_} } @ops;
        push @files, $f;

        my $short = $f =~ s{.*/}{}r;
        my @found;
        if ($f =~ /\.sql$/) {
            push @found, $1
                while $t =~ /evently\.fail\(\s*\d{3}\s*,\s*
                             '([A-Z][A-Z0-9_]+)'/gx;
        } else {
            push @found, $1
                while $t =~ /(?:send_error(?:_json)?|send_unavailable
                                |auth_invalid)
                             \(\s*r\s*,(?:\s*\w+\s*,)?\s*
                             "([A-Z][A-Z0-9_]+)"/gx;
            push @found, $1
                while $t =~ /\*reason\s*=\s*"([A-Z][A-Z0-9_]+)"/g;
            push @found, $1
                while $t =~ /\{\s*\d{3}\s*,\s*"([A-Z][A-Z0-9_]+)"\s*,/g;
        }
        $codes{$_} //= $short for @found;
    }
    cmp_ok(scalar keys %codes, '>=', 40, 'the error codes of the code are '
                                         . 'read');
    my @bad = map { "$_ ($codes{$_})" }
              grep { $spec_text !~ /\b\Q$_\E\b/ } sort keys %codes;
    problems_ok(\@bad, 'every error code of the SQL functions and the '
                       . 'module is documented');
}


# ---- scripts/docs -----------------------------------------------------------

sub run_docs {
    my (@args) = @_;
    my ($out, $err) = ('', '');
    my $ok = eval {
        IPC::Run::run([$^X, $Generator, @args], \'', \$out, \$err,
                      IPC::Run::timeout(120));
        1;
    };
    return { rc => $ok ? $? >> 8 : -1, out => $out, err => $err };
}

my $page = slurp($PageFile);
{
    my $r = run_docs($SpecFile, '-');
    is($r->{rc}, 0, 'scripts/docs runs on docs/openapi.yaml')
        or diag($r->{err});
    ok($r->{out} eq $page, 'scripts/docs reproduces docs/index.html byte for '
                           . 'byte (run `make docs` after editing the spec)');
    my $again = run_docs($SpecFile, '-');
    ok($again->{out} eq $r->{out}, 'its output is deterministic');
}

{
    my $tmp = tempdir('evently-docs-XXXXXX', TMPDIR => 1, CLEANUP => 1);

    open my $fh, '>', "$tmp/bad.yaml" or die "$tmp/bad.yaml: $!\n";
    print {$fh} "openapi: 3.0.3\ninfo: [unclosed\npaths: {}\n";
    close $fh;
    my $r = run_docs("$tmp/bad.yaml", "$tmp/bad.html");
    is($r->{rc}, 1, 'scripts/docs exits 1 when the YAML does not parse');
    like($r->{err}, qr/not valid YAML/, '... and says why');
    ok(!-e "$tmp/bad.html", '... and writes nothing');

    (my $dangling = $spec_text)
        =~ s{\$ref: '#/components/schemas/Event'}
            {\$ref: '#/components/schemas/NoSuchSchema'};
    open $fh, '>', "$tmp/dangling.yaml" or die "$tmp/dangling.yaml: $!\n";
    print {$fh} $dangling;
    close $fh;
    $r = run_docs("$tmp/dangling.yaml", "$tmp/dangling.html");
    is($r->{rc}, 1, 'scripts/docs exits 1 on a $ref that resolves to '
                    . 'nothing');
    ok(!-e "$tmp/dangling.html", '... and writes nothing');

    # everything taken from the spec is escaped
    open $fh, '>', "$tmp/evil.yaml" or die "$tmp/evil.yaml: $!\n";
    print {$fh} <<'_YAML_';
openapi: 3.0.3
info:
  title: "<script>alert('t')</script>"
  version: "1 & 2"
  description: "a <b>bold</b> `<code>` claim"
tags:
  - name: "T<x>"
paths:
  /p/{id}:
    get:
      tags: ["T<x>"]
      operationId: evil
      summary: "<img src=x onerror=alert(1)>"
      parameters:
        - name: id
          in: path
          required: true
          description: '"quoted" & <tagged>'
          schema: {type: string}
      responses:
        '200':
          description: "</td></tr></table><script>"
          content:
            application/json:
              example: {"k": "</pre><script>x</script>"}
_YAML_
    close $fh;
    $r = run_docs("$tmp/evil.yaml", '-');
    is($r->{rc}, 0, 'scripts/docs renders a hostile spec') or diag($r->{err});
    unlike($r->{out}, qr/<script|<img|<b>|<tagged|<\/pre><script/i,
           '... with every markup character of it escaped');
    like($r->{out}, qr/&lt;script&gt;alert\(&#39;t&#39;\)&lt;\/script&gt;/,
         '... as text');
}

{
    my @bad;
    push @bad, 'a <script>' if $page =~ /<script/i;
    push @bad, 'a <link>' if $page =~ /<link/i;
    push @bad, "an src= attribute" if $page =~ /\ssrc\s*=/i;
    push @bad, 'an @import' if $page =~ /\@import/i;
    push @bad, 'a url(...)' if $page =~ /url\s*\(/i;
    push @bad, "a link to $1" if $page =~ /href="((?:https?:)?\/\/[^"]*)"/i;
    problems_ok(\@bad, 'the page is self-contained (no script, no external '
                       . 'resource)');
    like($page, qr/^<!DOCTYPE html>.*<style>.*<\/style>.*<\/html>\n\z/s,
         'the page is one HTML document with its inline style');
}


# ---- served by nginx --------------------------------------------------------

my $ng = start_nginx(name => 'docs', port => $port,
                     http_config => http_config(),
                     config => server_config(),
                     main_config => main_config());

{
    my $r = api(GET => '/openapi.yaml', port => $port);
    is($r->{status}, 200, 'GET /openapi.yaml: 200');
    like($r->{headers}{'content-type'} // '', qr{^application/yaml\b},
         '... as application/yaml');
    ok(defined $r->{body} && $r->{body} eq $spec_text,
       '... the very file docs/openapi.yaml');
    my $served = eval { yaml($r->{body} // '') };
    like(ref $served eq 'HASH' ? $served->{openapi} // '' : '',
         qr/^3\./, '... which parses, OpenAPI 3');

    my $s = api(GET => '/swagger.yaml', port => $port);
    is($s->{status}, 200, 'GET /swagger.yaml: 200');
    ok(defined $s->{body} && defined $r->{body} && $s->{body} eq $r->{body},
       '... identical to /openapi.yaml');
    is($s->{headers}{'content-type'}, $r->{headers}{'content-type'},
       '... with the same type');
}

{
    my $r = api(GET => '/docs', port => $port);
    is($r->{status}, 200, 'GET /docs: 200');
    like($r->{headers}{'content-type'} // '', qr{^text/html\b},
         '... as text/html');
    ok(defined $r->{body} && $r->{body} eq $page,
       '... the very file docs/index.html');

    my @missing;
    for my $path (sort keys %{ $spec->{paths} }) {
        (my $html = $path) =~ s/&/&amp;/g;
        push @missing, $path
            if index($r->{body} // '', "<span class=\"path\">$html</span>")
               < 0;
    }
    problems_ok(\@missing, '... which documents every path of the spec');

    my @ops_missing = grep { index($r->{body} // '', "id=\"op-" . lc($_)
                                                   . "\"") < 0 }
                      map { $_->[2]{operationId} } @SpecOps;
    problems_ok(\@ops_missing, '... and every operation');

    my $h = api(HEAD => '/docs', port => $port);
    is($h->{status}, 200, 'HEAD /docs: 200');

    my $p = api(POST => '/docs', port => $port, body => {});
    is($p->{status}, 405, 'POST /docs: 405');
    is($p->{headers}{allow}, 'GET, HEAD', '... Allow: GET, HEAD');
    is($p->{json}{errors}{code}, 'METHOD_NOT_ALLOWED',
       '... METHOD_NOT_ALLOWED in the envelope');

    my $y = api(PUT => '/openapi.yaml', port => $port, body => {});
    is($y->{status}, 405, 'PUT /openapi.yaml: 405');
}


# ---- live responses match the spec ------------------------------------------
#
# Key operations called for real on the seed data (a hold, a booking, its
# cancellation, a waitlist offer, reports, and errors of each kind): every
# response's status is documented for its operation, its JSON body matches
# the documented schema strictly (a member the schema does not list is a
# problem unless the schema allows more), money has at most two decimals,
# an error's code is one that response documents, and a documented ETag or
# Retry-After is sent (an undocumented ETag is a problem too).

# [regex, path, method, op, path item], fixed paths before templated ones
my @LiveOps = sort { $a->[5] <=> $b->[5] || $a->[1] cmp $b->[1] }
              map {
                  my ($m, $path, $op, $item) = @$_;
                  (my $rx = quotemeta $path) =~ s/\\\{\w+\\\}/[^\/]+/g;
                  [qr/^$rx$/, $path, $m, $op, $item,
                   scalar(() = $path =~ /\{/g)]
              } @SpecOps;

sub live_op {
    my ($method, $uri) = @_;
    (my $path = $uri) =~ s/\?.*//s;
    $method = 'get' if lc $method eq 'head';
    for my $o (@LiveOps) {
        return $o if $o->[2] eq lc $method && $path =~ $o->[0];
    }
    return undef;
}

sub json_number {
    my ($v) = @_;
    return 1 if blessed($v) && $v->isa('Math::BigFloat');
    return 0 if ref $v || !defined $v;
    my $f = B::svref_2object(\$v)->FLAGS;
    return ($f & (B::SVp_IOK() | B::SVp_NOK())) && !($f & B::SVp_POK());
}

sub json_integer {
    my ($v) = @_;
    return 0 if !json_number($v) || blessed($v);
    return B::svref_2object(\$v)->FLAGS & B::SVp_IOK() ? 1 : 0;
}

# the properties a schema lists (its allOf branches included), and
# whether it accepts others
sub listed_properties {
    my ($s) = @_;
    $s = deref($s);
    return ({}, 1) if ref $s ne 'HASH';
    my %p = %{ $s->{properties} || {} };
    my $open = exists $s->{additionalProperties}
               && $s->{additionalProperties} ? 1 : 0;
    for my $b (@{ $s->{allOf} || [] }) {
        my ($bp, $bo) = listed_properties($b);
        %p = (%p, %$bp);
        $open ||= $bo if %$bp || ref deref($b) eq 'HASH'
                                 && exists deref($b)->{additionalProperties};
    }
    return (\%p, $open);
}

sub check_value {
    my ($s, $v, $where, $bad, $strict) = @_;
    $s = deref($s);
    return if ref $s ne 'HASH';

    if (!defined $v) {
        push @$bad, "$where: null"
            if !$s->{nullable} && !grep { !defined } @{ $s->{enum} || [] }
               and ($s->{type} || $s->{properties} || $s->{allOf}
                    || $s->{oneOf});
        return;
    }

    if (my $alt = $s->{oneOf} || $s->{anyOf}) {
        push @$bad, "$where: matches none of its alternatives"
            if !grep { my @e; check_value($_, $v, $where, \@e, 1); !@e }
                    @$alt;
        return;
    }

    check_value($_, $v, $where, $bad, 0) for @{ $s->{allOf} || [] };

    my $t = $s->{type} // ($s->{properties} ? 'object' : '');
    my $ok = $t eq '' ? 1
           : $t eq 'object' ? ref $v eq 'HASH'
           : $t eq 'array' ? ref $v eq 'ARRAY'
           : $t eq 'boolean' ? blessed($v) && $v->isa('JSON::PP::Boolean')
           : $t eq 'integer' ? json_integer($v)
           : $t eq 'number' ? json_number($v)
           : $t eq 'string' ? !ref $v && !json_number($v)
           : 0;
    if (!$ok) {
        push @$bad, "$where: not of type $t";
        return;
    }

    if ($s->{enum} && !grep { defined && "$_" eq "$v" } @{ $s->{enum} }) {
        push @$bad, "$where: \"$v\" is not one of the enumeration";
    }
    if ($t eq 'string') {
        my $f = $s->{format} // '';
        push @$bad, "$where: \"$v\" is not a UUID"
            if $f eq 'uuid'
               && $v !~ /^[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}$/;
        push @$bad, "$where: \"$v\" is not an RFC 3339 UTC time"
            if $f eq 'date-time'
               && $v !~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
        push @$bad, "$where: \"$v\" is not a date"
            if $f eq 'date' && $v !~ /^\d{4}-\d\d-\d\d$/;
        push @$bad, "$where: \"$v\" does not match $s->{pattern}"
            if defined $s->{pattern} && $v !~ /$s->{pattern}/;
    }
    if ($t eq 'number' || $t eq 'integer') {
        push @$bad, "$where: $v is below $s->{minimum}"
            if defined $s->{minimum} && $v < $s->{minimum};
        push @$bad, "$where: $v is above $s->{maximum}"
            if defined $s->{maximum} && $v > $s->{maximum};
        push @$bad, "$where: $v has more than two decimals"
            if defined $s->{multipleOf} && $s->{multipleOf} == 0.01
               && blessed($v) && !$v->copy->bmul(100)->is_int;
    }
    if ($t eq 'array' && $s->{items}) {
        check_value($s->{items}, $v->[$_], "$where\[$_]", $bad, 1)
            for 0 .. $#$v;
    }
    if (ref $v eq 'HASH') {
        for my $k (@{ $s->{required} || [] }) {
            push @$bad, "$where: no \"$k\"" if !exists $v->{$k};
        }
        my $props = $s->{properties} || {};
        for my $k (sort keys %$props) {
            check_value($props->{$k}, $v->{$k}, "$where.$k", $bad, 1)
                if exists $v->{$k};
        }
        if ($strict) {
            my ($listed, $open) = listed_properties($s);
            if (%$listed && !$open) {
                push @$bad, "$where: \"$_\" is not documented"
                    for grep { !exists $listed->{$_} } sort keys %$v;
            }
        }
    }
    return;
}

my $LiveJson = JSON::PP->new->utf8->allow_bignum;
my $LiveCount = 0;

# one call, checked against the spec; returns the response
sub live {
    my ($label, $expect, $method, $uri, %o) = @_;
    my $r = api($method, $uri, port => $port, %o);
    my @bad;
    $LiveCount++;
    push @bad, "status $r->{status}, expected $expect"
        if $r->{status} != $expect;
    my $found = live_op($method, $uri);
    if (!$found) {
        push @bad, "no operation of the spec serves $method $uri";
    } else {
        my ($rx, $path, $m, $op) = @$found;
        my $resp = deref($op->{responses}{ $r->{status} });
        if (!$resp) {
            push @bad, uc($m) . " $path does not document $r->{status}";
        } else {
            my ($ct) = split /;/, $r->{headers}{'content-type'} // '';
            my $media = ($resp->{content} || {})->{$ct};
            push @bad, "content type $ct is not documented"
                if $resp->{content} && !$media && length($r->{body} // '');
            my $json = eval { $LiveJson->decode($r->{body} // '') };
            if ($media && $media->{schema} && defined $json) {
                check_value($media->{schema}, $json, 'body', \@bad, 1);
            }
            if (ref $json eq 'HASH' && ($json->{status} // '') eq 'error') {
                my %codes;
                for my $mt (values %{ $resp->{content} || {} }) {
                    for my $k (keys %{ $mt->{examples} || {} }) {
                        my $ex = deref($mt->{examples}{$k});
                        $codes{$k} = 1;
                        my $c = ref $ex eq 'HASH' ? $ex->{value}{errors}{code}
                                                  : undef;
                        $codes{$c} = 1 if defined $c;
                    }
                }
                my $code = $json->{errors}{code} // '';
                push @bad, "error code $code is not documented for "
                           . "$r->{status}"
                    if !$codes{$code};
            }
            my %doc = map { lc $_ => 1 } keys %{ $resp->{headers} || {} };
            for my $h ('etag', 'retry-after') {
                push @bad, "documented header $h is missing"
                    if $doc{$h} && !defined $r->{headers}{$h};
            }
            push @bad, "an undocumented ETag"
                if defined $r->{headers}{etag} && !$doc{etag};
        }
    }
    problems_ok(\@bad, "live: $label: $method $uri");
    return $r;
}

{
    reset_db();
    seed();

    my $A = '/api/v1';
    my $nobody = '00000000-0000-4000-8000-00000000dead';
    my ($ev1, $ev3) = ('00000000-0000-4000-8000-000000000401',
                       '00000000-0000-4000-8000-000000000403');
    my $vip = '00000000-0000-4000-8000-000000000303';
    my $admin = jwt(sub => '00000000-0000-4000-8000-000000000001',
                    user_id => '00000000-0000-4000-8000-000000000001',
                    email => 'admin@gmail.com', role => 'ADMIN');
    my $other = create_user();

    live('health', 200, GET => '/health');
    live('wrong password', 401, POST => "$A/auth/login",
         body => { email => 'mitshah2406@gmail.com', password => 'nope' });
    my $login = live('login', 200, POST => "$A/auth/login",
                     body => { email => 'mitshah2406@gmail.com',
                               password => 'qwerty' });
    my $user = $login->{json}{data}{access_token};

    live('an event', 200, GET => "$A/events/$ev1");
    live('no such event', 404, GET => "$A/events/$nobody");
    live('bad id', 400, GET => "$A/events/x");
    my $seats = live('seats', 200, GET => "$A/sections/$vip/seats");
    my @ids = map { $_->{id} } @{ $seats->{json}{data}{seats} || [] };

    my $hold = live('hold', 201, POST => "$A/seats/hold", token => $user,
                    body => { event_id => $ev1, seat_ids => [@ids[0, 1]] });
    live('seats taken', 409, POST => "$A/seats/hold",
         token => $other->{token},
         body => { event_id => $ev1, seat_ids => [$ids[0]] });
    my $hold_id = $hold->{json}{data}{hold_id} // $nobody;
    my $conf = live('confirm', 201, POST => "$A/bookings/confirm",
                    token => $user,
                    body => { hold_id => $hold_id, event_id => $ev1,
                              payment_method => 'upi' });
    live('confirm again', 200, POST => "$A/bookings/confirm",
         token => $user, body => { hold_id => $hold_id, event_id => $ev1 });
    my $booking = $conf->{json}{data}{booking_id} // $nobody;
    live('booking', 200, GET => "$A/bookings/$booking", token => $user);
    live("another user's booking", 403, GET => "$A/bookings/$booking",
         token => $other->{token});
    live('cancel', 201, POST => "$A/bookings/$booking/request-cancel",
         token => $user, body => { reason => 'Cannot attend' });
    live('cancel again', 409, POST => "$A/bookings/$booking/request-cancel",
         token => $user, body => { reason => 'Cannot attend' });
    live('cancelled booking', 200, GET => "$A/bookings/$booking",
         token => $user);
    live('my cancellations', 200, GET => "$A/users/cancellations",
         token => $user);

    live('join the waitlist', 201, POST => "$A/waitlist", token => $user,
         body => { event_id => $ev3, quantity => 2,
                   preferences => { section_preference => 'VIP' } });
    my $offered = wait_until(sub {
        my $s = api(GET => "$A/waitlist/status/$ev3", port => $port,
                    token => $user);
        return ($s->{json}{data}{status} // '') eq 'NOTIFIED';
    }, timeout => 10, interval => 0.2);
    ok($offered, 'free seats are offered to the line within seconds');
    live('waitlist status with its offer', 200,
         GET => "$A/waitlist/status/$ev3", token => $user);
    live('never joined', 404, GET => "$A/waitlist/status/$ev3",
         token => $other->{token});
    live('waitlist stats', 200, GET => "$A/admin/waitlist/stats/$ev3",
         token => $admin);
    live('admin route as a USER', 403, GET => "$A/admin/waitlist/stats/$ev3",
         token => $user);

    live('dashboard', 200, GET => "$A/analytics/admin/dashboard",
         token => $admin);
    live('event analytics', 200, GET => "$A/admin/events/$ev1/analytics",
         token => $admin);
    live('revenue', 200, GET => "$A/admin/analytics/revenue?group_by=week",
         token => $admin);
    live('personal analytics', 200, GET => "$A/analytics/user/personal",
         token => $user);
    live('no token', 401, GET => "$A/admin/events");
    live('invalid body', 400, POST => "$A/admin/events", token => $admin,
         body => { name => 'x' });

    cmp_ok($LiveCount, '>=', 25, 'the live responses were checked');
}

ok(stop_nginx('docs'), 'nginx stopped cleanly');
no_alerts_ok($ng);

done_testing();
