#!/usr/bin/env bash
# Only errors caused by the data narrow a batch down to load_error lines
# (contract 3.1). A lock timeout while the orders stage writes fails the
# whole stage: no good line becomes a reject, nothing of the stage is kept,
# and running it again later loads every line.
. "$(dirname "$0")/lib.sh"
test_dir DIR transient
PORT=$(free_port)
cluster_start "$DIR" $PORT
at_exit 'cluster_stop $DIR'

q $PORT -c "CREATE EXTENSION etl_ext" >/dev/null
FIRST=$(q $PORT -c "SELECT etl_demo_import(400, 0.2)")
q $PORT -c "SELECT count(*) FROM etl_run_all('$FIRST')" >/dev/null
# A second import that updates every order of the first.
SECOND=$(q $PORT -c "SELECT etl_uuid_v7()")
q $PORT -c "INSERT INTO etl.imports (import_id, source) VALUES ('$SECOND', 'updates')" \
        -c "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
            SELECT '$SECOND', line_no, order_id, shop, customer_name, 'shipped', order_type, amount, ordered_at
              FROM etl.raw_orders WHERE import_id = '$FIRST'" \
        -c "UPDATE etl.imports SET status = 'completed', completed_at = now() WHERE import_id = '$SECOND'" >/dev/null
LOCKED=$(q $PORT -c "SELECT order_id FROM etl.orders ORDER BY order_id DESC LIMIT 1")
LOADED=$(q $PORT -c "SELECT count(*) FROM etl.orders WHERE import_id = '$FIRST'")

# Another session holds one of those orders for a few seconds.
( echo "BEGIN;"
  echo "SELECT 1 FROM etl.orders WHERE order_id = '$LOCKED' FOR UPDATE;"
  echo "SELECT pg_sleep(5);"
  echo "COMMIT;" ) | psql -h /tmp -p $PORT -U postgres -X -q >/dev/null 2>&1 &
HOLDER=$!
wait_for $PORT "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock' AND pid <> pg_backend_pid()
                 AND pid IN (SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep%')" "1" 10 >/dev/null

RESULT=$(q $PORT -c "SET lock_timeout = '300ms'" \
              -c "SELECT status || '|' || rows_failed || '|' || coalesce(details ->> 'error', '') FROM etl_orders('$SECOND')")
echo "# etl_orders during the lock: $RESULT"
expect_eq "a lock timeout fails the stage as a whole" "failed|0" "$(echo "$RESULT" | cut -d'|' -f1,2)"
case "$RESULT" in *"lock timeout"*) ok "the run says why (lock timeout)" ;; *) not_ok "the run says why (lock timeout)" "$RESULT" ;; esac
expect_eq "no line became a load_error reject" "0" \
    "$(q $PORT -c "SELECT count(*) FROM etl.rejects WHERE import_id = '$SECOND' AND reason = 'load_error'")"
expect_eq "nothing of the failed stage was kept" "0" \
    "$(q $PORT -c "SELECT count(*) FROM etl.orders WHERE import_id = '$SECOND'")"
expect_eq "the failed run is logged" "failed" \
    "$(q $PORT -c "SELECT status FROM etl.runs WHERE import_id = '$SECOND' AND stage = 'orders' ORDER BY run_id DESC LIMIT 1")"
wait $HOLDER

RESULT=$(q $PORT -c "SELECT status || '|' || rows_failed FROM etl_orders('$SECOND')")
expect_eq "once the lock is gone the stage loads every order again" "$LOADED" \
    "$(q $PORT -c "SELECT count(*) FROM etl.orders WHERE import_id = '$SECOND'")"
expect_eq "no failed line on the second run" "0" "$(echo "$RESULT" | cut -d'|' -f2)"
expect_eq "the orders now belong to the second import" "0" \
    "$(q $PORT -c "SELECT count(*) FROM etl.orders WHERE import_id = '$FIRST'")"
finish
