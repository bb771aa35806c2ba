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
WITH attributed AS (
    UPDATE etl.orders o
       SET lead_id = c.lead_id,
           updated_at = pg_catalog.now()
      FROM (SELECT DISTINCT ON (l.customer_global_id) l.customer_global_id, l.lead_id
              FROM etl.business_leads l
             ORDER BY l.customer_global_id, l.lead_no DESC) c
     WHERE o.import_id = $1 AND o.lead_id IS NULL AND o.customer_global_id = c.customer_global_id
    RETURNING o.lead_id, o.system_order_type, o.amount, o.ordered_at,
              o.latest_status <> ALL ('{CANCELLED,REFUNDED}'::text[]) AS counted
), gained AS (
    SELECT a.lead_id,
           pg_catalog.count(*)::integer AS order_count,
           pg_catalog.sum(a.amount) AS total_amount,
           pg_catalog.count(*) FILTER (WHERE a.system_order_type = 'SAMPLE'::text)::integer AS sample_count,
           coalesce(pg_catalog.sum(a.amount) FILTER (WHERE a.system_order_type = 'SAMPLE'::text), 0::numeric)
               AS sample_amount,
           pg_catalog.count(*) FILTER (WHERE a.system_order_type = 'BULK'::text)::integer AS bulk_count,
           coalesce(pg_catalog.sum(a.amount) FILTER (WHERE a.system_order_type = 'BULK'::text), 0::numeric)
               AS bulk_amount,
           pg_catalog.min(a.ordered_at) AS first_at,
           pg_catalog.max(a.ordered_at) AS last_at
      FROM attributed a
     WHERE a.counted AND a.lead_id IS NOT NULL
       AND NOT EXISTS (SELECT FROM etl.pending_lead_refresh p WHERE p.lead_id = a.lead_id)
     GROUP BY a.lead_id
), grown AS (
    UPDATE etl.business_leads l
       SET order_count = l.order_count + g.order_count,
           total_amount = l.total_amount + g.total_amount,
           sample_count = l.sample_count + g.sample_count,
           sample_amount = l.sample_amount + g.sample_amount,
           bulk_count = l.bulk_count + g.bulk_count,
           bulk_amount = l.bulk_amount + g.bulk_amount,
           first_order_at = least(l.first_order_at, g.first_at),
           last_order_at = greatest(l.last_order_at, g.last_at),
           updated_at = pg_catalog.now()
      FROM gained g
     WHERE l.lead_id = g.lead_id
    RETURNING 1
)
SELECT (SELECT pg_catalog.count(*) FROM attributed) AS attributed, (SELECT pg_catalog.count(*) FROM grown) AS grown
