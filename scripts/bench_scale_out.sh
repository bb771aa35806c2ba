#!/usr/bin/env bash
# The scale-out benchmark (issue 11; docs/scale-out.md): one import of ROWS
# generated lines (bench/generate.sql, the first import into an empty
# install) through a PL/Proxy proxy with 1 and with 2 partitions on this
# machine, and directly on one server for reference. Prints, for each,
# loading (etl_begin_import + etl_load_lines in chunks through the proxy)
# and pipeline (etl_complete_import + etl_run_all) in seconds and lines per
# second, the 2-partition / 1-partition ratios, and whether the result
# tables equal the single server's (tests/result_fingerprint.sql).
#   bash scripts/bench_scale_out.sh                 # 1,000,000 lines
#   bash scripts/bench_scale_out.sh --rows 100000
# Writes bench/results/scale_out/results.{csv,md}. Release build; nothing is
# warmed up: every deployment is a fresh set of servers.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export USER=${USER:-root}
ROWS=1000000
SEED=0.42
CHUNK=10000
while [ $# -gt 0 ]; do
    case "$1" in
        --rows) ROWS=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        *) sed -n '2,13p' "$0" >&2; exit 2 ;;
    esac
done
bash scripts/setup.sh
. scripts/pg_versions.sh
install_release 15 /tmp/etl_ext_bench_scale_out_install.log
. scripts/cluster.sh
DIR=$(mktemp -d /tmp/etl_ext_bench_scale_out.XXXXXX)
chmod 755 "$DIR"
export TMPDIR=$DIR
# The same settings for every server (the proxy, each partition, the single one).
export SCALE_OUT_CONF="shared_buffers = '512MB'
work_mem = '64MB'
maintenance_work_mem = '256MB'
max_wal_size = '4GB'
checkpoint_timeout = '30min'
synchronous_commit = off"
mapfile -t CONF <<<"$SCALE_OUT_CONF"
SINGLE=$(free_port)
BASE=$(free_port "$SINGLE")
cleanup() {
    cluster_stop "$DIR/single"
    [ -d "$DIR/etl_scale_out_$BASE" ] && bash scripts/scale_out.sh stop "$BASE" >/dev/null 2>&1
    rm -rf "$DIR"
}
trap cleanup EXIT
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
per_sec() { awk -v n="$ROWS" -v s="$1" 'BEGIN { printf "%.0f", n / s }'; }

# The source and the reference: one server, the generated first import run
# directly (what a single etl_ext does with it).
cluster_start "$DIR/single" "$SINGLE" "${CONF[@]}"
q() { local port=$1; shift; cluster_psql "$port" -qAt "$@"; }
q "$SINGLE" -c "CREATE EXTENSION etl_ext" >/dev/null
echo "== generating $ROWS lines (bench/generate.sql, the first import)"
q "$SINGLE" -v rows="$ROWS" -v seed="$SEED" -v part=first -f bench/generate.sql >/dev/null
IMPORT=$(q "$SINGLE" -c "SELECT import_id FROM etl.imports WHERE source = 'bench warm-up'")
q "$SINGLE" -c "DELETE FROM etl.jobs" >/dev/null   # no worker here: the direct call runs it
echo "== one server, etl_run_all directly"
T0=$(now)
q "$SINGLE" -c "SELECT count(*) FROM etl_run_all('$IMPORT')" >/dev/null
T1=$(now)
SINGLE_PIPE=$(secs "$T0" "$T1")
SINGLE_FP=$(q "$SINGLE" -f tests/result_fingerprint.sql)

RESULTS=("deployment,load_s,load_lines_per_s,pipeline_s,pipeline_lines_per_s,identical")
RESULTS+=("one server (direct),,,$SINGLE_PIPE,$(per_sec "$SINGLE_PIPE"),yes")
declare -A LOAD PIPE
for n in 1 2; do
    echo "== $n partition(s) behind a proxy"
    bash scripts/scale_out.sh start "$n" "$BASE" >/dev/null
    # Master data through the proxy, in the single server's id order.
    q "$SINGLE" -c "SELECT format('SELECT etl_add_shop(%L, %L);', shop_name, platform) FROM etl.shops ORDER BY shop_id" \
        | q "$BASE" >/dev/null
    q "$SINGLE" -c "SELECT format('SELECT etl_set_shop_active(%L, false);', shop_name) FROM etl.shops WHERE NOT active" \
        | q "$BASE" >/dev/null
    q "$SINGLE" -c "SELECT format('SELECT etl_add_order_type_mapping(%L, %L);', raw_order_type, system_order_type)
                      FROM etl.order_type_mappings" | q "$BASE" >/dev/null
    [ "$(q "$BASE" -c "SELECT string_agg(shop_id || shop_name || active, ',' ORDER BY shop_id) FROM etl.shops")" == \
      "$(q "$SINGLE" -c "SELECT string_agg(shop_id || shop_name || active, ',' ORDER BY shop_id) FROM etl.shops")" ] \
        || { echo "bench_scale_out.sh: the proxy's shops differ from the single server's" >&2; exit 1; }
    # The lines, in a table of the proxy's (as a loader's client would hold them).
    q "$BASE" -c "CREATE UNLOGGED TABLE bench_lines (line_no integer, order_id text, shop text, customer_name text,
                    order_status text, order_type text, amount text, ordered_at text)" >/dev/null
    q "$SINGLE" -c "COPY (SELECT line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at
                           FROM etl.raw_orders WHERE import_id = '$IMPORT') TO STDOUT" \
        | q "$BASE" -c "COPY bench_lines FROM STDIN"
    q "$BASE" -c "VACUUM ANALYZE bench_lines" >/dev/null

    T0=$(now)
    q "$BASE" >/dev/null <<SQL
SELECT etl_begin_import('$IMPORT', 'bench warm-up');
SELECT sum(etl_load_lines('$IMPORT', l.line_no, l.order_id, l.shop, l.customer_name, l.order_status, l.order_type,
                          l.amount, l.ordered_at))
  FROM (SELECT array_agg(line_no) AS line_no, array_agg(order_id) AS order_id, array_agg(shop) AS shop,
               array_agg(customer_name) AS customer_name, array_agg(order_status) AS order_status,
               array_agg(order_type) AS order_type, array_agg(amount) AS amount, array_agg(ordered_at) AS ordered_at
          FROM bench_lines GROUP BY line_no / $CHUNK) l;
SQL
    T1=$(now)
    # The worker on each partition starts at completion; etl_run_all waits
    # for it and returns its runs (or runs what is left).
    q "$BASE" -c "SELECT etl_complete_import('$IMPORT')" >/dev/null
    STATUS=$(q "$BASE" -c "SELECT string_agg(stage || ':' || status, ',') FROM etl_run_all('$IMPORT')")
    T2=$(now)
    LOAD[$n]=$(secs "$T0" "$T1")
    PIPE[$n]=$(secs "$T1" "$T2")
    FP=$(q "$BASE" -f tests/result_fingerprint.sql)
    SAME=$([ "$FP" == "$SINGLE_FP" ] && echo yes || echo NO)
    echo "   load ${LOAD[$n]} s, pipeline ${PIPE[$n]} s ($STATUS), result identical to one server's: $SAME"
    RESULTS+=("$n partition(s),${LOAD[$n]},$(per_sec "${LOAD[$n]}"),${PIPE[$n]},$(per_sec "${PIPE[$n]}"),$SAME")
    bash scripts/scale_out.sh stop "$BASE" >/dev/null
done

OUT=bench/results/scale_out
mkdir -p "$OUT"
printf '%s\n' "${RESULTS[@]}" >"$OUT/results.csv"
LOAD_RATIO=$(awk -v a="${LOAD[1]}" -v b="${LOAD[2]}" 'BEGIN { printf "%.2f", a / b }')
PIPE_RATIO=$(awk -v a="${PIPE[1]}" -v b="${PIPE[2]}" 'BEGIN { printf "%.2f", a / b }')
{
    echo "# Scale-out benchmark: $ROWS lines, first import, $(nproc) cores, $(date -u +%Y-%m-%d)"
    echo
    echo "| deployment | load s | load lines/s | pipeline s | pipeline lines/s | result = one server's |"
    echo "|---|---:|---:|---:|---:|---|"
    for line in "${RESULTS[@]:1}"; do
        IFS=, read -r name ls lps ps pps same <<<"$line"
        echo "| $name | ${ls:--} | ${lps:--} | $ps | $pps | $same |"
    done
    echo
    echo "2 partitions vs 1: loading ${LOAD_RATIO}x, pipeline ${PIPE_RATIO}x the throughput."
} >"$OUT/results.md"
echo
cat "$OUT/results.md"
