#!/usr/bin/env bash
# The event chain with the background worker: completion -> three stages,
# four events in order seen by a LISTEN client, wake-up latency, rollback,
# invalid events, and etl_run_pending racing the worker.
. "$(dirname "$0")/lib.sh"
test_dir DIR chain
PORT=$(free_port)
cluster_start "$DIR" $PORT "shared_preload_libraries = 'etl_ext'" "etl.database = 'postgres'" \
    "etl.poll_interval = '60s'"
at_exit 'cluster_stop $DIR'

q $PORT -c "CREATE EXTENSION etl_ext" >/dev/null
expect_eq "the worker runs" "1" "$(q $PORT -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'etl_ext worker'")"

# A LISTEN client in the background, printing notifications as they come.
LISTEN_OUT=$DIR/listen.out
( echo "LISTEN etl_events;"; for _ in $(seq 1 40); do echo "SELECT pg_sleep(0.25);"; done ) \
    | psql -h /tmp -p $PORT -U postgres -X -q >"$LISTEN_OUT" 2>&1 &
LISTENER=$!
# It listens once it runs its first pg_sleep.
wait_for $PORT "SELECT count(*) > 0 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(0.25);'" "t" 10 \
    || not_ok "the LISTEN client is connected"

# An import created pending, then completed in its own transaction. With a
# 60 s poll, only the wake-up at commit can start it within a second.
IMPORT=$(q $PORT -c "SELECT etl_uuid_v7()")
q $PORT -c "INSERT INTO etl.shops (shop_name) VALUES ('S1')" \
        -c "INSERT INTO etl.imports (import_id, source) VALUES ('$IMPORT', 'it')" \
        -c "INSERT INTO etl.raw_orders VALUES ('$IMPORT', 1, 'A-1', 'S1', 'Ann', 'paid', 'x', '10.005', '2026-01-02 03:04:05'),
                                              ('$IMPORT', 2, 'A-2', 'S1', 'Bob', 'paid', NULL, '¥1,234.565', '2026-01-02'),
                                              ('$IMPORT', 3, NULL, 'S1', 'Bob', 'paid', NULL, '1', '2026-01-02')" >/dev/null
q $PORT -c "UPDATE etl.imports SET status = 'completed', completed_at = clock_timestamp() WHERE import_id = '$IMPORT'" >/dev/null

if wait_for $PORT "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$IMPORT'" "done,done,done" 10; then
    ok "completion runs orders, customers and leads through the worker"
else
    not_ok "completion runs orders, customers and leads through the worker"
fi
LATENCY=$(q $PORT -c "SELECT round(extract(epoch FROM r.started_at - i.completed_at) * 1000)
                        FROM etl.runs r JOIN etl.imports i USING (import_id)
                       WHERE r.import_id = '$IMPORT' AND r.stage = 'orders' ORDER BY r.run_id LIMIT 1")
echo "# commit -> orders stage start: ${LATENCY} ms (worker idle, poll interval 60 s)"
expect_true "the orders stage starts under a second after the commit" "$(q $PORT -c "SELECT ${LATENCY:-99999} < 1000")"
expect_eq "orders landed" "2" "$(q $PORT -c "SELECT count(*) FROM etl.orders WHERE import_id = '$IMPORT'")"
expect_eq "amount rounded half away from zero" "10.01|1234.57" \
    "$(q $PORT -c "SELECT string_agg(amount::text, '|' ORDER BY order_id) FROM etl.orders")"
expect_eq "the four events are stored in order" \
    "DATA_IMPORT_COMPLETED,ORDERS_ETL_COMPLETED,CUSTOMERS_ETL_COMPLETED,LEADS_ETL_COMPLETED" \
    "$(q $PORT -c "SELECT string_agg(event_type, ',' ORDER BY event_id) FROM etl.events WHERE payload->>'import_id' = '$IMPORT'")"
expect_eq "stage event payloads carry the contract's fields" "4" \
    "$(q $PORT -c "SELECT count(*) FROM etl.events WHERE payload->>'import_id' = '$IMPORT'
                     AND payload ?& ARRAY['event_type','event_version','import_id','status','success_count','error_count','duration_ms']
                     AND payload->>'event_version' = '1.0'")"
expect_eq "the orders event counts successes and errors" "partial_success|2|1" \
    "$(q $PORT -c "SELECT payload->>'status' || '|' || (payload->>'success_count') || '|' || (payload->>'error_count') FROM etl.events WHERE event_type = 'ORDERS_ETL_COMPLETED'")"

wait $LISTENER
SEEN=$(grep -o '\\"event_type\\": \\"[A-Z_]*\\"\|"event_type": "[A-Z_]*"' "$LISTEN_OUT" | grep -o '[A-Z_]*_COMPLETED' | paste -sd, -)
expect_eq "a LISTEN client sees the four events in order" \
    "DATA_IMPORT_COMPLETED,ORDERS_ETL_COMPLETED,CUSTOMERS_ETL_COMPLETED,LEADS_ETL_COMPLETED" "$SEEN"

# Rolling back the completing transaction queues nothing.
IMPORT2=$(q $PORT -c "SELECT etl_uuid_v7()")
q $PORT -c "INSERT INTO etl.imports (import_id, source) VALUES ('$IMPORT2', 'rollback')" >/dev/null
q $PORT -c "BEGIN" -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$IMPORT2'" -c "ROLLBACK" >/dev/null
# (Nothing to wait for: a job or event can only come from a commit.)
expect_eq "a rolled-back completion queues no job" "0" "$(q $PORT -c "SELECT count(*) FROM etl.jobs WHERE import_id = '$IMPORT2'")"
expect_eq "a rolled-back completion leaves no event" "0" "$(q $PORT -c "SELECT count(*) FROM etl.events WHERE payload->>'import_id' = '$IMPORT2'")"

# Completing the same import twice while its job waits queues it once.
q $PORT -c "BEGIN" -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$IMPORT2'" \
        -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$IMPORT2'" -c "COMMIT" >/dev/null
wait_for $PORT "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$IMPORT2'" "done,done,done" 10 \
    && ok "an empty import completed twice runs its pipeline once" || not_ok "an empty import completed twice runs its pipeline once"
expect_eq "one orders run for the import completed twice" "1" \
    "$(q $PORT -c "SELECT count(*) FROM etl.runs WHERE import_id = '$IMPORT2' AND stage = 'orders'")"

# Invalid events are stored refused, with their error, and start nothing.
IMPORT3=$(q $PORT -c "SELECT etl_uuid_v7()")
q $PORT -c "INSERT INTO etl.imports (import_id, source, status) VALUES ('$IMPORT3', 'events', 'pending')" >/dev/null
for payload in \
    "{\"event_version\": \"2.0\", \"import_id\": \"$IMPORT3\", \"status\": \"completed\"}" \
    "{\"import_id\": \"$IMPORT3\", \"status\": \"completed\"}" \
    "{\"event_version\": \"1.0\", \"status\": \"completed\"}" \
    "{\"event_version\": \"1.0\", \"import_id\": \"$IMPORT3\"}" \
    "{\"event_version\": \"1.0\", \"import_id\": \"not-a-uuid\", \"status\": \"completed\"}" \
    "{\"event_version\": \"1.0\", \"import_id\": \"00000000-0000-7000-8000-000000000000\", \"status\": \"completed\"}" \
    "[1, 2]"; do
    q $PORT -c "SELECT etl_emit_event('DATA_IMPORT_COMPLETED', '$payload'::jsonb)" >/dev/null 2>"$DIR/warn.txt"
    grep -q "WARNING" "$DIR/warn.txt" && ok "refused event raises a WARNING: $payload" || not_ok "refused event raises a WARNING: $payload"
done
q $PORT -c "SELECT etl_emit_event('NO_SUCH_EVENT', '{\"event_version\": \"1.0\", \"import_id\": \"$IMPORT3\", \"status\": \"completed\"}')" >/dev/null 2>&1
expect_eq "eight refused events stored with accepted = false and an error" "8" \
    "$(q $PORT -c "SELECT count(*) FROM etl.events WHERE NOT accepted AND error IS NOT NULL")"
expect_eq "refused events' errors name the problem" "t" \
    "$(q $PORT -c "SELECT bool_and(error ~ '(unsupported event_version|missing required field|invalid|does not exist|JSON object|unknown event_type)') FROM etl.events WHERE NOT accepted")"
expect_eq "refused events queue nothing" "0" "$(q $PORT -c "SELECT count(*) FROM etl.jobs WHERE import_id = '$IMPORT3'")"

# An accepted DATA_IMPORT_COMPLETED queues the pipeline.
q $PORT -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$IMPORT3'" >/dev/null
wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$IMPORT3' AND state = 'done'" "3" 10
q $PORT -c "SELECT etl_emit_event('DATA_IMPORT_COMPLETED', '{\"event_version\": \"1.0\", \"import_id\": \"$IMPORT3\", \"status\": \"completed\"}')" >/dev/null
wait_for $PORT "SELECT count(*) FROM etl.runs WHERE import_id = '$IMPORT3' AND stage = 'leads'" "2" 10 \
    && ok "an accepted DATA_IMPORT_COMPLETED event runs the pipeline again" \
    || not_ok "an accepted DATA_IMPORT_COMPLETED event runs the pipeline again"

# etl_run_pending() racing the worker never runs a job twice.
q $PORT -c "SELECT etl_demo_import(0)" >/dev/null  # shops and mappings
IMPORTS=()
for i in $(seq 1 6); do IMPORTS+=("$(q $PORT -c "SELECT etl_demo_import(300, 0.$i)")"); done
LIST=$(printf "'%s'," "${IMPORTS[@]}")
LIST=${LIST%,}
for _ in 1 2 3; do q $PORT -c "SELECT etl_run_pending()" >/dev/null & done
wait
wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE state <> 'done'" "0" 30 \
    && ok "the worker and etl_run_pending() together drain the queue" || not_ok "the worker and etl_run_pending() together drain the queue"
expect_eq "each stage of each import ran exactly once" "0" \
    "$(q $PORT -c "SELECT count(*) FROM (SELECT import_id, stage FROM etl.runs WHERE import_id = ANY(ARRAY[$LIST]::uuid[]) GROUP BY 1, 2 HAVING count(*) <> 1) x")"
expect_eq "18 stage runs for six imports" "18" \
    "$(q $PORT -c "SELECT count(*) FROM etl.runs WHERE import_id = ANY(ARRAY[$LIST]::uuid[])")"

# SIGTERM (pg_terminate_backend, a fast shutdown) stops a stage promptly,
# between two batches: the stage rolls back, its attempt counts, and the
# launcher starts a new worker, which runs the stage again to the end.
PID=$(q $PORT -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'etl_ext worker'")
q $PORT -c "ALTER SYSTEM SET etl.batch_size = 2000" -c "SELECT pg_reload_conf()" >/dev/null
wait_for $PORT "SHOW etl.batch_size" "2000" 10 || not_ok "the server reloaded etl.batch_size"
BUSY_IMPORT=$(q $PORT -c "SELECT etl_demo_import(60000, 0.9)")
wait_for $PORT "SELECT count(*) > 0 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                 WHERE a.backend_type = 'etl_ext worker' AND l.relation = 'etl.pipeline_lock'::regclass AND l.granted" "t" 20 >/dev/null
sleep 0.3
T0=$(date +%s%N)
kill -TERM "$PID"
STOPPED=1
for _ in $(seq 1 100); do
    [ "$(q $PORT -c "SELECT count(*) FROM pg_stat_activity WHERE pid = $PID")" == "0" ] && { STOPPED=0; break; }
    sleep 0.05
done
echo "# SIGTERM -> worker gone: $(( ($(date +%s%N) - T0) / 1000000 )) ms (batches of 2,000 lines)"
[ $STOPPED -eq 0 ] && ok "SIGTERM in the middle of a stage stops the worker within 5 s" \
    || not_ok "SIGTERM in the middle of a stage stops the worker within 5 s"
grep -q "terminating background worker \"etl_ext worker" "$DIR/server.log" \
    && ok "the worker stopped as a backend does on SIGTERM" || not_ok "the worker stopped as a backend does on SIGTERM"
if wait_for $PORT "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$BUSY_IMPORT'" "done,done,done" 180; then
    ok "a new worker runs the interrupted import to the end"
else
    not_ok "a new worker runs the interrupted import to the end" "$(q $PORT -c "SELECT * FROM etl.jobs WHERE import_id = '$BUSY_IMPORT'")"
fi
expect_true "the new worker is another process" \
    "$(q $PORT -c "SELECT count(*) = 1 AND bool_and(pid <> $PID) FROM pg_stat_activity WHERE backend_type = 'etl_ext worker'")"
expect_eq "the interrupted attempt counted; the orders stage committed once" "2|1" \
    "$(q $PORT -c "SELECT j.attempts || '|' || (SELECT count(*) FROM etl.runs r WHERE r.import_id = j.import_id AND r.stage = 'orders')
                     FROM etl.jobs j WHERE j.import_id = '$BUSY_IMPORT' AND j.stage = 'orders'")"
finish
