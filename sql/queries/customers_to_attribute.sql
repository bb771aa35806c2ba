-- The customers with orders of the import that have no lead yet, in id
-- order (leads/load.rs, open_customers_to_attribute). $1 = the import.
--
-- Rules it enforces (contract 3.3):
-- * Every customer of an unattributed order of the import is read once, so
--   the strategy step decides its lead once per run.
-- * Distinct and sorted as uuids, turned into text only after: sorting the
--   text compares with the database's collation (twice the time at 1M lines
--   under C.UTF-8), and the order is the same (lowercase hex, fixed hyphens).
SELECT c.id::text
  FROM (SELECT DISTINCT o.customer_global_id AS id
          FROM etl.orders o WHERE o.import_id = $1
           AND o.lead_id IS NULL AND o.customer_global_id IS NOT NULL) c
 ORDER BY c.id
