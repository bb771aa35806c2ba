-- The customers with orders of a redrive that have no lead yet, in id
-- order (leads/load.rs, open_customers_to_attribute). $1 = the import.
-- The redrive variant of customers_to_attribute.sql: the same rules, over
-- the orders the redrive's lines wrote (etl.redrive_scope, each reached by
-- its primary key). A statement of its own, so that the import's plan never
-- carries the redrive's scope.
--
-- Rules it enforces (contract 3.3):
-- * Every customer of an unattributed redriven order is read once.
-- * Distinct and sorted as uuids, turned into text only after.
SELECT c.id::text
  FROM (SELECT DISTINCT o.customer_global_id AS id
          FROM etl.redrive_scope s
         CROSS JOIN LATERAL (
               SELECT o.customer_global_id, o.lead_id FROM etl.orders o
                WHERE o.shop_id = s.shop_id AND o.order_id = s.order_id LIMIT 1) o
         WHERE s.import_id = $1
           AND o.lead_id IS NULL AND o.customer_global_id IS NOT NULL) c
 ORDER BY c.id
