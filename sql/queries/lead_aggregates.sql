-- Recomputes in full the aggregates of a batch of leads that lost or changed
-- an order (leads/load.rs, recompute_aggregates). $1 = the leads' ids
-- (uuid[]). Leads that only gained new orders grow incrementally instead
-- (attribute_orders.sql).
--
-- The statement is this file, lead_sums.sql and lead_aggregates_end.sql,
-- in that order (leads/load.rs).
--
-- Rules it enforces (contract 3.3, 3.4.3):
-- * A lead's aggregates are the sums (lead_sums.sql) of the orders now
--   attributed to it.
-- * Every row is reached by index, whatever the statistics: the batch's
--   leads by their primary key (= ANY, no join the planner could turn into
--   a scan), each lead's customer by primary key and its orders as its
--   customer's, through the (shop_id, customer_nickname) index
--   (orders.lead_id has no index of its own). Each lead of the batch is
--   rewritten (it lost or changed an order: its values change).
UPDATE etl.business_leads l
   SET (order_count, total_amount, sample_count, sample_amount, bulk_count, bulk_amount,
        first_order_at, last_order_at) =
       (WITH lead_orders AS (
            -- The lead's orders, as its customer's (no index on orders.lead_id).
            SELECT o.system_order_type, o.amount, o.ordered_at, o.latest_status
              FROM etl.customers c
              JOIN etl.orders o ON o.shop_id = c.shop_id AND o.customer_nickname = c.customer_nickname
             WHERE c.customer_global_id = l.customer_global_id
               AND o.lead_id = l.lead_id)
        SELECT
