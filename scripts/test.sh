#!/usr/bin/env bash
# Runs every test of etl_ext on this machine, on each supported PostgreSQL
# major (PG_MAJORS, default "15 16 18"):
#   1. Rust unit tests (pure Polars transforms) and #[pg_test]s (cargo pgrx test);
#   2. SQL-level pgTAP tests (tests/sql/*.sql, with pg_prove) on a fresh cluster;
#   3. integration tests (tests/integration/*.sh) that start their own servers
#      with shared_preload_libraries (worker, pg_cron, crashes, concurrency).
#      A test that needs what a major lacks (pg_cron is packaged for 15 only
#      here) says so and is counted as skipped on that major, not passed.
# Installs what it needs first (scripts/setup.sh). Exit status 0 only if all pass.
#   PG_MAJORS=18 bash scripts/test.sh      # one major only
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export USER=${USER:-root}

bash scripts/setup.sh || { echo "setup failed"; exit 1; }
. scripts/pg_versions.sh

passed=0
failed=0
skipped=0
failures=()
skips=()
record() { # name status
    case "$2" in
        0) passed=$((passed + 1)); echo "== PASS: $1" ;;
        77) skipped=$((skipped + 1)); skips+=("$1"); echo "== SKIP: $1" ;;
        *) failed=$((failed + 1)); failures+=("$1"); echo "== FAIL: $1" ;;
    esac
}

run_major() { # MAJOR
    local major=$1 pg_config
    pg_config=$(pg_config_for "$major") || { record "PostgreSQL $major" 1; return; }
    echo
    echo "======== PostgreSQL $major ($("$pg_config" --version))"

    echo "== $major.1. cargo pgrx test (unit tests and #[pg_test]s)"
    local pgrx_data=/tmp/etl_ext_pgrx_test_$major
    mkdir -p "$pgrx_data" && chown postgres "$pgrx_data"
    cargo pgrx test "pg$major" --runas postgres --pgdata "$pgrx_data"
    record "pg$major: cargo pgrx test" $?

    echo "== installing the extension into PostgreSQL $major"
    if ! cargo pgrx install --pg-config "$pg_config" --no-default-features --features "pg$major" \
            >"/tmp/etl_ext_install_$major.log" 2>&1; then
        tail -50 "/tmp/etl_ext_install_$major.log"
        record "pg$major: cargo pgrx install" 1
        return
    fi

    echo "== $major.2. pgTAP tests (tests/sql)"
    (
        export PG=$major
        . scripts/cluster.sh
        local dir port
        dir=$(mktemp -d /tmp/etl_ext_sqltest.XXXXXX)
        port=$(free_port)
        cluster_start "$dir" "$port"
        trap 'cluster_stop "$dir"; rm -rf "$dir"' EXIT
        "$PGBIN/createdb" -h /tmp -p "$port" -U postgres etl_sqltest
        pg_prove --psql-bin "$PGBIN/psql" -h /tmp -p "$port" -U postgres -d etl_sqltest --ext .sql -v tests/sql/
    )
    record "pg$major: pgTAP tests" $?

    echo "== $major.3. integration tests (tests/integration)"
    local t
    for t in tests/integration/*.sh; do
        [ -e "$t" ] || continue
        case "$(basename "$t")" in lib*.sh) continue ;; esac  # helpers, not tests
        echo "-- pg$major: $t"
        PG=$major bash "$t"
        record "pg$major: $t" $?
    done
}

for major in ${PG_MAJORS:-$SUPPORTED_PG_MAJORS}; do
    run_major "$major"
done

echo
[ $skipped -gt 0 ] && echo "skipped (not available on that major): ${skips[*]}"
[ $failed -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
