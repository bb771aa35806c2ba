#!/usr/bin/env bash
# Loading a shop's export (etl_import_export) against COPY of the same lines
# into etl.raw_orders, on one throw-away cluster. Prints lines per second for
#   copy          COPY etl.raw_orders FROM a file of the same lines (import
#                 id and line numbers included: what a hand-written loader
#                 would send at best);
#   export_file   etl_import_export_file(path, 'generic'): the CSV read as it
#                 streams (hashed, read, hashed again), lines written in
#                 batches of etl.batch_size, the import completed;
#   export_bytea  etl_import_export(pg_read_binary_file(path), 'generic'):
#                 the same from the file's bytes in memory.
# Each figure includes completing the import (and queuing its pipeline), not
# running it.
#   bash bench/exports.sh                    # 1,000,000 lines, release build (PG=15 default)
#   bash bench/exports.sh --lines 20000 --installed   # what is installed now (a debug build, say)
set -euo pipefail
cd "$(dirname "$0")/.."
export USER=${USER:-root}
LINES=1000000
INSTALLED=0
while [ $# -gt 0 ]; do
    case $1 in
        --lines) LINES=$2; shift 2 ;;
        --installed) INSTALLED=1; shift ;;
        *) echo "usage: bash bench/exports.sh [--lines N] [--installed]" >&2; exit 2 ;;
    esac
done
. scripts/pg_versions.sh
PG=${PG:-15}
if [ "$INSTALLED" -eq 0 ]; then
    install_release "$PG" /tmp/etl_ext_bench_exports_install.log
fi
. scripts/cluster.sh
DIR=/tmp/etl_ext_bench_exports
PORT=$(free_port)
cluster_start "$DIR" "$PORT" "shared_buffers = '512MB'" "max_wal_size = '4GB'" "synchronous_commit = off" "autovacuum = off"
trap 'cluster_stop $DIR' EXIT
psqlq() { cluster_psql "$PORT" -qAt "$@"; }
psqlq -c "CREATE EXTENSION etl_ext" >/dev/null

# The export (the generic profile's headers) and the same lines for COPY.
psqlq >/dev/null <<SQL
COPY (SELECT 'SO-' || n AS order_id, 'Shop ' || (n % 20) AS shop, '客户 ' || (n % 50000) AS customer_name,
             (ARRAY['paid', 'shipped', 'cancelled'])[1 + n % 3] AS order_status, (ARRAY['样品', '批发'])[1 + n % 2] AS order_type,
             '¥' || (n % 9000) || '.' || lpad((n % 100)::text, 2, '0') AS amount,
             '2026-03-01 10:00:00'::timestamp + n * interval '1 second' AS ordered_at
        FROM generate_series(1, $LINES) n)
  TO '$DIR/export.csv' WITH (FORMAT csv, HEADER);
COPY (SELECT '00000000-0000-7000-8000-000000000001', n, 'SO-' || n, 'Shop ' || (n % 20), '客户 ' || (n % 50000),
             (ARRAY['paid', 'shipped', 'cancelled'])[1 + n % 3], (ARRAY['样品', '批发'])[1 + n % 2],
             '¥' || (n % 9000) || '.' || lpad((n % 100)::text, 2, '0'),
             '2026-03-01 10:00:00'::timestamp + n * interval '1 second'
        FROM generate_series(1, $LINES) n)
  TO '$DIR/copy.csv' WITH (FORMAT csv);
CHECKPOINT;
SQL

# seconds SQL: the wall time of one psql session running SQL.
seconds() {
    local start end
    start=$(date +%s.%N)
    psqlq -c "$1" >/dev/null
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}
report() { # NAME SECONDS
    awk -v n="$1" -v l="$LINES" -v s="$2" 'BEGIN { printf "%-13s %10d lines %8.2f s %12.0f lines/s\n", n, l, s, l / s }'
}
echo "# PostgreSQL $PG, $LINES lines ($(du -h "$DIR/export.csv" | cut -f1) CSV), library $(md5sum "$("$PG_CONFIG" --pkglibdir)/etl_ext.so" | cut -c1-8)"
T=$(seconds "BEGIN; INSERT INTO etl.imports (import_id, source) VALUES ('00000000-0000-7000-8000-000000000001', 'copy');
             COPY etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
               FROM '$DIR/copy.csv' WITH (FORMAT csv);
             UPDATE etl.imports SET status = 'completed' WHERE import_id = '00000000-0000-7000-8000-000000000001'; COMMIT;")
report copy "$T"
psqlq -c "CHECKPOINT" >/dev/null
T=$(seconds "SELECT * FROM etl_import_export_file('$DIR/export.csv', 'generic')")
report export_file "$T"
psqlq -c "CHECKPOINT" >/dev/null
T=$(seconds "SELECT * FROM etl_import_export(pg_read_binary_file('$DIR/export.csv'), 'generic', reload => true)")
report export_bytea "$T"
expect=$((LINES * 3))
got=$(psqlq -c "SELECT count(*) FROM etl.raw_orders")
[ "$got" == "$expect" ] || { echo "raw lines: expected $expect, got $got" >&2; exit 1; }
