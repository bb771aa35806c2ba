#!/usr/bin/env bash
# A dry run, committed, sends no NOTIFY and queues nothing (issue 10, item
# 3; tests/sql/040_dry_run.sql checks every table inside one transaction).
# A LISTEN client watches a committed dry run, then the real run: it hears
# nothing from the first and the stage events of the second.
. "$(dirname "$0")/lib.sh"
test_dir DIR dry_run
PORT=$(free_port)
cluster_start "$DIR" "$PORT"
at_exit 'cluster_stop $DIR'

q "$PORT" -c "CREATE EXTENSION etl_ext" >/dev/null
IMPORT=$(q "$PORT" -c "SELECT etl_demo_import(300, 0.7)")
JOBS_BEFORE=$(q "$PORT" -c "SELECT string_agg(job_id || ':' || stage || ':' || state || ':' || attempts, ',' ORDER BY job_id) FROM etl.jobs")

LISTEN_OUT=$DIR/listen.out
( echo "LISTEN etl_events;"; for _ in $(seq 1 24); do echo "SELECT pg_sleep(0.25);"; done ) \
    | psql -h /tmp -p "$PORT" -U postgres -X -q >"$LISTEN_OUT" 2>&1 &
LISTENER=$!
wait_for "$PORT" "SELECT count(*) > 0 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(0.25);'" "t" 10 \
    || not_ok "the LISTEN client is connected"

expect_eq "the dry run, in its own committed transaction, reports three stages" "3" \
    "$(q "$PORT" -c "SELECT count(*) FROM etl_run_all('$IMPORT', dry_run => true) WHERE (details ->> 'dry_run')::boolean")"
sleep 1   # what a NOTIFY at that commit would have delivered by now
expect_eq "the LISTEN client heard nothing from the dry run" "" "$(grep -i 'notification' "$LISTEN_OUT")"
expect_eq "the import's queued jobs are as they were" "$JOBS_BEFORE" \
    "$(q "$PORT" -c "SELECT string_agg(job_id || ':' || stage || ':' || state || ':' || attempts, ',' ORDER BY job_id) FROM etl.jobs")"
expect_eq "no event, no run, no order" "0|0|0" \
    "$(q "$PORT" -c "SELECT (SELECT count(*) FROM etl.events WHERE event_type <> 'DATA_IMPORT_COMPLETED') || '|' ||
                            (SELECT count(*) FROM etl.runs) || '|' || (SELECT count(*) FROM etl.orders)")"

q "$PORT" -c "SELECT count(*) FROM etl_run_all('$IMPORT')" >/dev/null
wait $LISTENER
HEARD=$(grep -c 'notification "etl_events"' "$LISTEN_OUT")
expect_eq "the real run's three stage events reach the same client" "3" "$HEARD"
finish
