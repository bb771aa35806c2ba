#!/usr/bin/env bash
# pg_upgrade from PostgreSQL 16 to 18 with the extension in use: the worker
# preloaded on both, imports run, and a queue holding due jobs (the worker
# watches another database until after the upgrade). Runs on the PG=18 pass
# only (exit 77 on the others), and needs this tree's etl_ext installed into
# 16 and 18, as scripts/test.sh does before (majors in order 15 16 18).
# Checks: pg_upgrade --check and the upgrade succeed; the upgraded cluster
# has the same rows in every table and the same extension version; the
# worker starts there and runs the queued jobs; the results equal those of
# the same queue run on 16 before the upgrade (a copy of the database), and
# the next import gives there the result it gives on 16.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_history.sh"
if [ "$PG" != "18" ]; then
    echo "# skip: pg_upgrade 16 -> 18 runs once, on the PG=18 pass"
    exit 77
fi
OLD_PG_CONFIG=$(pg_config_for 16) || exit 1
OLD_BIN=$("$OLD_PG_CONFIG" --bindir)
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
for cfg in "$OLD_PG_CONFIG" "$PG_CONFIG"; do
    if [ ! -e "$("$cfg" --sharedir)/extension/etl_ext--$VERSION.sql" ] || [ ! -e "$("$cfg" --pkglibdir)/etl_ext.so" ]; then
        echo "# skip: etl_ext $VERSION is not installed into $("$cfg" --version) (cargo pgrx install --pg-config $cfg ...)"
        exit 77
    fi
done
# The same build on both (pgrx may order the script's parts differently per
# build, and its comments name source lines: compare the statements' lines).
script_lines() { grep -v '^--' "$("$1" --sharedir)/extension/etl_ext--$VERSION.sql" | sort; }
if ! diff -q <(script_lines "$OLD_PG_CONFIG") <(script_lines "$PG_CONFIG") >/dev/null; then
    echo "# skip: 16's and 18's etl_ext--$VERSION.sql differ: install this tree into both"
    exit 77
fi
test_dir WORK pg_upgrade
chown postgres "$WORK"
OLD=$WORK/old
NEW=$WORK/new
OLD_PORT=$(free_port)
NEW_PORT=$(free_port "$OLD_PORT")
SETTINGS=("shared_preload_libraries = 'etl_ext'" "etl.poll_interval = '1s'" "etl.database = 'postgres'")

# as_postgres BIN_DIR PROGRAM ARGS...: a program of that major, as postgres, in $WORK.
as_postgres() { local bin=$1; shift; (cd "$WORK" && sudo -u postgres "$bin/$@"); }
new_cluster() { # DIR BIN PORT [INITDB OPTIONS...]: initdb and settings
    mkdir -p "$1" && chown postgres "$1"
    as_postgres "$2" initdb -D "$1/data" -U postgres -A trust --no-sync "${@:4}" >"$1/initdb.log" 2>&1 || return 1
    { echo "port = $3"; echo "unix_socket_directories = '$PGSOCK'"; echo "listen_addresses = ''"
      echo "fsync = off"; printf '%s\n' "${SETTINGS[@]}"; } >>"$1/data/postgresql.conf"
}
start() { as_postgres "$2" pg_ctl -D "$1/data" -l "$1/server.log" -w start >/dev/null; }
stop() { [ -e "$1/data/postmaster.pid" ] && as_postgres "$2" pg_ctl -D "$1/data" -m fast -w stop >/dev/null 2>&1; return 0; }
at_exit 'stop $OLD $OLD_BIN; stop $NEW $PGBIN'

# 1. PostgreSQL 16 (reached with 18's psql): the history, a queue with due jobs, and a copy that runs them there.
new_cluster "$OLD" "$OLD_BIN" "$OLD_PORT" && start "$OLD" "$OLD_BIN" \
    || { not_ok "a PostgreSQL 16 server starts" "$(tail -5 "$OLD/initdb.log" "$OLD/server.log" 2>/dev/null)"; finish; exit 1; }
ok "a PostgreSQL 16 server ($("$OLD_BIN/postgres" --version)) runs with etl_ext preloaded"
q "$OLD_PORT" -c "CREATE DATABASE etl_db" >/dev/null
q "$OLD_PORT" -d etl_db -c "CREATE EXTENSION etl_ext" >/dev/null
load_history "$OLD_PORT" etl_db
q "$OLD_PORT" -c "CREATE DATABASE on_16 TEMPLATE etl_db" >/dev/null
q "$OLD_PORT" -d on_16 -c "CALL etl_run_queue()" >/dev/null
next_import "$OLD_PORT" on_16
outcome_fingerprint "$OLD_PORT" on_16 >"$WORK/outcome-16.txt"
DUE=$(q "$OLD_PORT" -d etl_db -c "SELECT count(*) FROM etl.jobs WHERE state IN ('queued', 'failed') AND next_run_at <= now()")
expect_true "etl_db's queue holds due jobs ($DUE)" "$([ "${DUE:-0}" -gt 0 ] && echo t)"
table_fingerprint "$OLD_PORT" etl_db >"$WORK/tables-16.txt"
SEQUENCES=$(sequence_positions "$OLD_PORT" etl_db)
EXTVERSION=$(q "$OLD_PORT" -d etl_db -c "SELECT extversion FROM pg_extension WHERE extname = 'etl_ext'")
stop "$OLD" "$OLD_BIN"

# 2. pg_upgrade to 18.
# 18's initdb turns data checksums on by default, 16's off: pg_upgrade needs both alike.
new_cluster "$NEW" "$PGBIN" "$NEW_PORT" --no-data-checksums || { not_ok "initdb of PostgreSQL 18" "$(tail -5 "$NEW/initdb.log")"; finish; exit 1; }
UPGRADE=(pg_upgrade -b "$OLD_BIN" -B "$PGBIN" -d "$OLD/data" -D "$NEW/data" -p "$OLD_PORT" -P "$NEW_PORT" -s "$WORK")
if as_postgres "$PGBIN" "${UPGRADE[@]}" --check >"$WORK/pg_upgrade-check.log" 2>&1; then
    ok "pg_upgrade --check from 16 to 18"
else
    not_ok "pg_upgrade --check from 16 to 18" "$(tail -15 "$WORK/pg_upgrade-check.log")"
fi
if as_postgres "$PGBIN" "${UPGRADE[@]}" >"$WORK/pg_upgrade.log" 2>&1; then
    ok "pg_upgrade from 16 to 18"
else
    not_ok "pg_upgrade from 16 to 18" "$(tail -15 "$WORK/pg_upgrade.log")"
    finish
    exit 1
fi
start "$NEW" "$PGBIN" || { not_ok "the upgraded cluster starts" "$(tail -5 "$NEW/server.log")"; finish; exit 1; }
expect_eq "the upgraded cluster runs PostgreSQL 18" "18" "$(q "$NEW_PORT" -c "SELECT current_setting('server_version_num')::int / 10000")"
table_fingerprint "$NEW_PORT" etl_db >"$WORK/tables-18.txt"
if diff "$WORK/tables-16.txt" "$WORK/tables-18.txt" >"$WORK/tables.diff"; then
    ok "every table has the same rows after the upgrade ($(wc -l <"$WORK/tables-16.txt") tables)"
else
    not_ok "every table has the same rows after the upgrade (< 16, > 18)" "$(head -20 "$WORK/tables.diff")"
fi
expect_eq "the identity sequences stand where they stood" "$SEQUENCES" "$(sequence_positions "$NEW_PORT" etl_db)"
expect_eq "the same extension version" "$EXTVERSION" \
    "$(q "$NEW_PORT" -d etl_db -c "SELECT extversion FROM pg_extension WHERE extname = 'etl_ext'")"

# 3. The worker, pointed at etl_db, runs the queue there; then the next import.
q "$NEW_PORT" -c "ALTER SYSTEM SET etl.database = 'etl_db'" -c "SELECT pg_reload_conf()" >/dev/null
if wait_for "$NEW_PORT" "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'etl_ext worker' AND datname = 'etl_db'" "1" 60 \
   && DB=etl_db wait_for "$NEW_PORT" "SELECT count(*) FROM etl.jobs WHERE state <> 'done'" "0" 120; then
    ok "the worker starts on the upgraded cluster and runs the queued jobs"
else
    not_ok "the worker starts on the upgraded cluster and runs the queued jobs" "$(tail -5 "$NEW/server.log")"
fi
next_import "$NEW_PORT" etl_db
DB=etl_db wait_for "$NEW_PORT" "SELECT count(*) FROM etl.jobs WHERE state <> 'done'" "0" 120 \
    || not_ok "the next import runs to the end on 18"
outcome_fingerprint "$NEW_PORT" etl_db >"$WORK/outcome-18.txt"
if diff "$WORK/outcome-16.txt" "$WORK/outcome-18.txt" >"$WORK/outcome.diff"; then
    ok "the queued jobs and the next import give on 18 what they gave on 16 (lead numbers, customer keys, ids)"
else
    not_ok "the queued jobs and the next import give on 18 what they gave on 16 (< 16, > 18)" "$(head -20 "$WORK/outcome.diff")"
fi
finish
