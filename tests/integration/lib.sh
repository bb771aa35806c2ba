#!/usr/bin/env bash
# Shared helpers for the integration tests: each test starts its own
# throw-away cluster (scripts/cluster.sh) and checks with assertions.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/cluster.sh"

CHECKS=0
FAILS=0

# Exit hooks and temporary directories: a test registers how to stop its
# servers (at_exit) and gets its directories from test_dir; at exit the
# hooks run (last registered first), then the directories are removed if
# every check passed, or kept (server logs and all) and named if not.
EXIT_HOOKS=()
TEST_DIRS=()
at_exit() { EXIT_HOOKS+=("$1"); }
_on_exit() {
    local status=$? i
    for ((i = ${#EXIT_HOOKS[@]} - 1; i >= 0; i--)); do eval "${EXIT_HOOKS[$i]}"; done
    if [ ${#TEST_DIRS[@]} -gt 0 ]; then
        if [ "$status" -eq 0 ] && [ "$FAILS" -eq 0 ]; then rm -rf "${TEST_DIRS[@]}"
        else echo "# kept for a look: ${TEST_DIRS[*]}"; fi
    fi
}
trap _on_exit EXIT
# test_dir VAR NAME: sets VAR to a new directory /tmp/etl_it_NAME.XXXXXX
# that the postgres user can use (cluster_start makes a cluster's anew).
test_dir() {
    local dir
    dir=$(mktemp -d "/tmp/etl_it_$2.XXXXXX") || exit 1
    chmod 755 "$dir"
    TEST_DIRS+=("$dir")
    printf -v "$1" '%s' "$dir"
}

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

# After a backend is killed (kill -9) the postmaster resets every backend;
# a connection made before it noticed still succeeds. crash_resets DIR
# counts the resets in the server log; wait_crash_reset DIR PORT BEFORE
# waits until there is one more than BEFORE and the server accepts again.
crash_resets() {
    grep -c "all server processes terminated; reinitializing" "$1/server.log" 2>/dev/null || true
}
wait_crash_reset() {
    local dir=$1 port=$2 before=$3 deadline=$((SECONDS + 120))
    while [ "$(crash_resets "$dir")" -le "$before" ]; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.1
    done
    until q "$port" -c "SELECT 1" >/dev/null 2>&1; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.2
    done
}
