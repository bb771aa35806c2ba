-- First and last order times of the customers an import touched
-- (customers/load.rs, refresh_order_times). $1 = the import.
--
-- Rules it enforces (contract 3.2):
-- * first_order_at / last_order_at are the min and max ordered_at over all
--   orders of the customer, after every run.
-- * Customers that lost or changed an order (queued by the orders stage in
--   etl.pending_customer_refresh, emptied here) are recomputed from all
--   their orders; a customer left with no order gets NULLs.
-- * The import's other customers only gained new orders: their times widen
--   to the min and max of those (least/greatest ignore NULL, so a new
--   customer takes them as they are). Cost follows the import, not the
--   customer's history.
-- * Every read is through an index ((shop_id, customer_nickname) or
--   import_id); a customer whose times did not change is not written.
WITH stale AS (
    DELETE FROM etl.pending_customer_refresh RETURNING shop_id, customer_nickname
), recomputed AS (
    SELECT s.shop_id, s.customer_nickname, m.first_at, m.last_at, true AS full_recompute
      FROM (SELECT DISTINCT shop_id, customer_nickname FROM stale) s
     CROSS JOIN LATERAL (
           SELECT pg_catalog.min(o.ordered_at) AS first_at, pg_catalog.max(o.ordered_at) AS last_at
             FROM etl.orders o
            WHERE o.shop_id = s.shop_id AND o.customer_nickname = s.customer_nickname) m
), gained AS (
    SELECT i.shop_id, i.customer_nickname,
           pg_catalog.min(i.ordered_at) AS first_at, pg_catalog.max(i.ordered_at) AS last_at, false AS full_recompute
      FROM etl.orders i
     WHERE i.import_id = $1
       AND NOT EXISTS (SELECT 1 FROM stale s
                        WHERE s.shop_id = i.shop_id AND s.customer_nickname = i.customer_nickname)
     GROUP BY i.shop_id, i.customer_nickname
), t AS (
    SELECT k.*, c.customer_global_id
      FROM (SELECT * FROM recomputed UNION ALL SELECT * FROM gained) k
     CROSS JOIN LATERAL (
           SELECT x.customer_global_id FROM etl.customers x
            WHERE x.shop_id = k.shop_id AND x.customer_nickname = k.customer_nickname LIMIT 1) c
)
UPDATE etl.customers c
   SET first_order_at = CASE WHEN t.full_recompute THEN t.first_at ELSE least(c.first_order_at, t.first_at) END,
       last_order_at = CASE WHEN t.full_recompute THEN t.last_at ELSE greatest(c.last_order_at, t.last_at) END
  FROM t
 -- The customers by their primary key, whatever join the planner picks.
 WHERE c.customer_global_id = ANY (ARRAY(SELECT t2.customer_global_id FROM t t2))
   AND c.customer_global_id = t.customer_global_id
   AND (c.first_order_at, c.last_order_at) IS DISTINCT FROM
       (CASE WHEN t.full_recompute THEN t.first_at ELSE least(c.first_order_at, t.first_at) END,
        CASE WHEN t.full_recompute THEN t.last_at ELSE greatest(c.last_order_at, t.last_at) END)
