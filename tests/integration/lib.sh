#!/usr/bin/env bash
# Shared helpers for the integration tests: each test starts its own
# throw-away cluster (scripts/cluster.sh) and checks with assertions.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/cluster.sh"

CHECKS=0
FAILS=0

# q PORT SQL...: one value, unaligned, no headers.
q() {
    local port=$1
    shift
    cluster_psql "$port" -qAt "$@"
}

ok() { # description
    CHECKS=$((CHECKS + 1))
    echo "ok - $1"
}

not_ok() { # description detail
    CHECKS=$((CHECKS + 1))
    FAILS=$((FAILS + 1))
    echo "not ok - $1"
    [ -n "${2:-}" ] && echo "#   $2"
}

expect_eq() { # description expected actual
    if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1" "expected [$2], got [$3]"; fi
}

expect_true() { # description condition-value ("t")
    if [ "$2" == "t" ]; then ok "$1"; else not_ok "$1" "got [$2]"; fi
}

# wait_for PORT SQL EXPECTED SECONDS: polls until the query returns EXPECTED.
wait_for() {
    local port=$1 sql=$2 expected=$3 seconds=$4 got=""
    local deadline=$((SECONDS + seconds))
    while [ $SECONDS -lt "$deadline" ]; do
        got=$(q "$port" -d "${DB:-postgres}" -c "$sql" 2>/dev/null)
        [ "$got" == "$expected" ] && return 0
        sleep 0.2
    done
    echo "# waited ${seconds}s for [$sql] = [$expected], last got [$got]"
    return 1
}

finish() {
    echo "# $CHECKS checks, $FAILS failed"
    [ "$FAILS" -eq 0 ]
}

# require_extension NAME: skips the whole test (exit 77, counted as skipped by
# scripts/test.sh) when this major's installation lacks the extension, e.g.
# pg_cron, which Debian packages for PostgreSQL 15 only.
require_extension() {
    if [ ! -e "$("$PG_CONFIG" --sharedir)/extension/$1.control" ]; then
        echo "# skip: extension $1 is not installed for PostgreSQL $PG"
        exit 77
    fi
}

echo "# $(basename "$0") on $("$PG_CONFIG" --version) ($PGBIN)"

# free_port: a TCP port nothing listens on now (the servers listen only on a
# Unix socket named after the port, so the socket file is checked too).
free_port() {
    local port
    for _ in $(seq 1 200); do
        port=$((20000 + RANDOM % 20000))
        [ -e "/tmp/.s.PGSQL.$port" ] && continue
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
        echo "$port"
        return 0
    done
    echo "no free port found" >&2
    return 1
}
