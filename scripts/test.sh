#!/usr/bin/env bash
# Runs every test of etl_ext on this machine:
#   1. Rust unit tests (pure Polars transforms) and #[pg_test]s (cargo pgrx test);
#   2. SQL-level pgTAP tests (tests/sql/*.sql, with pg_prove) on a fresh cluster;
#   3. integration tests (tests/integration/*.sh) that start their own servers
#      with shared_preload_libraries (worker, pg_cron, crashes, concurrency).
# Installs what it needs first (scripts/setup.sh). Exit status 0 only if all pass.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export USER=${USER:-root}

bash scripts/setup.sh || { echo "setup failed"; exit 1; }

passed=0
failed=0
failures=()
record() { # name status
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "== PASS: $1"
    else failed=$((failed + 1)); failures+=("$1"); echo "== FAIL: $1"; fi
}

echo "== 1. cargo pgrx test (unit tests and #[pg_test]s)"
PGRX_DATA=/tmp/etl_ext_pgrx_test
mkdir -p "$PGRX_DATA" && chown postgres "$PGRX_DATA"
cargo pgrx test pg15 --runas postgres --pgdata "$PGRX_DATA"
record "cargo pgrx test" $?

echo "== installing the extension into PostgreSQL 15"
if ! cargo pgrx install --pg-config /usr/bin/pg_config >/tmp/etl_ext_install.log 2>&1; then
    tail -50 /tmp/etl_ext_install.log
    record "cargo pgrx install" 1
    echo "$passed passed, $failed failed"
    exit 1
fi

echo "== 2. pgTAP tests (tests/sql)"
. scripts/cluster.sh
SQLDIR=/tmp/etl_ext_sqltest
cluster_start "$SQLDIR" 55432
createdb -h /tmp -p 55432 -U postgres etl_sqltest
pg_prove -h /tmp -p 55432 -U postgres -d etl_sqltest --ext .sql -v tests/sql/
record "pgTAP tests" $?
cluster_stop "$SQLDIR"

echo "== 3. integration tests (tests/integration)"
for t in tests/integration/*.sh; do
    [ -e "$t" ] || continue
    [ "$(basename "$t")" == "lib.sh" ] && continue
    echo "-- $t"
    bash "$t"
    record "$t" $?
done

echo
if [ $failed -gt 0 ]; then
    echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
