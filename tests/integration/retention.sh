#!/usr/bin/env bash
# Retention (issue 29; docs/semantics.md 13): etl_purge while the worker runs
# loaders' imports, and a server that takes imports every day staying the
# same size once its retention window is full.
#
# 1. Eight loaders complete small imports (orders shared between them, so
#    that "a later import wins" decides) while an operator purges everything
#    finished, again and again (every retention 0). No loader, purge or job
#    fails, the results equal those of the same imports (same completion
#    times) run without any purge, and every import ends purged with its
#    counts.
# 2. Eight "days" of imports with a faked clock (each day's times moved one
#    day apart, as the superuser may write them) and a 60-hour window: once the
#    window is full, the history tables (raw lines, rejects, jobs, runs,
#    events; vacuumed as autovacuum would) stop growing.
. "$(dirname "$0")/lib.sh"
test_dir DIR retention
PORT=$(free_port)
cluster_start "$DIR" $PORT "shared_preload_libraries = 'etl_ext'" "etl.database = 'live'" \
    "etl.poll_interval = '100ms'" "etl.retry_base_delay = '100ms'" "autovacuum = off"
at_exit 'cluster_stop $DIR'
FP=$ROOT/tests/result_fingerprint.sql
LOADERS=8
PER_LOADER=15

# lines_sql LOADER K: the raw lines of loader LOADER's K-th import (100
# lines; order ids shared by all loaders, one dirty amount in 25).
lines_sql() {
    echo "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
          SELECT ('00000000-0000-7000-8000-' || lpad(($1 * 1000 + $2)::text, 12, '0'))::uuid, n,
                 'SO-' || ((n * 7 + $2 * 13 + $1) % 400), 'shop ' || (1 + n % 3), 'customer ' || ((n + $1) % 50),
                 (ARRAY['paid', 'cancelled', 'shipped'])[1 + (n + $2) % 3], (ARRAY['sample', 'bulk', NULL])[1 + n % 3],
                 CASE WHEN n % 25 = 0 THEN 'n/a' ELSE ((n * 37 + $1 * 11 + $2) % 9000)::text || '.5' END,
                 '2026-0' || (1 + n % 9) || '-1' || (n % 9) || ' 1' || (n % 10) || ':00:00'
            FROM generate_series(1, 100) n;"
}

setup_db() { # database
    q $PORT -c "CREATE DATABASE $1" >/dev/null
    q $PORT -d "$1" >/dev/null <<'SQL'
CREATE EXTENSION etl_ext;
INSERT INTO etl.shops (shop_name) SELECT 'shop ' || s FROM generate_series(1, 3) s;
INSERT INTO etl.order_type_mappings VALUES ('sample', 'SAMPLE'), ('bulk', 'BULK');
SQL
}

# --- 1. Purge while the worker runs the loaders' imports -------------------
setup_db live
setup_db reference
q $PORT -c "CREATE ROLE etl_it_loader NOLOGIN" -c "GRANT etl_loader TO etl_it_loader" \
        -c "CREATE ROLE etl_it_ops NOLOGIN" -c "GRANT etl_operator TO etl_it_ops" >/dev/null

loader() { # n
    local k
    for k in $(seq 1 $PER_LOADER); do
        {
            echo "SET ROLE etl_it_loader;"
            echo "BEGIN;"
            echo "INSERT INTO etl.imports (import_id, source) VALUES (('00000000-0000-7000-8000-' || lpad(($1 * 1000 + $k)::text, 12, '0'))::uuid, 'loader $1 import $k');"
            lines_sql "$1" "$k"
            echo "COMMIT;"
            echo "UPDATE etl.imports SET status = 'completed' WHERE import_id = ('00000000-0000-7000-8000-' || lpad(($1 * 1000 + $k)::text, 12, '0'))::uuid;"
        } | q $PORT -d live -v ON_ERROR_STOP=1 >/dev/null || echo "loader $1 import $k failed"
    done
}
PIDS=()
for l in $(seq 1 $LOADERS); do
    loader "$l" >"$DIR/loader_$l.out" 2>&1 &
    PIDS+=($!)
done
# The operator's purge, again and again until the loaders are done.
PURGE_SQL="SET etl.retain_raw_lines = 0; SET etl.retain_jobs = 0; SET etl.retain_runs = 0; SET etl.retain_events = 0;
           SET ROLE etl_it_ops; SELECT coalesce(sum(removed), 0) FROM etl_purge('0') WHERE history = 'etl.raw_orders';"
# Each call prints the raw lines it removed and the jobs not yet done then.
purger() {
    local pending=1
    while [ ! -e "$DIR/loaders_done" ] || [ "$pending" != 0 ]; do
        pending=$(q $PORT -d live -c "SELECT count(*) FROM etl.jobs WHERE state <> 'done'")
        echo "$(q $PORT -d live -c "$PURGE_SQL" || echo "purge failed") $pending"
        sleep 0.05
    done
}
purger >"$DIR/purger.out" 2>&1 &
PURGER=$!
LOADER_FAILS=0
for pid in "${PIDS[@]}"; do wait "$pid" || LOADER_FAILS=$((LOADER_FAILS + 1)); done
touch "$DIR/loaders_done"
wait $PURGER
TOTAL=$((LOADERS * PER_LOADER))
expect_eq "every loader completed its $PER_LOADER imports while etl_purge ran" "0" \
    "$(cat "$DIR"/loader_*.out | grep -c . )"
CALLS=$(wc -l <"$DIR/purger.out")
WHILE_BUSY=$(awk '$1 ~ /^[0-9]+$/ && $1 > 0 && $2 > 0 { s += $1 } END { print s + 0 }' "$DIR/purger.out")
expect_true "etl_purge removed raw lines while the worker still had jobs to run ($WHILE_BUSY lines; $CALLS calls)" \
    "$([ "$WHILE_BUSY" -gt 0 ] && echo t)"
expect_eq "no purge failed" "0" "$(grep -vcE '^[0-9]+ [0-9]+$' "$DIR/purger.out")"
# Every import's pipeline ends: its leads job done, or its jobs purged when all were done.
if DB=live wait_for $PORT "SELECT count(*) FROM etl.imports i
                            WHERE NOT EXISTS (SELECT 1 FROM etl.jobs j WHERE j.import_id = i.import_id AND j.stage = 'leads' AND j.state = 'done')
                              AND NOT EXISTS (SELECT 1 FROM etl.purged_imports p WHERE p.import_id = i.import_id AND p.jobs_outcome = 'done')" \
    "0" 120; then ok "the worker ran every import to the end"; else not_ok "the worker ran every import to the end"; fi
expect_eq "no job is left queued, failed or dead" "0" "$(q $PORT -d live -c "SELECT count(*) FROM etl.jobs WHERE state <> 'done'")"
q $PORT -d live -c "$PURGE_SQL" >/dev/null
expect_eq "a last purge removes every import's raw lines and keeps each import with its counts" \
    "0|$TOTAL|$((TOTAL * 100))|$TOTAL" \
    "$(q $PORT -d live -c "SELECT (SELECT count(*) FROM etl.raw_orders), count(*), sum(raw_lines), count(*) FILTER (WHERE jobs_outcome = 'done')
                             FROM etl.purged_imports")"
expect_eq "the worker logged no failed job" "0" "$(grep -c 'etl_ext worker: job .*: \(failed\|dead\)' "$DIR/server.log")"

# The reference: the same imports, completed at the live imports' times, run
# without any purge.
for l in $(seq 1 $LOADERS); do
    for k in $(seq 1 $PER_LOADER); do
        echo "INSERT INTO etl.imports (import_id, source) VALUES (('00000000-0000-7000-8000-' || lpad(($l * 1000 + $k)::text, 12, '0'))::uuid, 'loader $l import $k');"
        lines_sql "$l" "$k"
    done
done | q $PORT -d reference >/dev/null
q $PORT -d live -c "COPY (SELECT import_id, completed_at FROM etl.imports) TO STDOUT" >"$DIR/completions.tsv"
q $PORT -d reference >/dev/null <<SQL
CREATE TEMP TABLE completions (import_id uuid, completed_at timestamptz);
\copy completions FROM '$DIR/completions.tsv'
UPDATE etl.imports i SET status = 'completed', completed_at = c.completed_at FROM completions c WHERE c.import_id = i.import_id;
CALL etl_run_queue();
SQL
expect_eq "orders, customers and leads equal those of the same imports run without a purge" \
    "$(q $PORT -d reference -f "$FP" | tr ' ' '\n' | grep -v '^rejects:')" "$(q $PORT -d live -f "$FP" | tr ' ' '\n' | grep -v '^rejects:')"
expect_eq "the purged imports' recorded rejects are the reference's rejects" \
    "$(q $PORT -d reference -c "SELECT count(*) FROM etl.rejects")" "$(q $PORT -d live -c "SELECT sum(rejected_lines) FROM etl.purged_imports")"

# A dump of the purged database restores what a purge left (etl.purged_imports) and its rules.
sudo -u postgres "$PGBIN/pg_dump" -h "$PGSOCK" -p $PORT -U postgres -Fc -f "$DIR/live.dump" live \
    && q $PORT -c "CREATE DATABASE restored" >/dev/null \
    && sudo -u postgres "$PGBIN/pg_restore" -h "$PGSOCK" -p $PORT -U postgres -d restored "$DIR/live.dump" 2>"$DIR/restore.err" \
    && ok "pg_dump and pg_restore of the purged database" || not_ok "pg_dump and pg_restore of the purged database" "$(head -3 "$DIR/restore.err")"
PURGED_FP="SELECT count(*) || ':' || md5(string_agg(concat_ws('|', import_id, raw_purged_at, raw_lines, rejected_lines, jobs_purged_at, jobs_outcome), ',' ORDER BY import_id)) FROM etl.purged_imports"
expect_eq "the restored etl.purged_imports equals the source's" "$(q $PORT -d live -c "$PURGED_FP")" "$(q $PORT -d restored -c "$PURGED_FP")"
expect_eq "the restored results equal the source's" "$(q $PORT -d live -f "$FP")" "$(q $PORT -d restored -f "$FP")"
OUT=$(q $PORT -d restored -c "SELECT count(*) FROM etl_run_all('00000000-0000-7000-8000-000000001001')" 2>&1)
case "$OUT" in *"were purged at"*) ok "the restored database refuses to re-run a purged import" ;; *) not_ok "the restored database refuses to re-run a purged import" "$OUT" ;; esac

# --- 2. Imports every day; a 60-hour window ------------------------------
setup_db days
DAYS=14
PER_DAY=20
SIZES=()
for d in $(seq 1 $DAYS); do
    for k in $(seq 1 $PER_DAY); do
        echo "INSERT INTO etl.imports (import_id, source) VALUES (('00000000-0000-7000-8000-' || lpad(($d * 1000 + $k)::text, 12, '0'))::uuid, 'day $d import $k');"
        lines_sql "$d" "$k"
    done | q $PORT -d days >/dev/null
    # The day's times, set once as a real day's would be: DAYS - d days ago.
    # Then the purge of that (virtual) day: 60 hours before it.
    SIZE=$(q $PORT -d days <<SQL
UPDATE etl.imports SET status = 'completed' WHERE status = 'pending';
CALL etl_run_queue();
CREATE TEMP TABLE today AS SELECT import_id FROM etl.imports WHERE source LIKE 'day $d import %';
UPDATE etl.imports SET completed_at = completed_at - interval '$((DAYS - d)) days' WHERE import_id IN (SELECT import_id FROM today);
UPDATE etl.jobs SET finished_at = finished_at - interval '$((DAYS - d)) days', updated_at = updated_at - interval '$((DAYS - d)) days'
 WHERE import_id IN (SELECT import_id FROM today);
UPDATE etl.runs SET finished_at = finished_at - interval '$((DAYS - d)) days' WHERE import_id IN (SELECT import_id FROM today);
UPDATE etl.events SET created_at = created_at - interval '$((DAYS - d)) days'
 WHERE (payload ->> 'import_id')::uuid IN (SELECT import_id FROM today);
SET etl.retain_raw_lines = 0; SET etl.retain_jobs = 0; SET etl.retain_runs = 0; SET etl.retain_events = 0;
SELECT count(*) FROM etl_purge(interval '$(((DAYS - d) * 24 + 60)) hours') \\g /dev/null
VACUUM etl.raw_orders, etl.rejects, etl.jobs, etl.runs, etl.events;
SELECT sum(pg_total_relation_size(c)) || ' ' || (SELECT count(*) FROM etl.raw_orders)
  FROM unnest(ARRAY['etl.raw_orders', 'etl.rejects', 'etl.jobs', 'etl.runs', 'etl.events']::regclass[]) c;
SQL
)
    SIZES+=("${SIZE%% *}")
    echo "# day $d: history tables $((${SIZE%% *} / 1024)) kB, raw lines kept ${SIZE##* }"
done
expect_eq "the raw lines kept are those of the last 60 hours: the day's and the two before" "$((3 * PER_DAY * 100))" \
    "$(q $PORT -d days -c "SELECT count(*) FROM etl.raw_orders")"
# The window is full from day 3 on; B-tree pages emptied by a purge are
# reused only after a later VACUUM, so the size settles over a few days.
# Without a purge, day 14 would hold 14 days (over four times day 3's).
FULL=${SIZES[4]}
LAST_MAX=0
for d in $(seq 8 $DAYS); do
    [ "${SIZES[$((d - 1))]}" -gt "$LAST_MAX" ] && LAST_MAX=${SIZES[$((d - 1))]}
done
expect_true "once the window is full, the history tables stop growing: days 8 to $DAYS at most 15% above day 5 ($((LAST_MAX / 1024)) kB vs $((FULL / 1024)) kB)" \
    "$([ $((LAST_MAX * 100)) -le $((FULL * 115)) ] && echo t)"
q $PORT -d days -c "SELECT '# ' || c || ': ' || pg_size_pretty(pg_total_relation_size(c))
                      FROM unnest(ARRAY['etl.raw_orders', 'etl.rejects', 'etl.jobs', 'etl.runs', 'etl.events']::regclass[]) c"
q $PORT -d days -c "SELECT '# imports and purged_imports (one row per import, kept): ' || pg_size_pretty(pg_total_relation_size('etl.imports') + pg_total_relation_size('etl.purged_imports'))"
finish
