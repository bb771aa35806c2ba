-- Links the import's orders to their customers (customers/load.rs,
-- link_orders). $1 = the import.
--
-- Rules it enforces (contract 3.2):
-- * Every order of the import without a customer (a new order, or one whose
--   nickname changed) gets the customer of its (shop_id, customer_nickname).
-- * Each order probes its customer by the unique key (a scalar subquery
--   per row): the plan cannot turn into a scan of etl.customers, whatever
--   the statistics say. A big import takes link_orders_whole.sql instead.
UPDATE etl.orders o
   SET customer_global_id = (SELECT c.customer_global_id
                               FROM etl.customers c
                              WHERE c.shop_id = o.shop_id
                                AND c.customer_nickname = o.customer_nickname),
       updated_at = pg_catalog.now()
 WHERE o.import_id = $1 AND o.customer_global_id IS NULL
