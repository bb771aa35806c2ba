#!/usr/bin/env bash
# A partitioned etl_ext on this machine (docs/scale-out.md):
#   bash scripts/scale_out.sh start N BASEPORT   a proxy server on BASEPORT and N partition servers on
#                                                 BASEPORT+1 .. BASEPORT+N (N a power of two)
#   bash scripts/scale_out.sh stop BASEPORT      stops them and removes their files
# Throw-away PostgreSQL 15 clusters under $TMPDIR/etl_scale_out_BASEPORT, sockets in /tmp, superuser
# postgres, everything in each server's database postgres. Each partition has etl_ext (the worker
# preloaded) and sql/scale_out/partition.sql; the proxy has plproxy, a server etl_partitions listing
# the partitions and sql/scale_out/proxy.sql. The proxy connects to the partitions as etl_proxy_user, a
# role granted etl_operator there: no superuser. On a fresh machine it runs scripts/setup.sh and
# builds and installs etl_ext (release) first, as scripts/demo.sh does.
# SCALE_OUT_CONF: extra postgresql.conf lines for every server, one per line (the benchmark's).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PG=15   # PL/Proxy is packaged for Debian's PostgreSQL 15
. "$ROOT/scripts/pg_versions.sh"
# A fresh machine: what is missing is installed first (as scripts/demo.sh does).
# (Debian's PostgreSQL 15 keeps its extensions in /usr/share/postgresql/15.)
if [ "${1:-}" == "start" ] && { [ ! -x "$PG15_PG_CONFIG" ] || [ ! -e /usr/share/postgresql/15/extension/plproxy.control ]; }; then
    bash "$ROOT/scripts/setup.sh"
fi
. "$ROOT/scripts/cluster.sh"

usage() { sed -n '2,5p' "$0" >&2; exit 2; }
base_dir() { echo "${TMPDIR:-/tmp}/etl_scale_out_$1"; }

start() {
    local n=$1 base=$2 dir i port options=""
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ $((n & (n - 1))) -eq 0 ] \
        || { echo "scale_out.sh: N must be a power of two (1, 2, 4, ...), as PL/Proxy requires; got $n" >&2; exit 2; }
    [[ "$base" =~ ^[0-9]+$ ]] || usage
    if [ ! -e "$("$PG_CONFIG" --sharedir)/extension/etl_ext.control" ]; then
        (cd "$ROOT" && install_release 15 /tmp/etl_ext_scale_out_install.log)
    fi
    for i in $(seq 0 "$n"); do
        port=$((base + i))
        if [ -e "$PGSOCK/.s.PGSQL.$port" ]; then
            echo "scale_out.sh: port $port is in use (bash scripts/scale_out.sh stop $base, if it is ours)" >&2
            exit 1
        fi
    done
    dir=$(base_dir "$base")
    rm -rf "$dir"
    mkdir -p "$dir"
    echo "$n" >"$dir/partitions"
    local conf=()
    [ -n "${SCALE_OUT_CONF:-}" ] && mapfile -t conf <<<"$SCALE_OUT_CONF"

    for i in $(seq 0 $((n - 1))); do
        port=$((base + 1 + i))
        cluster_start "$dir/p$i" "$port" "shared_preload_libraries = 'etl_ext'" "etl.database = 'postgres'" "${conf[@]}"
        cluster_psql "$port" -q >/dev/null <<SQL
CREATE EXTENSION etl_ext;
\i $ROOT/sql/scale_out/partition.sql
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'etl_proxy_user') THEN CREATE ROLE etl_proxy_user LOGIN; END IF;
END \$\$;
GRANT etl_operator TO etl_proxy_user;
SQL
        # The partition's number, and a search_path that a partition database's
        # owner cannot change: PL/Proxy's calls name argument and result types
        # without a schema (docs/scale-out.md, Privileges).
        options="$options${options:+, }p$i 'host=$PGSOCK port=$port dbname=postgres options=''-c etl_proxy.partition=$i -c search_path=pg_catalog,pg_temp'''"
        echo "partition $i: port $port"
    done

    cluster_start "$dir/proxy" "$base" "${conf[@]}"
    cluster_psql "$base" -q >/dev/null <<SQL
CREATE EXTENSION plproxy;
CREATE SERVER etl_partitions FOREIGN DATA WRAPPER plproxy OPTIONS (connection_lifetime '1800', $options);
\i $ROOT/sql/scale_out/proxy.sql
CREATE USER MAPPING FOR etl_proxy_caller SERVER etl_partitions OPTIONS (user 'etl_proxy_user');
SQL
    echo "proxy: port $base"
    echo
    echo "Connect:  psql -h $PGSOCK -p $base -U postgres"
    echo "Stop:     bash scripts/scale_out.sh stop $base"
}

stop() {
    local base=$1 dir n i
    dir=$(base_dir "$base")
    [ -d "$dir" ] || { echo "scale_out.sh: nothing was started on $base ($dir does not exist)" >&2; exit 1; }
    n=$(cat "$dir/partitions" 2>/dev/null || echo 0)
    cluster_stop "$dir/proxy"
    for i in $(seq 0 $((n - 1))); do cluster_stop "$dir/p$i"; done
    rm -rf "$dir"
    echo "stopped the proxy on $base and its $n partitions"
}

case "${1:-}" in
    start) [ $# -eq 3 ] || usage; start "$2" "$3" ;;
    stop) [ $# -eq 2 ] || usage; stop "$2" ;;
    *) usage ;;
esac
