-- An import's raw lines shop by shop, newest first within a shop
-- (orders/load.rs, open_raw_lines, LineOrder::ByShop). $1 = the import,
-- $2 = the characters the transform trims (TRIM_CHARS).
-- The variant of raw_lines.sql for an import that spans many batches: each
-- batch then writes into one narrow range of the orders' indexes
-- (docs/performance.md, "Batches by shop").
--
-- Rules it enforces (contract 3.1):
-- * Every line of the import is read once, each key's lines newest first.
-- * A line's shop is its trimmed shop name looked up as the transform does,
--   so every line of one (shop_id, order_id) sorts under the same shop;
--   lines of an unknown shop come last (they are rejected).
SELECT r.line_no, r.order_id, r.shop, r.customer_name, r.order_status,
       r.order_type, r.amount, r.ordered_at
  FROM etl.raw_orders r
  LEFT JOIN etl.shops s ON s.shop_name = pg_catalog.btrim(r.shop, $2)
 WHERE r.import_id = $1
 ORDER BY s.shop_id, r.line_no DESC
