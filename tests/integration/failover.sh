#!/usr/bin/env bash
# A primary and a streaming standby (initdb, pg_basebackup, local sockets
# only), both with the worker preloaded. Checks: on the standby the worker
# does nothing and logs nothing (it starts only once recovery is over);
# the primary is killed (kill -9 of the postmaster and every child) in the
# middle of the worker's orders stage; the standby is promoted, its worker
# starts there on its own and finishes every queued import; the results
# equal an undisturbed run's, each stage committed once, nothing lost.
# What 0.5.0 adds, in a database "history" the worker is moved to only at
# the end (lib_history.sh: a purged import, a held one, an export's
# import): on the standby readers see the held import held and the purged
# line's explain as on the primary, and etl_purge and etl_release are
# refused with an error, the standby serving on (every entry point that
# writes with 25006, none with XX000; an export loaded again answers); once promoted, the import is still held, etl_release works
# and the worker there loads it, and etl_purge works.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_history.sh"
test_dir WORK failover
PRIMARY=$WORK/primary
STANDBY=$WORK/standby
PORT=$(free_port)
SPORT=$(free_port "$PORT")
ROWS=${FAILOVER_TEST_ROWS:-120000}
FP=$ROOT/tests/result_fingerprint.sql
# Settings both servers share (pg_basebackup copies postgresql.conf).
cluster_start "$PRIMARY" "$PORT" "shared_preload_libraries = 'etl_ext'" "etl.database = 'postgres'" \
    "etl.poll_interval = '1s'" "etl.retry_base_delay = '200ms'" "etl.batch_size = 5000" \
    "wal_level = replica" "max_wal_senders = 4" "hot_standby = on" \
    || { not_ok "the primary starts on port $PORT"; finish; exit 1; }
at_exit 'cluster_stop $PRIMARY'
at_exit 'cluster_stop $STANDBY'

# The undisturbed reference, in a database the worker does not watch.
REFERENCE=$(reference_fingerprint "$PORT" "$ROWS")
q "$PORT" -c "CREATE EXTENSION etl_ext" >/dev/null

# What 0.5.0 adds, in a database of its own (the results above and below
# compare database postgres), made before the base backup.
q "$PORT" -c "CREATE DATABASE history" >/dev/null
q "$PORT" -d history -c "CREATE EXTENSION etl_ext" >/dev/null
load_history "$PORT" history
use_050 "$PORT" history
expect_050 "the primary" "$PORT" history
EXPLAIN_PRIMARY=$(PGOPTIONS="-c role=etl_operator" explain_050 "$PORT" history)
# etl_purge of the raw lines of imports completed before this cutoff (2, 3
# and 4 of the history; import 1's went in use_050).
PURGE_SQL="SET etl.retain_raw_lines = 0;
    SELECT removed FROM etl_purge(now() - timestamptz '2026-03-02 00:00:00+00') WHERE history = 'etl.raw_orders'"

# The standby, from a base backup of the running primary.
mkdir -p "$STANDBY" && chown postgres "$STANDBY"
if sudo -u postgres "$PGBIN/pg_basebackup" -h "$PGSOCK" -p "$PORT" -U postgres -D "$STANDBY/data" -R -X stream --checkpoint=fast \
        >"$STANDBY/basebackup.log" 2>&1; then
    ok "pg_basebackup copies the primary"
else
    not_ok "pg_basebackup copies the primary" "$(tail -5 "$STANDBY/basebackup.log")"
    finish
    exit 1
fi
echo "port = $SPORT" >>"$STANDBY/data/postgresql.conf"
sudo -u postgres "$PGBIN/pg_ctl" -D "$STANDBY/data" -l "$STANDBY/server.log" -w start >/dev/null \
    || { not_ok "the standby starts on port $SPORT" "$(tail -5 "$STANDBY/server.log")"; finish; exit 1; }
expect_eq "the standby is in recovery" "t" "$(q "$SPORT" -c "SELECT pg_is_in_recovery()")"
wait_for "$SPORT" "SELECT count(*) FROM pg_extension WHERE extname = 'etl_ext'" "1" 30 \
    || not_ok "the standby replays CREATE EXTENSION"

# Two imports queued on the primary; the worker starts on the first.
q "$PORT" -c "SELECT etl_demo_import($ROWS, 0.7)" >/dev/null
side_import "$PORT" postgres
if wait_for "$PORT" "SELECT count(*) > 0 FROM etl.progress WHERE stage = 'orders' AND batches_done >= 2" "t" 120; then
    ok "the primary's worker is in the middle of the orders stage"
else
    not_ok "the primary's worker started the orders stage"
fi
sleep 1   # the standby replays the claim
STANDBY_WORKERS=$(q "$SPORT" -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'etl_ext%'")
STANDBY_LOG=$(grep -c "etl_ext" "$STANDBY/server.log")
expect_eq "on the standby no etl_ext worker or launcher runs, and none logged a line" "0 0" "$STANDBY_WORKERS $STANDBY_LOG"
expect_true "the standby sees the queued jobs (replicated) while its worker stays idle" \
    "$(q "$SPORT" -c "SELECT count(*) >= 2 FROM etl.jobs")"

# What 0.5.0 adds, on the standby (replayed, read-only).
expect_eq "standby: a reader sees import b held, as on the primary" "held|held" \
    "$(PGOPTIONS="-c role=etl_reader" hold_050 "$SPORT" history)|$(PGOPTIONS="-c role=etl_reader" q "$SPORT" -d history \
        -c "SELECT CASE WHEN count(*) = 1 THEN 'held' END FROM etl.import_holds WHERE import_id = '$HELD'")"
if [ -n "$EXPLAIN_PRIMARY" ]; then
    expect_eq "standby: an operator's etl_explain of the purged line says what it says on the primary" "$EXPLAIN_PRIMARY" \
        "$(PGOPTIONS="-c role=etl_operator" explain_050 "$SPORT" history 2>&1)"
else
    not_ok "standby: an operator's etl_explain of the purged line says what it says on the primary" "empty on the primary"
fi
# A standby refuses what writes as any read-only transaction does (25006), not
# with an internal error: until 0.5.0 every Rust entry point asked for a
# transaction id before its first statement (XX000 "cannot assign
# TransactionIds during recovery"), so even a reader's etl_quality failed.
expect_eq "standby: etl_purge is refused as a write in a read-only transaction (25006)" "25006" \
    "$(sqlstate "$SPORT" history "$PURGE_SQL")"
expect_eq "standby: an operator's etl_release is refused as a write in a read-only transaction (25006)" "25006" \
    "$(PGOPTIONS="-c role=etl_operator" sqlstate "$SPORT" history "SELECT etl_release('$HELD')")"
expect_eq "standby: an operator's etl_orders is refused as a write in a read-only transaction (25006)" "25006" \
    "$(PGOPTIONS="-c role=etl_operator" sqlstate "$SPORT" history "SELECT count(*) FROM etl_orders('$HELD')")"
QUALITY_SQL="SELECT string_agg(concat_ws(':', shop_name, reason, lines, rejected), ' ' ORDER BY shop_name, reason) FROM etl_quality('$HELD')"
QUALITY_PRIMARY=$(PGOPTIONS="-c role=etl_reader" q "$PORT" -d history -c "$QUALITY_SQL")
expect_true "primary: a reader's etl_quality of the held import names its rejects ($QUALITY_PRIMARY)" \
    "$(grep -q 'bad_amount' <<<"$QUALITY_PRIMARY" && echo t)"
expect_eq "standby: a reader's etl_quality of the held import answers as on the primary (it only reads)" \
    "$QUALITY_PRIMARY" "$(PGOPTIONS="-c role=etl_reader" q "$SPORT" -d history -c "$QUALITY_SQL" 2>&1)"
# Every other entry point that writes, as a superuser (past every privilege
# check): refused as a write in a read-only transaction, never XX000 (a dry
# run too: it writes in a subtransaction; the procedure commits per job).
for sql in "SELECT count(*) FROM etl_orders('$HELD', true)" "SELECT count(*) FROM etl_run_all('$PURGED', true)" \
    "SELECT count(*) FROM etl_customers('$PURGED')" "SELECT count(*) FROM etl_redrive('$PURGED')" \
    "SELECT etl_run_pending()" "CALL etl_run_queue()" "SELECT etl.claim_job()" "SELECT etl.lock_pipeline()" \
    "SELECT etl_emit_event('NO_SUCH_EVENT', '{}')" "SELECT etl_demo_import(10, 0.1)"; do
    expect_eq "standby: $sql is refused as a write in a read-only transaction (25006)" "25006" \
        "$(sqlstate "$SPORT" history "$sql")"
done
EXPORT_SQL="SELECT import_id || '|' || lines || '|' || reused FROM etl_import_export($EXPORT_CSV, 'generic', 'shop export')"
EXPORT_PRIMARY=$(q "$PORT" -d history -c "$EXPORT_SQL" 2>&1)
expect_true "primary: the export loaded again returns its import, reused ($EXPORT_PRIMARY)" \
    "$(grep -q '|2|true$' <<<"$EXPORT_PRIMARY" && echo t)"
expect_eq "standby: the export loaded again answers as on the primary (it only reads)" \
    "$EXPORT_PRIMARY" "$(q "$SPORT" -d history -c "$EXPORT_SQL" 2>&1)"
expect_eq "standby: after the refusals it still serves, in recovery, import b still held" "t held" \
    "$(q "$SPORT" -c "SELECT pg_is_in_recovery()") $(hold_050 "$SPORT" history)"
expect_eq "standby: no backend crashed (no process terminated by a signal in its log)" "0" \
    "$(grep -c "terminated by signal" "$STANDBY/server.log")"

# Kill the primary: the postmaster and every process it started, at once.
PM=$(head -1 "$PRIMARY/data/postmaster.pid")
CHILDREN=$(pgrep -P "$PM" | tr '\n' ' ')
kill -9 "$PM" $CHILDREN && ok "killed the primary (postmaster $PM and its processes) mid-stage"
sleep 1
RUNS_BEFORE=$(q "$SPORT" -c "SELECT count(*) FROM etl.runs")
expect_eq "nothing of the interrupted stage reached the standby" "0" "$RUNS_BEFORE"

# Promote the standby: its worker starts on its own.
sudo -u postgres "$PGBIN/pg_ctl" -D "$STANDBY/data" -w promote >/dev/null \
    && ok "the standby is promoted" || not_ok "the standby is promoted"
expect_eq "the promoted server is out of recovery" "f" "$(q "$SPORT" -c "SELECT pg_is_in_recovery()")"
if wait_for "$SPORT" "SELECT count(*) FROM etl.jobs WHERE state <> 'done'" "0" 300 \
        && [ "$(q "$SPORT" -c "SELECT count(*) FROM etl.jobs")" == "6" ]; then
    ok "the promoted server's worker finished every queued import (6 jobs done)"
else
    not_ok "the promoted server's worker finished every queued import" "$(q "$SPORT" -c "SELECT job_id, import_id, stage, state, attempts, last_error FROM etl.jobs")"
fi
expect_eq "each stage of each import committed exactly once" "orders:2,customers:2,leads:2" \
    "$(q "$SPORT" -c "SELECT string_agg(stage || ':' || n, ',' ORDER BY array_position(ARRAY['orders','customers','leads'], stage))
                      FROM (SELECT stage, count(*) n FROM etl.runs GROUP BY stage) s")"
expect_eq "result tables equal those of a run with no failover" "$REFERENCE" "$(q "$SPORT" -f "$FP")"
expect_true "the worker started only after the promotion" \
    "$(awk '/database system is ready to accept connections/ {ready = 1} /etl_ext worker: running the queue/ && !ready {bad = 1}
           /etl_ext worker: running the queue/ && ready {seen = 1} END {if (seen && !bad) print "t"}' "$STANDBY/server.log")"

# What 0.5.0 adds, on the promoted server: the worker is moved to database
# history (etl.database on a reload), an operator releases the held import
# and the worker loads it with the jobs left queued; then a purge.
expect_eq "promoted: import b is still held, nothing of it loaded" "held 0" \
    "$(hold_050 "$SPORT" history) $(q "$SPORT" -d history -c "SELECT count(*) FROM etl.orders WHERE import_id = '$HELD'")"
q "$SPORT" -c "ALTER SYSTEM SET etl.database = 'history'" -c "SELECT pg_reload_conf()" >/dev/null
if RELEASED=$(PGOPTIONS="-c role=etl_operator" q "$SPORT" -d history -c "SELECT etl_release('$HELD')" 2>&1); then
    ok "promoted: an operator's etl_release of import b works (event $RELEASED)"
else
    not_ok "promoted: an operator's etl_release of import b works" "$RELEASED"
fi
expect_eq "promoted: import b is released" "released" \
    "$(q "$SPORT" -d history -c "SELECT CASE WHEN released_at IS NOT NULL THEN 'released' END FROM etl.import_holds WHERE import_id = '$HELD'")"
if DB=history wait_for "$SPORT" "SELECT count(*) FROM etl.jobs WHERE state <> 'done'" "0" 120; then
    ok "promoted: every queued job of database history ran (the released one's too; nothing but the worker runs them)"
else
    not_ok "promoted: the worker ran every queued job of database history" \
        "$(q "$SPORT" -d history -c "SELECT job_id, right(import_id::text, 2), stage, state, attempts, last_error FROM etl.jobs WHERE state <> 'done'")"
fi
expect_eq "promoted: the worker runs in database history (moved there by the reload)" "1" \
    "$(q "$SPORT" -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'etl_ext%' AND datname = 'history'")"
expect_eq "promoted: the released import's orders loaded (its 10 lines that were not rejected), its three stages done" \
    "10 orders,customers,leads" \
    "$(q "$SPORT" -d history -c "SELECT (SELECT count(*) FROM etl.orders WHERE import_id = '$HELD') || ' '
        || (SELECT string_agg(stage, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$HELD' AND state = 'done')")"
LINES_TO_PURGE=$(q "$SPORT" -d history -c "SELECT count(*) FROM etl.raw_orders r JOIN etl.imports i USING (import_id)
                                            WHERE i.completed_at < '2026-03-02 00:00:00+00'")
expect_true "promoted: imports 2 to 4 hold raw lines the purge may remove ($LINES_TO_PURGE)" \
    "$([ "${LINES_TO_PURGE:-0}" -gt 0 ] && echo t)"
expect_eq "promoted: etl_purge works: it removes those lines" "$LINES_TO_PURGE" "$(q "$SPORT" -d history -c "$PURGE_SQL" 2>&1)"
expect_eq "promoted: imports 1 to 4 are purged, their raw lines gone, the later ones' kept" "1,2,3,4 0 true" \
    "$(q "$SPORT" -d history -c "SELECT (SELECT string_agg(right(import_id::text, 1), ',' ORDER BY import_id) FROM etl.purged_imports)
        || ' ' || (SELECT count(*) FROM etl.raw_orders r JOIN etl.imports i USING (import_id) WHERE i.completed_at < '2026-03-02')
        || ' ' || (SELECT count(*) > 0 FROM etl.raw_orders WHERE import_id = '$HELD')")"
finish
