#!/usr/bin/env bash
# pg_cron for real: with shared_preload_libraries = 'pg_cron,etl_ext', a
# schedule of CALL pg_catalog.etl_run_queue() (README's line) drains a queued import
# within its one-minute tick. The worker watches another database here, so
# only pg_cron can run this database's queue. Then: a run of the procedure
# cut by statement_timeout keeps the jobs it finished and counts the attempt
# of the one it was in. And README's nightly etl_purge line purges.
. "$(dirname "$0")/lib.sh"
require_extension pg_cron
test_dir DIR cron
PORT=$(free_port)
export DB=crondb
cluster_start "$DIR" $PORT "shared_preload_libraries = 'pg_cron,etl_ext'" "cron.database_name = 'crondb'" \
    "etl.database = 'postgres'" "cron.host = '/tmp'"
at_exit 'cluster_stop $DIR'

q $PORT -c "CREATE DATABASE crondb" >/dev/null
q $PORT -d crondb -c "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION etl_ext" >/dev/null
q $PORT -d crondb -c "SELECT cron.schedule('etl', '* * * * *', 'CALL pg_catalog.etl_run_queue()')" >/dev/null
IMPORT=$(q $PORT -d crondb -c "SELECT etl_demo_import(300)")
expect_eq "the completed import is queued" "orders:queued" \
    "$(q $PORT -d crondb -c "SELECT stage || ':' || state FROM etl.jobs WHERE import_id = '$IMPORT'")"
START=$SECONDS
if wait_for $PORT "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$IMPORT'" "done,done,done" 90; then
    ok "pg_cron drained the queued import within a tick ($((SECONDS - START)) s)"
else
    not_ok "pg_cron drained the queued import within a tick" "$(q $PORT -d crondb -c "SELECT * FROM cron.job_run_details")"
fi
expect_eq "pg_cron's run of CALL etl_run_queue() succeeded" "succeeded|CALL" \
    "$(q $PORT -d crondb -c "SELECT status || '|' || return_message FROM cron.job_run_details WHERE command LIKE '%etl_run_queue%' ORDER BY runid LIMIT 1")"
expect_eq "the three stage events were published" "3" \
    "$(q $PORT -d crondb -c "SELECT count(*) FROM etl.events WHERE payload->>'import_id' = '$IMPORT' AND event_type LIKE '%_ETL_COMPLETED'")"
expect_eq "etl_run_pending() with nothing queued runs nothing" "0" "$(q $PORT -d crondb -c "SELECT etl_run_pending()")"

# README's nightly purge line (every minute here), with the retention a
# superuser set in the configuration (docs/operations.md, "Retention").
q $PORT -c "ALTER SYSTEM SET etl.retain_raw_lines = 0" -c "SELECT pg_reload_conf()" >/dev/null
q $PORT -d crondb -c "SELECT cron.schedule('etl-purge', '* * * * *', \$\$SELECT pg_catalog.etl_purge('0')\$\$)" >/dev/null
if wait_for $PORT "SELECT count(*) FROM etl.purged_imports WHERE import_id = '$IMPORT' AND raw_lines = 300" "1" 90; then
    ok "pg_cron's SELECT pg_catalog.etl_purge(...) (README's line) purged the finished import's 300 raw lines"
else
    not_ok "pg_cron's etl_purge purged the finished import" "$(q $PORT -d crondb -c "SELECT status, return_message FROM cron.job_run_details WHERE command LIKE '%etl_purge%'")"
fi
q $PORT -d crondb -c "SELECT cron.unschedule('etl-purge')" -c "ALTER SYSTEM RESET etl.retain_raw_lines" -c "SELECT pg_reload_conf()" >/dev/null

# statement_timeout cuts a run of the procedure: what it finished stays, the
# job it was in keeps its counted attempt (and runs again after its lease).
q $PORT -c "CREATE DATABASE canceldb" >/dev/null
q $PORT -d canceldb -c "CREATE EXTENSION etl_ext" >/dev/null
SMALL=$(q $PORT -d canceldb -c "SELECT etl_demo_import(50, 0.3)")
BIG=$(q $PORT -d canceldb -c "SELECT etl_demo_import(150000, 0.4)")
OUT=$(q $PORT -d canceldb -c "SET statement_timeout = '2s'" -c "SET etl.batch_size = 5000" -c "CALL etl_run_queue()" 2>&1)
case "$OUT" in *"statement timeout"*) ok "statement_timeout cut the run" ;; *) not_ok "statement_timeout cut the run" "$OUT" ;; esac
expect_eq "the small import's orders stage, finished before the cut, stayed committed" "done" \
    "$(q $PORT -d canceldb -c "SELECT state FROM etl.jobs WHERE import_id = '$SMALL' AND stage = 'orders'")"
expect_eq "the cut job kept its attempt: running (its lease), attempts 1, no run committed" "running|1|0" \
    "$(q $PORT -d canceldb -c "SELECT j.state || '|' || j.attempts || '|' || (SELECT count(*) FROM etl.runs r WHERE r.import_id = j.import_id AND r.stage = j.stage)
                                FROM etl.jobs j WHERE j.import_id = '$BIG' AND j.stage = 'orders'")"
DB=canceldb wait_for $PORT "SELECT next_run_at <= clock_timestamp() FROM etl.jobs WHERE import_id = '$BIG' AND stage = 'orders'" "t" 30 \
    || not_ok "the cut job's lease runs out"
q $PORT -d canceldb -c "CALL etl_run_queue()" >/dev/null
expect_eq "a later run finishes both imports" "done,done,done|done,done,done" \
    "$(q $PORT -d canceldb -c "SELECT (SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$SMALL') || '|' ||
                                      (SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$BIG')")"
expect_eq "the cut job ran twice in all" "2" \
    "$(q $PORT -d canceldb -c "SELECT attempts FROM etl.jobs WHERE import_id = '$BIG' AND stage = 'orders'")"
finish
