#!/usr/bin/env bash
# The benchmark: etl_ext against a plain-SQL baseline (bench/baseline.sql) on
# the same generated imports, in fresh databases of one throw-away cluster,
# in the shapes users send: the first import into an empty install and a
# steady-state import per size, 100-line imports back to back in one session,
# and 100-line imports from several loaders run by the background worker.
#   bash scripts/bench.sh                              # all shapes; 10k, 100k and 1M lines
#   bash scripts/bench.sh --sizes 10000,100000         # smaller
#   bash scripts/bench.sh --shapes first,steady        # some shapes only
#   bash scripts/bench.sh --small-seconds 30 --worker-loaders 4
#   bash scripts/bench.sh --repeat 3 --out bench/results   # replace the figures the docs quote
# Prints a table per shape and size, then issue 8's targets with met / not
# met; writes results.{csv,json}, stage_times.svg and small_imports.svg to
# /tmp/etl_ext_bench_results/<time>/, or to --out DIR. PG=18 measures on
# PostgreSQL 18 (default 15). See docs/benchmark.md (and bench/run.py --help).
set -euo pipefail
cd "$(dirname "$0")/.."
export USER=${USER:-root}
bash scripts/setup.sh
# The small and worker shapes drive the server through persistent sessions.
python3 -c 'import psycopg' 2>/dev/null || python3 -m pip install -q 'psycopg[binary]'
. scripts/pg_versions.sh
PG=${PG:-15}
install_release "$PG" /tmp/etl_ext_bench_install.log
# Other work on this machine may install another build of etl_ext (a debug
# build, say) while we measure: bench/run.py checks this checksum before and
# after every size and stops if the library changed.
export ETL_EXT_SO_MD5=$(md5sum "$("$(pg_config_for "$PG")" --pkglibdir)/etl_ext.so" | cut -d' ' -f1)
. scripts/cluster.sh
DIR=/tmp/etl_ext_bench
PORT=$(free_port)
# autovacuum is off so that both sides of the first and steady shapes see the
# same table state; bench/run.py turns it on for the small and worker shapes
# (a server that runs all day has it), and the worker shape restarts this
# cluster with shared_preload_libraries = 'etl_ext' (hence --cluster-dir).
cluster_start "$DIR" $PORT "shared_buffers = '1GB'" "work_mem = '64MB'" "maintenance_work_mem = '256MB'" \
    "max_wal_size = '4GB'" "checkpoint_timeout = '30min'" "synchronous_commit = off" "autovacuum = off"
trap 'cluster_stop $DIR' EXIT
python3 bench/run.py --port $PORT --cluster-dir "$DIR" --pg-config "$PG_CONFIG" "$@"
