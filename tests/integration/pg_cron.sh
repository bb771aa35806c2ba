#!/usr/bin/env bash
# pg_cron for real: with shared_preload_libraries = 'pg_cron,etl_ext', a
# schedule of SELECT etl_run_pending() drains a queued import within its
# one-minute tick. The worker watches another database here, so only pg_cron
# can run this database's queue.
. "$(dirname "$0")/lib.sh"
DIR=/tmp/etl_it_cron
PORT=55474
export DB=crondb
cluster_start "$DIR" $PORT "shared_preload_libraries = 'pg_cron,etl_ext'" "cron.database_name = 'crondb'" \
    "etl.database = 'postgres'" "cron.host = '/tmp'"
trap 'cluster_stop $DIR' EXIT

q $PORT -c "CREATE DATABASE crondb" >/dev/null
q $PORT -d crondb -c "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION etl_ext" >/dev/null
q $PORT -d crondb -c "SELECT cron.schedule('etl', '* * * * *', 'SELECT etl_run_pending()')" >/dev/null
IMPORT=$(q $PORT -d crondb -c "SELECT etl_demo_import(300)")
expect_eq "the completed import is queued" "orders:queued" \
    "$(q $PORT -d crondb -c "SELECT stage || ':' || state FROM etl.jobs WHERE import_id = '$IMPORT'")"
START=$SECONDS
if wait_for $PORT "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$IMPORT'" "done,done,done" 90; then
    ok "pg_cron drained the queued import within a tick ($((SECONDS - START)) s)"
else
    not_ok "pg_cron drained the queued import within a tick" "$(q $PORT -d crondb -c "SELECT * FROM cron.job_run_details")"
fi
expect_eq "pg_cron's run of etl_run_pending() succeeded and reported one pipeline" "succeeded|1 row" \
    "$(q $PORT -d crondb -c "SELECT status || '|' || return_message FROM cron.job_run_details WHERE command LIKE '%etl_run_pending%' AND return_message = '1 row' ORDER BY runid LIMIT 1")"
expect_eq "the three stage events were published" "3" \
    "$(q $PORT -d crondb -c "SELECT count(*) FROM etl.events WHERE payload->>'import_id' = '$IMPORT' AND event_type LIKE '%_ETL_COMPLETED'")"
expect_eq "etl_run_pending() with nothing queued runs nothing" "0" "$(q $PORT -d crondb -c "SELECT etl_run_pending()")"
finish
