-- Attributes the import's orders to leads and adds them to their leads'
-- aggregates (leads/load.rs, attribute_orders). $1 = the import. Returns
-- (orders attributed, leads whose aggregates grew).
--
-- Rules it enforces (contract 3.3, 3.4.3):
-- * Every order of the import that has a customer and no lead gets its
--   customer's current lead (highest lead_no), which the strategy step of
--   this stage created or chose just before.
-- * Those orders counted in no lead's aggregates before (an order that
--   changes customer loses its lead; its old lead is queued for a full
--   recompute by the orders stage), so each lead's aggregates grow by
--   exactly its newly attributed orders: counts and sums of the orders not
--   CANCELLED or REFUNDED, SAMPLE and BULK apart, first/last widened. Leads
--   whose existing orders changed are recomputed in full afterwards
--   (lead_aggregates.sql), so they do not grow here: each lead is written
--   once (at steady 1M lines a third of the grown leads were also queued,
--   and a lead's update costs as much as its recompute's).
-- * Each order probes its customer's current lead by index (for a big
--   import, attribute_orders_whole.sql finds every customer's current
--   lead in one hash join instead; a redrive runs
--   attribute_orders_redrive.sql); sums are exact
--   numeric. (No "= ANY(array)" beside the join key on the leads: as an
--   index condition of a nested loop it walked the array per lead.)
-- The statement is this file, lead_sums.sql and attribute_orders_grow.sql,
-- in that order (leads/load.rs).
WITH attributed AS (
    UPDATE etl.orders o
       SET lead_id = (SELECT l.lead_id
                        FROM etl.business_leads l
                       WHERE l.customer_global_id = o.customer_global_id
                       ORDER BY l.lead_no DESC
                       LIMIT 1),
           updated_at = pg_catalog.now()
     WHERE o.import_id = $1 AND o.lead_id IS NULL AND o.customer_global_id IS NOT NULL
    RETURNING o.lead_id, o.system_order_type, o.amount, o.ordered_at, o.latest_status
), lead_orders AS (
    -- The attributed orders of leads that only grow: a lead queued for a
    -- full recompute (lead_aggregates.sql) is left to it.
    SELECT a.lead_id, a.system_order_type, a.amount, a.ordered_at, a.latest_status
      FROM attributed a
     WHERE a.lead_id IS NOT NULL
       AND NOT EXISTS (SELECT FROM etl.pending_lead_refresh p WHERE p.lead_id = a.lead_id)
), gained AS (
    -- Each lead's sums of its counted new orders (lead_sums.sql follows).
    SELECT o.lead_id,
