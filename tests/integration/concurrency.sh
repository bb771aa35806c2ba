#!/usr/bin/env bash
# Invariant 3.4.4: eight sessions running etl_run_all at once, on eight
# imports that share customers (and leads), all succeed, with no deadlock and
# no unique violation, and give the same result as the imports run one after
# another.
. "$(dirname "$0")/lib.sh"
test_dir DIR concurrency
PORT=$(free_port)
cluster_start "$DIR" $PORT "deadlock_timeout = '100ms'" "etl.batch_size = 200"
at_exit 'cluster_stop $DIR'
FP=$ROOT/tests/result_fingerprint.sql
SESSIONS=8

setup() { # database
    q $PORT -c "CREATE DATABASE $1" >/dev/null
    q $PORT -d "$1" -c "CREATE EXTENSION etl_ext" >/dev/null
    q $PORT -d "$1" >/dev/null <<SQL
INSERT INTO etl.shops (shop_name) SELECT 'shop ' || s FROM generate_series(1, 5) s;
INSERT INTO etl.order_type_mappings VALUES ('sample', 'SAMPLE'), ('bulk', 'BULK');
-- Eight imports; every import's orders belong to the same 60 customers.
INSERT INTO etl.imports (import_id, source)
SELECT ('00000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid, 'import ' || i FROM generate_series(1, $SESSIONS) i;
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
SELECT ('00000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid, n,
       'I' || i || '-' || (n % 700),                        -- duplicates inside each import
       'shop ' || (1 + n % 5),
       'customer ' || (n % 60) || CASE WHEN n % 97 = 0 THEN ' O''Neil\\' ELSE '' END,
       (ARRAY['paid', 'cancelled', 'refunded', 'shipped'])[1 + n % 4],
       (ARRAY['sample', 'bulk', NULL])[1 + n % 3],
       CASE WHEN n % 50 = 0 THEN 'n/a' ELSE ((n * 37) % 10000)::text || '.' || lpad(((n * 13) % 1000)::text, 3, '0') END,
       '2026-0' || (1 + n % 9) || '-1' || (n % 9) || ' 1' || (n % 10) || ':00:00'
  FROM generate_series(1, $SESSIONS) i, generate_series(1, 1000) n;
UPDATE etl.imports SET status = 'completed';
SQL
}

setup serial
setup concurrent

for i in $(seq 1 $SESSIONS); do
    q $PORT -d serial -c "SELECT status FROM etl_run_all('00000000-0000-7000-8000-$(printf '%012d' "$i")')" >/dev/null
done
SERIAL=$(q $PORT -d serial -f "$FP")

PIDS=()
for i in $(seq 1 $SESSIONS); do
    q $PORT -d concurrent -c "SELECT string_agg(status, ',') FROM etl_run_all('00000000-0000-7000-8000-$(printf '%012d' "$i")')" \
        >"$DIR/session_$i.out" 2>&1 &
    PIDS+=($!)
done
FAILED_SESSIONS=0
for pid in "${PIDS[@]}"; do wait "$pid" || FAILED_SESSIONS=$((FAILED_SESSIONS + 1)); done
expect_eq "all $SESSIONS concurrent sessions succeed" "0" "$FAILED_SESSIONS"
expect_eq "every stage of every session ended partial_success or success" "$SESSIONS" \
    "$(cat "$DIR"/session_*.out | grep -c '^partial_success,success,success$')"
grep -h -i "deadlock\|duplicate key\|ERROR" "$DIR"/session_*.out && not_ok "no deadlock, no unique violation" || ok "no deadlock, no unique violation"
expect_eq "concurrent runs give the serial runs' result" "$SERIAL" "$(q $PORT -d concurrent -f "$FP")"
expect_eq "row counts identity holds for every orders run" "0" \
    "$(q $PORT -d concurrent -c "SELECT count(*) FROM etl.runs WHERE stage = 'orders' AND rows_in <> rows_ok + rows_superseded + rows_rejected + rows_failed")"
expect_eq "every lead's aggregates equal its orders' aggregation" "0" \
    "$(q $PORT -d concurrent -c "SELECT count(*) FROM etl.business_leads l LEFT JOIN LATERAL (
          SELECT count(*) FILTER (WHERE latest_status NOT IN ('CANCELLED','REFUNDED')) AS n,
                 coalesce(sum(amount) FILTER (WHERE latest_status NOT IN ('CANCELLED','REFUNDED')), 0) AS total
            FROM etl.orders o WHERE o.lead_id = l.lead_id) a ON true
        WHERE l.order_count <> a.n OR l.total_amount <> a.total")"
echo "# serial and concurrent fingerprint: $SERIAL"
finish
