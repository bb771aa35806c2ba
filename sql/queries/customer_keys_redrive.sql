-- The distinct customers of a redrive's orders, in key order
-- (customers/load.rs, open_customer_keys). $1 = the import.
-- The redrive variant of customer_keys.sql: the same rules, over the orders
-- the redrive's lines wrote (etl.redrive_scope) instead of all the import's.
-- A statement of its own, so that the import's plan never carries the
-- redrive's scope.
--
-- Rules it enforces (contract 3.2):
-- * Every (shop_id, customer_nickname) of the redriven orders is read once.
-- * Each order is reached by its primary key (LATERAL ... LIMIT 1): the cost
--   follows the redriven lines, not the import.
-- * `DISTINCT ON` with the same `ORDER BY`: a `Unique` over rows in key order.
SELECT DISTINCT ON (o.shop_id, o.customer_nickname) o.shop_id, o.customer_nickname
  FROM etl.redrive_scope s
 CROSS JOIN LATERAL (
       SELECT o.shop_id, o.customer_nickname FROM etl.orders o
        WHERE o.shop_id = s.shop_id AND o.order_id = s.order_id LIMIT 1) o
 WHERE s.import_id = $1
 ORDER BY 1, 2
