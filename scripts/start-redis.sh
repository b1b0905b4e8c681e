#!/usr/bin/env bash
# Throw-away Redis for tests and CI (no persistence).
#
#   scripts/start-redis.sh PORT [DIR]        start daemonized on 127.0.0.1:PORT, print REDIS_URL
#   scripts/start-redis.sh stop PORT [DIR]   shut it down
#
# DIR (default ${TMPDIR:-/tmp}/cxtalk-redis-PORT) holds the pid and log files. Only the URL
#   redis://127.0.0.1:PORT/0
# goes to stdout; progress and errors go to stderr. If something already answers PING on
# the port, the script only prints the URL.
# Binary: $REDIS_SERVER if set, else Debian's /usr/bin/redis-server (as root, installed with
# `apt-get install redis-server` when missing), else a redis-server on PATH.
set -euo pipefail

log() { printf 'start-redis: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() {
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# PING over bash's /dev/tcp: needs no redis-cli.
ping_redis() {
    local port=$1 reply=""
    reply=$(
        exec 2>/dev/null
        exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
        printf 'PING\r\n' >&3
        IFS= read -r -t 2 line <&3 || exit 1
        printf '%s' "$line"
    ) || return 1
    [ "${reply%$'\r'}" = "+PONG" ]
}

send_command() {  # fire-and-forget one inline command
    local port=$1
    shift
    (
        exec 2>/dev/null
        exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
        printf '%s\r\n' "$*" >&3
        IFS= read -r -t 2 _ <&3 || true
    ) || true
}

find_redis_server() {
    if [ -n "${REDIS_SERVER:-}" ]; then
        [ -x "$REDIS_SERVER" ] || die "REDIS_SERVER=$REDIS_SERVER is not executable"
        printf '%s\n' "$REDIS_SERVER"
        return 0
    fi
    if [ -x /usr/bin/redis-server ]; then
        printf '%s\n' /usr/bin/redis-server
        return 0
    fi
    if [ "$(id -u)" -eq 0 ]; then
        log "installing redis-server (apt-get install redis-server)"
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -qq redis-server </dev/null >&2; then
            apt-get update -qq </dev/null >&2
            apt-get install -y -qq redis-server </dev/null >&2
        fi
        [ -x /usr/bin/redis-server ] || die "redis-server still missing after apt-get install"
        printf '%s\n' /usr/bin/redis-server
        return 0
    fi
    command -v redis-server ||
        die "redis-server is not installed; run as root or: apt-get install -y redis-server"
}

start() {
    local port=$1 dir=$2
    if ping_redis "$port"; then
        log "a Redis already answers on 127.0.0.1:$port"
        printf 'redis://127.0.0.1:%s/0\n' "$port"
        return 0
    fi
    local server
    server=$(find_redis_server)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    log "starting $server on 127.0.0.1:$port (log: $dir/redis.log)"
    "$server" --port "$port" --bind 127.0.0.1 --daemonize yes \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" \
        --save '' --appendonly no </dev/null >&2 ||
        { tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true; die "redis-server failed to start"; }
    local i
    for i in $(seq 1 100); do
        if ping_redis "$port"; then
            printf 'redis://127.0.0.1:%s/0\n' "$port"
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
    die "Redis did not answer PING on 127.0.0.1:$port"
}

stop() {
    local port=$1 dir=$2 i
    if ! ping_redis "$port"; then
        log "not running on 127.0.0.1:$port"
        rm -f "$dir/redis.pid"
        return 0
    fi
    send_command "$port" SHUTDOWN NOSAVE
    for i in $(seq 1 50); do
        ping_redis "$port" || { rm -f "$dir/redis.pid"; return 0; }
        sleep 0.1
    done
    if [ -s "$dir/redis.pid" ]; then
        kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
        rm -f "$dir/redis.pid"
        return 0
    fi
    die "Redis on 127.0.0.1:$port did not shut down"
}

default_dir() { printf '%s/cxtalk-redis-%s\n' "${TMPDIR:-/tmp}" "$1"; }

case "${1:-}" in
    stop)
        [ $# -ge 2 ] && [ $# -le 3 ] || usage
        [[ "$2" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$2'"
        stop "$2" "${3:-$(default_dir "$2")}"
        ;;
    ""|-h|--help)
        usage
        ;;
    *)
        [ $# -ge 1 ] && [ $# -le 2 ] || usage
        [[ "$1" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$1'"
        start "$1" "${2:-$(default_dir "$1")}"
        ;;
esac
