#!/usr/bin/env bash
# Safe in a shared database (issue 7, contract section 8), tried as the
# hostile user: the owner of the database, without superuser rights, plants
# operators, functions, aggregates, domains (and tries casts) in schema
# public, each of which makes the owner a superuser if it ever runs as one,
# and sets the database's search_path to put public first; an administrator
# attaches a trigger on etl.orders that tries the same. Imports are then run
# through the worker, CALL etl_run_queue(), etl_run_pending() and a direct
# etl_run_all(), by login roles granted etl_loader / etl_operator /
# etl_reader; then a dry run, a redrive and a lineage (etl_explain) by an
# operator. After each: the owner is not a superuser, the trigger ran as
# etl_runner (not a superuser), nothing planted ran at all, and the pipeline
# finished. Before the extension is installed, the owner's fake schema etl
# must not be run by the worker either.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_hostile.sh"
test_dir DIR security_main
PORT=$(free_port)
cluster_start "$DIR" $PORT "shared_preload_libraries = 'etl_ext'" "etl.database = 'appdb'" "etl.poll_interval = '1s'"
at_exit 'cluster_stop $DIR'

# Every session of this script pins its own search_path, so that only the
# extension (and its worker) can meet what the owner plants. A session that
# is to use the database's search_path says so (hostile).
export PGOPTIONS='-c search_path=pg_catalog,pg_temp'
sq() { # DB psql-args...: as the superuser
    local db=$1
    shift
    q $PORT -d "$db" "$@"
}
restart_server() {
    sudo -u postgres "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -m fast -w restart >/dev/null
}
new_uuid() { cat /proc/sys/kernel/random/uuid; }
# fake_etl_sql: before the extension is installed, the owner makes a schema
# etl of its own, with a due job and the functions a worker might call.
fake_etl_sql() {
    cat <<'SQL'
CREATE SCHEMA etl;
CREATE TABLE etl.jobs_data (
    job_id bigint, import_id uuid, stage text, state text, attempts integer, next_run_at timestamptz,
    last_error text, last_run_id bigint, created_at timestamptz, updated_at timestamptz, finished_at timestamptz,
    lease_until timestamptz, claimed_by integer, worker_pid integer
);
INSERT INTO etl.jobs_data (job_id, import_id, stage, state, attempts, next_run_at, created_at, updated_at)
VALUES (1, '00000000-0000-7000-8000-000000000001', 'orders', 'queued', 0, now() - interval '1 hour', now(), now());
CREATE VIEW etl.jobs AS SELECT * FROM etl.jobs_data WHERE public.pwn('fake etl.jobs');
CREATE TABLE etl.imports (import_id uuid PRIMARY KEY, source text, status text, created_at timestamptz, completed_at timestamptz);
CREATE FUNCTION etl.claim_job() RETURNS bigint LANGUAGE plpgsql AS
$$BEGIN PERFORM public.pwn('fake etl.claim_job()'); RETURN NULL; END$$;
CREATE FUNCTION etl.run_job(bigint) RETURNS text LANGUAGE plpgsql AS
$$BEGIN PERFORM public.pwn('fake etl.run_job(bigint)'); RETURN NULL; END$$;
CREATE FUNCTION etl.import_completed(uuid) RETURNS bigint LANGUAGE plpgsql AS
$$BEGIN PERFORM public.pwn('fake etl.import_completed(uuid)'); RETURN NULL; END$$;
-- Open to everyone, the worker's runner role included.
GRANT USAGE ON SCHEMA etl TO PUBLIC;
GRANT ALL ON ALL TABLES IN SCHEMA etl TO PUBLIC;
CREATE FUNCTION public.etl_run_pending() RETURNS bigint LANGUAGE plpgsql AS
$$BEGIN PERFORM public.pwn('fake public.etl_run_pending()'); RETURN 0; END$$;
CREATE PROCEDURE public.etl_run_queue(max_jobs integer DEFAULT NULL) LANGUAGE plpgsql AS
$$BEGIN PERFORM public.pwn('fake public.etl_run_queue(integer)'); END$$;
SQL
}
drop_fake_etl_sql() {
    cat <<'SQL'
SET client_min_messages = warning;
DROP SCHEMA etl CASCADE;
DROP FUNCTION public.etl_run_pending();
DROP PROCEDURE public.etl_run_queue(integer);
SQL
}

# audit_trigger_sql: what an administrator attaches to etl.orders (in a
# schema of the superuser's, so the owner cannot replace it): it records who
# it runs as and tries to make the owner a superuser.
audit_trigger_sql() {
    cat <<'SQL'
CREATE SCHEMA audit;
CREATE FUNCTION audit.orders_seen() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER AS $$
BEGIN
    INSERT INTO public.hits (tag, who, su, detail)
    VALUES ('trigger', current_user, (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), TG_OP);
    BEGIN
        ALTER ROLE owner SUPERUSER;
        INSERT INTO public.hits (tag, who, detail) VALUES ('trigger-alter', current_user, 'succeeded');
        IF current_setting('sec.loud', true) = 'on' THEN RAISE WARNING 'trigger made the owner a superuser'; END IF;
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO public.hits (tag, who, detail) VALUES ('trigger-alter', current_user, SQLSTATE);
        IF current_setting('sec.loud', true) = 'on' THEN
            RAISE WARNING 'trigger ran as % (superuser: %), ALTER ROLE refused: %', current_user,
                (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), SQLSTATE;
        END IF;
    END;
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_seen AFTER INSERT OR UPDATE ON etl.orders FOR EACH ROW EXECUTE FUNCTION audit.orders_seen();
SQL
}

# load_import DB IMPORT TAG: the loader writes an import of three lines (two
# good, one of an unknown shop) and completes it, in two transactions.
load_import() {
    local db=$1 import=$2 tag=$3
    as_user app_loader "$db" \
        -c "INSERT INTO etl.imports (import_id, source) VALUES ('$import', 'security-$tag')" \
        -c "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
            VALUES ('$import', 1, '$tag-1', 'SecShop', 'Ann', 'paid', 'smp', '10.50', '2026-01-02 03:04:05'),
                   ('$import', 2, '$tag-2', 'SecShop', 'Bob $tag', 'paid', NULL, '¥1,234.565', '2026-01-03'),
                   ('$import', 3, '$tag-3', 'No Such Shop', 'Cid', 'paid', NULL, '1', '2026-01-03')" >/dev/null &&
        as_user app_loader "$db" -c "UPDATE etl.imports SET status = 'completed', completed_at = now() WHERE import_id = '$import'" >/dev/null
}

jobs_of() { # DB IMPORT: its jobs as stage:state, in stage order
    sq "$1" -c "SELECT string_agg(stage || ':' || state, ',' ORDER BY array_position(ARRAY['orders', 'customers', 'leads'], stage))
                  FROM etl.jobs WHERE import_id = '$2'"
}

# check_phase NAME DB IMPORT: nobody gained a right, the trigger ran as
# etl_runner, nothing planted ran, the orders landed; then forgets the hits.
check_phase() {
    local name=$1 db=$2 import=$3 orders=${4:-2}
    expect_eq "$name: owner is still not a superuser" "f" \
        "$(sq "$db" -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'owner'")"
    expect_eq "$name: postgres is still the only superuser" "postgres" \
        "$(sq "$db" -c "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolsuper")"
    expect_eq "$name: the trigger on etl.orders ran as etl_runner, not a superuser" "etl_runner/false" \
        "$(sq "$db" -c "SELECT coalesce(string_agg(DISTINCT who || '/' || su, ','), 'did not run') FROM public.hits WHERE tag = 'trigger'")"
    expect_eq "$name: the trigger's ALTER ROLE owner SUPERUSER was refused (42501)" "42501" \
        "$(sq "$db" -c "SELECT coalesce(string_agg(DISTINCT detail, ','), 'not tried') FROM public.hits WHERE tag = 'trigger-alter'")"
    expect_eq "$name: no planted function ran as a superuser" "" \
        "$(sq "$db" -c "SELECT string_agg(DISTINCT tag, '; ') FROM public.hits WHERE tag NOT LIKE 'trigger%' AND su")"
    expect_eq "$name: nothing planted ran at all (every name resolved in pg_catalog)" "" \
        "$(sq "$db" -c "SELECT string_agg(DISTINCT tag || ' as ' || who, '; ') FROM public.hits WHERE tag NOT LIKE 'trigger%'")"
    expect_eq "$name: the import's good lines are orders ($orders)" "$orders" \
        "$(sq "$db" -c "SELECT count(*) FROM etl.orders WHERE import_id = '$import'")"
    # Each phase starts clean, whatever the one before did.
    sq "$db" -c "DELETE FROM public.hits" -c "ALTER ROLE owner NOSUPERUSER" >/dev/null
}

# --- Setup: the owner, its two databases; the worker watches appdb. --------
# The extension in database postgres first: its roles (etl_runner, the
# worker's identity) exist before appdb has the extension.
sq postgres -c "CREATE EXTENSION etl_ext" -c "CREATE ROLE owner LOGIN NOSUPERUSER" \
            -c "CREATE DATABASE appdb OWNER owner" -c "CREATE DATABASE otherdb OWNER owner" >/dev/null
restart_server
if DB=appdb wait_for $PORT "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'etl_ext worker' AND datname = 'appdb'" "1" 30; then
    ok "the worker runs in appdb"
else
    not_ok "the worker runs in appdb" "$(tail -5 "$DIR/server.log")"
fi
for db in appdb otherdb; do
    base_sql | as_user owner "$db" >/dev/null
done

# --- Before the extension: the owner's own schema etl is not the queue. ----
fake_etl_sql | as_user owner appdb >/dev/null
# An absence can only be watched for a while: five polls of the worker.
sleep 5
expect_eq "a fake schema etl of the owner's: the worker ran nothing of it" "" \
    "$(sq appdb -c "SELECT string_agg(DISTINCT tag || ' as ' || who, '; ') FROM public.hits")"
expect_eq "a fake schema etl of the owner's: owner is not a superuser" "f" \
    "$(sq appdb -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'owner'")"
drop_fake_etl_sql | as_user owner appdb >/dev/null
sq appdb -c "DELETE FROM public.hits" -c "ALTER ROLE owner NOSUPERUSER" >/dev/null

# --- Install, roles, the administrator's trigger. --------------------------
for db in appdb otherdb; do
    sq "$db" -c "CREATE EXTENSION etl_ext" >/dev/null || not_ok "CREATE EXTENSION etl_ext in $db"
    audit_trigger_sql | sq "$db" >/dev/null || not_ok "the audit trigger on etl.orders in $db"
done
sq postgres -c "CREATE ROLE app_loader LOGIN" -c "GRANT etl_loader TO app_loader" \
            -c "CREATE ROLE ops LOGIN" -c "GRANT etl_operator TO ops" \
            -c "CREATE ROLE rdr LOGIN" -c "GRANT etl_reader TO rdr" >/dev/null

# --- The owner plants, and puts public first in the databases' search_path. --
for db in appdb otherdb; do
    plants_sql | as_user owner "$db" -v ON_ERROR_STOP=0 >/dev/null 2>"$DIR/plants-$db.err"
    as_user owner "$db" -c "ALTER DATABASE $db SET search_path = public, pg_catalog" >/dev/null
done
sed 's/^/# planting refused: /' "$DIR/plants-appdb.err" | grep -v '^# planting refused: *$'
expect_true "the owner planted its operators, functions, aggregates and domains" \
    "$(sq appdb -c "SELECT (SELECT count(*) FROM pg_operator WHERE oprnamespace = 'public'::regnamespace) >= 45
                       AND (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname = 'unnest') >= 9
                       AND (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND prokind = 'a') >= 15
                       AND to_regtype('public.text') IS NOT NULL AND to_regtype('public.uuid') IS NOT NULL")"
for target in "DATABASE appdb" "ROLE owner"; do
    as_user owner appdb -c "ALTER $target SET etl.runner_role = 'owner'" >/dev/null 2>"$DIR/err.txt" \
        && not_ok "the owner cannot set etl.runner_role with ALTER $target" \
        || ok "the owner cannot set etl.runner_role with ALTER $target ($(head -1 "$DIR/err.txt" | cut -c1-80))"
done
expect_eq "no database or role setting names etl.runner_role" "0" \
    "$(sq appdb -c "SELECT count(*) FROM pg_db_role_setting WHERE array_to_string(setconfig, ',') LIKE '%runner_role%'")"

# The traps work: a session with the database's search_path that does
# arithmetic or calls md5 runs the planted ones (as rdr, not a superuser).
hostile rdr appdb -c "SELECT 1.5 * 2" -c "SELECT md5('x')" >/dev/null
expect_eq "control: an ordinary session with the owner's search_path runs the planted operator and function" \
    "function md5(a text)/rdr/false;operator *(numeric, integer)/rdr/false" \
    "$(sq appdb -c "SELECT string_agg(DISTINCT tag || '/' || who || '/' || su, ';' ORDER BY tag || '/' || who || '/' || su) FROM public.hits")"
sq appdb -c "DELETE FROM public.hits" >/dev/null

# The worker reconnects, now with the database's search_path set by the owner.
restart_server
DB=appdb wait_for $PORT "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'etl_ext worker' AND datname = 'appdb'" "1" 30 \
    && ok "the worker runs in appdb again" || not_ok "the worker runs in appdb again" "$(tail -5 "$DIR/server.log")"

for db in appdb otherdb; do
    as_user ops "$db" -c "INSERT INTO etl.shops (shop_name, platform) VALUES ('SecShop', 'web')" \
                      -c "INSERT INTO etl.order_type_mappings (raw_order_type, system_order_type) VALUES ('smp', 'SAMPLE')" >/dev/null \
        && ok "etl_operator ops adds a shop and a mapping in $db" || not_ok "etl_operator ops adds a shop and a mapping in $db"
done

for pair in "ops etl_runner" "app_loader etl_operator" "rdr etl_runner"; do
    set -- $pair
    as_user "$1" appdb -c "SET ROLE $2" >/dev/null 2>&1 && not_ok "login role $1 cannot SET ROLE $2" || ok "login role $1 cannot SET ROLE $2"
done

# --- 1. Through the worker. -------------------------------------------------
IMPORT=$(new_uuid)
load_import appdb "$IMPORT" worker && ok "worker: etl_loader app_loader writes and completes an import" \
    || not_ok "worker: etl_loader app_loader writes and completes an import"
if DB=appdb wait_for $PORT "SELECT string_agg(stage || ':' || state, ',' ORDER BY array_position(ARRAY['orders', 'customers', 'leads'], stage))
                              FROM etl.jobs WHERE import_id = '$IMPORT'" "orders:done,customers:done,leads:done" 60; then
    ok "worker: the pipeline finished (jobs done, done, done)"
else
    not_ok "worker: the pipeline finished (jobs done, done, done)" "$(sq appdb -c "SELECT * FROM etl.jobs WHERE import_id = '$IMPORT'")"
fi
expect_eq "worker: etl.pipeline_status shows each stage done" "orders:done:partial_success,customers:done:success,leads:done:success" \
    "$(sq appdb -c "SELECT string_agg(stage || ':' || state || ':' || coalesce(last_run_status, '-'), ','
                                      ORDER BY array_position(ARRAY['orders', 'customers', 'leads'], stage))
                      FROM etl.pipeline_status WHERE import_id = '$IMPORT'")"
check_phase "worker" appdb "$IMPORT"
expect_eq "worker: etl_loader app_loader reads its import's rejects" "3:unknown_shop" \
    "$(as_user app_loader appdb -c "SELECT string_agg(line_no || ':' || reason, ',') FROM etl.rejects WHERE import_id = '$IMPORT'" 2>&1)"
expect_eq "worker: etl_reader rdr reads the import's orders" "2" \
    "$(as_user rdr appdb -c "SELECT count(*) FROM etl.orders WHERE import_id = '$IMPORT'" 2>&1)"

# --- 2. CALL etl_run_queue() and etl_run_pending() by an operator, in a -----
# database the worker does not watch, with the owner's search_path.
IMPORT=$(new_uuid)
load_import otherdb "$IMPORT" queue && ok "etl_run_queue: etl_loader writes and completes an import" \
    || not_ok "etl_run_queue: etl_loader writes and completes an import"
expect_eq "etl_run_queue: the import is queued (no worker in otherdb)" "orders:queued" "$(jobs_of otherdb "$IMPORT")"
if OUT=$(hostile ops otherdb -c "CALL pg_catalog.etl_run_queue()" 2>&1); then
    ok "etl_run_queue: etl_operator ops runs CALL etl_run_queue()"
else
    not_ok "etl_run_queue: etl_operator ops runs CALL etl_run_queue()" "$OUT"
fi
expect_eq "etl_run_queue: the pipeline finished (jobs done, done, done)" "orders:done,customers:done,leads:done" "$(jobs_of otherdb "$IMPORT")"
check_phase "etl_run_queue" otherdb "$IMPORT"

IMPORT=$(new_uuid)
load_import otherdb "$IMPORT" pending && ok "etl_run_pending: etl_loader writes and completes an import" \
    || not_ok "etl_run_pending: etl_loader writes and completes an import"
if OUT=$(hostile ops otherdb -c "SELECT pg_catalog.etl_run_pending()" 2>&1); then
    expect_eq "etl_run_pending: etl_operator ops runs SELECT etl_run_pending(): one import" "1" "$OUT"
else
    not_ok "etl_run_pending: etl_operator ops runs SELECT etl_run_pending()" "$OUT"
fi
expect_eq "etl_run_pending: the pipeline finished (jobs done, done, done)" "orders:done,customers:done,leads:done" "$(jobs_of otherdb "$IMPORT")"
check_phase "etl_run_pending" otherdb "$IMPORT"

# The same as pg_cron runs it when a superuser scheduled it: a superuser's
# session with the database's settings (the owner's search_path).
IMPORT=$(new_uuid)
load_import otherdb "$IMPORT" cron && ok "etl_run_pending as superuser: etl_loader writes and completes an import" \
    || not_ok "etl_run_pending as superuser: etl_loader writes and completes an import"
if OUT=$(hostile postgres otherdb -c "SELECT pg_catalog.etl_run_pending()" 2>&1); then
    expect_eq "etl_run_pending as superuser: SELECT etl_run_pending() with the owner's search_path: one import" "1" "$OUT"
else
    not_ok "etl_run_pending as superuser: SELECT etl_run_pending() with the owner's search_path" "$OUT"
fi
expect_eq "etl_run_pending as superuser: the pipeline finished (jobs done, done, done)" "orders:done,customers:done,leads:done" \
    "$(jobs_of otherdb "$IMPORT")"
check_phase "etl_run_pending as superuser" otherdb "$IMPORT"

# --- 3. A direct etl_run_all by an operator. --------------------------------
IMPORT=$(new_uuid)
load_import otherdb "$IMPORT" direct && ok "etl_run_all: etl_loader writes and completes an import" \
    || not_ok "etl_run_all: etl_loader writes and completes an import"
OUT=$(hostile ops otherdb -c "SELECT stage, status FROM pg_catalog.etl_run_all('$IMPORT')" 2>&1 | paste -sd, -)
expect_eq "etl_run_all: etl_operator ops runs the three stages" "orders|partial_success,customers|success,leads|success" "$OUT"
expect_eq "etl_run_all: no job of the import is left undone" "" \
    "$(sq otherdb -c "SELECT string_agg(stage || ':' || state, ',') FROM etl.jobs WHERE import_id = '$IMPORT' AND state <> 'done'")"
check_phase "etl_run_all" otherdb "$IMPORT"

# --- 3b. A big import, read shop by shop, in many batches. ----------------
# The imports above fit in one batch; in batches of 4, 60 lines span 15, so
# the orders stage reads them sorted by shop (its join on the trimmed shop
# name is where a planted btrim or = would run) and every stage writes in
# several batches. Two shops, names with white space around them, seven
# order ids per shop, each written up to five times: the newest valid line
# of each key must win.
IMPORT=$(new_uuid)
as_user ops otherdb -c "INSERT INTO etl.shops (shop_name, platform) VALUES ('SecShop Two', 'web') ON CONFLICT DO NOTHING" >/dev/null
as_user app_loader otherdb \
    -c "INSERT INTO etl.imports (import_id, source) VALUES ('$IMPORT', 'security-big')" \
    -c "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
        SELECT '$IMPORT', n, 'big-' || (n % 7),
               CASE n % 3 WHEN 0 THEN ' SecShop ' WHEN 1 THEN 'SecShop Two' ELSE 'No Such Shop' END,
               'buyer ' || (n % 4), 'paid', NULL, n || '.25', '2026-02-01'
          FROM generate_series(1, 60) n" \
    -c "UPDATE etl.imports SET status = 'completed', completed_at = now() WHERE import_id = '$IMPORT'" >/dev/null \
    && ok "big import: etl_loader writes and completes an import of 60 lines" \
    || not_ok "big import: etl_loader writes and completes an import of 60 lines"
OUT=$(hostile ops otherdb -c "SET etl.batch_size = 4" -c "SELECT stage, status FROM pg_catalog.etl_run_all('$IMPORT')" 2>&1 | paste -sd, -)
expect_eq "big import: etl_operator ops runs the three stages in batches of 4" \
    "orders|partial_success,customers|success,leads|success" "$OUT"
expect_eq "big import: the orders stage read it shop by shop, in 15 batches" "1|15" \
    "$(sq otherdb -c "SELECT (details ->> 'lines_by_shop') || '|' || (details ->> 'batches') FROM etl.runs
                      WHERE import_id = '$IMPORT' AND stage = 'orders'")"
expect_eq "big import: each key's newest valid line won (14 keys)" "14|14" \
    "$(sq otherdb -c "WITH newest AS (
                          SELECT s.shop_id, r.order_id, max(r.line_no) AS line_no
                            FROM etl.raw_orders r JOIN etl.shops s ON s.shop_name = btrim(r.shop)
                           WHERE r.import_id = '$IMPORT' GROUP BY 1, 2)
                      SELECT count(*) || '|' || count(*) FILTER (WHERE o.source_line_no = n.line_no
                                                                  AND o.amount = (n.line_no || '.25')::numeric)
                        FROM newest n JOIN etl.orders o USING (shop_id, order_id)")"
expect_eq "big import: the 20 lines of the unknown shop are its rejects" "20" \
    "$(sq otherdb -c "SELECT count(*) FROM etl.rejects WHERE import_id = '$IMPORT' AND reason = 'unknown_shop'")"
check_phase "big import" otherdb "$IMPORT" 14

# --- 4. A dry run, a redrive and a lineage by an operator. -----------------
IMPORT=$(new_uuid)
load_import otherdb "$IMPORT" rehearse && ok "dry run: etl_loader writes and completes an import" \
    || not_ok "dry run: etl_loader writes and completes an import"
# (No operator or aggregate in the operator's own statements: the owner
# planted those too, and only the extension's SQL is under test here.)
# A dry run rolls back what it did, the hits included: the planted functions
# and the trigger say what they do as warnings too (sec.loud).
OUT=$(hostile ops otherdb -c "SET sec.loud = on" -c "SELECT stage, details FROM pg_catalog.etl_run_all('$IMPORT', dry_run => true)" 2>&1)
expect_eq "dry run: etl_operator ops rehearses the three stages" "3" "$(grep -c '"dry_run": true' <<<"$OUT")"
expect_eq "dry run: the trigger on etl.orders ran as etl_runner, not a superuser, and ALTER ROLE was refused" \
    "WARNING:  trigger ran as etl_runner (superuser: f), ALTER ROLE refused: 42501" "$(grep 'trigger' <<<"$OUT" | sort -u)"
expect_eq "dry run: nothing planted ran" "" "$(grep 'planted' <<<"$OUT")"
expect_eq "dry run: owner is still not a superuser" "f" "$(sq otherdb -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'owner'")"
expect_eq "dry run: nothing of it is left (no order, no run)" "0|0" \
    "$(sq otherdb -c "SELECT (SELECT count(*) FROM etl.orders WHERE import_id = '$IMPORT') || '|' || (SELECT count(*) FROM etl.runs WHERE import_id = '$IMPORT')")"
OUT=$(hostile ops otherdb -c "SELECT count(*) FROM pg_catalog.etl_run_all('$IMPORT')" \
                          -c "INSERT INTO etl.shops (shop_name) VALUES ('No Such Shop')" \
                          -c "SELECT former_reason, loaded FROM pg_catalog.etl_redrive('$IMPORT')" \
                          -c "SELECT fate FROM pg_catalog.etl_explain('No Such Shop', 'rehearse-3')" 2>&1 | paste -sd, -)
expect_eq "redrive: ops runs the import, adds the shop, redrives the line, explains it" "3,unknown_shop|1,loaded" "$OUT"
check_phase "redrive and lineage" otherdb "$IMPORT" 3

expect_eq "the owner was granted nothing" "0" "$(sq postgres -c "SELECT count(*) FROM pg_auth_members WHERE member = 'owner'::regrole")"
WORKER_ERRORS=$(grep -E 'ERROR|FATAL|PANIC' "$DIR/server.log" | grep -i 'worker' | grep -v 'due to administrator command' | tail -5)
[ -n "$WORKER_ERRORS" ] && echo "# worker errors in the server log (last 5):" && echo "$WORKER_ERRORS" | sed 's/^/#   /'
finish
