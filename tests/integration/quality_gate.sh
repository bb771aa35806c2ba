#!/usr/bin/env bash
# The quality gate (issue 28, part 2; docs/semantics.md, section 11) with
# commits, the background worker, CALL etl_run_queue() and the roles:
# a wrongly mapped file (columns shifted: the customer empty, the amount
# holding the date) completed by a loader is held after its orders stage;
# nothing (an application's event, the loader, a reader, a role granted
# nothing, the hostile database owner) moves it on or turns the gate off;
# nothing of the held import's orders stage is kept (etl.orders, etl.rejects,
# the refresh queues), so no other import's stages see it; two operators
# releasing at once release it once, and the worker then runs its orders
# again, then customers and leads; a clean import of the same shop is not
# held.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_hostile.sh"
test_dir DIR gate
PORT=$(free_port)
cluster_start "$DIR" $PORT "shared_preload_libraries = 'etl_ext'" "etl.database = 'appdb'" \
    "etl.poll_interval = '60s'" "etl.max_reject_ratio = 0.2"
at_exit 'cluster_stop $DIR'
export PGOPTIONS="-c search_path=pg_catalog,pg_temp"

sq() { local db=$1; shift; q $PORT -d "$db" "$@"; }   # as the superuser
as_user() { local user=$1 db=$2; shift 2; q $PORT -U "$user" -d "$db" "$@"; }
# try USER DB SQL: "ok:<output>" or "refused:<SQLSTATE> <message>".
try() {
    local out
    if out=$(as_user "$1" "$2" -v VERBOSITY=verbose -v ON_ERROR_STOP=1 -c "$3" 2>&1); then
        echo "ok:$(tr '\n' ' ' <<<"$out")"
    else
        echo "refused:$(grep -m1 -E '^(psql:.*)?ERROR' <<<"$out" | sed -E 's/^(psql:[^E]*)?ERROR: +//' | cut -c1-200)"
    fi
}
expect_refused() { # description result-of-try sqlstate-or-text
    case "$2" in
        refused:*"$3"*) ok "$1 (${2:8:100})" ;;
        *) not_ok "$1" "expected refused ($3), got [$2]" ;;
    esac
}
jobs_of() { sq "$1" -c "SELECT string_agg(stage || ':' || state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$2'"; }
hold_of() { sq "$1" -c "SELECT coalesce(string_agg(hold_status, ','), '-') FROM (SELECT DISTINCT hold_status FROM etl.pipeline_status WHERE import_id = '$2') s"; }
new_uuid() { cat /proc/sys/kernel/random/uuid; }

# import_as USER DB KIND: a new import of shop S1 written and completed by
# USER; KIND clean (5 good lines) or shifted (9 of 10 lines mapped one
# column off, as a wrongly mapped export file). Prints its id.
import_as() {
    local user=$1 db=$2 kind=$3 id values
    id=$(new_uuid)
    if [ "$kind" = clean ]; then
        values="('$id', 1, 'K1-$id', 'S1', 'ann', 'paid', NULL, '10.00', '2026-01-01 10:00:00'),
                ('$id', 2, 'K2-$id', 'S1', 'bob', 'paid', NULL, '20.00', '2026-01-02 10:00:00'),
                ('$id', 3, 'K3-$id', 'S1', 'cy', 'paid', NULL, '30.00', '2026-01-03 10:00:00'),
                ('$id', 4, 'K4-$id', 'S1', 'ann', 'paid', NULL, '40.00', '2026-01-04 10:00:00'),
                ('$id', 5, 'K5-$id', 'S1', 'bob', 'paid', NULL, '50.00', '2026-01-05 10:00:00')"
    else
        values="('$id', 10, 'W10-$id', 'S1', 'dee', 'paid', NULL, '9.90', '2026-02-10 10:00:00')"
        for n in 1 2 3 4 5 6 7 8 9; do
            values+=", ('$id', $n, 'W$n-$id', 'S1', '', 'paid', NULL, '2026-02-0$n 10:00:00', '1$n.50')"
        done
    fi
    as_user "$user" "$db" -c "INSERT INTO etl.imports (import_id, source) VALUES ('$id', '$kind')" \
        -c "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at) VALUES $values" \
        -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$id'" >/dev/null || return 1
    echo "$id"
}

sq postgres -c "CREATE ROLE owner LOGIN" -c "CREATE ROLE la LOGIN" -c "CREATE ROLE lb LOGIN" \
    -c "CREATE ROLE ops LOGIN" -c "CREATE ROLE ops2 LOGIN" -c "CREATE ROLE rd LOGIN" -c "CREATE ROLE nobody LOGIN" \
    -c "CREATE DATABASE appdb OWNER owner" -c "CREATE DATABASE crondb OWNER owner" >/dev/null
for db in appdb crondb; do
    sq $db -c "CREATE EXTENSION etl_ext" -c "INSERT INTO etl.shops (shop_name) VALUES ('S1')" >/dev/null
done
sq postgres -c "GRANT etl_loader TO la, lb" -c "GRANT etl_operator TO ops, ops2" -c "GRANT etl_reader TO rd" >/dev/null
DB=appdb wait_for $PORT "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'etl_ext worker' AND datname = 'appdb'" 1 30 \
    || not_ok "the worker runs in appdb"

# The hostile database owner plants lookalikes in public (lib_hostile.sh's
# list, and ones for what the gate's statements use) and puts public first
# on the database's search_path: nothing of the gate may run them.
{ base_sql; plants_sql; cat <<'SQL'
CREATE FUNCTION public.pw_fdiv(a double precision, b double precision) RETURNS double precision
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN PERFORM public.pwn('operator /(double precision, double precision)'); RETURN a OPERATOR(pg_catalog./) b; END $$;
CREATE OPERATOR public./ (LEFTARG = double precision, RIGHTARG = double precision, FUNCTION = public.pw_fdiv);
CREATE FUNCTION public.pw_fdiv8(a double precision, b bigint) RETURNS double precision
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN PERFORM public.pwn('operator /(double precision, bigint)'); RETURN a OPERATOR(pg_catalog./) b; END $$;
CREATE OPERATOR public./ (LEFTARG = double precision, RIGHTARG = bigint, FUNCTION = public.pw_fdiv8);
CREATE FUNCTION public.pg_has_role(a oid, b text, c text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN PERFORM public.pwn('function pg_has_role(oid, text, text)'); RETURN true; END $$;
CREATE FUNCTION public.pg_get_userbyid(a oid) RETURNS name
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN PERFORM public.pwn('function pg_get_userbyid(oid)'); RETURN 'owner'; END $$;
SQL
} | as_user owner appdb -v ON_ERROR_STOP=0 >/dev/null 2>"$DIR/plants.err"
as_user owner appdb -c "ALTER DATABASE appdb SET search_path = public, pg_catalog" >/dev/null
expect_true "the owner planted its lookalikes in public" \
    "$(sq appdb -c "SELECT count(*) >= 40 FROM pg_operator WHERE oprnamespace = 'public'::regnamespace")"
hostile rd appdb -c "SELECT 1.5::double precision / 2::double precision" >/dev/null
expect_eq "control: a session with the owner's search_path runs the planted / (as rd)" \
    "operator /(double precision, double precision) as rd" \
    "$(sq appdb -c "SELECT string_agg(DISTINCT tag || ' as ' || who, '; ') FROM public.hits")"
sq appdb -c "DELETE FROM public.hits" >/dev/null

# The setting: on in postgresql.conf; nobody but a superuser changes it.
expect_eq "SHOW etl.max_reject_ratio: the server's 0.2" "0.2" "$(as_user la appdb -c "SHOW etl.max_reject_ratio")"
expect_eq "its built-in default is off" "off" \
    "$(sq appdb -c "SELECT boot_val FROM pg_settings WHERE name = 'etl.max_reject_ratio'")"
expect_refused "the database owner cannot turn the gate off for the database (ALTER DATABASE SET)" \
    "$(try owner appdb "ALTER DATABASE appdb SET etl.max_reject_ratio = off")" "42501"
expect_refused "the database owner cannot SET it in its session" \
    "$(try owner appdb "SET etl.max_reject_ratio = off")" "42501"
expect_refused "a loader cannot SET it off in its session to pass its own file" \
    "$(try la appdb "SET etl.max_reject_ratio = off")" "42501"
expect_refused "an operator cannot SET it either (it would differ from the worker's)" \
    "$(try ops appdb "SET etl.max_reject_ratio = 1")" "42501"
expect_refused "the owner cannot change it for its role" \
    "$(try owner appdb "ALTER ROLE owner SET etl.max_reject_ratio = off")" "42501"

# A clean import, then a wrongly mapped one of the same shop, both by la,
# run by the worker.
CLEAN=$(import_as la appdb clean)
DB=appdb wait_for $PORT "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$CLEAN'" "done,done,done" 30 \
    && ok "the worker runs a clean import through" || not_ok "the worker runs a clean import through" "$(jobs_of appdb "$CLEAN")"
BAD=$(import_as la appdb shifted)
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.events WHERE event_type = 'IMPORT_HELD' AND payload ->> 'import_id' = '$BAD'" "1" 30 \
    && ok "the worker's orders stage ends in IMPORT_HELD for the wrongly mapped file" \
    || not_ok "the worker's orders stage ends in IMPORT_HELD for the wrongly mapped file" "$(jobs_of appdb "$BAD")"
expect_eq "only its orders job ran: nothing queued after it" "orders:done" "$(jobs_of appdb "$BAD")"
expect_eq "the clean import is not held" "-" "$(hold_of appdb "$CLEAN")"
expect_eq "etl.pipeline_status: held" "held" "$(hold_of appdb "$BAD")"
expect_eq "the loader sees its import held, with the reason" \
    "held|9 of 10 lines rejected (90.0%), above etl.max_reject_ratio = 0.2; most of them missing_customer (9 lines)" \
    "$(as_user la appdb -c "SELECT DISTINCT hold_status || '|' || hold_reason FROM etl.pipeline_status WHERE import_id = '$BAD'")"
expect_eq "another loader does not see it" "0" \
    "$(as_user lb appdb -c "SELECT count(*) FROM etl.pipeline_status WHERE import_id = '$BAD'")"
expect_eq "the event's payload: the contract's fields, the share and the threshold" "held|1|9|0.9|0.2" \
    "$(sq appdb -c "SELECT payload ->> 'status' || '|' || (payload ->> 'success_count') || '|' || (payload ->> 'error_count')
                           || '|' || (payload ->> 'reject_ratio') || '|' || (payload ->> 'threshold')
                      FROM etl.events WHERE event_type = 'IMPORT_HELD' AND payload ->> 'import_id' = '$BAD'")"
expect_eq "nothing of the held import's orders stage was kept: no order, no reject, nothing queued for refresh" "0|0|0|0" \
    "$(sq appdb -c "SELECT (SELECT count(*) FROM etl.orders WHERE import_id = '$BAD') || '|'
                           || (SELECT count(*) FROM etl.rejects WHERE import_id = '$BAD') || '|'
                           || (SELECT count(*) FROM etl.pending_customer_refresh) || '|'
                           || (SELECT count(*) FROM etl.pending_lead_refresh)")"
expect_eq "its etl.runs row says so: held, kept false, with the stage's counts" "partial_success|held|false|9" \
    "$(sq appdb -c "SELECT status || '|' || (details -> 'quality_gate' ->> 'decision') || '|' || (details ->> 'kept') || '|' || rows_rejected
                      FROM etl.runs WHERE import_id = '$BAD' AND stage = 'orders'")"

# etl_quality, as each role.
expect_eq "etl_quality as the loader: S1's share 0.9, its earlier import's 0" "S1||10|9|0.9|1|5|0" \
    "$(as_user la appdb -c "SELECT shop_name || '|' || coalesce(reason, '') || '|' || lines || '|' || rejected || '|' || import_reject_ratio
                                  || '|' || previous_imports || '|' || previous_lines || '|' || previous_reject_ratio
                             FROM etl_quality('$BAD') WHERE reason IS NULL")"
expect_eq "etl_quality as a reader" "2" "$(as_user rd appdb -c "SELECT count(*) FROM etl_quality('$BAD')")"
expect_refused "another loader cannot read its quality" "$(try lb appdb "SELECT * FROM etl_quality('$BAD')")" "42501"
expect_refused "a role granted nothing cannot call etl_quality" "$(try nobody appdb "SELECT * FROM etl_quality('$BAD')")" "42501"
expect_refused "the database owner cannot call etl_quality" "$(try owner appdb "SELECT * FROM etl_quality('$BAD')")" "42501"
# Review: a loader that is a member of etl_reader without its rights (on
# 16 and later a grant WITH INHERIT FALSE, SET FALSE; on 15 through a
# NOINHERIT role) is no reader: grants and row-level security give it
# nothing of etl_reader. etl_quality and etl.pipeline_status once counted
# any member ('MEMBER') as a reader: it read every import's quality and
# status. They now ask for etl_reader's rights ('USAGE').
sq postgres -c "CREATE ROLE lx LOGIN" -c "GRANT etl_loader TO lx" >/dev/null
if [ "$(sq postgres -c "SHOW server_version_num")" -ge 160000 ]; then
    sq postgres -c "GRANT etl_reader TO lx WITH INHERIT FALSE, SET FALSE" >/dev/null
else
    sq postgres -c "CREATE ROLE lx_mid NOINHERIT" -c "GRANT etl_reader TO lx_mid" -c "GRANT lx_mid TO lx" >/dev/null
fi
expect_refused "a loader that is a member of etl_reader without its rights cannot read another's quality" \
    "$(try lx appdb "SELECT * FROM etl_quality('$BAD')")" "42501"
expect_eq "nor see another's imports in etl.pipeline_status" "0" \
    "$(as_user lx appdb -c "SELECT count(*) FROM etl.pipeline_status")"
# lb's own import compares with lb's earlier imports only (none): it learns
# nothing of la's. An import still held is no earlier import (nothing of it
# was loaded): a reader's comparison counts la's clean one only.
LB_CLEAN=$(import_as lb appdb clean)
DB=appdb wait_for $PORT "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$LB_CLEAN'" "done,done,done" 30 >/dev/null
expect_eq "a loader's comparison counts only its own earlier imports (none), a reader's every loaded one (la's clean one)" "0|1" \
    "$(as_user lb appdb -c "SELECT previous_imports FROM etl_quality('$LB_CLEAN') WHERE reason IS NULL")|$(as_user rd appdb -c "SELECT previous_imports FROM etl_quality('$LB_CLEAN') WHERE reason IS NULL")"

# Nothing but an operator's release moves it on.
expect_refused "the loader cannot release its own bad file" "$(try la appdb "SELECT etl_release('$BAD')")" "42501"
expect_refused "a reader cannot release it" "$(try rd appdb "SELECT etl_release('$BAD')")" "42501"
expect_refused "a role granted nothing cannot release it" "$(try nobody appdb "SELECT etl_release('$BAD')")" "42501"
expect_refused "the database owner cannot release it" "$(try owner appdb "SELECT etl_release('$BAD')")" "42501"
expect_refused "the loader cannot delete the hold" "$(try la appdb "DELETE FROM etl.import_holds")" "42501"
expect_refused "an operator cannot mark the hold released by hand" \
    "$(try ops appdb "UPDATE etl.import_holds SET released_at = now(), released_by = 'ops'")" "42501"
expect_refused "the database owner cannot delete the hold" "$(try owner appdb "DELETE FROM etl.import_holds")" "42501"
expect_refused "an operator's etl_customers refuses the held import (55000)" \
    "$(try ops appdb "SELECT * FROM etl_customers('$BAD')")" "55000"
as_user ops appdb -c "SELECT etl_emit_event('ORDERS_ETL_COMPLETED', '{\"event_version\": \"1.0\", \"import_id\": \"$BAD\", \"status\": \"success\"}')" >/dev/null 2>&1
as_user la appdb -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$BAD'" >/dev/null 2>&1
as_user ops appdb -c "SELECT etl_emit_event('IMPORT_RELEASED', '{\"event_version\": \"1.0\", \"import_id\": \"$BAD\", \"status\": \"released\"}')" >/dev/null 2>&1
expect_refused "etl_retry refuses it" "$(try ops appdb "SELECT etl_retry('$BAD')")" "55000"
sq appdb -c "CALL etl_run_queue()" >/dev/null
expect_eq "an application's ORDERS_ETL_COMPLETED and IMPORT_RELEASED, and completing it again, queue nothing" \
    "orders:done|held" "$(jobs_of appdb "$BAD")|$(hold_of appdb "$BAD")"

# Two operators release at once: one release, one orders job run again, one
# event.
( as_user ops appdb -c "BEGIN" -c "SELECT etl_release('$BAD')" -c "SELECT pg_sleep(1)" -c "COMMIT" >"$DIR/release1.out" 2>&1 ) &
R1=$!
DB=appdb wait_for $PORT "SELECT count(*) FROM pg_stat_activity WHERE usename = 'ops' AND query = 'SELECT pg_sleep(1)'" "1" 10 >/dev/null
SECOND=$(try ops2 appdb "SELECT etl_release('$BAD')")
wait $R1
expect_eq "the first operator's release succeeds" "0" "$(grep -c ERROR "$DIR/release1.out")"
expect_refused "the second, waiting for it, is told it was released already (by ops)" "$SECOND" "released by ops"
expect_eq "one IMPORT_RELEASED event, naming ops" "1|ops" \
    "$(sq appdb -c "SELECT count(*) || '|' || max(payload ->> 'released_by') FROM etl.events WHERE event_type = 'IMPORT_RELEASED' AND accepted")"
DB=appdb wait_for $PORT "SELECT string_agg(stage || ':' || state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$BAD'" \
    "orders:done,customers:done,leads:done" 30 \
    && ok "after the release the worker runs orders again, then customers and leads" \
    || not_ok "after the release the worker runs orders again, then customers and leads" "$(jobs_of appdb "$BAD")"
expect_eq "the orders run after the release was kept: the held run, then a kept one" "held:false,passed:" \
    "$(sq appdb -c "SELECT string_agg(coalesce(details -> 'quality_gate' ->> 'decision', 'passed') || ':' || coalesce(details ->> 'kept', ''), ',' ORDER BY run_id)
                      FROM etl.runs WHERE import_id = '$BAD' AND stage = 'orders'")"
expect_eq "the held file's one good line now has a lead" "1" \
    "$(sq appdb -c "SELECT count(*) FROM etl.orders WHERE import_id = '$BAD' AND lead_id IS NOT NULL")"
expect_eq "etl.pipeline_status: released, by ops" "released|ops" \
    "$(sq appdb -c "SELECT DISTINCT hold_status || '|' || hold_released_by FROM etl.pipeline_status WHERE import_id = '$BAD'")"
expect_refused "releasing it again is an error" "$(try ops appdb "SELECT etl_release('$BAD')")" "55000"
expect_refused "releasing a clean import is an error" "$(try ops appdb "SELECT etl_release('$CLEAN')")" "not held"
CLEAN2=$(import_as la appdb clean)
DB=appdb wait_for $PORT "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$CLEAN2'" "done,done,done" 30 \
    && ok "a later clean import of the same shop is not held" || not_ok "a later clean import of the same shop is not held"

# Review: a dry run of etl_customers keeps nothing, the pipeline's lock
# included. The gate's check before customers once took that lock outside
# the rehearsal, so an operator's dry run in an open transaction held it
# until COMMIT and the worker waited behind it (orders:running) all along.
( as_user ops appdb -c "BEGIN" -c "SELECT count(*) FROM etl_customers('$CLEAN2', dry_run => true)" \
      -c "SELECT pg_sleep(15)" -c "COMMIT" >"$DIR/dry_run.out" 2>&1 ) &
DRY=$!
DB=appdb wait_for $PORT "SELECT count(*) FROM pg_stat_activity WHERE usename = 'ops' AND query = 'SELECT pg_sleep(15)'" "1" 10 >/dev/null
CLEAN3=$(import_as la appdb clean)
DB=appdb wait_for $PORT "SELECT string_agg(state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$CLEAN3'" "done,done,done" 10 \
    && ok "an operator's dry run of etl_customers, its transaction still open, does not stall the worker" \
    || not_ok "an operator's dry run of etl_customers, its transaction still open, does not stall the worker" \
        "$(jobs_of appdb "$CLEAN3"); worker waiting on a lock: $(sq appdb -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'etl_ext worker' AND wait_event_type = 'Lock'")"
wait $DRY
expect_eq "that dry run itself succeeded" "0" "$(grep -c ERROR "$DIR/dry_run.out")"

# Without the worker (crondb is not etl.database): CALL etl_run_queue(), as
# pg_cron runs it, holds the file, and runs it on after the release.
BAD2=$(import_as la crondb shifted)
as_user ops crondb -c "CALL pg_catalog.etl_run_queue()" >/dev/null
expect_eq "CALL etl_run_queue(): orders ran, the import is held" "orders:done|held" "$(jobs_of crondb "$BAD2")|$(hold_of crondb "$BAD2")"
as_user ops crondb -c "SELECT etl_release('$BAD2')" >/dev/null
as_user ops crondb -c "CALL pg_catalog.etl_run_queue()" >/dev/null
expect_eq "released, the next CALL etl_run_queue() runs orders again, customers and leads" "orders:done,customers:done,leads:done|released" \
    "$(jobs_of crondb "$BAD2")|$(hold_of crondb "$BAD2")"
# A customers job queued before the hold (an operator's etl_retry of a dead
# job, say) is not run for a held import: it is dead, with the reason.
BAD3=$(import_as la crondb shifted)
sq crondb -c "INSERT INTO etl.jobs (import_id, stage, next_run_at) VALUES ('$BAD3', 'customers', now() + interval '1 hour')" >/dev/null
as_user ops crondb -c "CALL pg_catalog.etl_run_queue()" >/dev/null
sq crondb -c "UPDATE etl.jobs SET next_run_at = now() WHERE import_id = '$BAD3' AND stage = 'customers'" >/dev/null
as_user ops crondb -c "SELECT etl_run_pending()" >/dev/null
expect_eq "a customers job of a held import is not run: dead, saying why" \
    "orders:done,customers:dead|held|0" \
    "$(jobs_of crondb "$BAD3")|$(hold_of crondb "$BAD3")|$(sq crondb -c "SELECT count(*) FROM etl.runs WHERE import_id = '$BAD3' AND stage <> 'orders'")"
expect_eq "its last error names etl_release" "1" \
    "$(sq crondb -c "SELECT count(*) FROM etl.jobs WHERE import_id = '$BAD3' AND last_error LIKE '%held by the quality gate%etl_release%'")"
as_user ops crondb -c "SELECT etl_release('$BAD3')" >/dev/null
as_user ops crondb -c "CALL pg_catalog.etl_run_queue()" >/dev/null
expect_eq "the release queues that job again, and it runs" "orders:done,customers:done,leads:done" "$(jobs_of crondb "$BAD3")"

# Review: a release that comes while a runner is burying such a job (its
# transaction still open, the job 'running') once queued nothing (enqueue
# leaves a running job alone) and the job then ended dead: released, never
# run. The release now waits for the runner (the pipeline's lock), and the
# job it finds dead it queues again.
BAD4=$(import_as la crondb shifted)
as_user ops crondb -c "CALL pg_catalog.etl_run_queue()" >/dev/null
sq crondb -c "INSERT INTO etl.jobs (import_id, stage) VALUES ('$BAD4', 'customers')" >/dev/null
J4=$(as_user ops crondb -c "SELECT etl.claim_job()")
( as_user ops crondb -c "BEGIN" -c "SELECT etl.run_job($J4)" -c "SELECT pg_sleep(2)" -c "COMMIT" >"$DIR/bury.out" 2>&1 ) &
BURY=$!
DB=crondb wait_for $PORT "SELECT count(*) FROM pg_stat_activity WHERE usename = 'ops' AND query = 'SELECT pg_sleep(2)'" "1" 10 >/dev/null
as_user ops crondb -c "SELECT etl_release('$BAD4')" >/dev/null
wait $BURY
expect_eq "the runner that buried it finished (dead, as held when it looked)" "0|dead" \
    "$(grep -c ERROR "$DIR/bury.out")|$(sed -n 1p "$DIR/bury.out")"
as_user ops crondb -c "CALL pg_catalog.etl_run_queue()" >/dev/null
expect_eq "a release while a runner buries its customers job: the job is queued again and runs" \
    "orders:done,customers:done,leads:done|released" "$(jobs_of crondb "$BAD4")|$(hold_of crondb "$BAD4")"

# Review: a held import's orders stage once kept its writes: its rewrites of
# existing orders stayed in etl.orders and the customers and leads it moved
# were queued for refresh, so the next customers and leads stages of ANY
# import recomputed them from the held orders. The reviewer's reproduction:
# la's clean import A gives ann_r orders RK1 (2026-01-01, 10.00) and RK2
# (2026-01-04, 20.00); la's import B rewrites RK1 to 2020-01-01 and
# 99999.00, its 9 other lines bad, and is held; lb's one-line clean import
# C of another customer runs its three stages. Before the fix, while B was
# held, ann_r's first order was 2020-01-01 and her lead's total 100019.00.
REPRO_A=$(new_uuid); REPRO_B=$(new_uuid); REPRO_C=$(new_uuid)
repro_import() { # USER ID VALUES
    as_user "$1" crondb -c "INSERT INTO etl.imports (import_id, source) VALUES ('$2', 'review')" \
        -c "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at) VALUES $3" \
        -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$2'" >/dev/null
}
# ann_r's customer and lead: first order (UTC), total, orders.
ann_r() {
    sq crondb -c "SELECT string_agg(to_char(c.first_order_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') || '|' || l.total_amount
                                    || '|' || l.order_count, ';' ORDER BY l.lead_no)
                    FROM etl.customers c JOIN etl.business_leads l ON l.customer_global_id = c.customer_global_id
                   WHERE c.customer_nickname = 'ann_r'"
}
rk1() { sq crondb -c "SELECT to_char(o.ordered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') || '|' || o.amount || '|' || (o.import_id = '$REPRO_A')
                        FROM etl.orders o WHERE o.order_id = 'RK1'"; }
repro_import la "$REPRO_A" "('$REPRO_A', 1, 'RK1', 'S1', 'ann_r', 'paid', NULL, '10.00', '2026-01-01 10:00:00'),
                            ('$REPRO_A', 2, 'RK2', 'S1', 'ann_r', 'paid', NULL, '20.00', '2026-01-04 10:00:00')"
as_user ops crondb -c "CALL pg_catalog.etl_run_queue()" >/dev/null
ANN_BEFORE=$(ann_r); RK1_BEFORE=$(rk1)
expect_eq "control: A loaded ann_r's two orders (first order 2026-01-01, total 30.00)" "2026-01-01|30.00|2" "$ANN_BEFORE"
values="('$REPRO_B', 1, 'RK1', 'S1', 'ann_r', 'paid', NULL, '99999.00', '2020-01-01 10:00:00')"
for n in 2 3 4 5 6 7 8 9; do
    values+=", ('$REPRO_B', $n, 'RB$n', 'S1', '', 'paid', NULL, '2026-02-0$n 10:00:00', '1$n.50')"
done
values+=", ('$REPRO_B', 10, 'RB10', 'S1', '', 'paid', NULL, '2026-02-10 10:00:00', '20.50')"
repro_import la "$REPRO_B" "$values"
as_user ops crondb -c "CALL pg_catalog.etl_run_queue()" >/dev/null
expect_eq "B (9 of 10 lines bad) is held" "held" "$(hold_of crondb "$REPRO_B")"
expect_eq "while B is held, RK1 is as A wrote it, and nothing of B is in etl.orders, etl.rejects or the refresh queues" \
    "$RK1_BEFORE|0|0|0|0" \
    "$(rk1)|$(sq crondb -c "SELECT (SELECT count(*) FROM etl.orders WHERE import_id = '$REPRO_B') || '|'
                                || (SELECT count(*) FROM etl.rejects WHERE import_id = '$REPRO_B') || '|'
                                || (SELECT count(*) FROM etl.pending_customer_refresh) || '|'
                                || (SELECT count(*) FROM etl.pending_lead_refresh)")"
expect_eq "etl_quality of the held B reports the hold's counts (9 of 10 rejected, missing_customer)" \
    "S1||10|9;S1|missing_customer|10|9" \
    "$(as_user la crondb -c "SELECT string_agg(shop_name || '|' || coalesce(reason, '') || '|' || lines || '|' || rejected, ';' ORDER BY reason NULLS FIRST)
                               FROM etl_quality('$REPRO_B')")"
repro_import lb "$REPRO_C" "('$REPRO_C', 1, 'RC1', 'S1', 'cal_r', 'paid', NULL, '5.00', '2026-03-01 10:00:00')"
as_user ops crondb -c "CALL pg_catalog.etl_run_queue()" >/dev/null
expect_eq "control: lb's clean import C ran its three stages meanwhile" "orders:done,customers:done,leads:done" "$(jobs_of crondb "$REPRO_C")"
expect_eq "while B is held, C's customers and leads stages leave ann_r's customer and lead as A left them" \
    "$ANN_BEFORE" "$(ann_r)"
expect_eq "... and RK1 as A wrote it" "$RK1_BEFORE" "$(rk1)"
# Nobody gets the held file loaded before the release.
expect_refused "an operator's etl_orders of the held B is refused (its release runs it)" \
    "$(try ops crondb "SELECT * FROM etl_orders('$REPRO_B')")" "55000"
expect_refused "so is etl_run_all" "$(try ops crondb "SELECT * FROM etl_run_all('$REPRO_B')")" "55000"
expect_refused "the loader cannot add a line to its held (completed) import" \
    "$(try la crondb "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, amount, ordered_at) VALUES ('$REPRO_B', 11, 'RB11', 'S1', 'ann_r', 'paid', '1.00', '2026-02-11 10:00:00')")" \
    "42501"
expect_refused "the loader cannot read the holds' counts directly" \
    "$(try la crondb "SELECT rejects_by_shop FROM etl.import_holds")" "42501"
expect_refused "nor can the database owner" "$(try owner crondb "SELECT rejects_by_shop FROM etl.import_holds")" "42501"
as_user ops crondb -c "SELECT etl_emit_event('DATA_IMPORT_COMPLETED', '{\"event_version\": \"1.0\", \"import_id\": \"$REPRO_B\", \"status\": \"completed\"}')" >/dev/null 2>&1
as_user ops crondb -c "CALL pg_catalog.etl_run_queue()" >/dev/null
expect_eq "a DATA_IMPORT_COMPLETED for the held B queues its orders job, which is not run: dead, naming etl_release; RK1 as A wrote it" \
    "orders:dead|1|$RK1_BEFORE|$ANN_BEFORE" \
    "$(jobs_of crondb "$REPRO_B")|$(sq crondb -c "SELECT count(*) FROM etl.jobs WHERE import_id = '$REPRO_B' AND last_error LIKE '%held by the quality gate%etl_release%'")|$(rk1)|$(ann_r)"
as_user ops crondb -c "SELECT etl_release('$REPRO_B')" >/dev/null
as_user ops crondb -c "CALL pg_catalog.etl_run_queue()" >/dev/null
expect_eq "after B's release its orders load: RK1 rewritten by B" "2020-01-01|99999.00|false" "$(rk1)"
expect_eq "... and ann_r's customer and lead change with them" "2020-01-01|100019.00|2" "$(ann_r)"
expect_eq "B's jobs ran through after the release" "orders:done,customers:done,leads:done" "$(jobs_of crondb "$REPRO_B")"
expect_eq "once loaded, etl_quality of B reads its rejects in etl.rejects (the same counts)" \
    "S1||10|9;S1|missing_customer|10|9|9" \
    "$(as_user la crondb -c "SELECT string_agg(shop_name || '|' || coalesce(reason, '') || '|' || lines || '|' || rejected, ';' ORDER BY reason NULLS FIRST)
                               FROM etl_quality('$REPRO_B')")|$(sq crondb -c "SELECT count(*) FROM etl.rejects WHERE import_id = '$REPRO_B'")"

# Review (gate, second pass): what a held import's rolled back orders run
# left behind was taken for a load. Its etl.runs row is partial_success
# (kept = false) and its orders job done with that run, so (1) etl_explain
# called its valid line "superseded" ("its import's winning line of the
# order failed to load"); (2) etl_purge, with etl.retain_jobs set, removed
# its jobs (recording outcome 'done'), and the held import vanished from
# etl.pipeline_status; (3) once released, before the release's orders run,
# etl_redrive ran (orders over no rejected line, then customers and leads
# on nothing), and its orders run made etl_quality read the import's lines
# as loaded: 0 rejected instead of 9. In crondb (no worker there).
HELD=$(import_as la crondb shifted)
sq crondb -c "CALL pg_catalog.etl_run_queue()" >/dev/null
expect_eq "review: the import is held" "held" "$(hold_of crondb "$HELD")"
expect_eq "review: etl_explain says the held import's valid line was not loaded, held by the gate" \
    "not yet run|true" \
    "$(as_user ops crondb -c "SELECT fate || '|' || (detail LIKE 'the quality gate holds this import%etl_release%') FROM etl_explain('S1', 'W10-$HELD')")"
sq postgres -c "ALTER SYSTEM SET etl.retain_jobs = 0" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
as_user ops crondb -c "SELECT * FROM etl_purge('0 seconds')" >/dev/null
sq postgres -c "ALTER SYSTEM RESET etl.retain_jobs" -c "SELECT pg_reload_conf()" >/dev/null
expect_eq "review: etl_purge keeps the held import's jobs (it still shows as held, no outcome recorded)" \
    "held|orders:done|0" \
    "$(hold_of crondb "$HELD")|$(jobs_of crondb "$HELD")|$(sq crondb -c "SELECT count(*) FROM etl.purged_imports WHERE import_id = '$HELD'")"
expect_refused "review: released but not loaded again, etl_redrive is refused (its orders stage never ran for real)" \
    "$(try ops crondb "BEGIN; SELECT etl_release('$HELD'); SELECT * FROM etl_redrive('$HELD'); COMMIT")" "no successful run"
expect_eq "review: released, not loaded yet: etl_quality still reports the held run's counts" "10|9" \
    "$(as_user ops crondb -c "BEGIN" -c "SELECT etl_release('$HELD')" -c "SELECT lines || '|' || rejected FROM etl_quality('$HELD') WHERE reason IS NULL" -c "ROLLBACK" | tail -1)"
as_user ops crondb -c "SELECT etl_release('$HELD')" >/dev/null
sq crondb -c "CALL pg_catalog.etl_run_queue()" >/dev/null
expect_eq "review: after the release it loads, and etl_explain says so" \
    "orders:done,customers:done,leads:done|loaded" \
    "$(jobs_of crondb "$HELD")|$(as_user ops crondb -c "SELECT fate FROM etl_explain('S1', 'W10-$HELD')")"

# Calls in sessions with the owner's search_path (public first), qualified
# as docs/security.md says: the gate's code runs none of the planted objects.
I_HOSTILE=$(import_as la appdb shifted)
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.import_holds WHERE import_id = '$I_HOSTILE'" "1" 30 >/dev/null
hostile la appdb -c "SELECT count(*) FROM pg_catalog.etl_quality('$I_HOSTILE')" >/dev/null
hostile ops appdb -c "SELECT pg_catalog.etl_release('$I_HOSTILE')" >/dev/null
DB=appdb wait_for $PORT "SELECT string_agg(stage || ':' || state, ',' ORDER BY job_id) FROM etl.jobs WHERE import_id = '$I_HOSTILE'" \
    "orders:done,customers:done,leads:done" 30 \
    && ok "with the owner's search_path and plants: held, released by ops, run on" \
    || not_ok "with the owner's search_path and plants: held, released by ops, run on" "$(jobs_of appdb "$I_HOSTILE")"
expect_eq "released by ops (not the owner a planted pg_get_userbyid names)" "ops" \
    "$(sq appdb -c "SELECT released_by FROM etl.import_holds WHERE import_id = '$I_HOSTILE'")"
expect_eq "nothing the owner planted ran, in the worker or in the gate's calls" "" \
    "$(sq appdb -c "SELECT string_agg(DISTINCT tag || ' as ' || who, '; ') FROM public.hits")"
expect_eq "the owner is still not a superuser" "f" "$(sq appdb -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'owner'")"

# The catalog guard stays empty with the new objects.
for db in appdb crondb; do
    expect_eq "catalog guard in $db: nothing of the extension outside pg_catalog and etl" "" \
        "$(sq $db -f "$ROOT/tests/catalog_guard.sql" -c "SELECT string_agg(problem, '; ') FROM etl_outside_dependencies" | tail -1)"
done
finish
