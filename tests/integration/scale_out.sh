#!/usr/bin/env bash
# Scale-out with PL/Proxy (issue 11; docs/scale-out.md): the same imports
# through one server and through a proxy with 2 and with 4 partitions give
# the same result tables (orders, customers, leads, rejects: compared by
# natural keys with tests/result_fingerprint.sql, which runs unchanged on the
# proxy's views) and the same counts. A partition that is down makes
# etl_run_all fail naming it; once it is back, a re-run completes, and a
# partition that had finished reuses its runs instead of running again.
# Last, a hostile database owner on the proxy and the partitions: nothing
# it plants runs when an operator loads and runs an import through them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_hostile.sh"
if [ "$PG" != "15" ]; then
    echo "# skip: PL/Proxy is packaged for Debian's PostgreSQL 15 only; there is none for $PG here"
    exit 77
fi
if [ ! -e "$("$PG_CONFIG" --sharedir)/extension/plproxy.control" ]; then
    echo "# skip: PL/Proxy is not installed (bash scripts/setup.sh installs postgresql-15-plproxy)"
    exit 77
fi
test_dir DIR scale_out
export TMPDIR=$DIR   # scale_out.sh puts its clusters there
SINGLE=$(free_port)
BASE2=$(free_port "$SINGLE")
BASE4=$(free_port "$SINGLE" "$BASE2")
cluster_start "$DIR/single" "$SINGLE"
at_exit 'cluster_stop $DIR/single'
for base in "$BASE2" "$BASE4"; do
    for i in 1 2 3 4 5; do
        [ -e "/tmp/.s.PGSQL.$((base + i))" ] && { not_ok "ports $base..$((base + 5)) are free"; finish; exit 1; }
    done
done
bash "$ROOT/scripts/scale_out.sh" start 2 "$BASE2" >"$DIR/start2.log" 2>&1 || { not_ok "scale_out.sh start 2" "$(tail "$DIR/start2.log")"; finish; exit 1; }
at_exit "bash $ROOT/scripts/scale_out.sh stop $BASE2 >/dev/null"
bash "$ROOT/scripts/scale_out.sh" start 4 "$BASE4" >"$DIR/start4.log" 2>&1 || { not_ok "scale_out.sh start 4" "$(tail "$DIR/start4.log")"; finish; exit 1; }
at_exit "bash $ROOT/scripts/scale_out.sh stop $BASE4 >/dev/null"
ok "scale_out.sh starts a proxy with 2 and one with 4 partitions"

# The lines of import I (1..4): orders updated by later imports and repeated
# within one, shops with white space (ideographic too), a shop in another
# case, an inactive shop, unknown shops, no shop, bad amounts and times,
# empty and missing customers, mapped and unmapped types, cancellations.
lines() {
    cat <<SQL
SELECT n AS line_no, 'SO-' || (n % 400 + $1 * 70) AS order_id,
       (ARRAY['Tmall Flagship', ' JD Outlet ', 'Closed Store', 'No Such Shop', NULL, E'\u3000Douyin Live',
              'Pinduoduo "Deals"', 'tmall flagship'])[1 + (n * $1) % 8] AS shop,
       (ARRAY['王小明', 'Li Lei', E'\u3000小红\u3000', 'O''Brien', '', NULL, 'Zoë'])[1 + (n + $1) % 7] AS customer_name,
       (ARRAY['paid', 'cancelled', 'REFUNDED', 'shipped'])[1 + (n + $1) % 4] AS order_status,
       (ARRAY['样品', '批发', NULL, 'unknown type'])[1 + n % 4] AS order_type,
       CASE WHEN n % 40 = 0 THEN '¥1,2x4' WHEN n % 97 = 0 THEN NULL
            ELSE '¥' || ((n * 37 * $1) % 9000) || '.' || lpad(((n * 13) % 1000)::text, 3, '0') END AS amount,
       CASE WHEN n % 55 = 0 THEN '2026-02-30 10:00:00'
            ELSE '2026-0' || (1 + (n + $1) % 9) || '-1' || (n % 9) || ' 1' || (n % 10) || ':00:00' END AS ordered_at
  FROM generate_series(1, 700) n
SQL
}
import_id() { echo "01940000-0000-7000-8000-00000000000$1"; }

# The single server: the tables, as a loader writes them.
q "$SINGLE" >/dev/null <<'SQL'
CREATE EXTENSION etl_ext;
INSERT INTO etl.shops (shop_name, platform) VALUES ('Tmall Flagship', 'tmall'), ('JD Outlet', 'jd'),
    ('Closed Store', 'taobao'), ('Douyin Live', 'douyin'), ('Pinduoduo "Deals"', 'pdd');
UPDATE etl.shops SET active = false WHERE shop_name = 'Closed Store';
INSERT INTO etl.order_type_mappings VALUES ('样品', 'SAMPLE'), ('批发', 'BULK');
SQL
single_import() {
    q "$SINGLE" >/dev/null <<SQL
INSERT INTO etl.imports (import_id, source) VALUES ('$(import_id "$1")', 'import $1');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
SELECT '$(import_id "$1")', l.* FROM ($(lines "$1")) l;
UPDATE etl.imports SET status = 'completed', completed_at = clock_timestamp() WHERE import_id = '$(import_id "$1")';
SQL
    q "$SINGLE" -F '|' -c "SELECT stage, rows_in, rows_ok, rows_superseded, rows_rejected, rows_failed
                            FROM etl_run_all('$(import_id "$1")')"
}

# Through a proxy: the same master data and lines, by its functions.
proxy_setup() {
    q "$1" >/dev/null <<'SQL'
SELECT etl_add_shop('Tmall Flagship', 'tmall'), etl_add_shop('JD Outlet', 'jd'), etl_add_shop('Closed Store', 'taobao'),
       etl_add_shop('Douyin Live', 'douyin'), etl_add_shop('Pinduoduo "Deals"', 'pdd');
SELECT etl_set_shop_active('Closed Store', false);
SELECT etl_add_order_type_mapping('样品', 'SAMPLE'), etl_add_order_type_mapping('批发', 'BULK');
SQL
}
proxy_load() { # PORT I
    q "$1" >/dev/null <<SQL
SELECT etl_begin_import('$(import_id "$2")', 'import $2');
SELECT etl_load_lines('$(import_id "$2")', array_agg(line_no ORDER BY line_no), array_agg(order_id ORDER BY line_no),
                      array_agg(shop ORDER BY line_no), array_agg(customer_name ORDER BY line_no),
                      array_agg(order_status ORDER BY line_no), array_agg(order_type ORDER BY line_no),
                      array_agg(amount ORDER BY line_no), array_agg(ordered_at ORDER BY line_no))
  FROM ($(lines "$2")) l GROUP BY l.line_no / 250;
SELECT etl_complete_import('$(import_id "$2")');
SQL
}
proxy_run() { # PORT I
    q "$1" -F '|' -c "SELECT stage, rows_in, rows_ok, rows_superseded, rows_rejected, rows_failed
                       FROM etl_run_all('$(import_id "$2")')"
}

proxy_setup "$BASE2"
proxy_setup "$BASE4"
expect_eq "shop ids are the single server's, on every partition" \
    "$(q "$SINGLE" -c "SELECT string_agg(shop_id || ':' || shop_name || ':' || active, ',' ORDER BY shop_id) FROM etl.shops")" \
    "$(q "$((BASE4 + 3))" -c "SELECT string_agg(shop_id || ':' || shop_name || ':' || active, ',' ORDER BY shop_id) FROM etl.shops")"
for i in 1 2 3; do
    SINGLE_REPORT=$(single_import "$i")
    proxy_load "$BASE2" "$i"
    proxy_load "$BASE4" "$i"
    expect_eq "import $i: 2 partitions report the single server's counts (summed)" "$SINGLE_REPORT" "$(proxy_run "$BASE2" "$i")"
    expect_eq "import $i: 4 partitions report the single server's counts (summed)" "$SINGLE_REPORT" "$(proxy_run "$BASE4" "$i")"
done
expect_eq "every partition of 4 got lines" "0,1,2,3" \
    "$(q "$BASE4" -c "SELECT string_agg(DISTINCT partition::text, ',') FROM etl.rejects")"
expect_eq "a shop's orders live in one partition" "0" \
    "$(q "$BASE4" -c "SELECT count(*) FROM (SELECT shop_id FROM etl.orders GROUP BY shop_id HAVING count(DISTINCT partition) > 1) s")"

# The proxy's privileges are one server's: a loader loads, a reader reads,
# only an operator runs; nobody else does anything.
q "$BASE4" -c "CREATE ROLE px_loader LOGIN IN ROLE etl_loader" -c "CREATE ROLE px_reader LOGIN IN ROLE etl_reader" \
           -c "CREATE ROLE px_ops LOGIN IN ROLE etl_operator" -c "CREATE ROLE px_nobody LOGIN" >/dev/null
OUT=$(q "$BASE4" -U px_loader -d postgres -c "SELECT etl_begin_import('01940000-0000-7000-8000-0000000000ff', 'by a loader')" \
          -c "SELECT etl_load_lines('01940000-0000-7000-8000-0000000000ff', ARRAY[1], ARRAY['L-1'], ARRAY['Tmall Flagship'],
                                    ARRAY['Ann'], ARRAY['paid'], ARRAY[NULL], ARRAY['1'], ARRAY['2026-01-01'])" 2>&1 | tail -1)
expect_eq "a loader loads lines through the proxy" "1" "$OUT"
OUT=$(q "$BASE4" -U px_loader -d postgres -c "SELECT * FROM etl_run_all('01940000-0000-7000-8000-0000000000ff')" 2>&1)
case "$OUT" in *"permission denied"*) ok "a loader may not run the stages" ;; *) not_ok "a loader may not run the stages" "$OUT" ;; esac
expect_eq "a reader reads the partitions' orders" "$(q "$BASE4" -c "SELECT count(*) FROM etl.orders")" \
    "$(q "$BASE4" -U px_reader -d postgres -c "SELECT count(*) FROM etl.orders" 2>&1)"
OUT=$(q "$BASE4" -U px_reader -d postgres -c "SELECT etl_add_shop('Reader Shop')" 2>&1)
case "$OUT" in *"permission denied"*) ok "a reader may not add a shop" ;; *) not_ok "a reader may not add a shop" "$OUT" ;; esac
for call in "SELECT count(*) FROM etl.orders" "SELECT etl_begin_import(gen_random_uuid())" "SELECT etl_proxy.shop_hash('x')"; do
    OUT=$(q "$BASE4" -U px_nobody -d postgres -c "$call" 2>&1)
    case "$OUT" in *"permission denied"*) ok "a role without etl_* roles is refused: $call" ;;
                   *) not_ok "a role without etl_* roles is refused: $call" "$OUT" ;; esac
done

FP="$ROOT/tests/result_fingerprint.sql"
SINGLE_FP=$(q "$SINGLE" -f "$FP")
echo "# one server:   $SINGLE_FP"
expect_eq "2 partitions: the result tables equal one server's" "$SINGLE_FP" "$(q "$BASE2" -f "$FP")"
expect_eq "4 partitions: the result tables equal one server's" "$SINGLE_FP" "$(q "$BASE4" -f "$FP")"

# With the worker preloaded on the partitions, completing an import is
# enough: each partition's worker chains the stages (no etl_run_all).
proxy_load "$BASE4" 4
if wait_for "$BASE4" "SELECT count(*) FILTER (WHERE state = 'done') || '/' || count(*) FROM etl.pipeline_status
                      WHERE import_id = '$(import_id 4)'" "12/12" 60; then
    ok "4 partitions: etl_complete_import alone runs the three stages on each partition (their workers)"
else
    not_ok "4 partitions: etl_complete_import alone runs the three stages on each partition (their workers)"
fi
expect_eq "... and etl_run_all afterwards reuses every partition's runs" "t" \
    "$(q "$BASE4" -c "SELECT bool_and((p ->> 'reused')::boolean) FROM etl_run_all('$(import_id 4)'), jsonb_array_elements(details -> 'partitions') p")"

# A partition down: import 4 is loaded and completed, then partition 1 of
# the 2 stops before the proxy runs the import.
single_import 4 >/dev/null
proxy_load "$BASE2" 4
P1_DATA="$DIR/etl_scale_out_$BASE2/p1/data"
sudo -u postgres "$PGBIN/pg_ctl" -D "$P1_DATA" -m fast -w stop >/dev/null
OUT=$(q "$BASE2" -v VERBOSITY=verbose -c "SELECT * FROM etl_run_all('$(import_id 4)')" 2>&1)
echo "# with partition 1 down: $(echo "$OUT" | head -1)"
case "$OUT" in *"partition 1 ("*"port=$((BASE2 + 2))"*"not reachable"*) ok "etl_run_all fails naming the partition that is down" ;;
               *) not_ok "etl_run_all fails naming the partition that is down" "$OUT" ;; esac
case "$OUT" in *08006*) ok "... with SQLSTATE 08006 (connection failure)" ;; *) not_ok "... with SQLSTATE 08006" "$OUT" ;; esac
sudo -u postgres "$PGBIN/pg_ctl" -D "$P1_DATA" -l "$DIR/etl_scale_out_$BASE2/p1/restart.log" -w start >/dev/null
RERUN=$(q "$BASE2" -c "SELECT string_agg(stage || ':' || status, ',') || ' ' || string_agg(details -> 'partitions' -> 0 ->> 'reused', ',')
                        FROM etl_run_all('$(import_id 4)')")
expect_eq "once it is back, the re-run completes" "orders:partial_success,customers:success,leads:success" "${RERUN% *}"
expect_eq "... and partition 0, done before, reused its runs instead of running again" "true,true,true" "${RERUN#* }"
SINGLE_FP=$(q "$SINGLE" -f "$FP")
expect_eq "after import 4, 2 partitions still equal one server" "$SINGLE_FP" "$(q "$BASE2" -f "$FP")"
expect_eq "after import 4 (run by the workers), 4 partitions still equal one server" "$SINGLE_FP" "$(q "$BASE4" -f "$FP")"
# A database owner who plants (tests/integration/lib_hostile.sh): on the
# proxy and on both partitions of the 2-partition deployment, operators,
# functions, aggregates, domains and casts in public, and a database
# search_path that puts public first (as a database owner may). An operator
# then loads and runs import 5 through the proxy; the proxy's calls reach the
# partitions in sessions that get those databases' search_path, and the
# partitions' workers run the stages too. Nothing planted may run anywhere.
# (Sessions of this script that check pin their own search_path.)
pinned() { PGOPTIONS='-c search_path=pg_catalog,pg_temp' q "$@"; }
HOSTILE_PORTS="$BASE2 $((BASE2 + 1)) $((BASE2 + 2))"
# Here the databases are the servers' postgres, owned by the superuser: the
# owner gets what a database's owner has in PostgreSQL 15 (CREATE on public)
# and plants as itself (a superuser could add casts between built-in types).
for port in $HOSTILE_PORTS; do
    q "$port" -c "CREATE ROLE owner LOGIN NOSUPERUSER" -c "GRANT CREATE ON SCHEMA public TO owner" >/dev/null
    base_sql | q "$port" -U owner -d postgres >/dev/null || not_ok "owner's base objects on port $port"
    plants_sql | q "$port" -U owner -d postgres -v ON_ERROR_STOP=0 >/dev/null 2>"$DIR/plants-$port.err"
    q "$port" -c "ALTER DATABASE postgres SET search_path = public, pg_catalog" >/dev/null
    expect_true "hostile owner: planted in public on port $port" \
        "$(pinned "$port" -c "SELECT (SELECT count(*) FROM pg_operator WHERE oprnamespace = 'public'::regnamespace) >= 45
                               AND (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND prokind = 'a') >= 15
                               AND to_regtype('public.text') IS NOT NULL AND to_regtype('public.uuid') IS NOT NULL")"
done
q "$BASE2" -c "CREATE ROLE px_ops2 LOGIN IN ROLE etl_operator" >/dev/null
single_import 5 >/dev/null
# The lines are generated by this script's own SQL (pinned: what the client
# runs is not the extension's); the proxy's functions are called by name.
pinned "$BASE2" -U px_ops2 -d postgres >/dev/null <<SQL
SELECT pg_catalog.etl_begin_import('$(import_id 5)', 'import 5');
SELECT pg_catalog.etl_load_lines('$(import_id 5)', array_agg(line_no ORDER BY line_no), array_agg(order_id ORDER BY line_no),
                      array_agg(shop ORDER BY line_no), array_agg(customer_name ORDER BY line_no),
                      array_agg(order_status ORDER BY line_no), array_agg(order_type ORDER BY line_no),
                      array_agg(amount ORDER BY line_no), array_agg(ordered_at ORDER BY line_no))
  FROM ($(lines 5)) l GROUP BY l.line_no / 250;
SELECT pg_catalog.etl_complete_import('$(import_id 5)');
SQL
# etl_run_all by the operator in a session with the proxy database's search_path.
# (No operator or aggregate in the statement itself: only the call is the test's.)
OUT=$(q "$BASE2" -U px_ops2 -d postgres -F ':' -R ',' -c "SELECT stage, status FROM etl_run_all('$(import_id 5)')" 2>&1)
expect_eq "hostile owner: an operator runs import 5 through the proxy" "orders:partial_success,customers:success,leads:success" "$OUT"
for port in $HOSTILE_PORTS; do
    expect_eq "hostile owner: nothing planted ran on port $port" "none" \
        "$(pinned "$port" -c "SELECT coalesce(string_agg(DISTINCT tag || ' as ' || who, '; '), 'none') FROM public.hits")"
    expect_eq "hostile owner: owner is still not a superuser on port $port" "f" \
        "$(pinned "$port" -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'owner'")"
done
SINGLE_FP=$(q "$SINGLE" -f "$FP")
expect_eq "hostile owner: after import 5, 2 partitions still equal one server" "$SINGLE_FP" "$(pinned "$BASE2" -f "$FP")"

# Partitions are reached only as the role scripts/scale_out.sh maps for
# etl_proxy_caller: no loader, reader or operator has USAGE on the server,
# so none can make or change a user mapping of its own; the proxy's
# functions are in pg_catalog, none in public; the proxy's script refuses a
# schema etl_proxy that another role made first.
q "$BASE2" -c "CREATE ROLE px_loader3 LOGIN IN ROLE etl_loader" >/dev/null
for who in px_loader3 px_ops2; do
    OUT=$(pinned "$BASE2" -U "$who" -d postgres -c "CREATE USER MAPPING FOR CURRENT_USER SERVER etl_partitions OPTIONS (user 'postgres')" 2>&1)
    expect_true "$who cannot create a user mapping for the partitions ($(head -1 <<<"$OUT" | cut -c1-60))" \
        "$(grep -q 'permission denied' <<<"$OUT" && echo t)"
    OUT=$(pinned "$BASE2" -U "$who" -d postgres -c "ALTER USER MAPPING FOR etl_proxy_caller SERVER etl_partitions OPTIONS (SET user 'postgres')" 2>&1)
    expect_true "$who cannot change etl_proxy_caller's user mapping" "$(grep -qE 'permission denied|must be owner' <<<"$OUT" && echo t)"
done
expect_eq "only etl_proxy_caller may use the server etl_partitions" "etl_proxy_caller" \
    "$(pinned "$BASE2" -c "SELECT string_agg(r.rolname, ',' ORDER BY r.rolname) FROM pg_roles r
                            WHERE has_server_privilege(r.oid, 'etl_partitions', 'USAGE') AND NOT r.rolsuper")"
expect_eq "the proxy's functions are in pg_catalog, none in public" "0|7" \
    "$(pinned "$BASE2" -c "SELECT (SELECT count(*) FROM pg_proc WHERE proname LIKE 'etl\_%' AND pronamespace = 'public'::regnamespace)
                            || '|' || (SELECT count(*) FROM pg_proc WHERE proname LIKE 'etl\_%' AND pronamespace = 'pg_catalog'::regnamespace)")"
q "$BASE2" -c "CREATE DATABASE prepared OWNER owner" >/dev/null
pinned "$BASE2" -U owner -d prepared -c "CREATE SCHEMA etl_proxy" >/dev/null
OUT=$(q "$BASE2" -d prepared -v ON_ERROR_STOP=1 -f "$ROOT/sql/scale_out/proxy.sql" 2>&1)
expect_true "the proxy's script refuses a schema etl_proxy the database owner made first" \
    "$(grep -q 'exists and belongs to a role without superuser rights' <<<"$OUT" && echo t)"
finish
