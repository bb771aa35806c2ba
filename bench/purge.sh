#!/usr/bin/env bash
# Retention benchmark (issue 29): removing the raw lines of finished imports
# with etl_purge, against a plain DELETE of the same lines and against
# dropping a table that holds only them (the floor: what removing a day's
# lines costs when they can go as a whole). Prints seconds and seconds per
# million raw lines removed.
#   bash bench/purge.sh                 # 1M raw lines: 1000 imports of 1000 lines
#   LINES=100000 bash bench/purge.sh    # smaller (e.g. with a debug build)
#   PG=18 bash bench/purge.sh
# Uses whatever etl_ext is installed for the major (scripts/bench.sh installs
# a release build; a debug build gives slower figures for etl_purge's own
# Rust, though its time is spent in the statements). The history is written
# directly (completed imports, their done jobs, 5% of lines rejected), as a
# finished pipeline leaves it, in three identical databases.
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

history() { # database
    psql_q -c "CREATE DATABASE $1" >/dev/null
    psql_q -d "$1" >/dev/null <<SQL
CREATE EXTENSION etl_ext;
INSERT INTO etl.imports (import_id, source, status, completed_at)
SELECT ('00000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid, 'bench ' || i, 'completed',
       now() - interval '2 days' + i * interval '1 second'
  FROM generate_series(1, $IMPORTS) i;
INSERT INTO etl.jobs (import_id, stage, state, finished_at)
SELECT i.import_id, s, 'done', i.completed_at FROM etl.imports i, unnest(ARRAY['orders', 'customers', 'leads']) s;
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
SELECT ('00000000-0000-7000-8000-' || lpad((1 + (g - 1) / $PER_IMPORT)::text, 12, '0'))::uuid, 1 + (g - 1) % $PER_IMPORT,
       'SO-' || g, 'shop ' || (g % 300), 'customer ' || (g % 5000), 'paid', 'sample', (g % 9000) || '.50', '2026-01-02 03:04:05'
  FROM generate_series(1, $LINES) g;
INSERT INTO etl.rejects (import_id, line_no, stage, reason, detail, raw)
SELECT import_id, line_no, 'orders', 'bad_amount', 'bench', '{}' FROM etl.raw_orders WHERE line_no % 20 = 0;
VACUUM ANALYZE;
CHECKPOINT;
SQL
}

seconds() { # database sql...: the seconds the statements take (psql's \timing, summed)
    local db=$1
    shift
    { echo '\timing on'; printf '%s\n' "$@"; } | psql_q -d "$db" | awk '/^Time: / { s += $2 } END { printf "%.3f", s / 1000 }'
}
per_million() { awk -v s="$1" -v n="$LINES" 'BEGIN { printf "%.3f", s * 1000000 / n }'; }

echo "# building three copies of a history of $LINES raw lines ($IMPORTS imports)..."
history purge_db
history delete_db
history drop_db
psql_q -d drop_db -c "CREATE TABLE public.day_lines AS SELECT * FROM etl.raw_orders" -c "CHECKPOINT" >/dev/null

PURGE=$(seconds purge_db "SET etl.retain_raw_lines = 0;" "SELECT * FROM etl_purge('1 day');")
REMOVED=$(psql_q -d purge_db -c "SELECT sum(raw_lines) FROM etl.purged_imports")
[ "$REMOVED" == "$LINES" ] || { echo "etl_purge removed $REMOVED raw lines, not $LINES" >&2; exit 1; }
DELETE=$(seconds delete_db "BEGIN;" \
    "DELETE FROM etl.raw_orders r USING etl.imports i WHERE r.import_id = i.import_id AND i.completed_at < now() - interval '1 day';" \
    "DELETE FROM etl.rejects r USING etl.imports i WHERE r.import_id = i.import_id AND i.completed_at < now() - interval '1 day';" \
    "COMMIT;")
DROP=$(seconds drop_db "DROP TABLE public.day_lines;")

printf '%-44s %10s %22s\n' "removing $LINES raw lines" "seconds" "seconds per million"
printf '%-44s %10s %22s\n' "etl_purge (batched DELETE, bookkeeping)" "$PURGE" "$(per_million "$PURGE")"
printf '%-44s %10s %22s\n' "plain DELETE (raw lines and rejects)" "$DELETE" "$(per_million "$DELETE")"
printf '%-44s %10s %22s\n' "DROP TABLE of the same lines (the floor)" "$DROP" "$(per_million "$DROP")"
