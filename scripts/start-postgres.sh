#!/usr/bin/env bash
# Throw-away PostgreSQL for tests and CI (not for production: fsync is off).
#
#   scripts/start-postgres.sh DIR PORT     start (initdb on first use), print DATABASE_URL
#   scripts/start-postgres.sh stop DIR [fast|immediate|smart]
#                                          stop the server whose cluster lives in DIR
#
# The server runs as the `postgres` user when called as root (initdb refuses root), as the
# caller otherwise. It listens on 127.0.0.1:PORT only, with its unix socket in DIR, trust
# authentication, user `postgres`, and a database `cxtalk_test`. Only the URL
#   postgres://postgres@127.0.0.1:PORT/cxtalk_test
# goes to stdout; progress and errors go to stderr. Re-running after `stop` starts the same
# cluster again (data kept); re-running while it runs only prints the URL.
# Binaries: $PG_BIN if set, else /usr/lib/postgresql/15/bin, else the newest installed
# version; as root, `apt-get install postgresql` when none is installed.
set -euo pipefail

DB_NAME=cxtalk_test

log() { printf 'start-postgres: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() {
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

is_root() { [ "$(id -u)" -eq 0 ]; }

find_pg_bin() {
    if [ -n "${PG_BIN:-}" ]; then
        [ -x "$PG_BIN/initdb" ] || die "PG_BIN=$PG_BIN has no initdb"
        printf '%s\n' "$PG_BIN"
        return 0
    fi
    if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
        printf '%s\n' /usr/lib/postgresql/15/bin
        return 0
    fi
    local newest
    newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5n | tail -n 1 || true)
    if [ -n "$newest" ] && [ -x "$newest/initdb" ]; then
        printf '%s\n' "$newest"
        return 0
    fi
    return 1
}

ensure_pg_bin() {
    if PG_BIN=$(find_pg_bin); then
        return 0
    fi
    is_root || die "PostgreSQL is not installed; run as root or: apt-get install -y postgresql"
    log "installing PostgreSQL (apt-get install postgresql)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq postgresql </dev/null >&2; then
        apt-get update -qq </dev/null >&2
        apt-get install -y -qq postgresql </dev/null >&2
    fi
    PG_BIN=$(find_pg_bin) || die "initdb still missing after installing postgresql"
}

# Run a command as the server's owner, from inside DIR (a root cwd may be unreadable to it).
as_owner() {
    if is_root; then
        (cd "$DIR" && runuser -u postgres -- "$@")
    else
        (cd "$DIR" && "$@")
    fi
}

running_port() {  # port of the postmaster running on DIR/data, empty if none
    if as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
        sed -n 4p "$DIR/data/postmaster.pid" 2>/dev/null || true
    fi
}

resolve_dir() {
    mkdir -p "$1"
    DIR=$(cd "$1" && pwd -P)
}

start() {
    local port=$1
    [[ "$port" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'"
    ensure_pg_bin
    resolve_dir "$2"
    if is_root; then
        getent passwd postgres >/dev/null || die "no 'postgres' user (install the postgresql package)"
        chown postgres: "$DIR"
        runuser -u postgres -- test -x "$DIR" ||
            die "user postgres cannot enter $DIR: use a directory whose parents are world-searchable (e.g. under /tmp)"
    fi

    if [ ! -s "$DIR/data/PG_VERSION" ]; then
        log "initdb in $DIR/data ($PG_BIN)"
        as_owner "$PG_BIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C \
            >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
        # Throw-away test cluster: loopback only, socket in DIR, durability traded for speed.
        as_owner tee -a "$DIR/data/postgresql.conf" >/dev/null <<EOF

# --- scripts/start-postgres.sh ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    fi

    local current i
    current=$(running_port)
    # A postmaster killed a moment ago can still look alive: wait until it answers or is gone.
    for i in $(seq 1 40); do
        [ -n "$current" ] || break
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$current" -U postgres && break
        sleep 0.25
        current=$(running_port)
    done
    if [ -n "$current" ]; then
        [ "$current" = "$port" ] ||
            die "a server already runs on $DIR/data with port $current (stop it first: $0 stop $DIR)"
        log "already running on 127.0.0.1:$port"
    else
        log "starting PostgreSQL on 127.0.0.1:$port (log: $DIR/postgres.log)"
        if ! as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -o "-p $port" \
                -w -t 60 start >&2; then
            tail -n 30 "$DIR/postgres.log" >&2 || true
            die "pg_ctl start failed"
        fi
    fi

    for i in $(seq 1 60); do
        if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; then
            break
        fi
        [ "$i" -lt 60 ] || die "PostgreSQL did not accept connections on 127.0.0.1:$port"
        sleep 0.5
    done

    local psql=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres)
    if [ -z "$("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" ]; then
        log "creating database $DB_NAME"
        "${psql[@]}" -d postgres -c "CREATE DATABASE $DB_NAME" >&2
    fi
    printf 'postgres://postgres@127.0.0.1:%s/%s\n' "$port" "$DB_NAME"
}

stop() {
    local mode=${2:-fast}
    case "$mode" in fast|immediate|smart) ;; *) die "stop mode must be fast, immediate or smart" ;; esac
    [ -d "$1/data" ] || die "no cluster in $1"
    PG_BIN=$(find_pg_bin) || die "PostgreSQL is not installed"
    DIR=$(cd "$1" && pwd -P)
    if [ -z "$(running_port)" ]; then
        log "not running ($DIR)"
        return 0
    fi
    as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -m "$mode" -w -t 60 stop >&2
}

case "${1:-}" in
    stop)
        [ $# -ge 2 ] && [ $# -le 3 ] || usage
        stop "$2" "${3:-fast}"
        ;;
    ""|-h|--help)
        usage
        ;;
    *)
        [ $# -eq 2 ] || usage
        start "$2" "$1"
        ;;
esac
