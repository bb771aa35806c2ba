-- First and last order times of the customers a redrive touched
-- (customers/load.rs, refresh_order_times). $1 = the import.
-- The redrive variant of customer_order_times.sql: the same rules, with
-- the orders the redrive's lines wrote (etl.redrive_scope, each reached by
-- its primary key) in place of all the import's orders. A statement of its
-- own, so that the import's plan never carries the redrive's scope.
--
-- Rules it enforces (contract 3.2):
-- * first_order_at / last_order_at are the min and max ordered_at over all
--   orders of the customer (its shop and nickname), after every run.
-- * Customers that lost or changed an order (etl.pending_customer_refresh,
--   emptied here) and customers without times yet are recomputed from all
--   their orders; a customer left with no order gets NULLs.
-- * The redrive's other customers only gained new orders: their times widen
--   to the min and max of those.
-- * Every read is through an index; a customer whose times did not change
--   is not written.
WITH stale AS (
    DELETE FROM etl.pending_customer_refresh RETURNING shop_id, customer_nickname
), touched AS (
    -- One row per customer: queued ones (lost or changed an order) and the
    -- import's, with the min and max of the import's orders. A GROUP BY,
    -- not an anti-join against the queue (a CTE without an index, which the
    -- planner ran as a nested loop: quadratic on a large re-import).
    SELECT k.shop_id, k.customer_nickname, pg_catalog.bool_or(k.lost_or_changed) AS lost_or_changed,
           pg_catalog.min(k.ordered_at) AS first_at, pg_catalog.max(k.ordered_at) AS last_at
      FROM (SELECT s.shop_id, s.customer_nickname, true AS lost_or_changed, NULL::timestamptz AS ordered_at
              FROM stale s
            UNION ALL
            SELECT i.shop_id, i.customer_nickname, false, i.ordered_at
              FROM etl.redrive_scope s
             CROSS JOIN LATERAL (
                   SELECT i.shop_id, i.customer_nickname, i.ordered_at FROM etl.orders i
                    WHERE i.shop_id = s.shop_id AND i.order_id = s.order_id LIMIT 1) i
             WHERE s.import_id = $1) k
     GROUP BY k.shop_id, k.customer_nickname
), t AS (
    SELECT c.customer_global_id,
           CASE WHEN k.lost_or_changed OR c.first_order_at IS NULL THEN whole.first_at
                ELSE least(c.first_order_at, k.first_at) END AS first_at,
           CASE WHEN k.lost_or_changed OR c.first_order_at IS NULL THEN whole.last_at
                ELSE greatest(c.last_order_at, k.last_at) END AS last_at
      FROM touched k
     CROSS JOIN LATERAL (
           SELECT x.customer_global_id, x.first_order_at, x.last_order_at FROM etl.customers x
            WHERE x.shop_id = k.shop_id AND x.customer_nickname = k.customer_nickname LIMIT 1) c
     -- All the customer's orders, read only when needed (a one-time filter).
     CROSS JOIN LATERAL (
           SELECT pg_catalog.min(o.ordered_at) AS first_at, pg_catalog.max(o.ordered_at) AS last_at
             FROM etl.orders o
            WHERE (k.lost_or_changed OR c.first_order_at IS NULL)
              AND o.shop_id = k.shop_id AND o.customer_nickname = k.customer_nickname) whole
)
UPDATE etl.customers c
   SET first_order_at = t.first_at, last_order_at = t.last_at
  FROM t
 WHERE c.customer_global_id = t.customer_global_id
   AND (c.first_order_at, c.last_order_at) IS DISTINCT FROM (t.first_at, t.last_at)
