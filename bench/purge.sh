#!/usr/bin/env bash
# Retention benchmark (issue 29): removing the raw lines of finished imports
# with etl_purge (imports with version 7 ids of one day, whose partition it
# empties as a whole, and imports with version 4 ids, whose lines it
# deletes), against a plain DELETE of the same lines and against dropping a
# table that holds only them (the floor: what removing a day's lines costs
# when they go as a whole). Prints seconds and seconds per million raw
# lines removed, the VACUUM each leaves for later (autovacuum's work) and
# the WAL each writes (what a standby and the archive receive).
#   bash bench/purge.sh                 # 1M raw lines: 1000 imports of 1000 lines
#   LINES=100000 bash bench/purge.sh    # smaller (e.g. with a debug build)
#   PG=18 bash bench/purge.sh
# Uses whatever etl_ext is installed for the major (scripts/bench.sh installs
# a release build; a debug build gives slower figures for etl_purge's own
# Rust, though its time is spent in the statements). The history is written
# directly (completed imports, their done jobs, 5% of lines rejected), as a
# finished pipeline leaves it, in four databases.
set -euo pipefail
cd "$(dirname "$0")/.."
export USER=${USER:-root}
PG=${PG:-15}
. scripts/cluster.sh
LINES=${LINES:-1000000}
PER_IMPORT=${PER_IMPORT:-1000}
IMPORTS=$(( (LINES + PER_IMPORT - 1) / PER_IMPORT ))
DIR=/tmp/etl_ext_bench_purge
PORT=$(free_port)
cluster_start "$DIR" $PORT "shared_buffers = '512MB'" "max_wal_size = '4GB'" "synchronous_commit = off" "autovacuum = off"
trap 'cluster_stop $DIR' EXIT
psql_q() { cluster_psql $PORT -qAt "$@"; }

history() { # database id-kind: v7 (the day partitions) or v4 (partition 0)
    psql_q -c "CREATE DATABASE $1" >/dev/null
    psql_q -d "$1" >/dev/null <<SQL
CREATE EXTENSION etl_ext;
-- Version 7 ids of one day (1970-01-01: old), or version 4 ids (random).
CREATE TEMP TABLE ids AS
SELECT i, CASE WHEN '$2' = 'v4'
               THEN overlay(overlay(md5('bench ' || i) placing '4' from 13) placing '8' from 17)::uuid
               ELSE ('00000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid END AS import_id
  FROM generate_series(1, $IMPORTS) i;
INSERT INTO etl.imports (import_id, source, status, completed_at)
SELECT import_id, 'bench ' || i, 'completed', now() - interval '2 days' + i * interval '1 second' FROM ids;
INSERT INTO etl.jobs (import_id, stage, state, finished_at)
SELECT i.import_id, s, 'done', i.completed_at FROM etl.imports i, unnest(ARRAY['orders', 'customers', 'leads']) s;
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
SELECT ids.import_id, 1 + (g - 1) % $PER_IMPORT,
       'SO-' || g, 'shop ' || (g % 300), 'customer ' || (g % 5000), 'paid', 'sample', (g % 9000) || '.50', '2026-01-02 03:04:05'
  FROM generate_series(1, $LINES) g JOIN ids ON ids.i = 1 + (g - 1) / $PER_IMPORT;
INSERT INTO etl.rejects (import_id, line_no, stage, reason, detail, raw)
SELECT import_id, line_no, 'orders', 'bad_amount', 'bench', '{}' FROM etl.raw_orders WHERE line_no % 20 = 0;
VACUUM ANALYZE;
CHECKPOINT;
SQL
}

wal_mb() { # database sql...: the MB of WAL the statements write (the cluster is otherwise idle)
    local db=$1 before after
    shift
    before=$(psql_q -c "SELECT pg_current_wal_insert_lsn()")
    printf '%s\n' "$@" | psql_q -d "$db" >/dev/null
    after=$(psql_q -c "SELECT pg_current_wal_insert_lsn()")
    psql_q -c "SELECT round(pg_wal_lsn_diff('$after', '$before') / 1048576.0, 1)"
}

seconds() { # database sql...: the seconds the statements take (psql's \timing, summed)
    local db=$1
    shift
    { echo '\timing on'; printf '%s\n' "$@"; } | psql_q -d "$db" | awk '/^Time: / { s += $2 } END { printf "%.3f", s / 1000 }'
}
per_million() { awk -v s="$1" -v n="$LINES" 'BEGIN { printf "%.3f", s * 1000000 / n }'; }

echo "# building four copies of a history of $LINES raw lines ($IMPORTS imports)..."
history purge_db v7
history purge_v4_db v4
history delete_db v7
history drop_db v7
psql_q -d drop_db -c "CREATE TABLE public.day_lines AS SELECT * FROM etl.raw_orders" -c "CHECKPOINT" >/dev/null

purge() { # database: etl_purge's seconds, checked to have removed every line
    local seconds removed
    seconds=$(seconds "$1" "SET etl.retain_raw_lines = 0;" "SELECT * FROM etl_purge('1 day');")
    removed=$(psql_q -d "$1" -c "SELECT sum(raw_lines) FROM etl.purged_imports")
    [ "$removed" == "$LINES" ] || { echo "etl_purge removed $removed raw lines, not $LINES" >&2; exit 1; }
    echo "$seconds"
}
# WAL first, on a copy of each database (the timed runs follow on the
# originals, which the copies leave untouched).
for db in purge_db purge_v4_db delete_db; do psql_q -c "CREATE DATABASE ${db}_wal TEMPLATE $db" >/dev/null; done
PURGE_WAL=$(wal_mb purge_db_wal "SET etl.retain_raw_lines = 0;" "SELECT count(*) FROM etl_purge('1 day');")
PURGE_V4_WAL=$(wal_mb purge_v4_db_wal "SET etl.retain_raw_lines = 0;" "SELECT count(*) FROM etl_purge('1 day');")
DELETE_WAL=$(wal_mb delete_db_wal "BEGIN;" \
    "DELETE FROM etl.raw_orders r USING etl.imports i WHERE r.import_id = i.import_id AND i.completed_at < now() - interval '1 day';" \
    "DELETE FROM etl.rejects r USING etl.imports i WHERE r.import_id = i.import_id AND i.completed_at < now() - interval '1 day';" \
    "COMMIT;")
psql_q -c "CHECKPOINT" >/dev/null

PURGE=$(purge purge_db)
TRUNCATED=$(psql_q -d purge_db -c "SELECT pg_relation_size('etl.raw_orders_01') = 0")
[ "$TRUNCATED" == "t" ] || { echo "etl_purge did not empty the day's partition as a whole" >&2; exit 1; }
PURGE_V4=$(purge purge_v4_db)
DELETE=$(seconds delete_db "BEGIN;" \
    "DELETE FROM etl.raw_orders r USING etl.imports i WHERE r.import_id = i.import_id AND i.completed_at < now() - interval '1 day';" \
    "DELETE FROM etl.rejects r USING etl.imports i WHERE r.import_id = i.import_id AND i.completed_at < now() - interval '1 day';" \
    "COMMIT;")
DROP=$(seconds drop_db "DROP TABLE public.day_lines;")
# What each leaves for later: deleted rows are dead until VACUUM (autovacuum)
# removes them and their index entries; an emptied partition or a dropped
# table leaves nothing (the rejects, deleted in every case, still do).
vacuum() { seconds "$1" "VACUUM etl.raw_orders, etl.rejects;"; }
PURGE_VAC=$(vacuum purge_db)
PURGE_V4_VAC=$(vacuum purge_v4_db)
DELETE_VAC=$(vacuum delete_db)
total() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; }

printf '%-52s %9s %9s %20s %8s\n' "removing $LINES raw lines" "seconds" "+ VACUUM" "per million, total" "WAL MB"
printf '%-52s %9s %9s %20s %8s\n' "etl_purge, version 7 ids (a day's partition: TRUNCATE)" "$PURGE" "$PURGE_VAC" \
    "$(per_million "$(total "$PURGE" "$PURGE_VAC")")" "$PURGE_WAL"
printf '%-52s %9s %9s %20s %8s\n' "etl_purge, version 4 ids (partition 0: DELETE)" "$PURGE_V4" "$PURGE_V4_VAC" \
    "$(per_million "$(total "$PURGE_V4" "$PURGE_V4_VAC")")" "$PURGE_V4_WAL"
printf '%-52s %9s %9s %20s %8s\n' "plain DELETE (raw lines and rejects)" "$DELETE" "$DELETE_VAC" \
    "$(per_million "$(total "$DELETE" "$DELETE_VAC")")" "$DELETE_WAL"
printf '%-52s %9s %9s %20s %8s\n' "DROP TABLE of the same lines (the floor)" "$DROP" "-" "$(per_million "$DROP")" "-"
