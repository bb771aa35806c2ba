#!/usr/bin/env bash
# The worker's life (issue 7, contract section 6):
#  (a) pg_terminate_backend: the postmaster starts a new worker, which runs
#      later imports; a SIGTERM in the middle of a stage stops it between
#      batches (the stage rolls back, its attempt counts, it runs again);
#  (b) SIGHUP: a reload changes etl.poll_interval in the running worker;
#  (c) kill -9 of the worker in the middle of a stage, again and again: the
#      job is dead after etl.max_attempts, and an import completed meanwhile
#      runs through all three stages;
#  (d) etl.database naming a database that does not exist: said clearly in
#      the log, retried with backoff, and run once the database is there.
. "$(dirname "$0")/lib.sh"
test_dir DIR lifecycle_main
PORT=$(free_port)
test_dir DIR2 lifecycle_nodb
PORT2=$(free_port "$PORT")
cluster_start "$DIR" $PORT "shared_preload_libraries = 'etl_ext'" "etl.database = 'postgres'" \
    "etl.poll_interval = '30s'" "etl.batch_size = 2000" "etl.max_attempts = 3" "etl.retry_base_delay = '100ms'"
at_exit 'cluster_stop $DIR; cluster_stop $DIR2'
# (d)'s server starts now; the log of its first 20 s is kept for later.
cluster_start "$DIR2" $PORT2 "shared_preload_libraries = 'etl_ext'" "etl.database = 'nosuchdb'" "etl.poll_interval = '1s'"
( sleep 20; cp "$DIR2/server.log" "$DIR2/first20s.log" ) &
SNAPSHOT=$!

worker_pid() { q $PORT -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'etl_ext worker'"; }
jobs_of() { q $PORT -c "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$1'"; }
# in_orders_stage IMPORT: the worker is inside the orders stage of IMPORT's
# job (the job is claimed, the worker reads etl.raw_orders), as
# "attempts:<n>"; "dead" once the job is dead; "wait" otherwise.
in_orders_stage_sql() {
    echo "SELECT CASE WHEN j.state = 'dead' THEN 'dead'
                      WHEN j.state = 'running' AND EXISTS (
                               SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                                WHERE a.backend_type = 'etl_ext worker' AND l.granted
                                  AND l.relation = 'etl.raw_orders'::regclass)
                      THEN 'attempts:' || j.attempts ELSE 'wait' END
            FROM etl.jobs j WHERE j.import_id = '$1' AND j.stage = 'orders'"
}
# wait_stage IMPORT ATTEMPT SECONDS: waits until the worker is in the stage
# for attempt ATTEMPT (prints "stage") or the job is dead (prints "dead").
wait_stage() {
    local import=$1 attempt=$2 deadline=$((SECONDS + $3)) got=""
    while [ $SECONDS -lt $deadline ]; do
        got=$(q $PORT -c "$(in_orders_stage_sql "$import")" 2>/dev/null)
        case "$got" in
            dead) echo dead; return 0 ;;
            "attempts:$attempt") echo stage; return 0 ;;
        esac
        sleep 0.1
    done
    echo "timeout ($got)"
    return 1
}

q $PORT -c "CREATE EXTENSION etl_ext" >/dev/null
wait_for $PORT "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'etl_ext worker'" "1" 10 \
    && ok "the worker runs" || not_ok "the worker runs"

# --- (a) pg_terminate_backend -------------------------------------------------
PID1=$(worker_pid)
expect_eq "pg_terminate_backend of the worker (pid $PID1)" "t" "$(q $PORT -c "SELECT pg_terminate_backend(${PID1:-0})")"
START=$SECONDS
if wait_for $PORT "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'etl_ext worker' AND pid <> ${PID1:-0}" "1" 10; then
    ok "a new worker is running within 10 s of pg_terminate_backend ($((SECONDS - START)) s)"
else
    not_ok "a new worker is running within 10 s of pg_terminate_backend" "$(grep -i 'etl_ext' "$DIR/server.log" | tail -5)"
fi
expect_eq "the terminated worker is gone" "0" "$(q $PORT -c "SELECT count(*) FROM pg_stat_activity WHERE pid = ${PID1:-0}")"
IMPORT=$(q $PORT -c "SELECT etl_demo_import(300, 0.3)")
wait_for $PORT "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$IMPORT'" "done,done,done" 20 \
    && ok "an import completed after the restart runs through the new worker" \
    || not_ok "an import completed after the restart runs through the new worker" "$(q $PORT -c "SELECT * FROM etl.jobs WHERE import_id = '$IMPORT'")"

# --- (d) a database that does not exist (its server started 20 s ago) -------
wait $SNAPSHOT
NOSUCH_LINES=$(grep -c 'nosuchdb' "$DIR2/first20s.log")
EXITS=$(grep -c 'etl_ext.*exited with exit code' "$DIR2/first20s.log")
echo "# first 20 s of the server with etl.database = 'nosuchdb': $NOSUCH_LINES log lines name it, $EXITS worker exits"
grep 'nosuchdb' "$DIR2/first20s.log" | head -3 | sed 's/^/#   /'
if grep -qE 'nosuchdb.*does not exist|does not exist.*nosuchdb' "$DIR2/first20s.log"; then
    ok "the log says that database nosuchdb does not exist"
else
    not_ok "the log says that database nosuchdb does not exist" "$(tail -5 "$DIR2/first20s.log")"
fi
expect_true "at most a few lines about it in 20 s (backoff, not one every 2 s): $NOSUCH_LINES" \
    "$([ "$NOSUCH_LINES" -ge 1 ] && [ "$NOSUCH_LINES" -le 6 ] && echo t)"
expect_true "the worker is not restarted every 2 s: $EXITS exits in 20 s" "$([ "$EXITS" -le 6 ] && echo t)"
q $PORT2 -c "CREATE DATABASE nosuchdb" >/dev/null
q $PORT2 -d nosuchdb -c "CREATE EXTENSION etl_ext" >/dev/null
q $PORT2 -c "SELECT pg_reload_conf()" >/dev/null
START=$SECONDS
IMPORT=$(q $PORT2 -d nosuchdb -c "SELECT etl_demo_import(100, 0.2)")
if DB=nosuchdb wait_for $PORT2 "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$IMPORT'" "done,done,done" 90; then
    ok "once the database exists, the worker runs its queue within 90 s ($((SECONDS - START)) s)"
else
    not_ok "once the database exists, the worker runs its queue within 90 s" "$(tail -5 "$DIR2/server.log")"
fi
expect_eq "the worker is connected to nosuchdb" "1" \
    "$(q $PORT2 -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'etl_ext worker' AND datname = 'nosuchdb'")"
cluster_stop "$DIR2"

# --- (a) continued: SIGTERM in the middle of a stage ----------------------------
BUSY=$(q $PORT -c "SELECT etl_demo_import(150000, 0.4)")
if [ "$(wait_stage "$BUSY" 1 60)" == "stage" ]; then
    sleep 1
    PID2=$(worker_pid)
    q $PORT -c "SELECT pg_terminate_backend($PID2)" >/dev/null
    START=$SECONDS
    if wait_for $PORT "SELECT count(*) FROM pg_stat_activity WHERE pid = $PID2" "0" 5; then
        ok "SIGTERM in the middle of the orders stage: the worker exits within 5 s ($((SECONDS - START)) s)"
    else
        not_ok "SIGTERM in the middle of the orders stage: the worker exits within 5 s"
    fi
    expect_eq "the interrupted stage rolled back: no order of the import committed" "0" \
        "$(q $PORT -c "SELECT count(*) FROM etl.orders WHERE import_id = '$BUSY'")"
else
    not_ok "the worker started the orders stage of a 150000-line import"
fi
if wait_for $PORT "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$BUSY'" "done,done,done" 240; then
    ok "the interrupted import finishes after the restart"
else
    not_ok "the interrupted import finishes after the restart" "$(q $PORT -c "SELECT * FROM etl.jobs WHERE import_id = '$BUSY'")"
fi
expect_eq "the interrupted attempt counted: the orders job took 2 attempts" "2" \
    "$(q $PORT -c "SELECT attempts FROM etl.jobs WHERE import_id = '$BUSY' AND stage = 'orders'")"
expect_eq "the orders stage committed once" "1" \
    "$(q $PORT -c "SELECT count(*) FROM etl.runs WHERE import_id = '$BUSY' AND stage = 'orders' AND status IN ('success', 'partial_success')")"

# --- (b) SIGHUP -------------------------------------------------------------
# unannounced_job: a completed import and its orders job, written with
# triggers off (session_replication_role = replica), so that no commit wakes
# the worker: only its poll finds the job.
unannounced_job() {
    q $PORT -c "SET session_replication_role = replica" \
            -c "WITH i AS (SELECT etl_demo_import(50, 0.1) AS id)
                INSERT INTO etl.jobs (import_id, stage) SELECT id, 'orders' FROM i RETURNING import_id"
}
wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE state NOT IN ('done', 'dead')" "0" 30 || not_ok "the queue is idle before the reload"
PIDB=$(worker_pid)
J1=$(unannounced_job)
# An absence can only be watched for a while.
sleep 3
expect_eq "control: with etl.poll_interval = 30s, a job no commit announced is still queued 3 s later" "queued" \
    "$(q $PORT -c "SELECT state FROM etl.jobs WHERE import_id = '$J1' AND stage = 'orders'")"
LOGSIZE=$(stat -c %s "$DIR/server.log")
q $PORT -c "ALTER SYSTEM SET etl.poll_interval = '250ms'" >/dev/null
q $PORT -c "SELECT pg_reload_conf()" >/dev/null
wait_for $PORT "SHOW etl.poll_interval" "250ms" 5 && ok "SHOW etl.poll_interval is 250ms after the reload" \
    || not_ok "SHOW etl.poll_interval is 250ms after the reload"
wait_for $PORT "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$J1'" "done,done,done" 40 \
    || not_ok "the job queued before the reload runs" "$(q $PORT -c "SELECT * FROM etl.jobs WHERE import_id = '$J1'")"
J2=$(unannounced_job)
START=$SECONDS
if wait_for $PORT "SELECT state <> 'queued' FROM etl.jobs WHERE import_id = '$J2' AND stage = 'orders'" "t" 3; then
    ok "after the reload the worker polls every 250ms: a job no commit announced is taken within 3 s"
else
    not_ok "after the reload the worker polls every 250ms: a job no commit announced is taken within 3 s"
fi
wait_for $PORT "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$J2'" "done,done,done" 20 \
    && ok "that import runs through" || not_ok "that import runs through"
expect_eq "the same worker process ran through the reload" "$PIDB" "$(worker_pid)"
RELOAD_LOG=$(tail -c +$((LOGSIZE + 1)) "$DIR/server.log")
echo "$RELOAD_LOG" | grep -q 'parameter "etl.poll_interval" changed to "250ms"' \
    && ok "the server log shows the reload" || not_ok "the server log shows the reload"
echo "$RELOAD_LOG" | grep -i 'etl_ext worker' | grep -i 'reload\|poll' | head -2 | sed 's/^/# worker: /'
expect_eq "no error in the server log since the reload" "" "$(echo "$RELOAD_LOG" | grep -E 'ERROR|FATAL|PANIC' | head -3)"

# --- (c) kill -9 in the middle of a stage, until the job is dead ----------------
BIG=$(q $PORT -c "SELECT etl_demo_import(200000, 0.5)")
KILLS=0
SMALL=""
for attempt in 1 2 3 4 5 6; do
    WHERE=$(wait_stage "$BIG" "$attempt" 120)
    [ "$WHERE" == "stage" ] || break
    sleep 1
    PID=$(worker_pid)
    RESETS=$(crash_resets "$DIR")
    [ -n "$PID" ] && kill -9 "$PID" && KILLS=$((KILLS + 1))
    wait_crash_reset "$DIR" $PORT "$RESETS" || { not_ok "the server accepts connections after kill -9"; break; }
    # A second, small import, completed after the first (once, after the first kill).
    [ -z "$SMALL" ] && SMALL=$(q $PORT -c "SELECT etl_demo_import(300, 0.6)")
done
echo "# killed the worker $KILLS times in the middle of the orders stage (last wait: $WHERE)"
if wait_for $PORT "SELECT state || '|' || attempts FROM etl.jobs WHERE import_id = '$BIG' AND stage = 'orders'" "dead|3" 60; then
    ok "after kill -9 in the middle of each attempt, the job is dead with attempts = 3"
else
    not_ok "after kill -9 in the middle of each attempt, the job is dead with attempts = 3" \
        "$(q $PORT -c "SELECT stage, state, attempts, next_run_at, last_error FROM etl.jobs WHERE import_id = '$BIG'")"
fi
expect_eq "the worker was killed in the middle of the stage 3 times (etl.max_attempts)" "3" "$KILLS"
LAST_ERROR=$(q $PORT -c "SELECT last_error FROM etl.jobs WHERE import_id = '$BIG' AND stage = 'orders'")
echo "# last_error: ${LAST_ERROR:0:200}"
expect_true "the dead job has a last error" "$([ -n "$LAST_ERROR" ] && echo t)"
expect_eq "nothing of the killed stages was committed" "0" "$(q $PORT -c "SELECT count(*) FROM etl.orders WHERE import_id = '$BIG'")"
expect_eq "the dead stage queued nothing after it" "0" \
    "$(q $PORT -c "SELECT count(*) FROM etl.jobs WHERE import_id = '$BIG' AND stage <> 'orders'")"
if [ -n "$SMALL" ] && wait_for $PORT "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$SMALL'" "done,done,done" 60; then
    ok "an import completed meanwhile runs all three stages: the dead job does not block it"
else
    not_ok "an import completed meanwhile runs all three stages: the dead job does not block it" \
        "$(q $PORT -c "SELECT stage, state, attempts, last_error FROM etl.jobs WHERE import_id = '${SMALL:-00000000-0000-0000-0000-000000000000}'")"
fi
grep -q "terminated by signal 9" "$DIR/server.log" && ok "the server log shows the kills" || not_ok "the server log shows the kills"
finish
