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
WITH attributed AS (
    UPDATE etl.orders o
       SET lead_id = (SELECT l.lead_id
                        FROM etl.business_leads l
                       WHERE l.customer_global_id = o.customer_global_id
                       ORDER BY l.lead_no DESC
                       LIMIT 1),
           updated_at = pg_catalog.now()
     WHERE o.import_id = $1 AND o.lead_id IS NULL AND o.customer_global_id IS NOT NULL
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
