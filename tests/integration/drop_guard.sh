#!/usr/bin/env bash
# DROP EXTENSION etl_ext drops every table of business data with it, so the
# event trigger etl_ext_drop_guard refuses it while etl.orders holds rows
# (SQLSTATE 55000, a hint to pg_dump first) unless etl.allow_drop_with_data
# is on. Checks: refused with rows (alone, among other extensions, IF
# EXISTS), nothing dropped; allowed on an empty etl.orders; allowed with the
# setting; another extension's DROP unaffected; the function is not
# PUBLIC's to call and not callable outside an event trigger.
. "$(dirname "$0")/lib.sh"
test_dir WORK drop_guard
DIR=$WORK/cluster
PORT=$(free_port)
cluster_start "$DIR" "$PORT" || { not_ok "a PostgreSQL $PG server starts on port $PORT"; finish; exit 1; }
at_exit 'cluster_stop $DIR'

# drop_attempt DB SQL: "dropped", or the SQLSTATE and hint of the refusal.
drop_attempt() {
    local out
    if out=$(q "$PORT" -d "$1" -v VERBOSITY=verbose -c "$2" 2>&1); then
        echo dropped
    else
        echo "$(sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' <<<"$out" | head -1) $(grep -c '^HINT:.*pg_dump' <<<"$out")"
    fi
}
installed() { q "$PORT" -d "$1" -c "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension WHERE extname <> 'plpgsql'"; }

q "$PORT" -c "CREATE DATABASE guarded" >/dev/null
q "$PORT" -d guarded -c "CREATE EXTENSION etl_ext" -c "CREATE EXTENSION pgtap" >/dev/null
IMPORT=$(q "$PORT" -d guarded -c "SELECT etl_demo_import(200, 0.7)")
q "$PORT" -d guarded -c "SELECT count(*) FROM etl_run_all('$IMPORT')" >/dev/null
ORDERS=$(q "$PORT" -d guarded -c "SELECT count(*) FROM etl.orders")
expect_true "etl.orders holds rows ($ORDERS)" "$([ "${ORDERS:-0}" -gt 0 ] && echo t)"

expect_eq "DROP EXTENSION etl_ext is refused with SQLSTATE 55000 and a hint to pg_dump first" "55000 1" \
    "$(drop_attempt guarded "DROP EXTENSION etl_ext")"
expect_eq "so is DROP EXTENSION IF EXISTS pgtap, etl_ext CASCADE" "55000 1" \
    "$(drop_attempt guarded "DROP EXTENSION IF EXISTS pgtap, etl_ext CASCADE")"
expect_eq "so is DROP EXTENSION plpgsql CASCADE (etl_ext's functions depend on its language)" "55000 1" \
    "$(drop_attempt guarded "DROP EXTENSION plpgsql CASCADE")"
expect_eq "so is DROP OWNED BY the role that owns etl_ext" "55000 1" \
    "$(drop_attempt guarded "DROP OWNED BY postgres CASCADE")"
expect_eq "nothing was dropped" "etl_ext,pgtap $ORDERS" \
    "$(installed guarded) $(q "$PORT" -d guarded -c "SELECT count(*) FROM etl.orders")"
expect_eq "DROP OWNED BY another role is not affected" "dropped" \
    "$(q "$PORT" -d guarded -c "CREATE ROLE guard_other" >/dev/null; drop_attempt guarded "DROP OWNED BY guard_other")"
expect_eq "another extension's DROP EXTENSION is not affected" "dropped" \
    "$(drop_attempt guarded "DROP EXTENSION pgtap")"
expect_eq "a non-superuser may not set etl.allow_drop_with_data" "42501" \
    "$(q "$PORT" -d guarded -c "CREATE ROLE guard_test_user LOGIN" >/dev/null;
       q "$PORT" -d guarded -v VERBOSITY=verbose -c "LOAD 'etl_ext'" -c "SET ROLE guard_test_user" \
         -c "SET etl.allow_drop_with_data = on" 2>&1 \
         | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p')"
expect_eq "PUBLIC may not execute etl.drop_guard()" "f" \
    "$(q "$PORT" -d guarded -c "SELECT has_function_privilege('public', 'etl.drop_guard()', 'EXECUTE')")"
expect_eq "etl.drop_guard() pins its search_path" "{\"search_path=pg_catalog, pg_temp\"}" \
    "$(q "$PORT" -d guarded -c "SELECT proconfig FROM pg_proc WHERE oid = 'etl.drop_guard()'::regprocedure")"
expect_eq "the event trigger belongs to the extension and runs etl.drop_guard() at DROP EXTENSION and DROP OWNED" \
    "ddl_command_start {\"DROP EXTENSION\",\"DROP OWNED\"} etl.drop_guard() e" \
    "$(q "$PORT" -d guarded -c "SELECT t.evtevent || ' ' || t.evttags::text || ' ' || t.evtfoid::regprocedure || ' ' || d.deptype::text
        FROM pg_event_trigger t JOIN pg_depend d ON d.classid = 'pg_event_trigger'::regclass AND d.objid = t.oid
                           AND d.refclassid = 'pg_extension'::regclass
       WHERE t.evtname = 'etl_ext_drop_guard'")"

# The setting lets it drop.
expect_eq "with SET etl.allow_drop_with_data = on, DROP EXTENSION etl_ext drops it" "dropped" \
    "$(drop_attempt guarded "SET etl.allow_drop_with_data = on; DROP EXTENSION etl_ext")"
expect_eq "the extension, its schema and its event trigger are gone" "|0|0" \
    "$(installed guarded)|$(q "$PORT" -d guarded -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'etl'")|$(
        q "$PORT" -d guarded -c "SELECT count(*) FROM pg_event_trigger WHERE evtname = 'etl_ext_drop_guard'")"

# Empty etl.orders: dropped without the setting (a fresh install, or one
# whose imports never loaded an order).
q "$PORT" -c "CREATE DATABASE empty" >/dev/null
q "$PORT" -d empty -c "CREATE EXTENSION etl_ext" >/dev/null
q "$PORT" -d empty -c "INSERT INTO etl.shops (shop_name) VALUES ('a shop')" >/dev/null
expect_eq "on an empty etl.orders, DROP EXTENSION etl_ext drops it" "dropped" "$(drop_attempt empty "DROP EXTENSION etl_ext")"
q "$PORT" -d empty -c "CREATE EXTENSION etl_ext" >/dev/null
CODE=$(q "$PORT" -d empty -v VERBOSITY=verbose -c "SELECT etl.drop_guard()" 2>&1 | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' | head -1)
# 0A000: the server refuses to call an event trigger function at all; 39P03
# (event_trigger_protocol_violated): the function does.
expect_true "etl.drop_guard() called outside an event trigger refuses (SQLSTATE ${CODE:-none})" \
    "$(case "$CODE" in 0A000 | 39P03) echo t ;; esac)"
finish
