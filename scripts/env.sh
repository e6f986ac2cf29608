# shellcheck shell=bash
#
# scripts/env.sh - sourced by every script of scripts/ (bash).
#
# Defines and exports the Evently environment. Every variable can be
# overridden from the environment, e.g. EVENTLY_HTTP_PORT=9090 make up.
# Values are single tokens (no spaces): they are pasted into conninfo
# strings and into nginx.conf.

_evently_scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

: "${EVENTLY_ROOT:=$(cd "$_evently_scripts/.." && pwd)}"
: "${EVENTLY_VAR:=$EVENTLY_ROOT/var}"
case "$EVENTLY_VAR" in
    /*) ;;
    *) EVENTLY_VAR="$PWD/$EVENTLY_VAR" ;;
esac

: "${EVENTLY_HOST:=127.0.0.1}"
: "${EVENTLY_HTTP_PORT:=8080}"
: "${EVENTLY_PG_PORT:=5433}"
: "${EVENTLY_REDIS_PORT:=6380}"
: "${EVENTLY_OS_USER:=evently}"
: "${EVENTLY_PG_DB:=evently}"
: "${EVENTLY_PG_USER:=evently}"
: "${EVENTLY_PG_PASSWORD:=evently}"
: "${EVENTLY_PG_TEST_DB:=evently_test}"
# PostgreSQL superuser created by initdb (run as EVENTLY_OS_USER); it is
# reachable only through the Unix socket by that OS user (peer auth).
: "${EVENTLY_PG_SUPERUSER:=postgres}"

: "${EVENTLY_ASAN:=0}"
: "${EVENTLY_BUILD:=$EVENTLY_ROOT/build}"
if [ "$EVENTLY_ASAN" = 1 ]; then
    : "${EVENTLY_MODULE:=$EVENTLY_BUILD/asan/ngx_http_evently_module.so}"
else
    : "${EVENTLY_MODULE:=$EVENTLY_BUILD/ngx_http_evently_module.so}"
fi

: "${EVENTLY_NGINX:=/usr/sbin/nginx}"

# The stock nginx binary is not built with ASan: an ASan module needs the
# ASan runtime preloaded, plus scripts/asan-preload.c (module kept mapped
# for LeakSanitizer's report, nginx's own leaks freed; see scripts/build).
# EVENTLY_NGINX_ENV holds "VAR=value" words (no spaces inside a value) to
# run nginx with: env $EVENTLY_NGINX_ENV /usr/sbin/nginx ...
if [ -z "${EVENTLY_NGINX_ENV+x}" ]; then
    EVENTLY_NGINX_ENV=
    if [ "$EVENTLY_ASAN" = 1 ]; then
        _evently_libasan=$(gcc -print-file-name=libasan.so 2>/dev/null \
                           || true)
        EVENTLY_NGINX_ENV="LD_PRELOAD=${_evently_libasan:-libasan.so.8}"
        EVENTLY_NGINX_ENV="$EVENTLY_NGINX_ENV:$EVENTLY_BUILD/asan/asan-preload.so"
        EVENTLY_NGINX_ENV="$EVENTLY_NGINX_ENV ASAN_OPTIONS=detect_leaks=1"
        EVENTLY_NGINX_ENV="$EVENTLY_NGINX_ENV:detect_odr_violation=0"
        EVENTLY_NGINX_ENV="$EVENTLY_NGINX_ENV:abort_on_error=0"
        EVENTLY_NGINX_ENV="$EVENTLY_NGINX_ENV:fast_unwind_on_malloc=0"
        EVENTLY_NGINX_ENV="$EVENTLY_NGINX_ENV LSAN_OPTIONS=print_suppressions=0"
        EVENTLY_NGINX_ENV="$EVENTLY_NGINX_ENV:suppressions=$EVENTLY_BUILD/asan/lsan.supp"
        unset _evently_libasan
    fi
fi

if [ -z "${EVENTLY_PG_BIN:-}" ]; then
    EVENTLY_PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null \
                     | sort -V | tail -n 1)
    : "${EVENTLY_PG_BIN:=/usr/lib/postgresql/15/bin}"
fi

: "${EVENTLY_PG_CONNINFO:=host=$EVENTLY_HOST port=$EVENTLY_PG_PORT dbname=$EVENTLY_PG_DB user=$EVENTLY_PG_USER password=$EVENTLY_PG_PASSWORD}"
: "${EVENTLY_PG_TEST_CONNINFO:=host=$EVENTLY_HOST port=$EVENTLY_PG_PORT dbname=$EVENTLY_PG_TEST_DB user=$EVENTLY_PG_USER password=$EVENTLY_PG_PASSWORD}"
: "${EVENTLY_REDIS:=$EVENTLY_HOST:$EVENTLY_REDIS_PORT}"
: "${EVENTLY_KAFKA_BOOTSTRAP_FILE:=$EVENTLY_VAR/kafka/bootstrap}"

export EVENTLY_ROOT EVENTLY_VAR EVENTLY_HOST EVENTLY_HTTP_PORT \
       EVENTLY_PG_PORT EVENTLY_REDIS_PORT EVENTLY_OS_USER EVENTLY_PG_DB \
       EVENTLY_PG_USER EVENTLY_PG_PASSWORD EVENTLY_PG_TEST_DB \
       EVENTLY_PG_SUPERUSER EVENTLY_ASAN EVENTLY_BUILD EVENTLY_MODULE \
       EVENTLY_NGINX EVENTLY_NGINX_ENV EVENTLY_PG_BIN EVENTLY_PG_CONNINFO \
       EVENTLY_PG_TEST_CONNINFO EVENTLY_REDIS EVENTLY_KAFKA_BOOTSTRAP_FILE

# Never let an interactive pager or a ~/.psqlrc change script output.
export PAGER=cat PSQLRC=/dev/null


evently_log() {
    printf 'evently: %s\n' "$*" >&2
}


evently_die() {
    printf 'evently: error: %s\n' "$*" >&2
    exit 1
}


# evently_wait SECONDS COMMAND...: run COMMAND every 0.2 s until it
# succeeds (returns 0) or SECONDS have passed (returns 1).
evently_wait() {
    local deadline
    deadline=$(( $(date +%s) + $1 ))
    shift
    while ! "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.2
    done
}


# evently_pid_alive PIDFILE [COMM]: the pid in PIDFILE runs (and, when
# COMM is given, its /proc/PID/comm starts with COMM).
evently_pid_alive() {
    local pid comm
    [ -r "$1" ] || return 1
    pid=$(cat "$1" 2>/dev/null) || return 1
    case "$pid" in
        ''|*[!0-9]*) return 1 ;;
    esac
    kill -0 "$pid" 2>/dev/null || return 1
    if [ -n "${2:-}" ]; then
        comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
        case "$comm" in
            "$2"*) ;;
            *) return 1 ;;
        esac
    fi
}


# evently_as_os_user COMMAND...: run COMMAND as EVENTLY_OS_USER, from /
# (the caller's directory may be closed to that user; paths are absolute).
evently_as_os_user() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u "$EVENTLY_OS_USER" -- "$@")
    elif [ "$(id -un)" = "$EVENTLY_OS_USER" ]; then
        (cd / && "$@")
    else
        evently_die "run as root (or as $EVENTLY_OS_USER)"
    fi
}


# evently_pg_paths: sets EVENTLY_PG_HOME (owned by EVENTLY_OS_USER, mode
# 700), EVENTLY_PG_DATA, EVENTLY_PG_SOCKDIR and EVENTLY_PG_LOG, creating
# the directories. The home is $EVENTLY_VAR/pg when EVENTLY_OS_USER can
# reach it; otherwise (clone under /root, mode 700, ...) it lives under
# /var/lib/evently/<hash of EVENTLY_VAR>/pg and $EVENTLY_VAR/pg is a
# symlink to it. $EVENTLY_VAR/log/postgres.log is a symlink to the log.
evently_pg_paths() {
    local link="$EVENTLY_VAR/pg" alt

    alt="/var/lib/evently/$(printf '%s' "$EVENTLY_VAR" \
                            | sha256sum | cut -c1-12)"

    mkdir -p "$EVENTLY_VAR/log"

    if [ -L "$link" ]; then
        EVENTLY_PG_HOME=$(readlink -f "$link")

    elif [ -d "$link" ]; then
        EVENTLY_PG_HOME="$link"

    elif evently_as_os_user test -x "$EVENTLY_VAR"; then
        EVENTLY_PG_HOME="$link"

    else
        EVENTLY_PG_HOME="$alt/pg"
        mkdir -p "$alt"
        chmod 755 /var/lib/evently "$alt"
        printf '%s\n' "$EVENTLY_VAR" > "$alt/origin"
        mkdir -p "$EVENTLY_PG_HOME"
        ln -sfn "$EVENTLY_PG_HOME" "$link"
        evently_log "$EVENTLY_OS_USER cannot reach $EVENTLY_VAR:" \
                    "PostgreSQL lives in $EVENTLY_PG_HOME"
    fi

    mkdir -p "$EVENTLY_PG_HOME"
    if [ "$(id -u)" = 0 ]; then
        chown "$EVENTLY_OS_USER:" "$EVENTLY_PG_HOME"
    fi
    chmod 700 "$EVENTLY_PG_HOME"

    EVENTLY_PG_DATA="$EVENTLY_PG_HOME/data"
    EVENTLY_PG_LOG="$EVENTLY_PG_HOME/postgres.log"

    # a Unix socket path is limited to 107 bytes
    EVENTLY_PG_SOCKDIR="$EVENTLY_PG_HOME/run"
    if [ "${#EVENTLY_PG_SOCKDIR}" -gt 80 ]; then
        EVENTLY_PG_SOCKDIR="$alt/run"
        mkdir -p "$alt"
        chmod 755 /var/lib/evently "$alt"
    fi

    evently_as_os_user mkdir -p -m 700 "$EVENTLY_PG_SOCKDIR" 2>/dev/null \
        || { mkdir -p "$EVENTLY_PG_SOCKDIR" \
             && chown "$EVENTLY_OS_USER:" "$EVENTLY_PG_SOCKDIR" \
             && chmod 700 "$EVENTLY_PG_SOCKDIR"; }

    ln -sfn "$EVENTLY_PG_LOG" "$EVENTLY_VAR/log/postgres.log"

    export EVENTLY_PG_HOME EVENTLY_PG_DATA EVENTLY_PG_SOCKDIR EVENTLY_PG_LOG
}


# evently_psql_super DB [psql args...]: psql as the PostgreSQL superuser
# through the Unix socket (server must run; needs root or the OS user).
evently_psql_super() {
    local db="$1"
    shift
    evently_as_os_user env PGOPTIONS="-c client_min_messages=warning" \
        "$EVENTLY_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
        -h "$EVENTLY_PG_SOCKDIR" -p "$EVENTLY_PG_PORT" \
        -U "$EVENTLY_PG_SUPERUSER" -d "$db" "$@"
}


# evently_ensure_extensions DB: extensions the migrations rely on, created
# as superuser so that the app role needs no superuser rights.
evently_ensure_extensions() {
    evently_psql_super "$1" \
        -c 'CREATE EXTENSION IF NOT EXISTS pgcrypto' \
        -c 'CREATE EXTENSION IF NOT EXISTS pg_trgm'
}


# evently_ensure_database DB: the database exists, owned by the app role,
# with the extensions.
evently_ensure_database() {
    local exists
    exists=$(printf '%s\n' "SELECT 1 FROM pg_database WHERE datname = :'db'" \
             | evently_psql_super postgres -At -v "db=$1")
    if [ "$exists" != 1 ]; then
        evently_psql_super postgres \
            -c "CREATE DATABASE \"$1\" OWNER \"$EVENTLY_PG_USER\"" \
            </dev/null
        evently_log "created database $1"
    fi
    evently_ensure_extensions "$1" </dev/null
}


# evently_ensure_os_user: the unprivileged OS user that runs PostgreSQL.
evently_ensure_os_user() {
    if ! id -u "$EVENTLY_OS_USER" >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || evently_die "user $EVENTLY_OS_USER is missing"
        useradd --system --user-group --no-create-home \
                --home-dir /nonexistent --shell /usr/sbin/nologin \
                "$EVENTLY_OS_USER"
        evently_log "created system user $EVENTLY_OS_USER"
    fi
}


# evently_sed_escape STRING: STRING made safe as a sed replacement with
# the delimiter |
evently_sed_escape() {
    printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'
}


# evently_render_nginx_conf TEMPLATE OUTPUT: replace the @NAME@
# placeholders of conf/nginx.conf with the values of the environment:
# EVENTLY_MODULE, EVENTLY_VAR, EVENTLY_ROOT, EVENTLY_HTTP_PORT,
# EVENTLY_HOST, EVENTLY_PG_CONNINFO, EVENTLY_REDIS, EVENTLY_KAFKA_BROKERS,
# EVENTLY_JWT_SECRET. Written to a temporary file, then renamed.
evently_render_nginx_conf() {
    local template="$1" out="$2" left
    sed -e "s|@MODULE@|$(evently_sed_escape "$EVENTLY_MODULE")|g" \
        -e "s|@VAR@|$(evently_sed_escape "$EVENTLY_VAR")|g" \
        -e "s|@ROOT@|$(evently_sed_escape "$EVENTLY_ROOT")|g" \
        -e "s|@HTTP_PORT@|$(evently_sed_escape "$EVENTLY_HTTP_PORT")|g" \
        -e "s|@HOST@|$(evently_sed_escape "$EVENTLY_HOST")|g" \
        -e "s|@PG_CONNINFO@|$(evently_sed_escape "$EVENTLY_PG_CONNINFO")|g" \
        -e "s|@REDIS@|$(evently_sed_escape "$EVENTLY_REDIS")|g" \
        -e "s|@KAFKA_BROKERS@|$(evently_sed_escape "$EVENTLY_KAFKA_BROKERS")|g" \
        -e "s|@JWT_SECRET@|$(evently_sed_escape "$EVENTLY_JWT_SECRET")|g" \
        "$template" > "$out.tmp"
    left=$(grep -v '^[[:space:]]*#' "$out.tmp" | grep -o '@[A-Z_]*@' \
           | sort -u | tr '\n' ' ' || true)
    if [ -n "$left" ]; then
        rm -f "$out.tmp"
        evently_die "unknown placeholder(s) in $template: $left"
    fi
    chmod 600 "$out.tmp"
    mv -f "$out.tmp" "$out"
}


# nginx commands for the instance of scripts/up
EVENTLY_NGINX_PREFIX="$EVENTLY_VAR/nginx"
EVENTLY_NGINX_CONF="$EVENTLY_VAR/nginx/nginx.conf"
EVENTLY_NGINX_PID="$EVENTLY_VAR/nginx/nginx.pid"

evently_nginx() {
    # shellcheck disable=SC2086
    env $EVENTLY_NGINX_ENV "$EVENTLY_NGINX" -p "$EVENTLY_NGINX_PREFIX" \
        -c "$EVENTLY_NGINX_CONF" -e "$EVENTLY_VAR/log/nginx-error.log" "$@"
}


evently_nginx_running() {
    evently_pid_alive "$EVENTLY_NGINX_PID" nginx
}


# evently_nginx_stop: graceful stop (QUIT, 20 s), then TERM (5 s), then
# KILL of the master and its workers. Signals by pid: `nginx -s` would
# load the config, which an ASan module forbids without the preload.
evently_nginx_stop() {
    local pid workers
    evently_nginx_running || { rm -f "$EVENTLY_NGINX_PID"; return 0; }
    pid=$(cat "$EVENTLY_NGINX_PID")
    workers=$(ps -o pid= --ppid "$pid" 2>/dev/null | tr -d ' ' || true)

    kill -QUIT "$pid" 2>/dev/null || true
    if ! evently_wait 20 eval "! kill -0 $pid"; then
        evently_log "nginx: no exit after QUIT, sending TERM"
        kill -TERM "$pid" 2>/dev/null || true
        if ! evently_wait 5 eval "! kill -0 $pid"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    for w in $workers; do
        if kill -0 "$w" 2>/dev/null; then
            kill -KILL "$w" 2>/dev/null || true
        fi
    done
    rm -f "$EVENTLY_NGINX_PID"
    evently_log "nginx: stopped"
}
