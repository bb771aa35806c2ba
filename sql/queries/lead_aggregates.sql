-- Recomputes in full the aggregates of a batch of leads that lost or changed
-- an order (leads/load.rs, recompute_aggregates). $1 = the leads' ids
-- (uuid[]). Leads that only gained new orders grow incrementally instead
-- (attribute_orders.sql).
--
-- Rules it enforces (contract 3.3, 3.4.3):
-- * A lead's aggregates are those of the orders now attributed to it,
--   leaving out orders whose latest_status is CANCELLED or REFUNDED.
-- * SAMPLE and BULK split by system_order_type; a lead with nothing left
--   has counts 0, sums 0 and NULL times.
-- * Sums are numeric: exact, and numeric(24,2) holds any number of orders
--   of up to 10^12 each without overflow or wrap.
-- * Every row is reached by index, whatever the statistics: the leads and
--   their customers by primary key (LATERAL ... LIMIT 1, = ANY), a lead's
--   orders as its customer's, through the (shop_id, customer_nickname)
--   index (orders.lead_id has no index of its own).
-- * A lead whose values did not change is not written.
UPDATE etl.business_leads l
   SET order_count = a.order_count,
       total_amount = a.total_amount,
       sample_count = a.sample_count,
       sample_amount = a.sample_amount,
       bulk_count = a.bulk_count,
       bulk_amount = a.bulk_amount,
       first_order_at = a.first_at,
       last_order_at = a.last_at,
       updated_at = pg_catalog.now()
  FROM (SELECT bl.lead_id, agg.*
          FROM pg_catalog.unnest($1::uuid[]) AS t(lead_id)
         CROSS JOIN LATERAL (
               SELECT x.lead_id, x.customer_global_id FROM etl.business_leads x
                WHERE x.lead_id = t.lead_id LIMIT 1) bl
         CROSS JOIN LATERAL (
               SELECT x.shop_id, x.customer_nickname FROM etl.customers x
                WHERE x.customer_global_id = bl.customer_global_id LIMIT 1) c
         CROSS JOIN LATERAL (
               SELECT pg_catalog.count(*)::integer AS order_count,
                      coalesce(pg_catalog.sum(o.amount), 0::numeric)::numeric(24,2) AS total_amount,
                      pg_catalog.count(*) FILTER (WHERE o.system_order_type = 'SAMPLE'::text)::integer
                          AS sample_count,
                      coalesce(pg_catalog.sum(o.amount) FILTER (WHERE o.system_order_type = 'SAMPLE'::text),
                               0::numeric)::numeric(24,2) AS sample_amount,
                      pg_catalog.count(*) FILTER (WHERE o.system_order_type = 'BULK'::text)::integer
                          AS bulk_count,
                      coalesce(pg_catalog.sum(o.amount) FILTER (WHERE o.system_order_type = 'BULK'::text),
                               0::numeric)::numeric(24,2) AS bulk_amount,
                      pg_catalog.min(o.ordered_at) AS first_at,
                      pg_catalog.max(o.ordered_at) AS last_at
                 FROM etl.orders o
                WHERE o.shop_id = c.shop_id
                  AND o.customer_nickname = c.customer_nickname
                  AND o.lead_id = t.lead_id
                  AND o.latest_status <> ALL ('{CANCELLED,REFUNDED}'::text[])) agg) a
 -- The batch's leads by their primary key, whatever join the planner picks.
 WHERE l.lead_id = ANY ($1::uuid[])
   AND l.lead_id = a.lead_id
   AND (l.order_count, l.total_amount, l.sample_count, l.sample_amount,
        l.bulk_count, l.bulk_amount, l.first_order_at, l.last_order_at)
       IS DISTINCT FROM
       (a.order_count, a.total_amount, a.sample_count, a.sample_amount,
        a.bulk_count, a.bulk_amount, a.first_at, a.last_at)
