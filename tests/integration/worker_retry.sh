#!/usr/bin/env bash
# A failing stage is retried with growing delays, then dead; once the cause
# is removed, etl_retry(import_id) finishes the pipeline.
. "$(dirname "$0")/lib.sh"
test_dir DIR retry
PORT=$(free_port)
cluster_start "$DIR" $PORT "shared_preload_libraries = 'etl_ext'" "etl.database = 'postgres'" \
    "etl.poll_interval = '10s'" "etl.max_attempts = 4" "etl.retry_base_delay = '300ms'"
at_exit 'cluster_stop $DIR'

q $PORT -c "CREATE EXTENSION etl_ext" >/dev/null
expect_eq "SHOW etl.max_attempts" "4" "$(q $PORT -c "SHOW etl.max_attempts")"
# A user's trigger that refuses every customer: the customers stage fails whole.
q $PORT -c "CREATE FUNCTION public.no_customers() RETURNS trigger LANGUAGE plpgsql AS
             \$\$BEGIN RAISE EXCEPTION 'customers are frozen for the audit'; END\$\$" \
        -c "CREATE TRIGGER freeze_customers BEFORE INSERT ON etl.customers FOR EACH ROW EXECUTE FUNCTION public.no_customers()" >/dev/null
IMPORT=$(q $PORT -c "SELECT etl_demo_import(200)")
if wait_for $PORT "SELECT state FROM etl.jobs WHERE import_id = '$IMPORT' AND stage = 'customers'" "dead" 30; then
    ok "the failing stage ends dead"
else
    not_ok "the failing stage ends dead" "$(q $PORT -c "SELECT * FROM etl.jobs")"
fi
expect_eq "it was tried etl.max_attempts times" "4|4" \
    "$(q $PORT -c "SELECT j.attempts || '|' || (SELECT count(*) FROM etl.runs r WHERE r.import_id = j.import_id AND r.stage = 'customers' AND r.status = 'failed') FROM etl.jobs j WHERE import_id = '$IMPORT' AND stage = 'customers'")"
expect_true "the dead job keeps the last error" \
    "$(q $PORT -c "SELECT last_error LIKE '%customers are frozen for the audit%' FROM etl.jobs WHERE import_id = '$IMPORT' AND stage = 'customers'")"
GAPS=$(q $PORT -c "SELECT string_agg(round(extract(epoch FROM gap) * 1000)::text, ',' ORDER BY run_id)
                     FROM (SELECT run_id, started_at - lag(finished_at) OVER (ORDER BY run_id) AS gap
                             FROM etl.runs WHERE import_id = '$IMPORT' AND stage = 'customers') g WHERE gap IS NOT NULL")
echo "# delays between attempts (ms): $GAPS (base 300 ms, doubling)"
expect_true "the delays grow (about 300, 600, 1200 ms)" \
    "$(q $PORT -c "SELECT d[1] >= 250 AND d[2] >= 1.6 * d[1] AND d[3] >= 1.6 * d[2] FROM (SELECT string_to_array('$GAPS', ',')::int[] AS d) x")"
expect_eq "a failed stage stops the chain: no leads job" "0" \
    "$(q $PORT -c "SELECT count(*) FROM etl.jobs WHERE import_id = '$IMPORT' AND stage = 'leads'")"
expect_eq "the view shows the dead stage" "dead" \
    "$(q $PORT -c "SELECT state FROM etl.pipeline_status WHERE import_id = '$IMPORT' AND stage = 'customers'")"

q $PORT -c "SELECT etl_retry(NULL)" >/dev/null 2>&1 && not_ok "etl_retry(NULL) is an error" || ok "etl_retry(NULL) is an error"
q $PORT -c "DROP TRIGGER freeze_customers ON etl.customers" >/dev/null
expect_eq "etl_retry requeues the dead stage" "{customers}" "$(q $PORT -c "SELECT etl_retry('$IMPORT')")"
if wait_for $PORT "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$IMPORT'" "done,done,done" 20; then
    ok "after etl_retry the pipeline finishes"
else
    not_ok "after etl_retry the pipeline finishes" "$(q $PORT -c "SELECT * FROM etl.jobs")"
fi
expect_true "every order of the import has a customer and a lead" \
    "$(q $PORT -c "SELECT count(*) > 0 AND bool_and(customer_global_id IS NOT NULL AND lead_id IS NOT NULL) FROM etl.orders WHERE import_id = '$IMPORT'")"
q $PORT -c "SELECT etl_retry('$IMPORT')" >/dev/null 2>"$DIR/err.txt" && not_ok "etl_retry with nothing to retry is an error" \
    || { grep -q "nothing to retry" "$DIR/err.txt" && ok "etl_retry with nothing to retry is an error" || not_ok "etl_retry with nothing to retry is an error" "$(cat "$DIR/err.txt")"; }
finish
