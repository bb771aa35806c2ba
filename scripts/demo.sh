#!/usr/bin/env bash
# The main job, from a fresh machine: installs what is needed, builds and
# installs etl_ext, starts a local PostgreSQL cluster (15, or the major in
# $PG: 15, 16 or 18), loads a generated demo import (a realistic mix with some
# dirty lines) and prints the report of etl_run_all. Safe to run again: the
# demo cluster is made anew.
#   ROWS=5000 SEED=0.42 bash scripts/demo.sh
#   PG=18 bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export USER=${USER:-root}
ROWS=${ROWS:-5000}
SEED=${SEED:-0.42}
PG=${PG:-15}
PORT=${DEMO_PORT:-5440}
DIR=/tmp/etl_ext_demo

bash scripts/setup.sh
. scripts/pg_versions.sh
PG_CONFIG=$(pg_config_for "$PG")
install_release "$PG" /tmp/etl_ext_demo_install.log

. scripts/cluster.sh
echo "== starting a PostgreSQL $PG cluster in $DIR (port $PORT): $("$PG_CONFIG" --version)"
cluster_start "$DIR" "$PORT"

cluster_psql "$PORT" -q <<SQL
CREATE EXTENSION etl_ext;
\echo == settings
SELECT name, setting, unit, short_desc FROM pg_settings WHERE name LIKE 'etl.%' ORDER BY name;
\echo == a demo import of $ROWS raw lines (seed $SEED), about 5% of them dirty
SELECT etl_demo_import($ROWS, $SEED) AS import_id \gset
SELECT :'import_id' AS import_id;
\echo == SELECT * FROM etl_run_all(import_id)
SELECT stage, status, rows_in, rows_ok, rows_superseded, rows_rejected, rows_failed,
       round(duration_ms::numeric, 1) AS duration_ms, details
  FROM etl_run_all(:'import_id');
\echo == rejected lines by reason (etl.rejects)
SELECT reason, count(*) AS lines, min(raw::text) AS example FROM etl.rejects GROUP BY reason ORDER BY reason;
\echo == leads by stage (etl.business_leads)
SELECT current_stage, count(*) AS leads, sum(order_count) AS orders, sum(total_amount) AS total_amount,
       sum(sample_count) AS samples, sum(bulk_count) AS bulk
  FROM etl.business_leads GROUP BY current_stage;
\echo == running it again changes no business row
SELECT stage, status, rows_in, rows_ok, rows_superseded, rows_rejected, rows_failed FROM etl_run_all(:'import_id');
\echo == the events (LISTEN etl_events to watch them live)
SELECT event_id, event_type, payload->>'status' AS status, payload->>'success_count' AS ok,
       payload->>'error_count' AS errors FROM etl.events ORDER BY event_id;
SQL
echo
echo "The demo cluster keeps running. Connect with:"
echo "  $PGBIN/psql -h /tmp -p $PORT -U postgres"
echo "Stop it with:"
echo "  sudo -u postgres $PGBIN/pg_ctl -D $DIR/data stop"
