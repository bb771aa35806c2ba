#!/usr/bin/env bash
# Helpers to run throw-away PostgreSQL clusters as the postgres user (initdb
# refuses root), of the major in $PG (15, the default, 16 or 18). Source this
# file, then:
#   cluster_start DIR PORT [extra postgresql.conf lines...]
#   cluster_psql PORT [psql args...]
#   cluster_stop DIR
#   free_port [PORT...]   a port no server uses now (and none of the PORTs given)
. "$(dirname "${BASH_SOURCE[0]}")/pg_versions.sh"
PG=${PG:-15}
PG_CONFIG=$(pg_config_for "$PG") || exit 1
PGBIN=$("$PG_CONFIG" --bindir)
PGSOCK=/tmp
# psql, pg_prove and the tests' own clients use this major's programs.
export PATH="$PGBIN:$PATH"

cluster_start() {
    local dir=$1 port=$2
    shift 2
    cluster_stop "$dir" 2>/dev/null || true
    rm -rf "$dir"
    mkdir -p "$dir"
    chown postgres "$dir"
    sudo -u postgres "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1
    {
        echo "port = $port"
        echo "unix_socket_directories = '$PGSOCK'"
        echo "listen_addresses = ''"
        echo "fsync = off"
        echo "max_connections = 50"
        for line in "$@"; do echo "$line"; done
    } >>"$dir/data/postgresql.conf"
    sudo -u postgres "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
}

cluster_stop() {
    local dir=$1
    [ -d "$dir/data" ] && sudo -u postgres "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
    return 0
}

cluster_psql() {
    local port=$1
    shift
    "$PGBIN/psql" -h "$PGSOCK" -p "$port" -U postgres -X -v ON_ERROR_STOP=1 "$@"
}

free_port() {
    local port taken
    for _ in $(seq 1 200); do
        port=$((20000 + RANDOM % 20000))
        taken=0
        for p in "$@"; do [ "$p" == "$port" ] && taken=1; done
        [ $taken -eq 1 ] && continue
        # The servers listen on a Unix socket named after the port; TCP too.
        [ -e "$PGSOCK/.s.PGSQL.$port" ] && continue
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
        echo "$port"
        return 0
    done
    echo "free_port: no free port found" >&2
    return 1
}
