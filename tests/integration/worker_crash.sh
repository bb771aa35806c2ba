#!/usr/bin/env bash
# kill -9 of the worker in the middle of a stage on a large import: after the
# restart the pipeline finishes, and the result equals an undisturbed run.
. "$(dirname "$0")/lib.sh"
test_dir DIR crash
PORT=$(free_port)
ROWS=${CRASH_TEST_ROWS:-120000}
cluster_start "$DIR" $PORT "shared_preload_libraries = 'etl_ext'" "etl.database = 'postgres'" \
    "etl.poll_interval = '1s'" "etl.batch_size = 5000"
at_exit 'cluster_stop $DIR'
FP=$ROOT/tests/result_fingerprint.sql

# The undisturbed reference: the same demo import run by etl_run_all in a
# database the worker does not watch.
q $PORT -c "CREATE DATABASE reference" >/dev/null
q $PORT -d reference -c "CREATE EXTENSION etl_ext" >/dev/null
REF_IMPORT=$(q $PORT -d reference -c "SELECT etl_demo_import($ROWS, 0.7)")
q $PORT -d reference -c "SELECT count(*) FROM etl_run_all('$REF_IMPORT')" >/dev/null
REFERENCE=$(q $PORT -d reference -f "$FP")

q $PORT -c "CREATE EXTENSION etl_ext" >/dev/null
IMPORT=$(q $PORT -c "SELECT etl_demo_import($ROWS, 0.7)")
# Wait until the worker is inside the orders stage (it holds the pipeline lock).
if wait_for $PORT "SELECT count(*) > 0 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                    WHERE a.backend_type = 'etl_ext worker' AND l.relation = 'etl.pipeline_lock'::regclass AND l.granted" "t" 30; then
    sleep 1.5
    PID=$(q $PORT -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'etl_ext worker'")
    RESETS=$(crash_resets "$DIR")
    kill -9 "$PID" && ok "killed the worker (pid $PID) in the middle of the orders stage"
    wait_crash_reset "$DIR" $PORT "$RESETS" || not_ok "the server reset every backend and accepts connections again"
else
    not_ok "the worker started the orders stage"
fi
expect_eq "nothing of the interrupted stage was committed" "0" \
    "$(q $PORT -c "SELECT count(*) FROM etl.runs WHERE import_id = '$IMPORT' AND stage = 'orders' AND status <> 'running' AND finished_at < (SELECT min(backend_start) FROM pg_stat_activity WHERE backend_type = 'etl_ext worker')")"
if wait_for $PORT "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$IMPORT'" "done,done,done" 240; then
    ok "after the restart the pipeline finishes"
else
    not_ok "after the restart the pipeline finishes" "$(q $PORT -c "SELECT * FROM etl.jobs")"
fi
expect_eq "each stage committed exactly once" "orders:1,customers:1,leads:1" \
    "$(q $PORT -c "SELECT string_agg(stage || ':' || n, ',' ORDER BY array_position(ARRAY['orders','customers','leads'], stage))
                     FROM (SELECT stage, count(*) n FROM etl.runs WHERE import_id = '$IMPORT' GROUP BY stage) s")"
expect_eq "result tables equal those of an undisturbed run" "$REFERENCE" "$(q $PORT -f "$FP")"
grep -q "terminated by signal 9" "$DIR/server.log" && ok "the server log shows the crash" || not_ok "the server log shows the crash"
finish
