#!/usr/bin/env bash
# A day's raw lines go as a whole (issue 29, "cheap at size"; docs/semantics.md
# 13.5): etl.raw_orders is partitioned by the day of its imports' version 7
# ids, and etl_purge empties (TRUNCATE) a day's partition whose imports are
# all finished, and deletes the rest as before.
#
# Imports of five old days (each day its own partition) and of today, a
# version 4 import (partition 0), a pending import of an old day; loaded by
# a loader, run by an operator, aged 40 days (the superuser writes the
# times, as retention.sh does). Then, as an operator:
# 1. etl_purge('30 days') empties the partition whose imports all finished
#    (a new file, no row), records each import's lines and rejects, keeps
#    the partition that holds a pending import (its finished import's lines
#    deleted), deletes the version 4 import's lines, keeps today's lines and
#    every business row; an import purged so is refused a re-run and
#    etl_explain says its raw line was purged.
# 2. A partition another session reads (its lock held) is not waited for:
#    the purge deletes its lines instead, in about a second.
# 3. A REPEATABLE READ transaction whose snapshot predates the purge is
#    refused (40001) a run of an import whose partition was emptied: its
#    snapshot would read no lines at all.
# 4. A purge in a REPEATABLE READ transaction deletes, never truncates.
# 5. While a purge that emptied a partition is not yet committed, a loader
#    adds lines to today's import without waiting.
# (11. at the end: readers without the import's row lock beside such a purge.)
# Attacks of a review (each failed before its fix):
# 6. An operator's purge empties an old day's partition and keeps its
#    transaction open: its ACCESS EXCLUSIVE lock is held until it commits.
#    A session that had run a stage statement five times (the queue worker,
#    any operator's session) planned it generic, over all 32 partitions,
#    and every orders run then waited for that lock: the pipeline stalled
#    for as long as the operator liked. Stages read their import's one
#    partition (plans made for the import's id, whatever plan_cache_mode
#    the session has: a database owner's ALTER DATABASE ... SET
#    plan_cache_mode = force_generic_plan or enable_partition_pruning = off
#    reaches pg_cron's sessions).
# 7. etl_quality in a REPEATABLE READ transaction whose snapshot predates a
#    purge that emptied the import's partition counted no lines: an empty
#    answer, as of an import without lines. It is refused (40001).
# 8. A loader keeps etl.raw_orders read (an open transaction): every
#    partition's lock was tried for a second each, 31 s with every day
#    purgeable, while the partitions emptied first stayed locked. The
#    purge now tries for about a second in all.
# 9. As 6, for loaders: etl_import_export looks for the caller's import of
#    the same file by one statement that counted its lines in a subquery,
#    planned over every partition: while an operator's purge held an
#    emptied one, every loader's etl_import_export waited for it. With
#    plan_cache_mode = force_generic_plan (the owner's ALTER DATABASE ...
#    SET), the count of its lines made when it completes did too.
# 10. The ring's slots of yesterday, today and tomorrow (UTC) are where the
#    server's new ids go (etl_uuid_v7, etl_import_export), around midnight
#    too. An operator's purge emptied tomorrow's slot (day 30's imports,
#    finished) and kept its transaction open: after midnight every new
#    import's lines waited for it, all day. An operator's purge deletes
#    those slots' lines instead; a superuser's (pg_cron's) still empties
#    them (a superuser may lock any table anyway).
. "$(dirname "$0")/lib.sh"
test_dir DIR purge_partitions
PORT=$(free_port)
cluster_start "$DIR" $PORT "autovacuum = off"
at_exit 'cluster_stop $DIR'
export DB=live

q $PORT -c "CREATE DATABASE live" >/dev/null
q $PORT -d live >/dev/null <<'SQL'
CREATE EXTENSION etl_ext;
INSERT INTO etl.shops (shop_name) SELECT 'shop ' || s FROM generate_series(1, 3) s;
INSERT INTO etl.order_type_mappings VALUES ('sample', 'SAMPLE'), ('bulk', 'BULK');
CREATE ROLE etl_it_loader NOLOGIN;
GRANT etl_loader TO etl_it_loader;
CREATE ROLE etl_it_ops NOLOGIN;
GRANT etl_operator TO etl_it_ops;
-- A version 7 id made at noon (UTC) DAYS_AGO days ago, numbered N; the
-- partition its lines go to; a version 4 id numbered N.
CREATE FUNCTION public.v7(days_ago integer, n integer) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT (lpad(to_hex(((extract(epoch FROM (current_date - days_ago)::timestamp) + 43200) * 1000)::bigint), 12, '0')
            || '7000' || '8' || lpad(to_hex(n), 15, '0'))::uuid $$;
CREATE FUNCTION public.day_partition(days_ago integer) RETURNS regclass LANGUAGE sql AS $$
    SELECT format('etl.raw_orders_%s',
                  lpad((1 + ((extract(epoch FROM (current_date - days_ago)::timestamp)::bigint / 86400) % 31))::text,
                       2, '0'))::regclass $$;
CREATE FUNCTION public.v4(n integer) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT overlay(overlay(md5('v4 ' || n) placing '4' from 13) placing '8' from 17)::uuid $$;
GRANT EXECUTE ON FUNCTION public.v7(integer, integer), public.v4(integer) TO PUBLIC;
SQL

# load ID SOURCE [pending]: a loader's import of 200 lines (one in 20 with a
# bad amount: a reject), completed unless "pending".
load() {
    q $PORT -d live -v ON_ERROR_STOP=1 >/dev/null <<SQL
SET ROLE etl_it_loader;
INSERT INTO etl.imports (import_id, source) VALUES ($1, '$2');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
SELECT $1, n, '$2-' || n, 'shop ' || (1 + n % 3), 'customer ' || (n % 40), 'paid', (ARRAY['sample', 'bulk'])[1 + n % 2],
       CASE WHEN n % 20 = 0 THEN 'n/a' ELSE (n * 3) || '.25' END, '2026-03-0' || (1 + n % 9) || ' 10:00:00'
  FROM generate_series(1, 200) n;
$( [ "${3:-}" == pending ] || echo "UPDATE etl.imports SET status = 'completed' WHERE import_id = $1;" )
SQL
}
for k in 1 2 3; do load "v7(40, $k)" "day40-$k"; done
load "v7(41, 1)" day41-finished
load "v7(41, 2)" day41-pending pending
load "v7(42, 1)" day42
load "v7(43, 1)" day43
load "v4(1)" v4-old
load "v7(0, 1)" today
q $PORT -d live -c "SET ROLE etl_it_ops" -c "CALL etl_run_queue()" >/dev/null
expect_eq "the operator ran every completed import" 0 \
    "$(q $PORT -d live -c "SELECT count(*) FROM etl.jobs WHERE state <> 'done'")"
expect_eq "each day's lines are in that day's partition, the version 4 import's in partition 0" \
    "day40-1 $(q $PORT -d live -c "SELECT day_partition(40)")|day41-pending $(q $PORT -d live -c "SELECT day_partition(41)")|v4-old etl.raw_orders_00" \
    "$(q $PORT -d live -c "SELECT string_agg(DISTINCT i.source || ' ' || r.tableoid::regclass, '|')
                             FROM etl.raw_orders r JOIN etl.imports i USING (import_id)
                            WHERE i.source IN ('day40-1', 'day41-pending', 'v4-old')")"
# Everything but today's import (and the pending one) finished 40 days ago.
q $PORT -d live -c "UPDATE etl.imports SET completed_at = completed_at - interval '40 days'
                     WHERE source <> 'today' AND status = 'completed'" >/dev/null

BUSINESS="SELECT md5(string_agg(x, E'\n' ORDER BY x)) FROM (
            SELECT to_jsonb(o)::text AS x FROM etl.orders o UNION ALL SELECT to_jsonb(c)::text FROM etl.customers c
            UNION ALL SELECT to_jsonb(l)::text FROM etl.business_leads l) t"
BUSINESS_BEFORE=$(q $PORT -d live -c "$BUSINESS")
OLD_LINES=$(q $PORT -d live -c "SELECT count(*) FROM etl.raw_orders r JOIN etl.imports i USING (import_id)
                                 WHERE i.status = 'completed' AND i.completed_at < now() - interval '30 days'")
DAY40_REJECTS=$(q $PORT -d live -c "SELECT count(*) FROM etl.rejects j JOIN etl.imports i USING (import_id) WHERE i.source LIKE 'day40-%'")
filenode() { q $PORT -d live -c "SELECT pg_relation_filenode(day_partition($1))"; }
F40=$(filenode 40)
F41=$(filenode 41)
F42=$(filenode 42)
F00=$(q $PORT -d live -c "SELECT pg_relation_filenode('etl.raw_orders_00')")
echo "# old finished lines: $OLD_LINES; rejects of day 40: $DAY40_REJECTS"

# 2. Another session reads day 42's partition (and keeps its lock) for 6 s.
q $PORT -d live -c "BEGIN" -c "SELECT count(*) FROM etl.raw_orders_$(q $PORT -d live -c "SELECT right(day_partition(42)::text, 2)")" \
    -c "SELECT pg_sleep(6)" -c "COMMIT" >/dev/null &
READER=$!
# 3. A REPEATABLE READ transaction takes its snapshot now, then runs day 43's
#    orders stage once the purge committed.
q $PORT -d live >"$DIR/rr.out" 2>&1 <<SQL &
SET ROLE etl_it_ops;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM etl.imports;
SELECT pg_sleep(4);
SELECT rows_in FROM etl_orders(v7(43, 1));
COMMIT;
SQL
RR=$!
sleep 1

START=$(date +%s.%N)
PURGED=$(q $PORT -d live -c "SET etl.retain_raw_lines = 0" -c "SET ROLE etl_it_ops" \
    -c "SELECT removed FROM etl_purge('30 days') WHERE history = 'etl.raw_orders'")
SECONDS_TAKEN=$(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
echo "# the purge took ${SECONDS_TAKEN}s"

# 1.
expect_eq "etl_purge removed every raw line of the old finished imports" "$OLD_LINES" "$PURGED"
expect_true "day 40's partition (all its imports finished) was emptied as a whole: a new file, no row" \
    "$(q $PORT -d live -c "SELECT pg_relation_filenode(day_partition(40)) <> $F40
                             AND NOT EXISTS (SELECT FROM etl.raw_orders r WHERE r.import_id IN (v7(40, 1), v7(40, 2), v7(40, 3)))
                             AND pg_relation_size(day_partition(40)) = 0")"
expect_eq "each of day 40's imports is recorded with its 200 lines, and its rejects with it" "3 600 $DAY40_REJECTS" \
    "$(q $PORT -d live -c "SELECT count(*) || ' ' || sum(p.raw_lines) || ' ' || sum(p.rejected_lines)
                             FROM etl.purged_imports p JOIN etl.imports i USING (import_id)
                            WHERE i.source LIKE 'day40-%' AND p.raw_purged_at IS NOT NULL")"
expect_eq "and its rejects are gone" 0 \
    "$(q $PORT -d live -c "SELECT count(*) FROM etl.rejects j JOIN etl.imports i USING (import_id) WHERE i.source LIKE 'day40-%'")"
expect_eq "day 41's partition holds a pending import: kept (same file), its finished import's lines deleted, the pending one's all there" \
    "true 0 200" \
    "$(q $PORT -d live -c "SELECT (pg_relation_filenode(day_partition(41)) = $F41)
                                  || ' ' || (SELECT count(*) FROM etl.raw_orders WHERE import_id = v7(41, 1))
                                  || ' ' || (SELECT count(*) FROM etl.raw_orders WHERE import_id = v7(41, 2))")"
expect_eq "the version 4 import's lines were deleted from partition 0 (same file)" "true 0" \
    "$(q $PORT -d live -c "SELECT (pg_relation_filenode('etl.raw_orders_00') = $F00)
                                  || ' ' || (SELECT count(*) FROM etl.raw_orders WHERE import_id = v4(1))")"
expect_eq "today's import keeps its 200 lines" 200 \
    "$(q $PORT -d live -c "SELECT count(*) FROM etl.raw_orders WHERE import_id = v7(0, 1)")"
expect_eq "no order, customer or lead changed" "$BUSINESS_BEFORE" "$(q $PORT -d live -c "$BUSINESS")"
RERUN=$(q $PORT -d live -c "SET ROLE etl_it_ops" -c "SELECT * FROM etl_orders(v7(40, 2))" 2>&1 || true)
expect_true "a re-run of a day 40 import is refused: its raw lines were purged" \
    "$(echo "$RERUN" | grep -q "were purged at" && echo t)"
expect_eq "etl_explain says the raw line of a day 40 order was purged" "t" \
    "$(q $PORT -d live -c "SET ROLE etl_it_ops" -c "SELECT bool_and(detail LIKE '%its raw line was purged at%')
                             FROM etl_explain('shop 2', 'day40-3-7')")"

# 2.
expect_true "day 42's partition, locked by a reader, was not emptied (same file): its lines were deleted instead" \
    "$(q $PORT -d live -c "SELECT pg_relation_filenode(day_partition(42)) = $F42
                             AND NOT EXISTS (SELECT FROM etl.raw_orders WHERE import_id = v7(42, 1))")"
expect_true "the purge gave up on that lock within about a second (not the reader's 6 s): ${SECONDS_TAKEN}s" \
    "$(awk -v s="$SECONDS_TAKEN" 'BEGIN { if (s < 4.5) print "t" }')"
wait $READER

# 3.
wait $RR
expect_true "a REPEATABLE READ run whose snapshot predates the purge is refused (40001), not run over no lines" \
    "$(grep -q "after this transaction's snapshot was taken" "$DIR/rr.out" && echo t)"
grep -v "^$" "$DIR/rr.out" | sed 's/^/#   /' | head -5
expect_eq "and day 43's import has the one orders run it had (none over no lines)" 1 \
    "$(q $PORT -d live -c "SELECT count(*) FROM etl.runs WHERE import_id = v7(43, 1) AND stage = 'orders'")"

# 4. A purge in REPEATABLE READ: the lines go by DELETE, the partition stays.
load "v7(44, 1)" day44
q $PORT -d live -c "SET ROLE etl_it_ops" -c "CALL etl_run_queue()" >/dev/null
q $PORT -d live -c "UPDATE etl.imports SET completed_at = completed_at - interval '40 days' WHERE source = 'day44'" >/dev/null
F44=$(filenode 44)
expect_eq "a purge in a REPEATABLE READ transaction removes day 44's lines by DELETE (same file)" "200 t" \
    "$(q $PORT -d live -c "SET etl.retain_raw_lines = 0" -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SET ROLE etl_it_ops" \
         -c "SELECT removed FROM etl_purge('30 days') WHERE history = 'etl.raw_orders'" -c "COMMIT" \
         -c "SELECT pg_relation_filenode(day_partition(44)) = $F44" | tr '\n' ' ' | sed 's/ $//')"

# 5. A purge that emptied a partition keeps its lock until it commits; a
#    loader adding lines to today's import (another partition) does not wait.
load "v7(45, 1)" day45
q $PORT -d live -c "SET ROLE etl_it_ops" -c "CALL etl_run_queue()" >/dev/null
q $PORT -d live -c "UPDATE etl.imports SET completed_at = completed_at - interval '40 days' WHERE source = 'day45'" >/dev/null
F45=$(filenode 45)
q $PORT -d live -c "SET etl.retain_raw_lines = 0" -c "BEGIN" -c "SET ROLE etl_it_ops" \
    -c "SELECT removed FROM etl_purge('30 days') WHERE history = 'etl.raw_orders'" -c "SELECT pg_sleep(4)" -c "COMMIT" \
    >"$DIR/held.out" 2>&1 &
HELD=$!
sleep 1.5
START=$(date +%s.%N)
q $PORT -d live -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET ROLE etl_it_loader;
INSERT INTO etl.imports (import_id, source) VALUES (v7(0, 2), 'today-2');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
SELECT v7(0, 2), n, 'today-2-' || n, 'shop 1', 'customer 1', 'paid', 'sample', '1.00', '2026-03-01 10:00:00'
  FROM generate_series(1, 100) n;
UPDATE etl.imports SET status = 'completed' WHERE import_id = v7(0, 2);
SQL
LOADER_SECONDS=$(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
wait $HELD
expect_true "a loader added 100 lines while the purge held day 45's emptied partition: ${LOADER_SECONDS}s, not the purge's 4 s" \
    "$(awk -v s="$LOADER_SECONDS" 'BEGIN { if (s < 1.5) print "t" }')"
expect_eq "that purge emptied day 45's partition as a whole" "200 t" \
    "$(echo "$(head -1 "$DIR/held.out") $(q $PORT -d live -c "SELECT pg_relation_filenode(day_partition(45)) <> $F45
                                                              AND pg_relation_size(day_partition(45)) = 0")")"

# 6. Day 46 finished; eight of today's imports are loaded, then completed
#    and run one after another in one session (its plans warm) while an
#    operator's purge holds day 46's emptied partition for 10 s.
for k in 1 2; do load "v7(46, $k)" "day46-$k"; done
q $PORT -d live -c "SET ROLE etl_it_ops" -c "CALL etl_run_queue()" >/dev/null
q $PORT -d live -c "UPDATE etl.imports SET completed_at = completed_at - interval '40 days' WHERE source LIKE 'day46-%'" >/dev/null
for k in $(seq 10 19); do load "v7(0, $k)" "today-$k" pending; done
F46=$(filenode 46)
q $PORT -d live -c "SET etl.retain_raw_lines = 0" -c "BEGIN" -c "SET ROLE etl_it_ops" \
    -c "SELECT removed FROM etl_purge('30 days') WHERE history = 'etl.raw_orders'" -c "SELECT pg_sleep(10)" -c "COMMIT" \
    >"$DIR/held6.out" 2>&1 &
HELD=$!
sleep 1.5
{
    echo "SET ROLE etl_it_loader;"
    for k in $(seq 10 19); do echo "UPDATE etl.imports SET status = 'completed' WHERE import_id = v7(0, $k);"; done
    echo "SET ROLE etl_it_ops; SET statement_timeout = '4s';"
    for k in $(seq 10 17); do echo "SELECT stage || ' ' || rows_in FROM etl_orders(v7(0, $k));"; done
    # What a database owner's ALTER DATABASE ... SET gives pg_cron's
    # sessions: every plan generic, the first run's too.
    echo "SET plan_cache_mode = force_generic_plan;"
    echo "SELECT stage || ' ' || rows_in FROM etl_orders(v7(0, 18));"
    echo "RESET plan_cache_mode; SET enable_partition_pruning = off;"
    echo "SELECT stage || ' ' || rows_in FROM etl_orders(v7(0, 19));"
} >"$DIR/stages6.sql"
START=$(date +%s.%N)
STAGES=$(q $PORT -d live -f "$DIR/stages6.sql" 2>&1 | sort | uniq -c | sed 's/^ *//' | tr '\n' ' ' | sed 's/ $//')
STAGE_SECONDS=$(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
expect_eq "ten orders runs in one session (the ninth with plan_cache_mode = force_generic_plan, the tenth with enable_partition_pruning = off) while a purge holds day 46's emptied partition: none waits (${STAGE_SECONDS}s)" \
    "10 orders 200" "$STAGES"
wait $HELD
expect_true "(that purge did empty day 46's partition as a whole)" \
    "$(q $PORT -d live -c "SELECT pg_relation_filenode(day_partition(46)) <> $F46 AND pg_relation_size(day_partition(46)) = 0")"

# 7. A REPEATABLE READ snapshot, then a purge empties day 47, then
#    etl_quality of a day 47 import in that transaction.
load "v7(47, 1)" day47
q $PORT -d live -c "SET ROLE etl_it_ops" -c "CALL etl_run_queue()" >/dev/null
q $PORT -d live -c "UPDATE etl.imports SET completed_at = completed_at - interval '40 days' WHERE source = 'day47'" >/dev/null
F47=$(filenode 47)
q $PORT -d live >"$DIR/rr7.out" 2>&1 <<'SQL' &
SET ROLE etl_it_ops;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM etl.imports;
SELECT pg_sleep(3);
SELECT 'quality rows: ' || count(*) FROM etl_quality(v7(47, 1));
COMMIT;
SQL
RR=$!
sleep 1
q $PORT -d live -c "SET etl.retain_raw_lines = 0" -c "SET ROLE etl_it_ops" -c "SELECT etl_purge('30 days')" >/dev/null
wait $RR
expect_true "(the purge emptied day 47's partition as a whole)" \
    "$(q $PORT -d live -c "SELECT pg_relation_filenode(day_partition(47)) <> $F47")"
expect_true "etl_quality with a snapshot older than the purge is refused (40001), not answered with no lines" \
    "$(grep -q "after this transaction's snapshot was taken" "$DIR/rr7.out" && ! grep -q "quality rows" "$DIR/rr7.out" && echo t)"
grep -v "^$" "$DIR/rr7.out" | sed 's/^/#   /' | head -3

# 8. Days 48, 49 and 50 finished; a loader's open transaction has read
#    etl.raw_orders (a lock on every partition) while the purge runs.
for d in 48 49 50; do load "v7($d, 1)" "day$d"; done
q $PORT -d live -c "SET ROLE etl_it_ops" -c "CALL etl_run_queue()" >/dev/null
q $PORT -d live -c "UPDATE etl.imports SET completed_at = completed_at - interval '40 days' WHERE source IN ('day48', 'day49', 'day50')" >/dev/null
q $PORT -d live -c "SET ROLE etl_it_loader" -c "BEGIN" -c "SELECT count(*) FROM etl.raw_orders" -c "SELECT pg_sleep(8)" -c "COMMIT" >/dev/null &
READER=$!
sleep 1
START=$(date +%s.%N)
PURGED=$(q $PORT -d live -c "SET etl.retain_raw_lines = 0" -c "SET ROLE etl_it_ops" \
    -c "SELECT removed FROM etl_purge('30 days') WHERE history = 'etl.raw_orders'")
PURGE_SECONDS=$(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
expect_eq "the three days' lines went by DELETE, their partitions read by a loader" 600 "$PURGED"
expect_true "the purge tried those three locks for about a second in all, not a second each: ${PURGE_SECONDS}s" \
    "$(awk -v s="$PURGE_SECONDS" 'BEGIN { if (s < 2.2) print "t" }')"
wait $READER

# 9. Day 51 finished; an operator's purge holds its emptied partition for
#    8 s; a loader loads a file (twice: the second finds the first).
load "v7(51, 1)" day51
q $PORT -d live -c "SET ROLE etl_it_ops" -c "CALL etl_run_queue()" >/dev/null
q $PORT -d live -c "UPDATE etl.imports SET completed_at = completed_at - interval '40 days' WHERE source = 'day51'" >/dev/null
F51=$(filenode 51)
q $PORT -d live -c "SET etl.retain_raw_lines = 0" -c "BEGIN" -c "SET ROLE etl_it_ops" \
    -c "SELECT removed FROM etl_purge('30 days') WHERE history = 'etl.raw_orders'" -c "SELECT pg_sleep(8)" -c "COMMIT" \
    >"$DIR/held9.out" 2>&1 &
HELD=$!
sleep 1.5
FILE=$(printf 'order_id,shop,customer_name,order_status,order_type,amount,ordered_at\nX1,shop 1,c,paid,sample,1.00,2026-03-01 10:00:00\nX2,shop 2,d,paid,bulk,2.00,2026-03-02 10:00:00\n' \
    | od -An -v -tx1 | tr -d ' \n')
START=$(date +%s.%N)
LOADS=$(q $PORT -d live -c "SET ROLE etl_it_loader" -c "SET statement_timeout = '4s'" -c "SET plan_cache_mode = force_generic_plan" \
    -c "SELECT lines || ' ' || reused FROM etl_import_export('\\x$FILE'::bytea, 'generic')" \
    -c "SELECT lines || ' ' || reused FROM etl_import_export('\\x$FILE'::bytea, 'generic')" 2>&1 | tr '\n' ' ' | sed 's/ $//')
LOAD_SECONDS=$(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
expect_eq "a loader loads a file, then finds it loaded, while a purge holds day 51's emptied partition: no wait (${LOAD_SECONDS}s)" \
    "2 false 2 true" "$LOADS"
wait $HELD
expect_true "(that purge did empty day 51's partition as a whole)" \
    "$(q $PORT -d live -c "SELECT pg_relation_filenode(day_partition(51)) <> $F51")"

# 10. Day 30 (tomorrow's slot) and day 32 (yesterday's) finished.
for d in 30 32; do load "v7($d, 1)" "day$d"; done
q $PORT -d live -c "SET ROLE etl_it_ops" -c "CALL etl_run_queue()" >/dev/null
q $PORT -d live -c "UPDATE etl.imports SET completed_at = completed_at - interval '40 days' WHERE source IN ('day30', 'day32')" >/dev/null
F30=$(filenode 30)
F32=$(filenode 32)
q $PORT -d live -c "SET etl.retain_raw_lines = 0" -c "BEGIN" -c "SET ROLE etl_it_ops" \
    -c "SELECT removed FROM etl_purge('30 days') WHERE history = 'etl.raw_orders'" -c "SELECT pg_sleep(8)" -c "COMMIT" \
    >"$DIR/held10.out" 2>&1 &
HELD=$!
sleep 1.5
# After midnight: an import whose id the server made tomorrow.
START=$(date +%s.%N)
TOMORROW=$(q $PORT -d live -c "SET ROLE etl_it_loader" -c "SET statement_timeout = '4s'" \
    -c "INSERT INTO etl.imports (import_id, source) VALUES (v7(-1, 1), 'tomorrow')" \
    -c "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop) SELECT v7(-1, 1), n, 'T' || n, 'shop 1' FROM generate_series(1, 50) n" \
    -c "SELECT count(*) FROM etl.raw_orders WHERE import_id = v7(-1, 1)" 2>&1 | tr '\n' ' ' | sed 's/ $//')
TOMORROW_SECONDS=$(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
wait $HELD
expect_eq "an operator's purge left tomorrow's and yesterday's slots (same files) and deleted days 30 and 32's lines" \
    "400|true|true|0" \
    "$(echo "$(head -1 "$DIR/held10.out")|$(q $PORT -d live -c "SELECT (pg_relation_filenode(day_partition(30)) = $F30) || '|' || (pg_relation_filenode(day_partition(32)) = $F32) || '|' || (SELECT count(*) FROM etl.raw_orders WHERE import_id IN (v7(30, 1), v7(32, 1)))")")"
expect_eq "a new import's lines in tomorrow's slot while that purge was open: no wait (${TOMORROW_SECONDS}s)" "50" "$TOMORROW"
# A superuser's purge empties yesterday's slot (day 63's import, finished).
load "v7(63, 1)" day63
q $PORT -d live -c "SET ROLE etl_it_ops" -c "CALL etl_run_queue()" >/dev/null
q $PORT -d live -c "UPDATE etl.imports SET completed_at = completed_at - interval '70 days' WHERE source = 'day63'" >/dev/null
F63=$(filenode 63)
expect_eq "a superuser's purge still empties yesterday's slot as a whole" "200 t" \
    "$(q $PORT -d live -c "SET etl.retain_raw_lines = 0" -c "SELECT removed FROM etl_purge('30 days') WHERE history = 'etl.raw_orders'" \
         -c "SELECT pg_relation_filenode(day_partition(63)) <> $F63" | tr '\n' ' ' | sed 's/ $//')"

# 11. Readers that take no row lock on the import (etl_quality; etl_import_export
#     given a file it loaded before), beside a superuser's purge that empties
#     their import's partition (today's: only the loader's export is in it, in a
#     database of its own): one waiting for the partition while the purge holds
#     it, then reading it after the commit; one with a REPEATABLE READ snapshot
#     older than the purge. Each read the emptied partition as no lines: no
#     rows, "0 lines". They must say the lines were purged (or their count).
q $PORT -c "CREATE DATABASE late" >/dev/null
q $PORT -d late -c "CREATE EXTENSION etl_ext" -c "INSERT INTO etl.shops (shop_name) VALUES ('shop 1'), ('shop 2')" >/dev/null
export_file() { # ORDER_PREFIX: a three-line export, as hex
    printf 'order_id,shop,customer_name,order_status,order_type,amount,ordered_at\n%s1,shop 1,c,paid,sample,1.00,2026-03-01 10:00:00\n%s2,shop 2,d,paid,bulk,2.00,2026-03-02 10:00:00\n%s3,shop 2,e,paid,bulk,3.00,2026-03-03 10:00:00\n' \
        "$1" "$1" "$1" | od -An -v -tx1 | tr -d ' \n'
}
load_export() { # FILE: loaded by the loader, run by the operator, finished 40 days ago
    q $PORT -d late -c "SET ROLE etl_it_loader" -c "SELECT etl_import_export('\\x$1'::bytea, 'generic')" >/dev/null
    q $PORT -d late -c "SET ROLE etl_it_ops" -c "CALL etl_run_queue()" >/dev/null
    q $PORT -d late -c "UPDATE etl.imports SET completed_at = now() - interval '40 days' WHERE status = 'completed'" >/dev/null
}
held_purge() { # OUT: a superuser's purge, its transaction kept open 3 s after it
    q $PORT -d late -c "SET etl.retain_raw_lines = 0" -c "BEGIN" \
        -c "SELECT removed FROM etl_purge('30 days') WHERE history = 'etl.raw_orders'" -c "SELECT pg_sleep(3)" -c "COMMIT" \
        >"$1" 2>&1
}
FILE_A=$(export_file A)
load_export "$FILE_A"
IMPORT_A=$(q $PORT -d late -c "SELECT import_id FROM etl.imports")
held_purge "$DIR/held11a.out" &
HELD=$!
sleep 1
QUALITY=$(q $PORT -d late -c "SET ROLE etl_it_ops" -c "SELECT count(*) FROM etl_quality('$IMPORT_A')" 2>&1 | head -1)
wait $HELD
expect_eq "11a. the purge emptied the export's partition (its 3 lines) while etl_quality waited for it" 3 \
    "$(head -1 "$DIR/held11a.out")"
expect_true "11a. ... and etl_quality then says the lines were purged, not 0 rows: [$QUALITY]" \
    "$(echo "$QUALITY" | grep -q "were purged at" && echo t)"
FILE_B=$(export_file B)
load_export "$FILE_B"
PART_LATE=$(q $PORT -d late -c "SELECT r.tableoid::regclass FROM etl.raw_orders r LIMIT 1")
F_LATE=$(q $PORT -d late -c "SELECT pg_relation_filenode('$PART_LATE')")
q $PORT -d late >"$DIR/rr11b.out" 2>&1 <<SQL &
SET ROLE etl_it_loader;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM etl.imports;
SELECT pg_sleep(3);
SELECT lines || ' ' || reused FROM etl_import_export('\\x$FILE_B'::bytea, 'generic');
COMMIT;
SQL
RR=$!
sleep 0.5
expect_eq "11b. a superuser's purge empties the second export's partition as a whole (3 lines, a new file)" "3 t" \
    "$(q $PORT -d late -c "SET etl.retain_raw_lines = 0" -c "SELECT removed FROM etl_purge('30 days') WHERE history = 'etl.raw_orders'" \
         -c "SELECT pg_relation_filenode('$PART_LATE') <> $F_LATE" | tr '\n' ' ' | sed 's/ $//')"
wait $RR
expect_eq "11b. the loader's REPEATABLE READ load of that file, its snapshot older than the purge, finds it with its 3 lines, not 0" \
    "3 true" "$(sed -n 3p "$DIR/rr11b.out")"
finish
