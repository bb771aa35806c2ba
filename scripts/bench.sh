#!/usr/bin/env bash
# The benchmark: etl_ext against a plain-SQL baseline (bench/baseline.sql) on
# the same generated imports, in fresh databases of one throw-away cluster.
#   bash scripts/bench.sh                    # 10k, 100k and 1M raw lines
#   bash scripts/bench.sh --sizes 10000,100000
# Prints a table per size; writes bench/results/results.{csv,json} and
# bench/results/stage_times.svg. See docs/benchmark.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export USER=${USER:-root}
bash scripts/setup.sh
echo "== building and installing etl_ext (release)"
cargo pgrx install --release --pg-config /usr/bin/pg_config >/tmp/etl_ext_bench_install.log 2>&1 \
    || { tail -40 /tmp/etl_ext_bench_install.log; exit 1; }
# Other work on this machine may install another build of etl_ext (a debug
# build, say) while we measure: bench/run.py checks this checksum before and
# after every size and stops if the library changed.
export ETL_EXT_SO_MD5=$(md5sum "$(pg_config --pkglibdir)/etl_ext.so" | cut -d' ' -f1)
. scripts/cluster.sh
DIR=/tmp/etl_ext_bench
PORT=55460
cluster_start "$DIR" $PORT "shared_buffers = '1GB'" "work_mem = '64MB'" "maintenance_work_mem = '256MB'" \
    "max_wal_size = '4GB'" "checkpoint_timeout = '30min'" "synchronous_commit = off" "autovacuum = off"
trap 'cluster_stop $DIR' EXIT
python3 bench/run.py --port $PORT "$@"
