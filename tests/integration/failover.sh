#!/usr/bin/env bash
# A primary and a streaming standby (initdb, pg_basebackup, local sockets
# only), both with the worker preloaded. Checks: on the standby the worker
# does nothing and logs nothing (it starts only once recovery is over);
# the primary is killed (kill -9 of the postmaster and every child) in the
# middle of the worker's orders stage; the standby is promoted, its worker
# starts there on its own and finishes every queued import; the results
# equal an undisturbed run's, each stage committed once, nothing lost.
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
finish
