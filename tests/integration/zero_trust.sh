#!/usr/bin/env bash
# Zero trust (contract section 8, etl_ext 0.4.0), tried as the hostile roles
# of the threat model: the owner of the database (no superuser; owns schema
# public, sets the database's search_path, creates schemas), two loaders
# (login roles granted etl_loader) and a login role granted nothing.
# Every attack is a check: each one shows that the attack happened (the
# planted object exists, the lock is held, the statement ran) and that it
# achieved nothing.
#   1. lookalikes of every function and operator the extension uses,
#      generated from the catalog (pg_depend of its objects, the bodies of
#      its SQL and PL/pgSQL functions, the SQL of its Rust code), planted
#      before and after CREATE EXTENSION in public, in a schema of the
#      owner's put first on the database's and the roles' search_path, in a
#      new public (the old one renamed), then the worker, CALL
#      pg_catalog.etl_run_queue() and SELECT pg_catalog.etl_run_pending() as
#      a superuser with that search_path, and etl_run_all by an operator;
#   2. advisory locks on every key and row locks held by a stranger and a
#      loader while another loader's import runs;
#   3. a loader against another loader's import and against the rules of
#      its own (completed_at, status, dead jobs);
#   4. an over-long line (class 54) becomes a load_error reject;
#   5. a 100 MB event type; etl.progress of another database;
#   6. CREATE EXTENSION in a LATIN1 database;
#   7. the rest: leaky functions on the status views, the owner's database
#      settings in the worker's session, triggers and event triggers of the
#      owner's, pg_temp objects, a pre-existing etl_runner that can log in
#      or has members, SECURITY DEFINER functions;
#   8. retention: the owner, a loader and a stranger against etl_purge and
#      its settings; an operator's purge with the owner's plants on its path.
# PG=15 (default) or PG=18 selects the major.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_hostile.sh"
test_dir DIR zero_trust
PORT=$(free_port)
cluster_start "$DIR" $PORT "shared_preload_libraries = 'etl_ext'" "etl.database = 'appdb'" \
    "etl.poll_interval = '500ms'" "etl.retry_base_delay = '200ms'" "log_min_messages = warning"
at_exit 'cluster_stop $DIR'

# Our own sessions pin their search_path; a hostile one uses whatever the
# database and role settings say (the owner's).
export PGOPTIONS='-c search_path=pg_catalog,pg_temp'
sq() { # DB psql-args...: as the superuser, search_path pinned
    local db=$1
    shift
    q $PORT -d "$db" "$@"
}
# try USER DB SQL: runs SQL (ON_ERROR_STOP); prints "ok:<output>" or
# "refused:<SQLSTATE> <message>".
try() {
    local user=$1 db=$2 sql=$3 out
    if out=$(as_user "$user" "$db" -v VERBOSITY=verbose -c "$sql" 2>&1); then
        echo "ok:$(tr '\n' ' ' <<<"$out")"
    else
        echo "refused:$(grep -m1 -E '^(psql:.*)?ERROR' <<<"$out" | sed -E 's/^(psql:[^E]*)?ERROR: +//' | cut -c1-160)"
    fi
}
expect_refused() { # description result-of-try [sqlstate-or-text]
    case "$2" in
        refused:*"${3:-}"*) ok "$1 (${2:8:90})" ;;
        *) not_ok "$1" "expected refused${3:+ ($3)}, got [$2]" ;;
    esac
}
restart_server() {
    sudo -u postgres "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -m fast -w restart >/dev/null
}
wait_worker() { # DB
    DB=$1 wait_for $PORT "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'etl_ext worker' AND datname = '$1'" 1 30
}
new_uuid() { cat /proc/sys/kernel/random/uuid; }
planted_in_log() { grep -c 'ZT-PLANTED' "$DIR/server.log" 2>/dev/null || true; }

# Background sessions (lock holders): started with hold NAME USER DB SQL,
# their psql killed and their backends terminated at exit.
HOLD_PIDS=()
hold() {
    local name=$1 user=$2 db=$3 sql=$4
    PGAPPNAME="zt_hold_$name" as_user "$user" "$db" -v ON_ERROR_STOP=0 \
        -c "$sql" -c "SELECT pg_catalog.pg_sleep(150)" >"$DIR/hold_$name.out" 2>&1 &
    HOLD_PIDS+=($!)
}
stop_holders() {
    local p
    for p in "${HOLD_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    q $PORT -d postgres -c "SELECT count(pg_catalog.pg_terminate_backend(pid)) FROM pg_catalog.pg_stat_activity
                            WHERE application_name LIKE 'zt_hold_%'" >/dev/null 2>&1
    for p in "${HOLD_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    HOLD_PIDS=()
}
at_exit 'stop_holders'
SAMPLER_PID=""
at_exit '[ -n "$SAMPLER_PID" ] && kill $SAMPLER_PID 2>/dev/null; wait $SAMPLER_PID 2>/dev/null'

# load DB USER IMPORT N [TAG]: USER writes an import of N good lines (shop
# ZtShop) and completes it.
load() {
    local db=$1 user=$2 import=$3 n=$4 tag=${5:-$3}
    as_user "$user" "$db" \
        -c "INSERT INTO etl.imports (import_id, source) VALUES ('$import', 'zt-$tag')" \
        -c "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
            SELECT '$import', n, '$tag-' || n, 'ZtShop', 'buyer ' || (n % 7), 'paid', NULL, n || '.50', '2026-01-02 03:04:05'
              FROM pg_catalog.generate_series(1, $n) n" \
        -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$import'" >/dev/null
}
jobs_of() { # DB IMPORT
    sq "$1" -c "SELECT string_agg(stage || ':' || state, ',' ORDER BY array_position(ARRAY['orders', 'customers', 'leads'], stage))
                  FROM etl.jobs WHERE import_id = '$2'"
}
DONE3="orders:done,customers:done,leads:done"
# pwn_sql: zt.hits and zt.pwn, in a schema of the owner's that is never
# renamed; pwn also warns, so that a planted object that ran in a
# transaction that rolled back still shows in the server log.
pwn_sql() {
    echo "CREATE SCHEMA zt;"
    base_sql | sed -e 's/public\.hits/zt.hits/g; s/public\.pwn/zt.pwn/g' \
                   -e "s/^    IF current_setting('sec.loud', true) OPERATOR(pg_catalog.=) 'on' THEN/    IF true THEN/" \
                   -e "s/RAISE WARNING 'planted % ran as %'/RAISE WARNING 'ZT-PLANTED % ran as %'/"
    echo "GRANT USAGE ON SCHEMA zt TO PUBLIC;"
}
# hand_plants SCHEMA: lib_hostile.sh's list (aggregates, domains, casts
# included) in SCHEMA.
hand_plants() { plants_sql | sed -e 's/public\.pwn(/zt.pwn(/g' -e "s/public\./$1./g"; }
# gen_plants SCHEMA: the generated lookalikes in SCHEMA.
gen_plants() { sed "s/@S@/$1/g" "$DIR/plants_gen.sql"; }
plant() { # DB SCHEMA LABEL: the owner plants both lists in SCHEMA
    { gen_plants "$2"; hand_plants "$2"; } | as_user owner "$1" -v ON_ERROR_STOP=0 >/dev/null 2>>"$DIR/plant_errors_$3.txt"
}
planted_count() { # DB SCHEMA: functions and operators in SCHEMA
    sq "$1" -c "SELECT (SELECT count(*) FROM pg_proc WHERE pronamespace = '$2'::regnamespace)
                     + (SELECT count(*) FROM pg_operator WHERE oprnamespace = '$2'::regnamespace)"
}
guard() { # DB: tests/catalog_guard.sql's view
    sq "$1" -f "$ROOT/tests/catalog_guard.sql" -c "SELECT string_agg(problem, '; ') FROM etl_outside_dependencies" | tail -1
}
hits() { # DB: what planted ran, and as whom
    sq "$1" -c "SELECT coalesce(string_agg(DISTINCT tag || ' as ' || who, '; '), '') FROM zt.hits"
}
check_clean() { # LABEL DB LOG_BEFORE
    expect_eq "$1: owner is still not a superuser" "f" "$(sq "$2" -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'owner'")"
    expect_eq "$1: postgres is the only superuser" "postgres" \
        "$(sq "$2" -c "SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolsuper")"
    expect_eq "$1: nothing planted ran (zt.hits is empty)" "" "$(hits "$2")"
    expect_eq "$1: nothing planted ran in a rolled-back transaction either (server log)" "$3" "$(planted_in_log)"
    sq "$2" -c "DELETE FROM zt.hits" -c "ALTER ROLE owner NOSUPERUSER" >/dev/null
}

# --- Roles and databases. ----------------------------------------------------
sq postgres -c "CREATE ROLE owner LOGIN NOSUPERUSER" -c "CREATE ROLE la LOGIN" -c "CREATE ROLE lb LOGIN" \
            -c "CREATE ROLE ops LOGIN" -c "CREATE ROLE nobody LOGIN" \
            -c "CREATE DATABASE scratch" -c "CREATE DATABASE appdb OWNER owner" -c "CREATE DATABASE otherdb OWNER owner" >/dev/null

# --- The list of lookalikes, from the catalog of a first install. ----------
sq scratch -c "CREATE EXTENSION etl_ext" >/dev/null || not_ok "CREATE EXTENSION in database scratch"
# Names called and operator symbols in the extension's Rust SQL and SQL files.
{
    grep -rhoE '\b[a-z_][a-z0-9_]*[[:space:]]*\(' "$ROOT/src" "$ROOT/sql" | tr -d ' \t(' | sort -u | sed 's/^/n /'
    grep -rhoE '[-+*/<>=~!@#%^&|?]+' "$ROOT/sql" "$ROOT/src" | sort -u | sed 's/^/o /'
} >"$DIR/source_tokens.txt"
cat >"$DIR/gen.sql" <<SQL
CREATE TEMP TABLE tok (kind text, t text);
\\copy tok FROM '$DIR/source_tokens.txt' WITH (DELIMITER ' ', QUOTE E'\\x01', FORMAT csv)
SQL
cat >>"$DIR/gen.sql" <<'SQL'
CREATE TEMP VIEW used AS
WITH RECURSIVE ext AS (
    SELECT e.oid FROM pg_extension e WHERE e.extname = 'etl_ext'
), owned (classid, objid) AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
    UNION
    SELECT d.classid, d.objid FROM pg_depend d JOIN owned o ON d.refclassid = o.classid AND d.refobjid = o.objid
     WHERE d.deptype IN ('a', 'i')
), deps AS (
    SELECT d.refclassid, d.refobjid FROM pg_depend d JOIN owned o ON o.classid = d.classid AND o.objid = d.objid
), bodies AS (
    SELECT p.prosrc FROM pg_proc p JOIN owned o ON o.classid = 'pg_proc'::regclass AND o.objid = p.oid
      JOIN pg_language l ON l.oid = p.prolang WHERE l.lanname IN ('sql', 'plpgsql')
), names AS (
    SELECT lower(m[1]) AS name FROM bodies, regexp_matches(prosrc, '([A-Za-z_][A-Za-z0-9_]*)\s*\(', 'g') m
    UNION SELECT t FROM tok WHERE kind = 'n'
), syms AS (
    SELECT m[1] AS sym FROM bodies, regexp_matches(prosrc, '([-+*/<>=~!@#%^&|?]+)', 'g') m
    UNION SELECT t FROM tok WHERE kind = 'o'
), ops AS (
    SELECT o.oid FROM pg_operator o
     WHERE o.oprnamespace = 'pg_catalog'::regnamespace
       AND (o.oid IN (SELECT refobjid FROM deps WHERE refclassid = 'pg_operator'::regclass)
            OR o.oprname IN (SELECT sym FROM syms))
)
SELECT 'f' AS kind, p.oid FROM pg_proc p
 WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'f'
   AND p.proname NOT LIKE 'etl\_%'
   AND (p.oid IN (SELECT refobjid FROM deps WHERE refclassid = 'pg_proc'::regclass)
        OR p.proname IN (SELECT name FROM names)
        OR p.oid IN (SELECT oprcode FROM pg_operator WHERE oid IN (SELECT oid FROM ops)))
UNION ALL
SELECT 'o', oid FROM ops;
SELECT format($f$CREATE FUNCTION @S@.%I(%s) RETURNS %s LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $zt$BEGIN PERFORM zt.pwn(%L); %s END$zt$;$f$,
              p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
              'function ' || p.oid::regprocedure,
              CASE WHEN p.proretset THEN format('RETURN QUERY SELECT * FROM pg_catalog.%I(%s);', p.proname, a.list)
                   WHEN p.proallargtypes IS NOT NULL THEN 'RETURN;'
                   WHEN p.prorettype = 'void'::regtype THEN format('PERFORM pg_catalog.%I(%s); RETURN;', p.proname, a.list)
                   ELSE format('RETURN pg_catalog.%I(%s);', p.proname, a.list) END)
  FROM used u JOIN pg_proc p ON p.oid = u.oid AND u.kind = 'f'
 CROSS JOIN LATERAL (
       SELECT coalesce(string_agg(CASE WHEN p.provariadic <> 0 AND i = p.pronargs THEN 'VARIADIC ' ELSE '' END || '$' || i, ', ' ORDER BY i), '') AS list
         FROM generate_series(1, p.pronargs) i) a
UNION ALL
SELECT format($f$CREATE FUNCTION @S@.zt_op_%s(%s) RETURNS %s LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $zt$BEGIN PERFORM zt.pwn(%L); RETURN %s; END$zt$;
CREATE OPERATOR @S@.%s (%sRIGHTARG = %s, FUNCTION = @S@.zt_op_%s);$f$,
              o.oid,
              CASE WHEN o.oprleft = 0 THEN 'b ' || format_type(o.oprright, NULL)
                   ELSE 'a ' || format_type(o.oprleft, NULL) || ', b ' || format_type(o.oprright, NULL) END,
              format_type(o.oprresult, NULL),
              'operator ' || o.oid::regoperator,
              CASE WHEN o.oprleft = 0 THEN format('OPERATOR(pg_catalog.%s) b', o.oprname)
                   ELSE format('a OPERATOR(pg_catalog.%s) b', o.oprname) END,
              o.oprname,
              CASE WHEN o.oprleft = 0 THEN '' ELSE 'LEFTARG = ' || format_type(o.oprleft, NULL) || ', ' END,
              format_type(o.oprright, NULL), o.oid)
  FROM used u JOIN pg_operator o ON o.oid = u.oid AND u.kind = 'o';
SQL
sq scratch -f "$DIR/gen.sql" >"$DIR/plants_gen.sql" 2>"$DIR/gen.err"
GEN_F=$(grep -c '^CREATE FUNCTION @S@\.' "$DIR/plants_gen.sql")
GEN_O=$(grep -c '^CREATE OPERATOR' "$DIR/plants_gen.sql")
if [ "$GEN_F" -gt 50 ] && [ "$GEN_O" -gt 50 ]; then
    ok "lookalikes generated from the catalog and the extension's SQL: $((GEN_F - GEN_O)) functions, $GEN_O operators"
else
    not_ok "lookalikes generated from the catalog and the extension's SQL" "$GEN_F/$GEN_O: $(head -3 "$DIR/gen.err")"
fi

# --- 1. Lookalikes before and after the install. -----------------------------
wait_worker appdb && ok "the worker runs in appdb (no extension yet)" || not_ok "the worker runs in appdb" "$(tail -3 "$DIR/server.log")"
HOSTILE_PATH="trap, public, pg_catalog"
for db in appdb otherdb; do
    pwn_sql | as_user owner $db >/dev/null
    as_user owner $db -c "CREATE SCHEMA trap" -c "GRANT USAGE ON SCHEMA trap TO PUBLIC" >/dev/null
    plant $db public before; plant $db trap before
    as_user owner $db -c "ALTER DATABASE $db SET search_path = $HOSTILE_PATH" >/dev/null
    sq $db -c "ALTER ROLE postgres IN DATABASE $db SET search_path = $HOSTILE_PATH" >/dev/null
done
sq postgres -c "ALTER ROLE ops SET search_path = $HOSTILE_PATH" >/dev/null
expect_true "before the install: the owner planted the generated and the hand-made lookalikes in public and in trap" \
    "$(sq appdb -c "SELECT $(planted_count appdb public) > 1000 AND $(planted_count appdb trap) > 1000")"
hostile nobody appdb -c "SELECT md5('x'), 1.5 * 2, now() - interval '1 day'" >/dev/null 2>&1
expect_true "control: a session with the owner's search_path runs the planted md5, * and -" \
    "$(sq appdb -c "SELECT count(DISTINCT tag) >= 3 FROM zt.hits WHERE who = 'nobody'")"
sq appdb -c "DELETE FROM zt.hits" >/dev/null
LOG0=$(planted_in_log)
for db in appdb otherdb; do
    OUT=$(PGOPTIONS= q $PORT -d $db -c "SHOW search_path" -c "CREATE EXTENSION etl_ext" 2>&1)
    expect_eq "CREATE EXTENSION in $db by a superuser whose search_path is the owner's" "trap, public, pg_catalog" "$(head -1 <<<"$OUT")"
done
check_clean "the install" appdb "$LOG0"
expect_eq "the install: nothing planted ran in otherdb" "" "$(hits otherdb)"
# After the install: public renamed, a new public with entry points of the
# owner's, a new schema first on the path, everything planted again.
HOSTILE_PATH="trap2, public, trap, public_old, pg_catalog"
for db in appdb otherdb; do
    as_user owner $db -c "ALTER SCHEMA public RENAME TO public_old" -c "CREATE SCHEMA public" -c "GRANT USAGE ON SCHEMA public TO PUBLIC" \
        -c "CREATE SCHEMA trap2" -c "GRANT USAGE ON SCHEMA trap2 TO PUBLIC" >/dev/null \
        || not_ok "the owner renames public and creates a new one in $db"
    plant $db public after; plant $db trap2 after
    as_user owner $db <<'SQL' >/dev/null 2>>"$DIR/plant_errors_after.txt"
CREATE PROCEDURE public.etl_run_queue() LANGUAGE plpgsql AS $$BEGIN PERFORM zt.pwn('fake public.etl_run_queue()'); END$$;
CREATE PROCEDURE public.etl_run_queue(max_jobs integer) LANGUAGE plpgsql AS $$BEGIN PERFORM zt.pwn('fake public.etl_run_queue(integer)'); END$$;
CREATE FUNCTION public.etl_uuid_v7() RETURNS uuid LANGUAGE plpgsql AS $$BEGIN PERFORM zt.pwn('fake public.etl_uuid_v7()'); RETURN pg_catalog.gen_random_uuid(); END$$;
CREATE FUNCTION public.etl_run_all(import_id uuid, dry_run boolean DEFAULT false) RETURNS TABLE (stage text, status text)
LANGUAGE plpgsql AS $$BEGIN PERFORM zt.pwn('fake public.etl_run_all(uuid, boolean)'); END$$;
CREATE FUNCTION public.etl_run_pending() RETURNS bigint LANGUAGE plpgsql AS $$BEGIN PERFORM zt.pwn('fake public.etl_run_pending()'); RETURN 0; END$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO PUBLIC;
SQL
    as_user owner $db -c "ALTER DATABASE $db SET search_path = $HOSTILE_PATH" >/dev/null
    sq $db -c "ALTER ROLE postgres IN DATABASE $db SET search_path = $HOSTILE_PATH" >/dev/null
done
sq postgres -c "ALTER ROLE ops SET search_path = $HOSTILE_PATH" >/dev/null
expect_true "after the install: lookalikes in the new public and in trap2, the owner's etl_run_queue(), etl_uuid_v7(), etl_run_all() in public" \
    "$(sq appdb -c "SELECT $(planted_count appdb public) > 1000 AND $(planted_count appdb trap2) > 1000
                       AND to_regprocedure('public.etl_uuid_v7()') IS NOT NULL AND to_regprocedure('public.etl_run_all(uuid, boolean)') IS NOT NULL
                       AND (SELECT count(*) FROM pg_proc WHERE proname = 'etl_run_queue' AND pronamespace = 'public'::regnamespace) = 2")"
expect_eq "the database's search_path is the owner's" "search_path=$HOSTILE_PATH" \
    "$(sq appdb -c "SELECT c FROM pg_db_role_setting s, unnest(s.setconfig) c WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = 'appdb') AND s.setrole = 0")"
sed 's/^/# planting refused (before): /' "$DIR/plant_errors_before.txt" | sort | uniq -c | sort -rn | head -3
sq postgres -c "GRANT etl_loader TO la, lb" -c "GRANT etl_operator TO ops" >/dev/null
for db in appdb otherdb; do as_user ops $db -c "INSERT INTO etl.shops (shop_name, platform) VALUES ('ZtShop', 'web')" >/dev/null; done
restart_server
wait_worker appdb && ok "the worker runs in appdb again, with the owner's search_path" || not_ok "the worker runs in appdb again" "$(tail -3 "$DIR/server.log")"

# Advisory locks taken while the stages run (section 2 holds them all).
( while :; do
      q $PORT -d postgres -c "SELECT DISTINCT classid || ' ' || objid || ' ' || objsubid FROM pg_locks WHERE locktype = 'advisory'" 2>/dev/null
      sleep 0.05
  done >>"$DIR/advisory_keys.txt" ) &
SAMPLER_PID=$!

LOG0=$(planted_in_log)
I1=$(new_uuid)
load appdb la "$I1" 20 w1 && ok "worker: loader la writes and completes an import" || not_ok "worker: loader la writes and completes an import"
DB=appdb wait_for $PORT "SELECT string_agg(stage || ':' || state, ',' ORDER BY array_position(ARRAY['orders', 'customers', 'leads'], stage)) FROM etl.jobs WHERE import_id = '$I1'" "$DONE3" 30 \
    && ok "worker: the pipeline finished" || not_ok "worker: the pipeline finished" "$(jobs_of appdb "$I1"); $(grep -E 'ERROR' "$DIR/server.log" | tail -2)"
expect_eq "worker: etl.pipeline_status shows the three stages done, 20 orders" "done:success,done:success,done:success|20" \
    "$(sq appdb -c "SELECT string_agg(state || ':' || last_run_status, ',') || '|' || (SELECT count(*) FROM etl.orders WHERE import_id = '$I1') FROM etl.pipeline_status WHERE import_id = '$I1'")"
check_clean "worker" appdb "$LOG0"

I2=$(new_uuid)
load otherdb la "$I2" 20 q2
OUT=$(PGOPTIONS= q $PORT -d otherdb -c "SET search_path = $HOSTILE_PATH" -c "CALL pg_catalog.etl_run_queue()" 2>&1)
expect_eq "CALL pg_catalog.etl_run_queue() by a superuser, session search_path the owner's: the pipeline finished" "$DONE3" "$(jobs_of otherdb "$I2")"
[ -n "$OUT" ] && echo "# $OUT" | head -3
check_clean "etl_run_queue" otherdb "$LOG0"
I3=$(new_uuid)
load otherdb la "$I3" 20 p3
expect_eq "SELECT pg_catalog.etl_run_pending() by a superuser, role and database search_path the owner's: one import" "1" \
    "$(PGOPTIONS= q $PORT -d otherdb -c "SELECT pg_catalog.etl_run_pending()" 2>&1)"
expect_eq "etl_run_pending: the pipeline finished" "$DONE3" "$(jobs_of otherdb "$I3")"
check_clean "etl_run_pending" otherdb "$LOG0"
I4=$(new_uuid)
load otherdb la "$I4" 20 r4
expect_eq "pg_catalog.etl_run_all by operator ops (role search_path the owner's)" "orders|success,customers|success,leads|success" \
    "$(hostile ops otherdb -c "SELECT stage, status FROM pg_catalog.etl_run_all('$I4')" 2>&1 | paste -sd, -)"
check_clean "etl_run_all" otherdb "$LOG0"
# A shop's export (etl_import_export runs as its caller, not as the runner):
# loader la, the database's search_path the owner's, loads a CSV; a
# superuser with that path loads a file; the pipeline runs both.
{ echo 'order_id,shop,customer_name,order_status,order_type,amount,ordered_at'
  for n in $(seq 1 20); do echo "X-$n,ZtShop,buyer $((n % 4)),paid,,\"1,0$n.50\",2026-03-01 10:00:00"; done; } >"$DIR/zt_export.csv"
chmod 644 "$DIR/zt_export.csv"
EXPORT=$(hostile la otherdb -c "SELECT import_id FROM pg_catalog.etl_import_export('\\x$(od -An -tx1 -v "$DIR/zt_export.csv" | tr -d ' \n')'::bytea, 'generic')" 2>&1)
expect_eq "export: loader la (the owner's search_path) loads a CSV into an import of its own" "la|20" \
    "$(sq otherdb -c "SELECT owner_role || '|' || (SELECT count(*) FROM etl.raw_orders r WHERE r.import_id = i.import_id) FROM etl.imports i WHERE import_id::text = '$EXPORT'" 2>&1)"
EXPORT2=$(PGOPTIONS= q $PORT -d otherdb -c "SELECT import_id FROM pg_catalog.etl_import_export_file('$DIR/zt_export.csv', 'generic', reload => true)" 2>&1)
PGOPTIONS= q $PORT -d otherdb -c "CALL pg_catalog.etl_run_queue()" >/dev/null 2>&1
expect_eq "export: the file variant by a superuser with the owner's search_path; both imports' pipelines finished" "$DONE3|$DONE3" \
    "$(jobs_of otherdb "$EXPORT")|$(jobs_of otherdb "$EXPORT2")"
expect_eq "export: loader lb loading the same file gets an import of its own, not la's" "f" \
    "$(hostile lb otherdb -c "SELECT reused FROM pg_catalog.etl_import_export('\\x$(od -An -tx1 -v "$DIR/zt_export.csv" | tr -d ' \n')'::bytea, 'generic')" 2>&1)"
expect_eq "export: a role granted nothing may not load one" "42501" \
    "$(hostile nobody otherdb -c "\\set VERBOSITY verbose" -c "SELECT 1 FROM pg_catalog.etl_import_export('\\x00'::bytea, 'generic')" 2>&1 | grep -oE '42501' | head -1)"
expect_eq "export: a loader without pg_read_server_files may not read a file of the server" "42501" \
    "$(hostile la otherdb -c "\\set VERBOSITY verbose" -c "SELECT 1 FROM pg_catalog.etl_import_export_file('/etc/passwd', 'generic')" 2>&1 | grep -oE '42501' | head -1)"
check_clean "etl_import_export" otherdb "$LOG0"
for db in appdb otherdb; do
    expect_eq "catalog guard in $db after the plants: no dependency outside pg_catalog and the extension" "" "$(guard $db)"
done
expect_eq "the pg_cron examples of README and docs call pg_catalog.etl_run_queue (an unqualified CALL runs the owner's public.etl_run_queue first on this search_path)" "" \
    "$(grep -rnE "cron\.schedule\(.*CALL +etl_run_queue" "$ROOT/README.md" "$ROOT/docs" | cut -c1-120)"
kill $SAMPLER_PID 2>/dev/null; wait $SAMPLER_PID 2>/dev/null; SAMPLER_PID=""


# --- 2. Locks held by a stranger and by a loader. ------------------------------
KEYS=$(awk 'NF == 3' "$DIR/advisory_keys.txt" | sort -u)
echo "# advisory locks seen in pg_locks while the stages ran: [$(paste -sd';' - <<<"$KEYS")]"
ADV="SELECT pg_catalog.pg_advisory_lock(7310587252109243393), pg_catalog.pg_advisory_lock(-1), pg_catalog.pg_advisory_lock(0), pg_catalog.pg_advisory_lock(1)"
while read -r c o s; do
    [ -z "$c" ] && continue
    if [ "$s" == 1 ]; then ADV="$ADV, pg_catalog.pg_advisory_lock((($c::bigint << 32) | $o::bigint))"
    else ADV="$ADV, pg_catalog.pg_advisory_lock($c::integer, $o::integer)"; fi
done <<<"$KEYS"
for rel in etl.imports etl.pipeline_lock etl.jobs; do
    for mode in "FOR UPDATE" "FOR SHARE" "FOR KEY SHARE"; do
        expect_refused "a role granted nothing: SELECT FROM $rel $mode" "$(try nobody appdb "SELECT 1 FROM $rel $mode")" "42501"
    done
done
for rel in etl.pipeline_lock etl.jobs; do
    for mode in "FOR UPDATE" "FOR SHARE" "FOR KEY SHARE"; do
        expect_refused "loader lb: SELECT FROM $rel $mode" "$(try lb appdb "SELECT 1 FROM $rel $mode")" "42501"
    done
done
expect_refused "loader lb: LOCK TABLE etl.imports IN SHARE MODE" "$(try lb appdb "BEGIN; LOCK TABLE etl.imports IN SHARE MODE")" "42501"
expect_eq "loader lb: SELECT FROM etl.imports FOR UPDATE locks none of la's (completed) imports" "0" \
    "$(as_user lb appdb -c "SELECT count(*) FROM (SELECT 1 FROM etl.imports FOR UPDATE) s" 2>&1)"
LB_OWN=$(new_uuid)
as_user lb appdb -c "INSERT INTO etl.imports (import_id, source) VALUES ('$LB_OWN', 'lb pending')" >/dev/null
hold nobody nobody appdb "$ADV"
# (Two sessions cannot both hold one exclusive key: lb takes the old key's
# two-integer form and others of that space.)
OLD_HI=$((7310587252109243393 >> 32)); OLD_LO=$(( (7310587252109243393 & 0xffffffff) - ((7310587252109243393 & 0x80000000) ? 0x100000000 : 0) ))
ADV2="SELECT pg_catalog.pg_advisory_lock($OLD_HI, $OLD_LO), pg_catalog.pg_advisory_lock(0, 0), pg_catalog.pg_advisory_lock(-1, -1)"
hold lb lb appdb "$ADV2; BEGIN; SELECT import_id FROM etl.imports FOR KEY SHARE; SELECT import_id FROM etl.imports FOR SHARE;
    SELECT import_id FROM etl.imports FOR UPDATE; LOCK TABLE etl.raw_orders IN ROW EXCLUSIVE MODE; LOCK TABLE etl.imports IN ROW EXCLUSIVE MODE;
    LOCK TABLE etl.rejects IN ACCESS SHARE MODE"
NKEYS=$(( $(grep -o 'pg_advisory_lock(' <<<"$ADV" | wc -l) ))
if DB=postgres wait_for $PORT "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'zt_hold_%' AND query LIKE '%pg_sleep%' AND state = 'active'" 2 20; then
    expect_eq "the stranger holds the $NKEYS advisory locks (the old key 7310587252109243393 too), loader lb 3 of the two-integer space" "nobody:$NKEYS,lb:3" \
        "$(sq appdb -c "SELECT string_agg(a.usename || ':' || n, ',' ORDER BY a.usename DESC) FROM (SELECT pid, count(*) n FROM pg_locks WHERE locktype = 'advisory' AND granted GROUP BY pid) l JOIN pg_stat_activity a USING (pid) WHERE a.application_name LIKE 'zt_hold_%'")"
    expect_true "loader lb holds its own pending import's row and table locks in an open transaction" \
        "$(sq appdb -c "SELECT backend_xid IS NOT NULL AND xact_start IS NOT NULL FROM pg_stat_activity WHERE application_name = 'zt_hold_lb'")"
else
    not_ok "the lock holders are in place" "$(sq postgres -c "SELECT application_name || ':' || state || ':' || coalesce(wait_event, '-') || ':' || left(query, 60) FROM pg_stat_activity WHERE application_name LIKE 'zt_hold_%'" | paste -sd' ' -)"
fi
I5=$(new_uuid)
T0=$SECONDS
load appdb la "$I5" 20 l5 && ok "locks held: loader la completes an import" || not_ok "locks held: loader la completes an import (blocked?)"
DB=appdb wait_for $PORT "SELECT string_agg(stage || ':' || state, ',' ORDER BY array_position(ARRAY['orders', 'customers', 'leads'], stage)) FROM etl.jobs WHERE import_id = '$I5'" "$DONE3" 30 \
    && ok "locks held: the worker finished la's import in $((SECONDS - T0)) s" || not_ok "locks held: the worker finished la's import" "$(jobs_of appdb "$I5")"
expect_eq "locks held: etl_run_all by operator ops is not blocked (statement_timeout 20 s)" "3" \
    "$(as_user ops appdb -c "SET statement_timeout = '20s'" -c "SELECT count(*) FROM pg_catalog.etl_run_all('$I5')" 2>&1)"
expect_eq "locks held: no job took more than one attempt" "1" "$(sq appdb -c "SELECT max(attempts) FROM etl.jobs")"
expect_eq "locks held: the holders were still there at the end" "2" \
    "$(sq postgres -c "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'zt_hold_%' AND state = 'active'")"
stop_holders

# --- 3. A loader against another loader's import. -----------------------------
IP=$(new_uuid)   # la's, pending
as_user la appdb -c "INSERT INTO etl.imports (import_id, source) VALUES ('$IP', 'la pending')" \
                 -c "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, amount, ordered_at)
                     VALUES ('$IP', 1, 'p-1', 'ZtShop', 'Ann', 'paid', '1', '2026-01-01'), ('$IP', 2, 'p-2', 'No Such Shop', 'Ann', 'paid', '1', '2026-01-01')" >/dev/null
IC=$(new_uuid)   # la's, completed, with a reject
as_user la appdb -c "INSERT INTO etl.imports (import_id, source) VALUES ('$IC', 'la completed')" \
                 -c "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, amount, ordered_at)
                     VALUES ('$IC', 1, 'c-1', 'ZtShop', 'Ann', 'paid', '1', '2026-01-01'), ('$IC', 2, 'c-2', 'No Such Shop', 'Ann', 'paid', '1', '2026-01-01')" \
                 -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$IC'" >/dev/null
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$IC' AND state = 'done'" 3 30 || not_ok "la's completed import ran"
expect_eq "target: la's import has a reject and raw lines, its pipeline_status rows exist" "1|2|3" \
    "$(sq appdb -c "SELECT (SELECT count(*) FROM etl.rejects WHERE import_id = '$IC') || '|' || (SELECT count(*) FROM etl.raw_orders WHERE import_id = '$IC') || '|' || (SELECT count(*) FROM etl.pipeline_status WHERE import_id = '$IC')")"
expect_refused "loader lb adds a line to la's pending import" \
    "$(try lb appdb "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop) VALUES ('$IP', 9, 'evil', 'ZtShop')")" "42501"
expect_eq "loader lb completes la's pending import: no row changes" "0|pending" \
    "$(as_user lb appdb -c "WITH u AS (UPDATE etl.imports SET status = 'completed' WHERE import_id = '$IP' RETURNING 1) SELECT count(*) FROM u" 2>&1)|$(sq appdb -c "SELECT status FROM etl.imports WHERE import_id = '$IP'")"
EV0=$(sq appdb -c "SELECT count(*) FROM etl.events WHERE payload ->> 'import_id' IN ('$IP', '$IC')")
expect_refused "loader lb publishes DATA_IMPORT_COMPLETED of la's completed import through etl.import_completed" \
    "$(try lb appdb "SELECT etl.import_completed('$IC')")"
expect_refused "loader lb calls etl.import_completed on la's pending import" "$(try lb appdb "SELECT etl.import_completed('$IP')")"
expect_eq "... and no event of la's imports was added" "$EV0" "$(sq appdb -c "SELECT count(*) FROM etl.events WHERE payload ->> 'import_id' IN ('$IP', '$IC')")"
expect_eq "loader lb reads la's rejects, raw lines, imports and pipeline_status rows: none" "0|0|0|0" \
    "$(as_user lb appdb -c "SELECT (SELECT count(*) FROM etl.rejects WHERE import_id IN ('$IC', '$IP')) || '|' || (SELECT count(*) FROM etl.raw_orders WHERE import_id IN ('$IC', '$IP'))
                               || '|' || (SELECT count(*) FROM etl.imports WHERE import_id IN ('$IC', '$IP')) || '|' || (SELECT count(*) FROM etl.pipeline_status WHERE import_id IN ('$IC', '$IP'))" 2>&1)"
expect_refused "loader lb reads etl.events" "$(try lb appdb "SELECT count(*) FROM etl.events")" "42501"
expect_refused "a role granted nothing calls etl.import_completed" "$(try nobody appdb "SELECT etl.import_completed('$IC')")" "42501"
# Its own import: completed_at and status.
IL=$(new_uuid)
as_user lb appdb -c "INSERT INTO etl.imports (import_id, source, completed_at, owner_role) VALUES ('$IL', 'lb own', 'infinity', 'la')" >/dev/null 2>&1
expect_eq "loader lb inserts an import with completed_at 'infinity' and owner_role la: kept NULL, owned by lb" "|lb" \
    "$(sq appdb -c "SELECT completed_at || '|' || owner_role FROM etl.imports WHERE import_id = '$IL'")$(sq appdb -c "SELECT CASE WHEN completed_at IS NULL THEN '|' || owner_role END FROM etl.imports WHERE import_id = '$IL'")"
expect_refused "loader lb sets completed_at = 'infinity' on its pending import" \
    "$(try lb appdb "UPDATE etl.imports SET completed_at = 'infinity' WHERE import_id = '$IL'")"
as_user lb appdb -c "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, amount, ordered_at)
                     VALUES ('$IL', 1, 'lb-1', 'ZtShop', 'Bea', 'paid', '2', '2026-01-01')" \
                 -c "UPDATE etl.imports SET status = 'completed', completed_at = '2001-01-01' WHERE import_id = '$IL'" >/dev/null
expect_true "loader lb completes its import with completed_at = '2001-01-01': the server's time is kept" \
    "$(sq appdb -c "SELECT completed_at > now() - interval '1 minute' AND completed_at <= now() FROM etl.imports WHERE import_id = '$IL'")"
R=$(try lb appdb "UPDATE etl.imports SET completed_at = 'infinity' WHERE import_id = '$IL'")
expect_true "loader lb sets completed_at = 'infinity' on its completed import: refused or nothing changed ($R)" \
    "$(sq appdb -c "SELECT completed_at < 'infinity' FROM etl.imports WHERE import_id = '$IL'")"
R=$(try lb appdb "UPDATE etl.imports SET status = 'pending' WHERE import_id = '$IL'")
expect_eq "loader lb sets its completed import back to pending: refused or nothing changed (${R:0:60})" "completed" \
    "$(sq appdb -c "SELECT status FROM etl.imports WHERE import_id = '$IL'")"
expect_refused "loader lb inserts an import already completed" \
    "$(try lb appdb "INSERT INTO etl.imports (import_id, source, status) VALUES ('$(new_uuid)', 'x', 'completed')")"
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$IL' AND state = 'done'" 3 30 >/dev/null
sq appdb -c "UPDATE etl.jobs SET state = 'dead', attempts = 3 WHERE import_id IN ('$IL', '$IC') AND stage = 'leads'" >/dev/null
expect_refused "loader lb resets its own dead job with etl_retry" "$(try lb appdb "SELECT pg_catalog.etl_retry('$IL')")" "42501"
expect_refused "loader lb resets a dead job with UPDATE etl.jobs" "$(try lb appdb "UPDATE etl.jobs SET state = 'queued', attempts = 0 WHERE import_id = '$IL'")" "42501"
expect_refused "loader la resets its dead job with etl_retry" "$(try la appdb "SELECT pg_catalog.etl_retry('$IC')")" "42501"
expect_eq "the dead jobs stay dead" "dead,dead" "$(sq appdb -c "SELECT string_agg(state, ',') FROM etl.jobs WHERE import_id IN ('$IL', '$IC') AND stage = 'leads'")"

# --- 4. An over-long line (class 54) is a load_error reject. ----------------
IB=$(new_uuid)
RND="(SELECT string_agg(chr(33 + (random() * 93)::int), '') FROM generate_series(1, 3000) WHERE g > 0)"
as_user la appdb \
    -c "INSERT INTO etl.imports (import_id, source) VALUES ('$IB', 'zt-long')" \
    -c "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, amount, ordered_at)
        SELECT '$IB', g, 'long-' || g, 'ZtShop', 'buyer ' || (g % 9), 'paid', '3.25', '2026-03-01' FROM generate_series(1, 100) g" \
    -c "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, amount, ordered_at)
        SELECT '$IB', 100 + g, CASE g WHEN 1 THEN 'long-nick' ELSE $RND END, 'ZtShop',
               CASE g WHEN 1 THEN $RND ELSE 'short' END, 'paid', '1', '2026-03-01' FROM generate_series(1, 2) g" \
    -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$IB'" >/dev/null \
    && ok "over-long lines: la writes 100 good lines, one 3,000-character nickname, one 3,000-character order_id" \
    || not_ok "over-long lines: la writes the import"
DB=appdb wait_for $PORT "SELECT string_agg(stage || ':' || state, ',' ORDER BY array_position(ARRAY['orders', 'customers', 'leads'], stage)) FROM etl.jobs WHERE import_id = '$IB'" "$DONE3" 40 \
    && ok "over-long lines: the worker finished the import's pipeline" || not_ok "over-long lines: the pipeline finished" "$(sq appdb -c "SELECT stage, state, attempts, left(last_error, 120) FROM etl.jobs WHERE import_id = '$IB'")"
expect_eq "over-long lines: 100 orders, the two long lines are load_error rejects" "100|101:load_error,102:load_error" \
    "$(sq appdb -c "SELECT (SELECT count(*) FROM etl.orders WHERE import_id = '$IB') || '|' || (SELECT string_agg(line_no || ':' || reason, ',' ORDER BY line_no) FROM etl.rejects WHERE import_id = '$IB')")"
expect_eq "over-long lines: no retry (one attempt per job, one run per stage)" "1|3" \
    "$(sq appdb -c "SELECT max(attempts) || '|' || (SELECT count(*) FROM etl.runs WHERE import_id = '$IB') FROM etl.jobs WHERE import_id = '$IB'")"

# --- 5. A 100 MB event type; etl.progress of another database. ---------------
expect_eq "etl_emit_event with a 100 MB event type: SQLSTATE 22023" "22023" \
    "$(as_user ops appdb -c "DO \$\$BEGIN PERFORM pg_catalog.etl_emit_event(repeat('x', 100 * 1024 * 1024), '{}'); RAISE NOTICE 'STATE=none';
                             EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'STATE=%', SQLSTATE; END\$\$" 2>&1 | grep -o 'STATE=.*' | cut -d= -f2)"
sq appdb -c "CREATE SCHEMA zt_admin" -c "CREATE FUNCTION zt_admin.slow() RETURNS trigger LANGUAGE plpgsql AS \$\$BEGIN PERFORM pg_catalog.pg_sleep(0.4); RETURN NULL; END\$\$" \
         -c "GRANT USAGE ON SCHEMA zt_admin TO etl_runner" \
         -c "CREATE TRIGGER zt_slow AFTER INSERT ON etl.orders FOR EACH ROW EXECUTE FUNCTION zt_admin.slow()" >/dev/null
IS=$(new_uuid)
load appdb la "$IS" 15 slow
if DB=appdb wait_for $PORT "SELECT count(*) > 0 FROM etl.progress" t 20; then
    expect_eq "etl.progress: a stage runs in appdb (seen there), nothing of it in otherdb" "1|0" \
        "$(sq appdb -c "SELECT count(*) FROM etl.progress")|$(sq otherdb -c "SELECT count(*) FROM etl.progress")"
else
    not_ok "etl.progress shows the slow stage in appdb"
fi
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$IS' AND state = 'done'" 3 40 >/dev/null
sq appdb -c "DROP TRIGGER zt_slow ON etl.orders" >/dev/null

# --- 6. A LATIN1 database. ---------------------------------------------------
sq postgres -c "CREATE DATABASE latin1db ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" >/dev/null
expect_refused "CREATE EXTENSION in a LATIN1 database" "$(try postgres latin1db "CREATE EXTENSION etl_ext")" "needs a UTF8 database"
expect_eq "... and nothing of it is left (no schema etl)" "0" "$(sq latin1db -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'etl'")"

# --- 7. The rest. -----------------------------------------------------------
# A leaky function of a loader's (a temporary one: every role may create
# those) in a query on a status view: the planner runs the cheapest
# condition first unless the view is a security barrier.
OUT=$(as_user lb appdb -c "CREATE FUNCTION pg_temp.peek(a uuid, s text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
                            \$\$BEGIN RAISE NOTICE 'PEEK % %', a, s; RETURN true; END\$\$" \
                        -c "SELECT count(*) FROM etl.pipeline_status WHERE pg_temp.peek(import_id, source)" 2>&1)
expect_eq "loader lb: a leaky function in a WHERE on etl.pipeline_status sees none of la's imports" "0" \
    "$(grep -cE "PEEK ($IC|$I1|$I5)" <<<"$OUT")"
expect_eq "etl.pipeline_status and etl.progress are security barriers" "progress:true,pipeline_status:true" \
    "$(sq appdb -c "SELECT string_agg(relname || ':' || coalesce('security_barrier=true' = ANY (reloptions), false), ',' ORDER BY relname DESC) FROM pg_class WHERE oid IN ('etl.pipeline_status'::regclass, 'etl.progress'::regclass)")"
expect_eq "no function of the extension is SECURITY DEFINER" "" \
    "$(sq appdb -c "SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e' JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'etl_ext' WHERE p.prosecdef")"
expect_refused "the owner attaches a trigger to etl.orders" \
    "$(try owner appdb "CREATE TRIGGER t AFTER INSERT ON etl.orders FOR EACH ROW EXECUTE FUNCTION zt.pwn_trigger()")" "42501"
expect_refused "the owner creates an event trigger" \
    "$(try owner appdb "CREATE FUNCTION zt.et() RETURNS event_trigger LANGUAGE plpgsql AS \$\$BEGIN PERFORM zt.pwn('event trigger'); END\$\$; CREATE EVENT TRIGGER zt_et ON ddl_command_start EXECUTE FUNCTION zt.et()")" "42501"
expect_refused "the owner creates a view over etl.imports (RLS bypass through a view)" \
    "$(try owner appdb "CREATE VIEW zt.all_imports AS SELECT * FROM etl.imports")" "42501"
expect_refused "loader lb creates a view over etl.imports in pg_temp and reads la's import through it" \
    "$(try lb appdb "CREATE TEMP VIEW v AS SELECT * FROM etl.imports; SELECT CASE WHEN count(*) > 0 THEN 1/0 END FROM v WHERE import_id = '$IC'")"
# pg_temp objects of an operator's session, named like what the stages read.
I6=$(new_uuid)
load appdb la "$I6" 5 t6
DB=appdb wait_for $PORT "SELECT count(*) FROM etl.jobs WHERE import_id = '$I6' AND state = 'done'" 3 30 >/dev/null
LOG0=$(planted_in_log)
OUT=$(hostile ops appdb -c "CREATE TEMP VIEW pg_roles AS SELECT r.* FROM pg_catalog.pg_roles r WHERE zt.pwn('pg_temp.pg_roles')" \
                        -c "CREATE TEMP TABLE imports AS SELECT * FROM etl.imports WITH NO DATA" \
                        -c "SET search_path = pg_temp, $HOSTILE_PATH" \
                        -c "SELECT count(*) FROM pg_catalog.etl_run_all('$I6')" 2>&1)
expect_eq "pg_temp objects of an operator's (pg_temp first on its path): etl_run_all runs" "3" "$(tail -1 <<<"$OUT")"
check_clean "pg_temp" appdb "$LOG0"
# A pre-existing etl_runner that can log in, or has a member.
sq postgres -c "CREATE DATABASE runnerdb" -c "ALTER ROLE etl_runner LOGIN" >/dev/null
expect_refused "CREATE EXTENSION when etl_runner can log in" "$(try postgres runnerdb "CREATE EXTENSION etl_ext")" "etl_runner"
sq postgres -c "ALTER ROLE etl_runner NOLOGIN" -c "GRANT etl_runner TO owner" >/dev/null
expect_refused "CREATE EXTENSION when etl_runner has a member (owner)" "$(try postgres runnerdb "CREATE EXTENSION etl_ext")" "etl_runner"
sq postgres -c "REVOKE etl_runner FROM owner" >/dev/null
# The owner's database settings, which every session of the database gets,
# the worker's (it connects to the database) and pg_cron's included. Our
# own sessions (the loader's included) override them.
export PGOPTIONS='-c search_path=pg_catalog,pg_temp -c default_transaction_read_only=off -c statement_timeout=0 -c default_transaction_isolation=read\ committed -c role=none'
for setting in "default_transaction_read_only = on" "statement_timeout = '20ms'" "etl.source_timezone = 'No/Such_Zone'" \
               "default_transaction_isolation = 'serializable'" "role = 'etl_runner'"; do
    as_user owner appdb -c "ALTER DATABASE appdb SET $setting" >/dev/null 2>&1 \
        && ok "the owner sets $setting for database appdb" || { not_ok "the owner sets $setting for database appdb"; continue; }
    restart_server
    wait_worker appdb >/dev/null
    IG=$(new_uuid)
    load appdb la "$IG" 30 "g$RANDOM"
    if DB=appdb wait_for $PORT "SELECT string_agg(stage || ':' || state, ',' ORDER BY array_position(ARRAY['orders', 'customers', 'leads'], stage)) FROM etl.jobs WHERE import_id = '$IG'" "$DONE3" 10; then
        ok "database setting $setting of the owner's: the worker still finishes imports"
    else
        not_ok "database setting $setting of the owner's: the worker still finishes imports" \
            "jobs: $(jobs_of appdb "$IG" | tr '\n' ' ') attempts $(sq appdb -c "SELECT max(attempts) FROM etl.jobs WHERE import_id = '$IG'"); log: $(grep -E 'ERROR' "$DIR/server.log" | tail -1 | cut -c1-160)"
    fi
    sq appdb -c "ALTER DATABASE appdb RESET ${setting%% =*}" >/dev/null
done
export PGOPTIONS='-c search_path=pg_catalog,pg_temp'
# --- 8. Retention (issue 29): etl_purge and its settings. -------------------
expect_refused "the owner sets etl.retain_raw_lines = 0 for database appdb" \
    "$(try owner appdb "ALTER DATABASE appdb SET etl.retain_raw_lines = 0")" "42501"
expect_refused "the owner calls etl_purge" "$(try owner appdb "SELECT count(*) FROM pg_catalog.etl_purge('0')")" "42501"
expect_refused "a role granted nothing calls etl_purge" "$(try nobody appdb "SELECT count(*) FROM pg_catalog.etl_purge('0')")" "42501"
expect_refused "loader lb calls etl_purge" "$(try lb appdb "SELECT count(*) FROM pg_catalog.etl_purge('0')")" "42501"
expect_refused "loader lb shortens a retention (SET etl.retain_raw_lines = 0)" "$(try lb appdb "SET etl.retain_raw_lines = 0")" "42501"
expect_refused "loader lb deletes la's raw lines" "$(try lb appdb "DELETE FROM etl.raw_orders")" "42501"
expect_refused "loader lb marks la's import purged (so that it never runs again)" \
    "$(try lb appdb "INSERT INTO etl.purged_imports (import_id, raw_purged_at) VALUES ('$IC', now())")" "42501"
expect_refused "loader lb reads etl.purged_imports" "$(try lb appdb "SELECT count(*) FROM etl.purged_imports")" "42501"
# The partitions of etl.raw_orders (0.5.0): the runner's to empty, nobody
# else's to read, empty or lock; the routing functions nobody's to call.
for who in owner lb nobody; do
    expect_refused "$who reads a partition of etl.raw_orders directly" \
        "$(try $who appdb "SELECT count(*) FROM etl.raw_orders_05")" "42501"
    expect_refused "$who truncates a partition of etl.raw_orders" "$(try $who appdb "TRUNCATE etl.raw_orders_05")" "42501"
    expect_refused "$who calls the partition routing function" \
        "$(try $who appdb "SELECT pg_catalog.etl_raw_orders_day_hash32(pg_catalog.gen_random_uuid())")" "42501"
done
expect_refused "an operator truncates a partition of etl.raw_orders" "$(try ops appdb "TRUNCATE etl.raw_orders_05")" "42501"
expect_refused "an operator locks a partition of etl.raw_orders ACCESS EXCLUSIVE" \
    "$(try ops appdb "BEGIN; LOCK TABLE etl.raw_orders_05 IN ACCESS EXCLUSIVE MODE; COMMIT")" "42501"
expect_refused "loader lb locks etl.raw_orders ACCESS EXCLUSIVE" \
    "$(try lb appdb "BEGIN; LOCK TABLE etl.raw_orders IN ACCESS EXCLUSIVE MODE; COMMIT")" "42501"
# An operator's purge with the owner's plants on its search_path (and every
# retention 0 for its role, as a superuser may set): it purges, nothing
# planted runs.
sq postgres -c "ALTER ROLE ops IN DATABASE appdb SET etl.retain_raw_lines = 0" -c "ALTER ROLE ops IN DATABASE appdb SET etl.retain_jobs = 0" >/dev/null
LOG0=$(planted_in_log)
OUT=$(hostile ops appdb -c "SET search_path = $HOSTILE_PATH" \
                        -c "SELECT removed FROM pg_catalog.etl_purge('0') WHERE history OPERATOR(pg_catalog.=) 'etl.raw_orders'" 2>&1)
expect_true "an operator's purge (the owner's plants on its path) removes finished imports' raw lines ($(tail -1 <<<"$OUT"))" \
    "$([[ "$(tail -1 <<<"$OUT")" =~ ^[1-9][0-9]*$ ]] && echo t)"
check_clean "etl_purge" appdb "$LOG0"
expect_refused "an operator re-runs an import after its purge" "$(try ops appdb "SELECT count(*) FROM pg_catalog.etl_run_all('$I6')")" "55000"
sq postgres -c "ALTER ROLE ops IN DATABASE appdb RESET ALL" >/dev/null
restart_server
expect_eq "after all: owner is not a superuser, nothing planted ran" "f|" \
    "$(sq appdb -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'owner'")|$(hits appdb)$(hits otherdb)"
expect_eq "after all: the owner was granted nothing" "0" "$(sq postgres -c "SELECT count(*) FROM pg_auth_members WHERE member = 'owner'::regrole")"
finish
