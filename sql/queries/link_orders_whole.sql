-- Links the orders of a big import to their customers in one pass
-- (customers/load.rs, link_orders_whole). $1 = the import.
-- The whole-import variant of link_orders.sql: the same rules, computed
-- with one hash join over etl.customers instead of a probe of the key index
-- per order. Chosen only when the import's customers are at least a tenth
-- of all customers (the pass is paid for by the import's size), and run
-- with nested loops off (the statistics may not know the import yet).
--
-- Rules it enforces (contract 3.2):
-- * Every order of the import without a customer gets the customer of its
--   (shop_id, customer_nickname).
UPDATE etl.orders o
   SET customer_global_id = c.customer_global_id,
       updated_at = pg_catalog.now()
  FROM etl.customers c
 WHERE c.shop_id = o.shop_id AND c.customer_nickname = o.customer_nickname
   AND o.import_id = $1 AND o.customer_global_id IS NULL
