-- Upserts one batch of cleaned orders (orders/load.rs, upsert_orders) and
-- returns how many rows it wrote, how many of those existed before (written
-- by another run) and how many of those it changed (the report's orders
-- inserted / updated / unchanged).
-- $1 import, $2 run, $3 etl.source_timezone; $4..$13 one array per column;
-- $14 keep_newer_line (a redrive, see below).
--
-- Rules it enforces (contract 3.1):
-- * Upsert on (shop_id, order_id): every value column replaced, import_id
--   set to this import; a key this run already wrote (from a greater
--   line_no in an earlier batch) is left alone: that line is superseded.
-- * A later import (by completion time, then import_id) is never undone by
--   an earlier one run again or run late: the order it wrote is left alone.
-- * With $14 (a redrive of the import's rejected lines), an order written
--   by a newer line of the same import is left alone too: within an import
--   the newest valid line wins.
-- * A nickname change clears customer_global_id and lead_id.
-- * An existing order the batch rewrites queues its customer (when it
--   leaves it or its time changes) and its lead (when it leaves it or its
--   time, amount, status or type changes) in etl.pending_customer_refresh /
--   etl.pending_lead_refresh for a full recompute by the next stages. New
--   orders queue nothing: the next stages add them to their customer's
--   times and their lead's aggregates incrementally.
-- * Times without an offset are local to etl.source_timezone, with
--   PostgreSQL's rules for daylight-saving gaps and overlaps.
-- * Cost follows the batch: every existing order and every import is
--   reached by its primary key (a LATERAL ... LIMIT 1 and a scalar subquery
--   run per row: the planner cannot turn them into joins over whole tables).
--   (The unnest of several arrays below is SQL syntax, not a function, so
--   it cannot be schema-qualified.)
WITH this_import AS (
    SELECT coalesce(t.completed_at, t.created_at) AS at, t.import_id
      FROM etl.imports t
     WHERE t.import_id = $1
),
input AS (
    SELECT u.line_no, u.shop_id, u.order_id, u.nickname, u.status, u.order_type,
           u.system_order_type,
           (u.cents::numeric / 100::numeric)::numeric(14,2) AS amount,
           CASE WHEN u.utc_offset IS NULL
                THEN u.local_time::timestamp AT TIME ZONE $3
                ELSE (u.local_time || u.utc_offset)::timestamptz
           END AS ordered_at
      FROM unnest($4::int[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[],
                             $10::text[], $11::bigint[], $12::text[], $13::text[])
           AS u(line_no, shop_id, order_id, nickname, status, order_type,
                system_order_type, cents, local_time, utc_offset)
),
rewritten AS (
    SELECT o.shop_id, o.customer_nickname, o.lead_id,
           o.customer_nickname <> i.nickname AS moved,
           o.ordered_at IS DISTINCT FROM i.ordered_at AS time_changed,
           (o.amount, o.latest_status, o.system_order_type)
               IS DISTINCT FROM (i.amount, i.status, i.system_order_type) AS value_changed,
           o.order_type IS DISTINCT FROM i.order_type AS type_text_changed
      FROM input i
     CROSS JOIN LATERAL (
           SELECT o.shop_id, o.customer_nickname, o.lead_id, o.import_id, o.ordered_at, o.amount,
                  o.latest_status, o.system_order_type, o.order_type, o.source_line_no
             FROM etl.orders o
            WHERE o.shop_id = i.shop_id AND o.order_id = i.order_id
              AND o.loaded_by_run IS DISTINCT FROM $2
            LIMIT 1) o
     WHERE NOT ($14 AND o.import_id = $1 AND o.source_line_no > i.line_no)
       AND NOT coalesce((SELECT (coalesce(later.completed_at, later.created_at), later.import_id) > (this.at, this.import_id)
                           FROM etl.imports later, this_import this
                          WHERE later.import_id = o.import_id), false)
),
-- A customer's times change when it loses an order or an order's time
-- changes; a lead's aggregates when it loses an order or an order's time,
-- amount, status or type changes. Those are recomputed in full.
stale_customers AS (
    INSERT INTO etl.pending_customer_refresh (shop_id, customer_nickname)
    SELECT DISTINCT m.shop_id, m.customer_nickname FROM rewritten m WHERE m.moved OR m.time_changed
    ON CONFLICT DO NOTHING
),
stale_leads AS (
    INSERT INTO etl.pending_lead_refresh (lead_id)
    SELECT DISTINCT m.lead_id FROM rewritten m
     WHERE m.lead_id IS NOT NULL AND (m.moved OR m.time_changed OR m.value_changed)
    ON CONFLICT DO NOTHING
),
written AS (
    INSERT INTO etl.orders AS o
           (shop_id, order_id, customer_nickname, latest_status, order_type,
            system_order_type, amount, ordered_at, import_id, source_line_no, loaded_by_run)
    SELECT i.shop_id, i.order_id, i.nickname, i.status, i.order_type,
           i.system_order_type, i.amount, i.ordered_at, $1, i.line_no, $2
      FROM input i
     -- Reads the existing rows before this INSERT adds any (an InitPlan):
     -- otherwise, on an empty table, each probe walked the index entries
     -- of the rows the statement had just inserted (quadratic).
     WHERE (SELECT pg_catalog.count(*) FROM rewritten) >= 0
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
           updated_at = pg_catalog.now()
     WHERE o.loaded_by_run IS DISTINCT FROM EXCLUDED.loaded_by_run
       AND NOT ($14 AND o.import_id = $1 AND o.source_line_no > EXCLUDED.source_line_no)
       AND NOT coalesce((SELECT (coalesce(later.completed_at, later.created_at), later.import_id) > (this.at, this.import_id)
                           FROM etl.imports later, this_import this
                          WHERE later.import_id = o.import_id), false)
    RETURNING 1
)
-- Every rewritten row is written (the same conditions as the DO UPDATE's).
SELECT (SELECT pg_catalog.count(*) FROM written) AS written,
       (SELECT pg_catalog.count(*) FROM rewritten) AS existed,
       (SELECT pg_catalog.count(*) FROM rewritten m
         WHERE m.moved OR m.time_changed OR m.value_changed OR m.type_text_changed) AS changed
