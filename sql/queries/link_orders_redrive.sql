-- Links a redrive's orders to their customers (customers/load.rs,
-- link_orders). $1 = the import.
-- The redrive variant of link_orders.sql: the same rules, over the orders
-- the redrive's lines wrote (etl.redrive_scope). A statement of its own, so
-- that the import's plan never carries the redrive's scope.
--
-- Rules it enforces (contract 3.2):
-- * Every redriven order without a customer gets the customer of its
--   (shop_id, customer_nickname).
-- * Each order probes its customer by the unique key.
UPDATE etl.orders o
   SET customer_global_id = (SELECT c.customer_global_id
                               FROM etl.customers c
                              WHERE c.shop_id = o.shop_id
                                AND c.customer_nickname = o.customer_nickname),
       updated_at = pg_catalog.now()
  FROM etl.redrive_scope s
 WHERE s.import_id = $1 AND o.shop_id = s.shop_id AND o.order_id = s.order_id AND o.customer_global_id IS NULL
