#!/usr/bin/env bash
# Reproduces the plans of docs/performance.md, section "Plans that cannot go
# bad with the table's state (issue 8)": EXPLAIN of the statements the
# stages changed, old text (commit ad4b21b) against new text
# (sql/queries/*.sql and src/customers/load.rs), on a fresh install.
#
#   bash bench/explain_plans.sh > /tmp/plans.txt   (about 1.5 minutes)
#   bash bench/explain_plans.sh --stages       (+2 min: also runs the real
#        orders stage of a first 100k import with auto_explain: section 6)
#   bash bench/explain_plans.sh --many-leads   (+2 min: attribute_orders on
#        40,000 orders of 17,000 customers, section 7; the demo import has
#        only 416 customers)
#
# Uses the installed etl_ext build (no cargo). A throw-away cluster on port
# 55810 in /tmp/etl_explain, autovacuum off (so only the extension, or this
# script standing in for it, analyses anything), default planner settings.
#
# How the states are made:
# * Two databases get the same first import, etl_demo_import(100000, 0.4):
#   explain_n is never analysed (what the old orders stage planned with, and
#   what a never-vacuumed table looks like); in explain_r this script runs
#   ANALYZE etl.orders exactly where the extension's refresh would
#   (src/services/statistics.rs: pages > 1.5 x pages at the last ANALYZE +
#   16, checked before every orders batch but the first and at the start of
#   the customers stage; it prints each decision). Neither database ever
#   analyses etl.customers or etl.business_leads: the extension does not.
# * Statements run as prepared statements with the literal parameter values
#   (PREPARE ... ; EXPLAIN EXECUTE ...(literals)): the same custom plan SPI
#   builds for the stage, array parameters included (an ARRAY(SELECT ...)
#   inline would be estimated at 10-100 elements and plan differently).
# * The orders stage's batches (etl.batch_size 50000, newest line first) are
#   rebuilt in SQL from etl.raw_orders (public.explain_input), following the
#   stage's cleaning closely enough for the demo data (the same lines are
#   valid, up to a few). Batch 1 is written with a plain INSERT of the same
#   rows (the upsert itself would take minutes there: see its plan); batch
#   2 and every later step run the new statements for real, so each
#   statement is explained in the state the stage leaves before it. The
#   Polars steps (creating customers and leads) are plain SQL here.
# * EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) runs inside BEGIN ... ROLLBACK,
#   in a throw-away copy of the database (CREATE DATABASE ... TEMPLATE): a
#   rolled-back write leaves dead rows and grown files, which would change
#   the estimates of every later statement. The quadratic shape (the upsert
#   on an empty table) gets plain EXPLAIN for the whole batch and EXPLAIN
#   ANALYZE on its first 5,000 rows only (--stages shows the whole batch).
set -euo pipefail
cd "$(dirname "$0")/.."
export USER=${USER:-root}
STAGES=0
MANY_LEADS=0
for arg in "$@"; do
    case $arg in
        --stages) STAGES=1 ;;
        --many-leads) MANY_LEADS=1 ;;
        *) echo "usage: bash bench/explain_plans.sh [--stages] [--many-leads]" >&2; exit 2 ;;
    esac
done
. scripts/cluster.sh
DIR=/tmp/etl_explain
PORT=55810
SQL=$DIR/sql
cluster_start "$DIR" $PORT "shared_buffers = '256MB'" "autovacuum = off" "max_connections = 20"
trap 'cluster_stop $DIR' EXIT
mkdir -p "$SQL"
q() { local db=$1; shift; cluster_psql $PORT -d "$db" -At -q "$@"; }

# ---------------------------------------------------------------------------
# Statements: the new ones from the tree, the old ones as of commit ad4b21b.
# ---------------------------------------------------------------------------
{
cat <<'EOF'
\set QUIET on
\pset format unaligned
\pset tuples_only on
\pset pager off
SELECT etl_uuid_v7() IS NOT NULL AS loaded \gset
SELECT current_setting('etl.source_timezone') AS tz \gset
-- Old orders upsert (src/orders/load.rs UPSERT_ORDERS at ad4b21b).
PREPARE o_upsert(uuid, bigint, text, int[], bigint[], text[], text[], text[], text[], text[], bigint[], text[], text[]) AS
WITH input AS (
    SELECT u.line_no, u.shop_id, u.order_id, u.nickname, u.status, u.order_type,
           u.system_order_type,
           (u.cents::numeric / 100)::numeric(14,2) AS amount,
           CASE WHEN u.utc_offset IS NULL
                THEN u.local_time::timestamp AT TIME ZONE $3
                ELSE (u.local_time || u.utc_offset)::timestamptz
           END AS ordered_at
      FROM unnest($4::int[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[],
                  $10::text[], $11::bigint[], $12::text[], $13::text[])
           AS u(line_no, shop_id, order_id, nickname, status, order_type,
                system_order_type, cents, local_time, utc_offset)
),
newer_imports AS (
    SELECT later.import_id
      FROM etl.imports later, etl.imports this
     WHERE this.import_id = $1
       AND (coalesce(later.completed_at, later.created_at), later.import_id)
         > (coalesce(this.completed_at, this.created_at), this.import_id)
),
moved AS (
    SELECT o.shop_id, o.customer_nickname, o.lead_id
      FROM input i
     CROSS JOIN LATERAL (
           SELECT o.shop_id, o.customer_nickname, o.lead_id, o.import_id
             FROM etl.orders o
            WHERE o.shop_id = i.shop_id AND o.order_id = i.order_id
              AND o.customer_nickname <> i.nickname
              AND o.loaded_by_run IS DISTINCT FROM $2
            LIMIT 1) o
     WHERE o.import_id NOT IN (SELECT n.import_id FROM newer_imports n)
),
stale_customers AS (
    INSERT INTO etl.pending_customer_refresh (shop_id, customer_nickname)
    SELECT DISTINCT m.shop_id, m.customer_nickname FROM moved m
    ON CONFLICT DO NOTHING
),
stale_leads AS (
    INSERT INTO etl.pending_lead_refresh (lead_id)
    SELECT DISTINCT m.lead_id FROM moved m WHERE m.lead_id IS NOT NULL
    ON CONFLICT DO NOTHING
),
written AS (
    INSERT INTO etl.orders AS o
           (shop_id, order_id, customer_nickname, latest_status, order_type,
            system_order_type, amount, ordered_at, import_id, source_line_no, loaded_by_run)
    SELECT i.shop_id, i.order_id, i.nickname, i.status, i.order_type,
           i.system_order_type, i.amount, i.ordered_at, $1, i.line_no, $2
      FROM input i
     ORDER BY i.shop_id, i.order_id
    ON CONFLICT (shop_id, order_id) DO UPDATE SET
           customer_nickname = EXCLUDED.customer_nickname,
           latest_status = EXCLUDED.latest_status,
           order_type = EXCLUDED.order_type,
           system_order_type = EXCLUDED.system_order_type,
           amount = EXCLUDED.amount,
           ordered_at = EXCLUDED.ordered_at,
           import_id = EXCLUDED.import_id,
           source_line_no = EXCLUDED.source_line_no,
           loaded_by_run = EXCLUDED.loaded_by_run,
           customer_global_id = CASE WHEN o.customer_nickname = EXCLUDED.customer_nickname
                                     THEN o.customer_global_id END,
           lead_id = CASE WHEN o.customer_nickname = EXCLUDED.customer_nickname
                          THEN o.lead_id END,
           updated_at = now()
     WHERE o.loaded_by_run IS DISTINCT FROM EXCLUDED.loaded_by_run
       AND o.import_id NOT IN (SELECT n.import_id FROM newer_imports n)
    RETURNING 1
)
SELECT count(*) FROM written;
-- Old link_orders (src/customers/load.rs at ad4b21b).
PREPARE o_link(uuid) AS
UPDATE etl.orders o
   SET customer_global_id = c.customer_global_id, updated_at = now()
  FROM etl.customers c
 WHERE o.import_id = $1
   AND c.shop_id = o.shop_id AND c.customer_nickname = o.customer_nickname
   AND o.customer_global_id IS DISTINCT FROM c.customer_global_id;
-- Old refresh_order_times (src/customers/load.rs at ad4b21b).
PREPARE o_times(uuid) AS
WITH stale AS (
    DELETE FROM etl.pending_customer_refresh RETURNING shop_id, customer_nickname
), touched AS (
    SELECT i.shop_id, i.customer_nickname FROM etl.orders i WHERE i.import_id = $1
    UNION
    SELECT s.shop_id, s.customer_nickname FROM stale s
), t AS (
    SELECT k.shop_id, k.customer_nickname, min(o.ordered_at) AS first_at, max(o.ordered_at) AS last_at
      FROM touched k
      LEFT JOIN etl.orders o ON o.shop_id = k.shop_id AND o.customer_nickname = k.customer_nickname
     GROUP BY k.shop_id, k.customer_nickname
)
UPDATE etl.customers c
   SET first_order_at = t.first_at, last_order_at = t.last_at
  FROM t
 WHERE c.shop_id = t.shop_id AND c.customer_nickname = t.customer_nickname
   AND (c.first_order_at, c.last_order_at) IS DISTINCT FROM (t.first_at, t.last_at);
-- Old attribute_orders (src/leads/load.rs at ad4b21b).
PREPARE o_attr(uuid) AS
UPDATE etl.orders o
   SET lead_id = cur.lead_id, updated_at = now()
  FROM (SELECT DISTINCT ON (l.customer_global_id) l.customer_global_id, l.lead_id
          FROM etl.business_leads l
         WHERE l.customer_global_id IN
               (SELECT i.customer_global_id FROM etl.orders i
                 WHERE i.import_id = $1 AND i.lead_id IS NULL AND i.customer_global_id IS NOT NULL)
         ORDER BY l.customer_global_id, l.lead_no DESC) cur
 WHERE o.import_id = $1 AND o.lead_id IS NULL
   AND o.customer_global_id = cur.customer_global_id;
-- Old leads' aggregates: the cursor that shipped every order of every
-- touched lead to Polars (src/leads/load.rs open_orders_of_touched_leads at
-- ad4b21b); one write_aggregates UPDATE per batch followed.
PREPARE o_leadorders(uuid) AS
WITH touched AS (
    SELECT o.lead_id FROM etl.orders o WHERE o.import_id = $1 AND o.lead_id IS NOT NULL
    UNION
    SELECT p.lead_id FROM etl.pending_lead_refresh p
)
SELECT t.lead_id::text, o.latest_status, o.system_order_type,
       (o.amount * 100)::bigint,
       (extract(epoch FROM o.ordered_at) * 1000000)::bigint
  FROM touched t
  LEFT JOIN etl.orders o ON o.lead_id = t.lead_id
 ORDER BY t.lead_id;
-- Old claim of the queue (src/queue/mod.rs take_next_job at ad4b21b).
PREPARE o_claim AS
WITH next AS (
    SELECT job_id FROM etl.jobs
     WHERE state IN ('queued', 'failed') AND next_run_at <= clock_timestamp()
     ORDER BY next_run_at, job_id
     LIMIT 1
       FOR UPDATE SKIP LOCKED
)
UPDATE etl.jobs j
   SET state = 'running', attempts = j.attempts + 1, updated_at = now()
  FROM next
 WHERE j.job_id = next.job_id
RETURNING j.job_id, j.import_id, j.stage, j.attempts;
-- New link_orders (a copy of src/customers/load.rs link_orders).
PREPARE n_link(uuid) AS
UPDATE etl.orders o
   SET customer_global_id = (SELECT c.customer_global_id
                               FROM etl.customers c
                              WHERE c.shop_id = o.shop_id
                                AND c.customer_nickname = o.customer_nickname),
       updated_at = pg_catalog.now()
 WHERE o.import_id = $1 AND o.customer_global_id IS NULL;
EOF
echo "PREPARE n_upsert(uuid, bigint, text, int[], bigint[], text[], text[], text[], text[], text[], bigint[], text[], text[]) AS"
cat sql/queries/upsert_orders.sql; echo ";"
echo "PREPARE n_times(uuid) AS"; cat sql/queries/customer_order_times.sql; echo ";"
echo "PREPARE n_attr(uuid) AS"; cat sql/queries/attribute_orders.sql; echo ";"
echo "PREPARE n_leadagg(uuid[]) AS"; cat sql/queries/lead_aggregates.sql; echo ";"
echo "PREPARE n_claim(integer, integer) AS"; cat sql/queries/claim_job.sql; echo ";"
} >"$SQL/prepare.sql"

# The upsert's array parameters of one batch (:imp, :batch, :lim) -> :a_*.
cat >"$SQL/batch_args.sql" <<'EOF'
SELECT array_agg(line_no ORDER BY line_no DESC)::text AS a_line,
       array_agg(shop_id ORDER BY line_no DESC)::text AS a_shop,
       array_agg(order_id ORDER BY line_no DESC)::text AS a_oid,
       array_agg(nickname ORDER BY line_no DESC)::text AS a_nick,
       array_agg(status ORDER BY line_no DESC)::text AS a_status,
       array_agg(order_type ORDER BY line_no DESC)::text AS a_otype,
       array_agg(system_order_type ORDER BY line_no DESC)::text AS a_stype,
       array_agg(cents ORDER BY line_no DESC)::text AS a_cents,
       array_agg(local_time ORDER BY line_no DESC)::text AS a_local,
       array_agg(utc_offset ORDER BY line_no DESC)::text AS a_off,
       count(*) AS a_rows
  FROM (SELECT * FROM public.explain_input
         WHERE import_id = :'imp' AND batch = :batch
         ORDER BY line_no DESC LIMIT :lim) b
\gset
\echo '-- batch' :batch 'of import' :imp ':' :a_rows 'rows'
EOF
# The upsert, as the stage runs it (:run) with the arguments above.
echo "EXECUTE n_upsert(:'imp', :run, :'tz', :'a_line', :'a_shop', :'a_oid', :'a_nick', :'a_status', :'a_otype', :'a_stype', :'a_cents', :'a_local', :'a_off')" >"$SQL/upsert_args.txt"
ARGS=$(sed 's/^EXECUTE n_upsert//' "$SQL/upsert_args.txt")

# The extension's refresh (services/statistics.rs), decided in SQL; in
# explain_r the script runs the ANALYZE the extension would run.
cat >"$SQL/refresh.sql" <<'EOF'
SELECT CASE WHEN c.reltuples < 0 THEN 0 ELSE c.relpages END AS r_analysed,
       pg_relation_size(c.oid) / current_setting('block_size')::bigint AS r_pages,
       (pg_relation_size(c.oid) / current_setting('block_size')::bigint)
         > (CASE WHEN c.reltuples < 0 THEN 0 ELSE c.relpages END) * 1.5 + 16 AS r_stale
  FROM pg_class c WHERE c.oid = 'etl.orders'::regclass
\gset
SELECT :'r_stale'::boolean AND current_database() = 'explain_r' AS r_do \gset
\echo '-- refresh check of etl.orders in' :DBNAME ': pages' :r_pages ', pages at the last ANALYZE' :r_analysed ', stale' :r_stale ', ANALYZE run here' :r_do
\if :r_do
ANALYZE etl.orders;
\endif
EOF

# The stage's batches of an import (:imp), etl.batch_size 50000, newest line
# first, cleaned and deduplicated per batch as orders/transform.rs does for
# the demo's data.
cat >"$SQL/input.sql" <<'EOF'
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS public.explain_input (
    import_id uuid, batch int, line_no int, shop_id bigint, order_id text, nickname text,
    status text, order_type text, system_order_type text, cents bigint, local_time text, utc_offset text);
INSERT INTO public.explain_input
WITH t AS (
    SELECT r.import_id, r.line_no,
           (SELECT max(line_no) FROM etl.raw_orders x WHERE x.import_id = r.import_id) AS last_line,
           nullif(btrim(r.order_id, E' \t\r\n\u3000'), '') AS order_id,
           nullif(btrim(r.shop, E' \t\r\n\u3000'), '') AS shop,
           nullif(btrim(r.customer_name, E' \t\r\n\u3000'), '') AS nickname,
           nullif(btrim(r.order_status, E' \t\r\n\u3000'), '') AS status,
           nullif(btrim(r.order_type, E' \t\r\n\u3000'), '') AS order_type,
           replace(replace(nullif(btrim(r.amount, E' \t\r\n\u3000'), ''), '¥', ''), ',', '') AS amount,
           nullif(btrim(r.ordered_at, E' \t\r\n\u3000'), '') AS ts
      FROM etl.raw_orders r
     WHERE r.import_id = :'imp'
), v AS (
    SELECT t.import_id, (t.last_line - t.line_no) / 50000 + 1 AS batch, t.line_no, s.shop_id,
           t.order_id, t.nickname, coalesce(upper(t.status), 'UNKNOWN') AS status, t.order_type,
           coalesce(m.system_order_type, 'BULK') AS system_order_type,
           round(t.amount::numeric * 100)::bigint AS cents,
           CASE WHEN t.ts ~ '^\d{4}-\d\d-\d\d$' THEN t.ts || ' 00:00:00'
                ELSE replace(left(t.ts, 19), 'T', ' ') END AS local_time,
           CASE WHEN t.ts ~ '[+-]\d\d:\d\d$' THEN right(t.ts, 6) END AS utc_offset
      FROM t
      JOIN etl.shops s ON s.shop_name = t.shop AND s.active
      LEFT JOIN etl.order_type_mappings m ON m.raw_order_type = t.order_type
     WHERE t.order_id IS NOT NULL AND t.nickname IS NOT NULL
       AND t.amount ~ '^[0-9]+(\.[0-9]+)?$' AND t.amount::numeric < 1e12
       AND (t.ts ~ '^\d{4}-(0[13578]|1[02])-(0[1-9]|[12]\d|3[01])'
            OR t.ts ~ '^\d{4}-(0[469]|11)-(0[1-9]|[12]\d|30)'
            OR t.ts ~ '^\d{4}-02-(0[1-9]|1\d|2[0-8])')
)
SELECT import_id, batch, line_no, shop_id, order_id, nickname, status, order_type,
       system_order_type, cents, local_time, utc_offset
  FROM (SELECT v.*, row_number() OVER (PARTITION BY batch, shop_id, order_id ORDER BY line_no DESC) AS n
          FROM v) w
 WHERE n = 1;
EOF
cat >"$SQL/create_customers.sql" <<'EOF'
-- What the customers stage's create_missing does (ids are v7 uuids).
INSERT INTO etl.customers (customer_global_id, shop_id, customer_nickname, customer_key)
SELECT etl_uuid_v7(), k.shop_id, k.customer_nickname, md5(k.shop_id::text || ':' || k.customer_nickname)
  FROM (SELECT DISTINCT ON (o.shop_id, o.customer_nickname) o.shop_id, o.customer_nickname FROM etl.orders o
         WHERE o.import_id = :'imp' ORDER BY 1, 2) k
ON CONFLICT (shop_id, customer_nickname) DO NOTHING;
EOF
cat >"$SQL/create_leads.sql" <<'EOF'
-- The leads stage's strategy for these data: a new OPEN lead for a customer
-- with no lead, its current lead otherwise.
INSERT INTO etl.business_leads (lead_id, customer_global_id, current_stage)
SELECT etl_uuid_v7(), c.customer_global_id, 'OPEN'
  FROM (SELECT DISTINCT o.customer_global_id FROM etl.orders o
         WHERE o.import_id = :'imp' AND o.lead_id IS NULL AND o.customer_global_id IS NOT NULL
         ORDER BY 1) c
 WHERE NOT EXISTS (SELECT 1 FROM etl.business_leads l WHERE l.customer_global_id = c.customer_global_id);
EOF

h() { echo; echo "=================================================================="; echo "== $*"; echo "=================================================================="; }

# Runs prepare.sql, the psql variables in $VARS and the given lines in a
# database, printing the plans (and not the counts that EXECUTE returns).
VARS=""
in_db() {
    local db=$1; shift
    { cat "$SQL/prepare.sql"; printf '%s\n' "$VARS" "$@"; } | q "$db" -f - | grep -v -E '^[0-9]+$' || true
}
# The same in a throw-away copy of the database: a rolled-back EXPLAIN
# ANALYZE of a write still leaves dead rows and grown files behind, and
# estimates scale with a table's pages, so every measured statement gets
# the state the stage would have left, untouched by the others.
in_copy() {
    local db=$1; shift
    cluster_psql $PORT -q -c "CREATE DATABASE explain_m TEMPLATE $db STRATEGY FILE_COPY" >/dev/null
    in_db explain_m "$@"
    cluster_psql $PORT -q -c "DROP DATABASE explain_m" >/dev/null
}
xa() { printf '%s\n' "BEGIN;" "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) $1;" "ROLLBACK;"; }
BATCH="\\i $SQL/batch_args.sql"
STATE="SELECT format('etl.orders %s rows (%s pages), statistics: %s; etl.customers %s rows, etl.business_leads %s rows (never analysed)',
              count(*), pg_relation_size('etl.orders') / 8192,
              (SELECT CASE WHEN reltuples < 0 THEN 'never analysed' ELSE format('reltuples %s', reltuples) END
                 FROM pg_class WHERE oid = 'etl.orders'::regclass),
              (SELECT count(*) FROM etl.customers), (SELECT count(*) FROM etl.business_leads)) AS s_state
  FROM etl.orders \\gset
\\echo '--' :s_state"
PENDING="\\if :recompute_all
SELECT array_agg(DISTINCT o.lead_id)::text AS pending, count(DISTINCT o.lead_id) AS npending
  FROM etl.orders o WHERE o.import_id = :'imp' AND o.lead_id IS NOT NULL \\gset
\\else
SELECT coalesce(array_agg(p.lead_id ORDER BY p.lead_id)::text, '{}') AS pending, count(*) AS npending
  FROM etl.pending_lead_refresh p \\gset
\\endif"

# The customers and leads stages' statements on import :imp in database $1:
# each old and new statement measured in a copy, then the new one run for
# real, so the next statement sees the state the stage leaves.
customers_and_leads() {
    local db=$1
    in_db $db "$STATE"
    echo "=== customers stage"
    in_db $db "\\i $SQL/create_customers.sql"
    echo "--- OLD link_orders"; in_copy $db "$(xa "EXECUTE o_link(:'imp')")"
    echo "--- NEW link_orders"; in_copy $db "$(xa "EXECUTE n_link(:'imp')")"
    in_db $db "EXECUTE n_link(:'imp');"
    in_db $db "SELECT count(*) AS npc FROM etl.pending_customer_refresh \\gset" "\\echo '-- pending_customer_refresh:' :npc 'customers'"
    echo "--- OLD order times"; in_copy $db "$(xa "EXECUTE o_times(:'imp')")"
    echo "--- NEW order times (customer_order_times.sql)"; in_copy $db "$(xa "EXECUTE n_times(:'imp')")"
    in_db $db "EXECUTE n_times(:'imp');"
    echo "=== leads stage"
    in_db $db "\\i $SQL/create_leads.sql"
    echo "--- OLD attribute_orders"; in_copy $db "$(xa "EXECUTE o_attr(:'imp')")"
    echo "--- OLD leads aggregates: the cursor over every order of the touched leads (after the old attribution)"
    in_copy $db "BEGIN;" "EXECUTE o_attr(:'imp');" "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) EXECUTE o_leadorders(:'imp');" "ROLLBACK;"
    echo "--- NEW attribute_orders (attribute_orders.sql: attribution and incremental aggregates)"
    in_copy $db "$(xa "EXECUTE n_attr(:'imp')")"
    in_db $db "EXECUTE n_attr(:'imp');"
    echo "--- NEW leads aggregates (lead_aggregates.sql)"
    in_copy $db "$PENDING" \
        "\\echo '-- recomputing' :npending 'leads (recompute_all' :recompute_all ')'" \
        "$(xa "EXECUTE n_leadagg(:'pending')")"
    in_db $db "$PENDING" "EXECUTE n_leadagg(:'pending');" "DELETE FROM etl.pending_lead_refresh;"
}

# ---------------------------------------------------------------------------
# A fresh install and its first import (in explain_n, cloned to explain_r).
# ---------------------------------------------------------------------------
cluster_psql $PORT -q -c "CREATE DATABASE explain_n" >/dev/null
q explain_n -c "CREATE EXTENSION etl_ext"
A=$(q explain_n -c "SELECT etl_demo_import(100000, 0.4)")
q explain_n -v imp="$A" -f "$SQL/input.sql"
cluster_psql $PORT -q -c "CREATE DATABASE explain_r TEMPLATE explain_n" >/dev/null

echo "# etl_ext plans, $(date -u '+%Y-%m-%d %H:%M UTC'), $(cluster_psql $PORT -Atc 'SELECT version()' | cut -d' ' -f1-2)"
echo "# library md5 $(md5sum "$(pg_config --pkglibdir)/etl_ext.so" | cut -c1-8)…, tree $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- sql src || echo ' + uncommitted changes')"
echo "# first import $A: $(q explain_n -c "SELECT format('%s raw lines; orders batches: %s', count(*), (SELECT string_agg(format('%s: %s rows', batch, n), ', ' ORDER BY batch) FROM (SELECT batch, count(*) n FROM public.explain_input GROUP BY 1) b)) FROM etl.raw_orders")"

# ---------------------------------------------------------------------------
h "1. orders upsert, first import, batch 1: etl.orders empty (the same in both databases)"
# ---------------------------------------------------------------------------
VARS="\\set imp '$A'
\\set run 1
\\set batch 1
\\set lim 50000"
echo "--- OLD upsert, whole batch (EXPLAIN only)"; in_db explain_n "$BATCH" "EXPLAIN EXECUTE o_upsert$ARGS;"
echo "--- NEW upsert, whole batch (EXPLAIN only)"; in_db explain_n "$BATCH" "EXPLAIN EXECUTE n_upsert$ARGS;"
VARS="$VARS
\\set lim 5000"
echo "--- OLD upsert, the batch's first 5,000 rows"; in_copy explain_n "$BATCH" "$(xa "EXECUTE o_upsert$ARGS")"
echo "--- NEW upsert, the batch's first 5,000 rows"; in_copy explain_n "$BATCH" "$(xa "EXECUTE n_upsert$ARGS")"
# Batch 1 written with a plain INSERT of the rows the upsert would write.
for db in explain_n explain_r; do
    q $db -v imp="$A" <<'EOF'
SELECT etl_uuid_v7() IS NOT NULL AS loaded \gset
SELECT current_setting('etl.source_timezone') AS tz \gset
INSERT INTO etl.orders (shop_id, order_id, customer_nickname, latest_status, order_type,
                        system_order_type, amount, ordered_at, import_id, source_line_no, loaded_by_run)
SELECT shop_id, order_id, nickname, status, order_type, system_order_type,
       (cents::numeric / 100)::numeric(14,2),
       CASE WHEN utc_offset IS NULL THEN local_time::timestamp AT TIME ZONE :'tz'
            ELSE (local_time || utc_offset)::timestamptz END,
       import_id, line_no, 1
  FROM public.explain_input WHERE import_id = :'imp' AND batch = 1
 ORDER BY shop_id, order_id;
EOF
done

# ---------------------------------------------------------------------------
# Orders stage, batch 2: batch 1 written; the refresh (explain_r) or not.
# ---------------------------------------------------------------------------
VARS="\\set imp '$A'
\\set run 1
\\set batch 2
\\set lim 50000"
for db in explain_n explain_r; do
    h "2. orders upsert, first import, batch 2 ($db: $([ $db = explain_n ] && echo 'never analysed' || echo 'after the refresh'))"
    in_db $db "\\i $SQL/refresh.sql"
    echo "--- OLD upsert"; in_copy $db "$BATCH" "$(xa "EXECUTE o_upsert$ARGS")"
    echo "--- NEW upsert"; in_copy $db "$BATCH" "$(xa "EXECUTE n_upsert$ARGS")"
    in_db $db "$BATCH" "EXECUTE n_upsert$ARGS;" >/dev/null
done

# ---------------------------------------------------------------------------
# Customers and leads stages of the first import.
# ---------------------------------------------------------------------------
VARS="\\set imp '$A'
\\set recompute_all true"
for db in explain_n explain_r; do
    h "3. customers and leads stages, first import ($db: $([ $db = explain_n ] && echo 'never analysed' || echo 'after the refresh'))"
    in_db $db "\\i $SQL/refresh.sql"
    customers_and_leads $db
done

# ---------------------------------------------------------------------------
# A 100-line import on that history (explain_r: the state the new stages
# leave; the old customers stage analysed etl.orders every time, so the old
# statements had fresh statistics too).
# ---------------------------------------------------------------------------
B=$(q explain_r -c "SELECT etl_demo_import(100, 0.8)")
q explain_r -v imp="$B" -f "$SQL/input.sql"
h "4. a 100-line import ($B) on a history of $(q explain_r -c "SELECT count(*) FROM etl.orders") orders (explain_r)"
VARS="\\set imp '$B'
\\set run 101
\\set batch 1
\\set lim 50000
\\set recompute_all false"
echo "=== orders stage (one batch: no refresh check)"
echo "--- OLD upsert"; in_copy explain_r "$BATCH" "$(xa "EXECUTE o_upsert$ARGS")"
echo "--- NEW upsert"; in_copy explain_r "$BATCH" "$(xa "EXECUTE n_upsert$ARGS")"
in_db explain_r "$BATCH" "EXECUTE n_upsert$ARGS;" >/dev/null
in_db explain_r "SELECT (SELECT count(*) FROM etl.pending_customer_refresh) AS npc, (SELECT count(*) FROM etl.pending_lead_refresh) AS npl \\gset" \
    "\\echo '-- queued by the upsert: pending_customer_refresh' :npc ', pending_lead_refresh' :npl"
echo "=== customers stage: the old one began with a full ANALYZE etl.orders, the new one with the refresh check"
echo "--- OLD: ANALYZE etl.orders"; in_copy explain_r "\\timing on" "ANALYZE etl.orders;"
in_db explain_r "\\i $SQL/refresh.sql"
customers_and_leads explain_r
echo "=== generic plans of the new statements (a session's kept plan may switch to them after 5 runs)"
in_db explain_r "SET plan_cache_mode = force_generic_plan;" "$BATCH" "$PENDING" \
    "\\echo '--- NEW upsert, generic'" "EXPLAIN EXECUTE n_upsert$ARGS;" \
    "\\echo '--- NEW link_orders, generic'" "EXPLAIN EXECUTE n_link(:'imp');" \
    "\\echo '--- NEW order times, generic'" "EXPLAIN EXECUTE n_times(:'imp');" \
    "\\echo '--- NEW attribute_orders, generic'" "EXPLAIN EXECUTE n_attr(:'imp');" \
    "\\echo '--- NEW leads aggregates, generic'" "EXPLAIN EXECUTE n_leadagg(:'pending');"

# ---------------------------------------------------------------------------
h "5. claiming a job with 30,000 finished jobs in etl.jobs (a copy of explain_r, analysed)"
# ---------------------------------------------------------------------------
in_copy explain_r \
"INSERT INTO etl.imports (import_id, source, status, created_at)
SELECT etl_uuid_v7(), 'explain', 'pending', now() - interval '1 day' FROM generate_series(1, 10000);
INSERT INTO etl.jobs (import_id, stage, state, attempts, next_run_at, finished_at)
SELECT i.import_id, s.stage, 'done', 1, now() - interval '1 day', now() - interval '1 day'
  FROM etl.imports i CROSS JOIN (VALUES ('orders'), ('customers'), ('leads')) s(stage)
 WHERE i.source = 'explain';
INSERT INTO etl.jobs (import_id, stage) SELECT import_id, 'orders' FROM etl.imports WHERE source = 'explain' LIMIT 1
ON CONFLICT (import_id, stage) DO UPDATE SET state = 'queued', next_run_at = now() - interval '1 minute';
ANALYZE etl.jobs;
SELECT format('%s rows, %s queued', count(*), count(*) FILTER (WHERE state = 'queued')) AS s_jobs FROM etl.jobs \\gset
\\echo '-- etl.jobs:' :s_jobs" \
    "\\echo '--- OLD claim (queue/mod.rs take_next_job)'" "$(xa "EXECUTE o_claim")" \
    "\\echo '--- NEW claim (claim_job.sql)'" "$(xa "EXECUTE n_claim(5, 1000)")"

# ---------------------------------------------------------------------------
# Optional: the real orders stage of a first 100k import, with auto_explain
# of its statements that take over a second (the upsert of batch 1).
# ---------------------------------------------------------------------------
if [ $STAGES = 1 ]; then
    h "6. the real orders stage of a first import of 100,000 lines (explain_s, auto_explain)"
    cluster_psql $PORT -q -c "CREATE DATABASE explain_s" >/dev/null
    q explain_s -c "CREATE EXTENSION etl_ext"
    S=$(q explain_s -c "SELECT etl_demo_import(100000, 0.4)")
    MARK="explain-plans-stage-$$"
    q explain_s -c "DO \$\$BEGIN RAISE LOG '$MARK'; END\$\$"
    q explain_s -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 1000" \
        -c "SET auto_explain.log_nested_statements = on" -c "SET auto_explain.log_analyze = on" \
        -c "SET auto_explain.log_buffers = on" -c "SET auto_explain.log_timing = off" \
        -c "SELECT format('orders stage: %s ms, %s', round(duration_ms), details) FROM etl_orders('$S')"
    sed -n "/$MARK/,\$p" "$DIR/server.log" \
        | grep -E "duration:|Index Scan using orders|Index Cond: \(\(?shop_id|Filter: \(\(loaded|Tuples Inserted|^\s+Buffers: shared hit=[0-9]{6,}" || true
fi

# ---------------------------------------------------------------------------
# Optional: attribute_orders.sql when an import brings many leads. 40,000
# orders of 17,000 customers, written and linked as the stages do (etl.orders
# analysed before linking, as the customers stage's refresh leaves it; the
# leads stage has no refresh, so the planner expects 1 attributed order),
# one new lead per customer, never analysed.
# ---------------------------------------------------------------------------
if [ $MANY_LEADS = 1 ]; then
    h "7. attribute_orders.sql with 17,000 new leads (explain_l, synthetic orders)"
    cluster_psql $PORT -q -c "CREATE DATABASE explain_l" >/dev/null
    q explain_l -c "CREATE EXTENSION etl_ext"
    {
    cat "$SQL/prepare.sql"
    cat <<'EOF'
SELECT etl_uuid_v7() AS imp \gset
INSERT INTO etl.imports (import_id, source, status) VALUES (:'imp', 'explain', 'pending');
INSERT INTO etl.orders (shop_id, order_id, customer_nickname, latest_status, system_order_type,
                        amount, ordered_at, import_id, source_line_no, loaded_by_run)
SELECT 1 + n % 4, 'SO-' || n, 'c' || (hashint4(n) & 2147483647) % 5000, 'PAID', 'NORMAL', 10,
       now() - n * interval '1 minute', :'imp', n, 1
  FROM generate_series(1, 40000) n;
ANALYZE etl.orders;
INSERT INTO etl.customers (customer_global_id, shop_id, customer_nickname, customer_key)
SELECT etl_uuid_v7(), shop_id, customer_nickname, md5(shop_id || ':' || customer_nickname)
  FROM (SELECT DISTINCT shop_id, customer_nickname FROM etl.orders ORDER BY 1, 2) k;
EXECUTE n_link(:'imp');
INSERT INTO etl.business_leads (lead_id, customer_global_id, current_stage)
SELECT etl_uuid_v7(), customer_global_id, 'OPEN' FROM etl.customers ORDER BY 1;
SELECT format('%s orders, %s customers, %s leads', (SELECT count(*) FROM etl.orders),
              (SELECT count(*) FROM etl.customers), (SELECT count(*) FROM etl.business_leads)) AS s \gset
\echo '--' :s
\echo '--- NEW attribute_orders, as planned'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) EXECUTE n_attr(:'imp');
ROLLBACK;
\echo '--- NEW attribute_orders, SET LOCAL enable_nestloop = off (for comparison only)'
BEGIN;
SET LOCAL enable_nestloop = off;
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) EXECUTE n_attr(:'imp');
ROLLBACK;
EOF
    } | q explain_l -f - | grep -v -E '^[0-9]+$' || true
fi
