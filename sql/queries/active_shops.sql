-- The active shops among a batch's shop names (services/lookups.rs,
-- active_shops). $1 = the names (text[]).
--
-- Rules it enforces (contract 3.1):
-- * A line's shop is known only when an active shop has exactly its
--   (trimmed) name; inactive shops reject their lines (unknown_shop).
-- * One statement per batch, the names as one array parameter.
SELECT s.shop_name, s.shop_id
  FROM etl.shops s
 WHERE s.active AND s.shop_name = ANY($1::text[])
