#!/usr/bin/env bash
# Installs what building and testing etl_ext needs on a fresh Debian 12
# machine (as root): PostgreSQL 15 dev files, clang, sudo, pg_cron, pgTAP and
# cargo-pgrx 0.18.0. Safe to run again: it skips what is already there.
set -euo pipefail

need_apt=()
for pkg in postgresql-15 postgresql-server-dev-15 libclang-dev clang sudo \
           postgresql-15-cron postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl; do
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

if ! grep -q "pg15" "${PGRX_HOME:-$HOME/.pgrx}/config.toml" 2>/dev/null; then
    echo "== cargo pgrx init --pg15 /usr/bin/pg_config"
    cargo pgrx init --pg15 /usr/bin/pg_config
fi
