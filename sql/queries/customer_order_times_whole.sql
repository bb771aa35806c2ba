-- First and last order times of the customers an import touched, for a big
-- import (customers/load.rs, refresh_order_times_whole). $1 = the import.
-- The same rules as customer_order_times.sql, computed the way that is
-- cheaper when the import touches a large share of the customers (a first
-- import, a big steady-state one): every touched customer is recomputed
-- from all its orders in one hash join over etl.orders, instead of one
-- index probe (or two) per customer.
--
-- Rules it enforces (contract 3.2):
-- * first_order_at / last_order_at are the min and max ordered_at over all
--   orders of the customer (its shop and nickname), after every run; a
--   customer left with no order gets NULLs.
-- * Customers that lost or changed an order (queued by the orders stage in
--   etl.pending_customer_refresh) are among those recomputed; the queue is
--   emptied.
-- * A customer whose times did not change is not written.
-- Chosen only when the import's customers are at least a tenth of all
-- customers, so its pass over etl.orders is paid for by the import's size;
-- a small import never runs it.
WITH stale AS (
    DELETE FROM etl.pending_customer_refresh RETURNING shop_id, customer_nickname
), touched AS (
    SELECT s.shop_id, s.customer_nickname FROM stale s
    UNION
    SELECT i.shop_id, i.customer_nickname FROM etl.orders i WHERE i.import_id = $1
), t AS (
    SELECT k.shop_id, k.customer_nickname,
           pg_catalog.min(o.ordered_at) AS first_at, pg_catalog.max(o.ordered_at) AS last_at
      FROM touched k
      LEFT JOIN etl.orders o ON o.shop_id = k.shop_id AND o.customer_nickname = k.customer_nickname
     GROUP BY k.shop_id, k.customer_nickname
)
UPDATE etl.customers c
   SET first_order_at = t.first_at, last_order_at = t.last_at
  FROM t
 WHERE c.shop_id = t.shop_id AND c.customer_nickname = t.customer_nickname
   AND (c.first_order_at, c.last_order_at) IS DISTINCT FROM (t.first_at, t.last_at)
