#!/usr/bin/env bash
# etl.progress (issue 10): while a stage runs in one session, another
# session sees it move batch by batch (before anything commits): pid,
# import, stage, batches and lines done and in all, rate and time left; the
# worker's stages show too; a cancelled stage leaves no row. With
# etl.progress_notices = on the caller gets a NOTICE per batch.
. "$(dirname "$0")/lib.sh"
test_dir DIR progress
PORT=$(free_port)
# The worker watches another database until part 3, so only the sessions
# of this test run the stages.
cluster_start "$DIR" "$PORT" "shared_preload_libraries = 'etl_ext'" "etl.database = 'nosuchdb'" "etl.poll_interval = '1s'"
at_exit 'cluster_stop $DIR'
q "$PORT" -c "CREATE EXTENSION etl_ext" >/dev/null
expect_eq "nothing runs: etl.progress is empty" "0" "$(q "$PORT" -c "SELECT count(*) FROM etl.progress")"

# --- 1. A direct etl_run_all, watched from another session ------------------
BIG=$(q "$PORT" -c "SELECT etl_demo_import(200000, 0.3)")
q "$PORT" -c "SET etl.batch_size = 5000" -c "SELECT count(*) FROM etl_run_all('$BIG')" >"$DIR/run.out" 2>&1 &
RUNNER=$!
SAMPLES=$DIR/samples.txt
: >"$SAMPLES"
# Sample the view until the run ends (each sample: one line per stage).
while kill -0 "$RUNNER" 2>/dev/null; do
    q "$PORT" -c "SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s', p.stage, p.batches_done, p.batches_total, p.lines_done,
                                 p.lines_total, p.lines_per_second > 0, p.eta IS NOT NULL, p.import_id,
                                 p.pid = (SELECT a.pid FROM pg_stat_activity a WHERE a.query LIKE '%etl_run_all%'
                                            AND a.pid <> pg_backend_pid() LIMIT 1))
                    FROM etl.progress p" >>"$SAMPLES" 2>/dev/null
    sleep 0.1
done
wait "$RUNNER"
echo "# $(wc -l <"$SAMPLES") samples; orders stage, first and last: $(grep '^orders' "$SAMPLES" | head -1) .. $(grep '^orders' "$SAMPLES" | tail -1)"
ORDER_BATCHES=$(grep '^orders|' "$SAMPLES" | cut -d'|' -f2 | sort -un | wc -l)
expect_true "the orders stage was seen at several batch counts while its transaction was open ($ORDER_BATCHES)" \
    "$([ "$ORDER_BATCHES" -ge 3 ] && echo t)"
expect_eq "the orders stage's totals: 200,000 lines in 40 batches of 5,000" "40|200000" \
    "$(grep '^orders|' "$SAMPLES" | tail -1 | cut -d'|' -f3,5)"
expect_eq "every orders sample names the import and the running session, with a rate and a time left" "" \
    "$(grep '^orders|' "$SAMPLES" | grep -v "|t|t|$BIG|t$" | grep -v '^orders|0|' | head -3)"
expect_true "lines done never go back" \
    "$(grep '^orders|' "$SAMPLES" | cut -d'|' -f4 | sort -c -n 2>/dev/null && echo t)"
expect_true "the customers and leads stages were seen too (their totals unknown)" \
    "$(grep -q '^customers|[0-9]*||[0-9]*||' "$SAMPLES" && grep -q '^leads|[0-9]*||[0-9]*||' "$SAMPLES" && echo t)"
expect_eq "the run finished" "3" "$(tail -1 "$DIR/run.out")"
expect_eq "once it finished, etl.progress is empty" "0" "$(q "$PORT" -c "SELECT count(*) FROM etl.progress")"

# --- 2. A cancelled stage leaves no row --------------------------------------
CUT=$(q "$PORT" -c "SELECT etl_demo_import(200000, 0.4)")
q "$PORT" -c "SET etl.batch_size = 5000" -c "SELECT count(*) FROM etl_orders('$CUT')" >"$DIR/cut.out" 2>&1 &
CUTTER=$!
if wait_for "$PORT" "SELECT count(*) > 0 FROM etl.progress WHERE import_id = '$CUT' AND batches_done > 0" "t" 60; then
    q "$PORT" -c "SELECT pg_cancel_backend(pid) FROM etl.progress WHERE import_id = '$CUT'" >/dev/null
fi
wait "$CUTTER"
expect_true "the stage was cancelled" "$(grep -q 'canceling statement' "$DIR/cut.out" && echo t)"
expect_eq "a cancelled stage leaves no row in etl.progress" "0" "$(q "$PORT" -c "SELECT count(*) FROM etl.progress")"

# --- 3. The worker's stages show as well -------------------------------------
q "$PORT" -c "ALTER SYSTEM SET etl.database = 'postgres'" -c "ALTER SYSTEM SET etl.batch_size = 5000" \
    -c "SELECT pg_reload_conf()" >/dev/null
if wait_for "$PORT" "SELECT count(*) > 0 FROM etl.progress p JOIN pg_stat_activity a USING (pid)
                       WHERE a.backend_type = 'etl_ext worker' AND p.batches_done > 0" "t" 120; then
    ok "a stage the worker runs shows in etl.progress, with its pid"
else
    not_ok "a stage the worker runs shows in etl.progress, with its pid"
fi
wait_for "$PORT" "SELECT count(*) FROM etl.jobs WHERE state NOT IN ('done', 'dead')" "0" 240 >/dev/null
expect_eq "the worker finished the queue, and etl.progress is empty again" "0" \
    "$(q "$PORT" -c "SELECT count(*) FROM etl.progress")"

# --- 4. A NOTICE per batch ----------------------------------------------------
SMALL=$(q "$PORT" -c "SELECT etl_demo_import(250, 0.5)")
q "$PORT" -c "ALTER SYSTEM SET etl.database = 'nosuchdb'" -c "SELECT pg_reload_conf()" >/dev/null
OUT=$(q "$PORT" -c "SET etl.progress_notices = on" -c "SET etl.batch_size = 100" \
        -c "SELECT count(*) FROM etl_orders('$SMALL')" 2>&1)
expect_eq "etl.progress_notices: one NOTICE per batch of the orders stage" "3" \
    "$(echo "$OUT" | grep -c "NOTICE:  etl_ext: orders stage of import $SMALL: batch")"
expect_true "the last NOTICE says batch 3/3 and 250/250 lines" \
    "$(echo "$OUT" | grep -q "batch 3/3, 250/250 lines" && echo t)"
finish
