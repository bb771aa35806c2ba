-- Attributes a big import's orders to leads and adds them to their leads'
-- aggregates (leads/load.rs, attribute_orders_whole). $1 = the import.
-- Returns (orders attributed, leads whose aggregates grew).
-- The whole-import variant of attribute_orders.sql: the same rules, with
-- every customer's current lead found in one hash join over the leads
-- instead of a probe of the leads' index per order. Chosen only when the
-- import's customers are at least a tenth of the leads, and run with nested
-- loops off, as the import's orders may be estimated at one row
-- (docs/performance.md, "A big import's attribution: one hash join").
--
-- Rules it enforces (contract 3.3, 3.4.3):
-- * Every order of the import that has a customer and no lead gets its
--   customer's current lead (highest lead_no).
-- * Those orders were counted in no lead's aggregates before, so each lead's
--   aggregates grow by exactly its newly attributed orders (those not
--   CANCELLED or REFUNDED, SAMPLE and BULK apart, first/last widened); leads
--   queued for a full recompute (lead_aggregates.sql) do not grow here.
-- * Sums are exact numeric.
-- The statement is this file, lead_sums.sql and attribute_orders_grow.sql,
-- in that order (leads/load.rs).
WITH attributed AS (
    UPDATE etl.orders o
       SET lead_id = c.lead_id,
           updated_at = pg_catalog.now()
      FROM (SELECT DISTINCT ON (l.customer_global_id) l.customer_global_id, l.lead_id
              FROM etl.business_leads l
             ORDER BY l.customer_global_id, l.lead_no DESC) c
     WHERE o.import_id = $1 AND o.lead_id IS NULL AND o.customer_global_id = c.customer_global_id
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
