#!/usr/bin/env bash
# etl_purge's record of what it removed, against sessions that change an
# import's raw lines while the purge runs (review of 0.5.0; docs/semantics.md
# 13.2: "the import and its counts stay").
#
# The attack: a session deletes some raw lines of a finished import (here
# a superuser, the only role besides etl_runner that may delete them) and
# holds them, uncommitted, while etl_purge purges that import. The purge's
# DELETE waits for those rows; once the other session commits, it skips
# them. A count taken from the statement's snapshot (as 784d75f did, to
# avoid RETURNING every deleted row) still counts them: etl_purge reported
# and etl.purged_imports recorded lines the purge never removed. The count
# must be the rows the purge's DELETE removed.
# PG=15 (default) or PG=18 selects the major.
. "$(dirname "$0")/lib.sh"
test_dir DIR purge_count
PORT=$(free_port)
cluster_start "$DIR" $PORT
at_exit 'cluster_stop $DIR'
export PGOPTIONS='-c search_path=pg_catalog,pg_temp'

q $PORT -c "CREATE EXTENSION etl_ext" -c "INSERT INTO etl.shops (shop_name) VALUES ('S1')" >/dev/null
# import ID LINES: a finished import (completed, its three stages run) of
# LINES raw lines, completed a day ago.
import() {
    q $PORT -c "INSERT INTO etl.imports (import_id, source) VALUES ('$1', 'purge_count')" \
        -c "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, amount, ordered_at)
            SELECT '$1', n, 'O-' || n, 'S1', 'c' || n % 7, 'paid', '1.50', '2026-01-01 10:00:00' FROM generate_series(1, $2) n" \
        -c "UPDATE etl.imports SET status = 'completed' WHERE import_id = '$1'" \
        -c "SELECT count(*) FROM etl_run_all('$1')" \
        -c "UPDATE etl.imports SET completed_at = now() - interval '1 day' WHERE import_id = '$1'" >/dev/null
}
A=aaaaaaaa-0000-4000-8000-0000000000a1
B=aaaaaaaa-0000-4000-8000-0000000000b2
import $A 200
import $B 50
expect_eq "both imports are finished: their jobs done, none left to run" "2 0" \
    "$(q $PORT -c "SELECT count(DISTINCT import_id) FILTER (WHERE state = 'done') || ' ' || count(*) FILTER (WHERE state <> 'done') FROM etl.jobs")"

# A superuser's session deletes lines 1-30 of import A and holds them (no
# commit yet); meanwhile etl_purge purges A and B, waiting for those rows.
q $PORT -c "BEGIN" -c "WITH d AS (DELETE FROM etl.raw_orders WHERE import_id = '$A' AND line_no <= 30 RETURNING 1)
                        SELECT 'deleted ' || count(*) FROM d" \
    -c "SELECT pg_sleep(3)" -c "COMMIT" >"$DIR/deleter.out" 2>&1 &
DELETER=$!
wait_for $PORT "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3)%' AND pid <> pg_backend_pid()" 1 30 >/dev/null
REMOVED=$(q $PORT -c "SET etl.retain_raw_lines = 0" \
    -c "SELECT removed FROM etl_purge('1 hour') WHERE history = 'etl.raw_orders'" 2>&1)
wait $DELETER
expect_eq "the other session deleted its 30 lines of import A" "deleted 30" "$(grep -o 'deleted 30' "$DIR/deleter.out" || cat "$DIR/deleter.out")"
expect_eq "every raw line of A and B is gone" "0" \
    "$(q $PORT -c "SELECT count(*) FROM etl.raw_orders WHERE import_id IN ('$A', '$B')")"
expect_eq "etl_purge reports the raw lines it removed (170 of A, 50 of B), not the 30 another session removed" \
    "220" "$REMOVED"
expect_eq "etl.purged_imports records for A the 170 lines the purge removed, for B its 50" "170 50" \
    "$(q $PORT -c "SELECT string_agg(raw_lines::text, ' ' ORDER BY import_id) FROM etl.purged_imports")"

finish
