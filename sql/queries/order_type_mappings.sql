-- The order-type mappings of a batch's raw order types
-- (services/lookups.rs, order_type_mappings). $1 = the raw types (text[]).
--
-- Rules it enforces (contract 3.1):
-- * A raw order type maps to its system_order_type; one without a mapping
--   becomes BULK (in the transform, not here).
-- * One statement per batch, the types as one array parameter.
SELECT m.raw_order_type, m.system_order_type
  FROM etl.order_type_mappings m
 WHERE m.raw_order_type = ANY($1::text[])
