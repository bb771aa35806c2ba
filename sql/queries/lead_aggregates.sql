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
-- * Every row is reached by index, whatever the statistics: the batch's
--   leads by their primary key (= ANY, no join the planner could turn into
--   a scan), each lead's customer by primary key and its orders as its
--   customer's, through the (shop_id, customer_nickname) index
--   (orders.lead_id has no index of its own). Each lead of the batch is
--   rewritten (it lost or changed an order: its values change).
UPDATE etl.business_leads l
   SET (order_count, total_amount, sample_count, sample_amount, bulk_count, bulk_amount,
        first_order_at, last_order_at, updated_at) =
       (SELECT pg_catalog.count(*)::integer,
               coalesce(pg_catalog.sum(o.amount), 0::numeric)::numeric(24,2),
               pg_catalog.count(*) FILTER (WHERE o.system_order_type = 'SAMPLE'::text)::integer,
               coalesce(pg_catalog.sum(o.amount) FILTER (WHERE o.system_order_type = 'SAMPLE'::text),
                        0::numeric)::numeric(24,2),
               pg_catalog.count(*) FILTER (WHERE o.system_order_type = 'BULK'::text)::integer,
               coalesce(pg_catalog.sum(o.amount) FILTER (WHERE o.system_order_type = 'BULK'::text),
                        0::numeric)::numeric(24,2),
               pg_catalog.min(o.ordered_at),
               pg_catalog.max(o.ordered_at),
               pg_catalog.now()
          FROM etl.customers c
          JOIN etl.orders o ON o.shop_id = c.shop_id AND o.customer_nickname = c.customer_nickname
         WHERE c.customer_global_id = l.customer_global_id
           AND o.lead_id = l.lead_id
           AND o.latest_status <> ALL ('{CANCELLED,REFUNDED}'::text[]))
 WHERE l.lead_id = ANY ($1::uuid[])
