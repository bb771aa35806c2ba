#!/usr/bin/env bash
# The only server crashes (kill -9 of the postmaster and every child: what a
# power cut leaves, short of the disk) in the middle of the worker's orders
# stage. Checks: after a restart the server recovers, the worker starts on
# its own and finishes every queued import; nothing of the interrupted stage
# was kept, each stage committed once, the results equal an undisturbed run.
# (worker_crash.sh kills the worker alone; this the whole server.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_history.sh"
test_dir WORK server_crash
DIR=$WORK/cluster
PORT=$(free_port)
ROWS=${CRASH_TEST_ROWS:-120000}
FP=$ROOT/tests/result_fingerprint.sql
cluster_start "$DIR" "$PORT" "shared_preload_libraries = 'etl_ext'" "etl.database = 'postgres'" \
    "etl.poll_interval = '1s'" "etl.retry_base_delay = '200ms'" "etl.batch_size = 5000" \
    || { not_ok "a PostgreSQL $PG server starts on port $PORT"; finish; exit 1; }
at_exit 'cluster_stop $DIR'

REFERENCE=$(reference_fingerprint "$PORT" "$ROWS")

q "$PORT" -c "CREATE EXTENSION etl_ext" >/dev/null
q "$PORT" -c "SELECT etl_demo_import($ROWS, 0.7)" >/dev/null
side_import "$PORT" postgres
if wait_for "$PORT" "SELECT count(*) > 0 FROM etl.progress WHERE stage = 'orders' AND batches_done >= 2" "t" 120; then
    expect_eq "the worker is in the orders stage" "orders" \
        "$(q "$PORT" -c "SELECT string_agg(DISTINCT stage, ',') FROM etl.progress")"
else
    not_ok "the worker started the orders stage"
fi
PM=$(head -1 "$DIR/data/postmaster.pid")
CHILDREN=$(pgrep -P "$PM" | tr '\n' ' ')
kill -9 "$PM" $CHILDREN && ok "killed the server (postmaster $PM and its processes) mid-stage"
for _ in $(seq 1 50); do kill -0 "$PM" 2>/dev/null || break; sleep 0.1; done
if sudo -u postgres "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null 2>&1; then
    ok "the server starts again (crash recovery)"
else
    not_ok "the server starts again (crash recovery)" "$(tail -5 "$DIR/server.log")"
fi
grep -q "database system was interrupted\|was not properly shut down" "$DIR/server.log" \
    && ok "the server log shows the recovery" || not_ok "the server log shows the recovery"
if wait_for "$PORT" "SELECT count(*) FROM etl.jobs WHERE state <> 'done'" "0" 300 \
        && [ "$(q "$PORT" -c "SELECT count(*) FROM etl.jobs")" == "6" ]; then
    ok "after the restart the worker finished every queued import (6 jobs done)"
else
    not_ok "after the restart the worker finished every queued import" "$(q "$PORT" -c "SELECT job_id, stage, state, attempts, last_error FROM etl.jobs")"
fi
expect_eq "each stage of each import committed exactly once" "orders:2,customers:2,leads:2" \
    "$(q "$PORT" -c "SELECT string_agg(stage || ':' || n, ',' ORDER BY array_position(ARRAY['orders','customers','leads'], stage))
                     FROM (SELECT stage, count(*) n FROM etl.runs GROUP BY stage) s")"
expect_eq "result tables equal those of an undisturbed run" "$REFERENCE" "$(q "$PORT" -f "$FP")"
finish
