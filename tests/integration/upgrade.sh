#!/usr/bin/env bash
# ALTER EXTENSION etl_ext UPDATE from the released 0.1.0, for real: the 0.1.0
# library is built from its commit and installed, the pipeline runs imports
# with it (orders, customers, leads, runs, events, jobs, rejects), then this
# tree's library is put back and the extension updated. Checks: no row of
# any table changed; the schema (every member, column, constraint, index,
# trigger, view, function, privilege, role) equals a fresh install's; and the
# upgraded database then runs new imports to the same results as a database
# that ran everything on the new version.
# Changes the installed etl_ext.so while it runs (and puts it back), so it
# runs alone, as every integration test does in scripts/test.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_history.sh"
if [ "$PG" != "15" ]; then
    echo "# skip: 0.1.0 was released for PostgreSQL 15 only; there is nothing to upgrade from on $PG"
    exit 77
fi
RELEASE_0_1_0=ad4b21b8d4e4f417bd36a4cf8679eb7588299605   # the last commit at version 0.1.0
test_dir WORK upgrade
DIR=$WORK/cluster   # cluster_start makes it anew
PORT=$(free_port)
LIBDIR=$("$PG_CONFIG" --pkglibdir)
EXTDIR=$("$PG_CONFIG" --sharedir)/extension
CURRENT_SO="$WORK/etl_ext-current.so"
cp "$LIBDIR/etl_ext.so" "$CURRENT_SO"
# Swap libraries by rename (a new inode), never by writing over a file that
# a server process may have mapped.
put_library() { cp "$1" "$LIBDIR/etl_ext.so.new" && mv -f "$LIBDIR/etl_ext.so.new" "$LIBDIR/etl_ext.so"; }
cleanup() {
    cluster_stop "$DIR"
    put_library "$CURRENT_SO"
}
at_exit cleanup

if ! git -C "$ROOT" cat-file -e "$RELEASE_0_1_0^{commit}" 2>/dev/null; then
    not_ok "the 0.1.0 release commit is in this clone" "git fetch --unshallow to get $RELEASE_0_1_0"
    finish
    exit 1
fi
echo "# building the 0.1.0 library (its own target directory, kept for the next run)"
mkdir -p "$WORK/src-0.1.0"
git -C "$ROOT" archive "$RELEASE_0_1_0" | tar -x -C "$WORK/src-0.1.0"
if ! (cd "$WORK/src-0.1.0" && CARGO_TARGET_DIR="$ROOT/target/v0.1.0" \
        cargo build --lib --no-default-features --features pg15 >"$WORK/build-0.1.0.log" 2>&1); then
    tail -30 "$WORK/build-0.1.0.log"
    not_ok "the 0.1.0 library builds"
    finish
    exit 1
fi
OLD_SO="$ROOT/target/v0.1.0/debug/libetl_ext.so"
# The 0.1.0 install script kept in the repository, as 0.1.0 installed it.
cp "$ROOT/sql/etl_ext--0.1.0.sql" "$EXTDIR/etl_ext--0.1.0.sql"
expect_true "the update scripts are installed next to it" \
    "$([ -e "$EXTDIR/etl_ext--0.1.0--0.2.0.sql" ] && [ -e "$EXTDIR/etl_ext--0.2.0--0.3.0.sql" ] && echo t)"

cluster_start "$DIR" "$PORT" || { not_ok "a PostgreSQL $PG server starts on port $PORT"; finish; exit 1; }
# load_history_0_1_0 DB: three imports (updates of earlier orders, dirty lines,
# cancellations) run by etl_run_all (0.1.0 has no etl_run_queue) and a
# completed import left queued, the way users leave it.
load_history_0_1_0() {
    {
        history_lines_sql
        cat <<'SQL'
UPDATE etl.imports SET status = 'completed';
SELECT count(*) FROM etl_run_all('00000000-0000-7000-8000-000000000001');
SELECT count(*) FROM etl_run_all('00000000-0000-7000-8000-000000000002');
SELECT count(*) FROM etl_run_all('00000000-0000-7000-8000-000000000003');
SQL
    } | q "$PORT" -d "$1" >/dev/null
}
# new_imports DB: after the update, a new import and the queued one run.
new_imports() {
    q "$PORT" -d "$1" >/dev/null <<'SQL'
INSERT INTO etl.imports (import_id, source) VALUES ('00000000-0000-7000-8000-000000000009', 'after');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
SELECT '00000000-0000-7000-8000-000000000009', n, 'SO-' || (n * 3), 'Tmall Flagship',
       (ARRAY['王小明', 'Li Lei', 'New Customer'])[1 + n % 3], 'paid', '样品', (n * 11) || '.5', '2026-11-0' || (1 + n % 9)
  FROM generate_series(1, 200) n;
UPDATE etl.imports SET status = 'completed' WHERE import_id = '00000000-0000-7000-8000-000000000009';
SQL
    q "$PORT" -d "$1" -c "CALL etl_run_queue()" >/dev/null
}

# data_fingerprint DB: every row of every table, a line per table; tables
# without a row are left out (a table an update creates is new and empty: no
# row of it changed).
# etl.imports.owner_role is left out: 0.4.0 adds it (set to the role that
# ran the update); so is etl.pipeline_lock, which 0.4.0 creates with its one
# row; so are the columns 0.5.0 adds to etl.imports (content_sha256,
# export_profile, export_shop: NULL for every import made before) and
# etl.export_profiles, which 0.5.0 creates with its built-in rows.
data_fingerprint() {
    q "$PORT" -d "$1" -v leave_out=owner_role,content_sha256,export_profile,export_shop \
        -f "$ROOT/tests/integration/data_fingerprint.sql" \
        | grep -v '|0|d41d8cd98f00b204e9800998ecf8427e$' | grep -v '^etl.pipeline_lock|1|' \
        | grep -v '^etl.export_profiles|2|'
}

# 1. 0.1.0, with its own library.
put_library "$OLD_SO"
q "$PORT" -c "CREATE DATABASE upgraded" >/dev/null
q "$PORT" -d upgraded -c "CREATE EXTENSION etl_ext VERSION '0.1.0'" >/dev/null
expect_eq "0.1.0 is installed" "0.1.0" "$(q "$PORT" -d upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'etl_ext'")"
load_history_0_1_0 upgraded
HISTORY=$(q "$PORT" -d upgraded -c "SELECT format('orders %s, customers %s, leads %s, rejects %s, runs %s, events %s',
        (SELECT count(*) FROM etl.orders), (SELECT count(*) FROM etl.customers), (SELECT count(*) FROM etl.business_leads),
        (SELECT count(*) FROM etl.rejects), (SELECT count(*) FROM etl.runs), (SELECT count(*) FROM etl.events))")
echo "# 0.1.0 ran the history: $HISTORY"
expect_true "0.1.0 ran the history: orders, customers, leads, rejects, nine runs and their events" \
    "$(q "$PORT" -d upgraded -c "SELECT (SELECT count(*) FROM etl.orders) > 100 AND (SELECT count(*) FROM etl.customers) > 3
        AND (SELECT count(*) FROM etl.business_leads) > 3 AND (SELECT count(*) FROM etl.rejects) > 10
        AND (SELECT count(*) FROM etl.runs) = 9 AND (SELECT count(*) FROM etl.events) >= 9")"
data_fingerprint upgraded >"$WORK/data-before.txt"

# 2. This tree's library, and the update.
put_library "$CURRENT_SO"
if OUT=$(q "$PORT" -d upgraded -c "ALTER EXTENSION etl_ext UPDATE" 2>&1); then
    ok "ALTER EXTENSION etl_ext UPDATE succeeds"
else
    not_ok "ALTER EXTENSION etl_ext UPDATE succeeds" "$OUT"
fi
CURRENT_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
expect_eq "the extension is now at this tree's version" "$CURRENT_VERSION" \
    "$(q "$PORT" -d upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'etl_ext'")"
data_fingerprint upgraded >"$WORK/data-after.txt"
if [ "$(wc -l <"$WORK/data-before.txt")" -lt 10 ]; then
    not_ok "the data fingerprint lists every table" "$(cat "$WORK/data-before.txt")"
elif diff "$WORK/data-before.txt" "$WORK/data-after.txt" >"$WORK/data.diff"; then
    ok "no row of any table changed ($(wc -l <"$WORK/data-before.txt") tables compared row by row)"
else
    not_ok "no row of any table changed" "$(head -20 "$WORK/data.diff")"
fi

# 3. The schema equals a fresh install's.
q "$PORT" -c "CREATE DATABASE fresh" >/dev/null
q "$PORT" -d fresh -c "CREATE EXTENSION etl_ext" >/dev/null
q "$PORT" -d upgraded -f "$ROOT/tests/integration/schema_fingerprint.sql" >"$WORK/schema-upgraded.txt"
q "$PORT" -d fresh -f "$ROOT/tests/integration/schema_fingerprint.sql" >"$WORK/schema-fresh.txt"
if diff "$WORK/schema-fresh.txt" "$WORK/schema-upgraded.txt" >"$WORK/schema.diff"; then
    ok "the upgraded schema equals a fresh install's ($(wc -l <"$WORK/schema-fresh.txt") objects and properties)"
else
    not_ok "the upgraded schema equals a fresh install's (< fresh, > upgraded)" "$(head -40 "$WORK/schema.diff")"
fi
expect_eq "PUBLIC may no longer run etl_run_all" "f" \
    "$(q "$PORT" -d upgraded -c "SELECT has_function_privilege('public', 'etl_run_all(uuid, boolean)', 'EXECUTE')")"
expect_eq "lead sums are numeric(24,2)" "numeric(24,2)" \
    "$(q "$PORT" -d upgraded -c "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'etl.business_leads'::regclass AND attname = 'total_amount'")"

# 4. The upgraded database goes on exactly as one that ran everything on the
#    new version: the queued import and a new one, through etl_run_queue.
load_history_0_1_0 fresh
new_imports upgraded
new_imports fresh
FP="$ROOT/tests/result_fingerprint.sql"
UPGRADED_FP=$(q "$PORT" -d upgraded -f "$FP")
expect_eq "after new imports, the upgraded database's results equal the new version's" \
    "$(q "$PORT" -d fresh -f "$FP")" "$UPGRADED_FP"
expect_eq "the import queued before the update ran after it" "orders:done,customers:done,leads:done" \
    "$(q "$PORT" -d upgraded -c "SELECT string_agg(stage || ':' || state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '00000000-0000-7000-8000-000000000004'")"
expect_eq "no job of the upgraded database is left undone" "0" \
    "$(q "$PORT" -d upgraded -c "SELECT count(*) FROM etl.jobs WHERE state <> 'done'")"
EVENT=$(q "$PORT" -d upgraded -c "SELECT etl_emit_event('ORDERS_ETL_COMPLETED', '{\"import_id\": 1e400}')" 2>/dev/null)
expect_eq "etl_emit_event is SQL over etl.emit_event after the update: an unreadable payload is stored refused" \
    "sql false" "$(q "$PORT" -d upgraded -c "SELECT (SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
        WHERE p.oid = 'etl_emit_event(text, jsonb)'::regprocedure) || ' ' || accepted FROM etl.events WHERE event_id = '${EVENT:-0}'")"

# 5. From each later release (its generated script, kept in sql/), with this
#    tree's library installed before the update: the window between
#    installing a new library and ALTER EXTENSION UPDATE. Every call is
#    refused with what to do (the library would run on another version's
#    tables), loaders' lines are kept; the update keeps every row and ends
#    with a fresh install's schema, and the pipeline then runs.
update_from_release() { # VERSION IMPORT_NO
    local version=$1 db="from_${1//./_}" import="00000000-0000-7000-8000-0000000000$2"
    cp "$ROOT/sql/etl_ext--$version.sql" "$EXTDIR/etl_ext--$version.sql"
    q "$PORT" -c "CREATE DATABASE $db" >/dev/null
    q "$PORT" -d "$db" -c "CREATE EXTENSION etl_ext VERSION '$version'" >/dev/null
    q "$PORT" -d "$db" >/dev/null <<SQL
INSERT INTO etl.shops (shop_name, platform) VALUES ('Tmall Flagship', 'tmall');
INSERT INTO etl.imports (import_id, source) VALUES ('$import', 'before the update');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
SELECT '$import', n, 'W-' || n, 'Tmall Flagship', 'buyer ' || (n % 5), 'paid', NULL, n || '.25', '2026-03-01'
  FROM generate_series(1, 50) n;
SQL
    OUT=$(q "$PORT" -d "$db" -c "SELECT count(*) FROM etl_run_all('$import')" 2>&1)
    expect_true "before the update, this library refuses to run on $version's tables and says what to do" \
        "$(grep -q "etl_ext $version is installed in this database, but the library is" <<<"$OUT" && grep -q 'ALTER EXTENSION etl_ext UPDATE' <<<"$OUT" && echo t)"
    data_fingerprint "$db" >"$WORK/data-$version-before.txt"
    if OUT=$(q "$PORT" -d "$db" -c "ALTER EXTENSION etl_ext UPDATE" 2>&1); then
        ok "ALTER EXTENSION etl_ext UPDATE from $version succeeds"
    else
        not_ok "ALTER EXTENSION etl_ext UPDATE from $version succeeds" "$OUT"
    fi
    data_fingerprint "$db" >"$WORK/data-$version-after.txt"
    if diff "$WORK/data-$version-before.txt" "$WORK/data-$version-after.txt" >"$WORK/data-$version.diff"; then
        ok "no row of any table changed in the update from $version"
    else
        not_ok "no row of any table changed in the update from $version" "$(head -20 "$WORK/data-$version.diff")"
    fi
    q "$PORT" -d "$db" -f "$ROOT/tests/integration/schema_fingerprint.sql" >"$WORK/schema-$version.txt"
    if diff "$WORK/schema-fresh.txt" "$WORK/schema-$version.txt" >"$WORK/schema-$version.diff"; then
        ok "the schema updated from $version equals a fresh install's"
    else
        not_ok "the schema updated from $version equals a fresh install's (< fresh, > updated)" "$(head -40 "$WORK/schema-$version.diff")"
    fi
    expect_eq "the extension updated from $version: its schema is pg_catalog, no function of it in public" "pg_catalog|0" \
        "$(q "$PORT" -d "$db" -c "SELECT extnamespace::regnamespace || '|' || (SELECT count(*) FROM pg_proc WHERE proname LIKE 'etl\_%' AND pronamespace = 'public'::regnamespace)
                                        FROM pg_extension WHERE extname = 'etl_ext'")"
    q "$PORT" -d "$db" -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$import'" >/dev/null
    expect_eq "after the update from $version, the import loaded before it runs" "orders|success|50,customers|success|5,leads|success|5" \
        "$(q "$PORT" -d "$db" -c "SELECT string_agg(stage || '|' || status || '|' || rows_ok, ',') FROM etl_run_all('$import')")"
    # Retention (0.5.0) on an updated database: the finished import's lines go, and it says so.
    expect_eq "after the update from $version, etl_purge removes the finished import's raw lines" "50" \
        "$(q "$PORT" -d "$db" -c "SET etl.retain_raw_lines = 0" -c "SELECT removed FROM etl_purge('0') WHERE history = 'etl.raw_orders'")"
    OUT=$(q "$PORT" -d "$db" -c "SELECT count(*) FROM etl_run_all('$import')" 2>&1)
    expect_true "after the update from $version, a purged import is not run again" "$(grep -q 'were purged at' <<<"$OUT" && echo t)"
}
update_from_release 0.3.0 31
update_from_release 0.4.0 41
for db in upgraded from_0_3_0 from_0_4_0; do
    expect_eq "the catalog guard finds nothing outside pg_catalog and the extension in $db" "" \
        "$(q "$PORT" -d "$db" -c "\i $ROOT/tests/catalog_guard.sql" -c "SELECT string_agg(problem, '; ') FROM etl_outside_dependencies")"
done
finish
