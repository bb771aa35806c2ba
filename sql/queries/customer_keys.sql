-- The distinct customers of the import's orders, in key order
-- (customers/load.rs, open_customer_keys). $1 = the import.
--
-- Rules it enforces (contract 3.2):
-- * Every (shop_id, customer_nickname) of the import's orders is read once,
--   so each customer is created at most once per run.
-- * `DISTINCT ON` with the same `ORDER BY` is always a `Unique` over rows in
--   key order (a sort, or the orders' (shop_id, customer_nickname) index
--   when it reads less), never a hash aggregate sorted again afterwards
--   (docs/performance.md, "The customers' read").
SELECT DISTINCT ON (o.shop_id, o.customer_nickname) o.shop_id, o.customer_nickname
  FROM etl.orders o
 WHERE o.import_id = $1
 ORDER BY 1, 2
