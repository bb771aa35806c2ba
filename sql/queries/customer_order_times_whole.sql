-- First and last order times of the customers an import touched, for a big
-- import (customers/load.rs, refresh_order_times_whole). $1 = the import.
-- The same rules as customer_order_times.sql, computed the way that is
-- cheaper when the import touches a large share of the customers (a first
-- import, a big steady-state one): hash joins over the import's customers
-- instead of one index probe (or two) per customer.
--
-- Rules it enforces (contract 3.2):
-- * first_order_at / last_order_at are the min and max ordered_at over all
--   orders of the customer (its shop and nickname), after every run; a
--   customer left with no order gets NULLs.
-- * Customers that lost or changed an order (queued by the orders stage in
--   etl.pending_customer_refresh, emptied here), and customers without times
--   yet (new ones, whose other orders may come from imports whose customers
--   stage has not run), are recomputed from all their orders, in one hash
--   join over etl.orders.
-- * The import's other customers only gained new orders: their times widen
--   to the min and max of those, read from the import's orders alone (at
--   steady 1M lines most of the touched customers: the history's orders are
--   not read for them).
-- * A customer whose times did not change is not written.
-- Chosen only when the import's customers are at least a tenth of all
-- customers, so its passes are paid for by the import's size; a small
-- import never runs it. Runs with nested loops off (load.rs): the import's
-- orders may not be in the statistics yet.
WITH stale AS (
    DELETE FROM etl.pending_customer_refresh RETURNING shop_id, customer_nickname
), touched AS (
    -- One row per customer, queued or the import's, with the min and max of
    -- the import's orders (see customer_order_times.sql for the GROUP BY).
    SELECT k.shop_id, k.customer_nickname, pg_catalog.bool_or(k.lost_or_changed) AS lost_or_changed,
           pg_catalog.min(k.ordered_at) AS first_at, pg_catalog.max(k.ordered_at) AS last_at
      FROM (SELECT s.shop_id, s.customer_nickname, true AS lost_or_changed, NULL::timestamptz AS ordered_at
              FROM stale s
            UNION ALL
            SELECT i.shop_id, i.customer_nickname, false, i.ordered_at
              FROM etl.orders i
             WHERE i.import_id = $1) k
     GROUP BY k.shop_id, k.customer_nickname
), current AS (
    SELECT c.customer_global_id, c.shop_id, c.customer_nickname,
           k.lost_or_changed OR c.first_order_at IS NULL AS recompute,
           least(c.first_order_at, k.first_at) AS widened_first_at,
           greatest(c.last_order_at, k.last_at) AS widened_last_at
      FROM touched k
      JOIN etl.customers c ON c.shop_id = k.shop_id AND c.customer_nickname = k.customer_nickname
), recomputed AS (
    SELECT r.customer_global_id, pg_catalog.min(o.ordered_at) AS first_at, pg_catalog.max(o.ordered_at) AS last_at
      FROM current r
      LEFT JOIN etl.orders o ON o.shop_id = r.shop_id AND o.customer_nickname = r.customer_nickname
     WHERE r.recompute
     GROUP BY r.customer_global_id
), t AS (
    SELECT r.customer_global_id, r.widened_first_at AS first_at, r.widened_last_at AS last_at
      FROM current r
     WHERE NOT r.recompute
    UNION ALL
    SELECT w.customer_global_id, w.first_at, w.last_at FROM recomputed w
)
UPDATE etl.customers c
   SET first_order_at = t.first_at, last_order_at = t.last_at
  FROM t
 WHERE c.customer_global_id = t.customer_global_id
   AND (c.first_order_at, c.last_order_at) IS DISTINCT FROM (t.first_at, t.last_at)
