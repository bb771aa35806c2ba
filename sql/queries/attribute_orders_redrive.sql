-- Attributes a redrive's orders to leads and adds them to their leads'
-- aggregates (leads/load.rs, attribute_orders). $1 = the import. Returns
-- (orders attributed, leads whose aggregates grew).
-- The redrive variant of attribute_orders.sql: the same rules, over the
-- orders the redrive's lines wrote (etl.redrive_scope) instead of all the
-- import's. A statement of its own, so that the import's plan never carries
-- the redrive's scope.
--
-- Rules it enforces (contract 3.3, 3.4.3):
-- * Every redriven order that has a customer and no lead gets its
--   customer's current lead (highest lead_no).
-- * Those orders were counted in no lead's aggregates before, so each lead's
--   aggregates grow by exactly its newly attributed orders (those not
--   CANCELLED or REFUNDED, SAMPLE and BULK apart, first/last widened); leads
--   queued for a full recompute (lead_aggregates.sql) do not grow here.
-- * Each order probes its customer's current lead by index; sums are exact
--   numeric.
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
     FROM etl.redrive_scope s
     WHERE s.import_id = $1 AND o.shop_id = s.shop_id AND o.order_id = s.order_id AND o.lead_id IS NULL AND o.customer_global_id IS NOT NULL
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
