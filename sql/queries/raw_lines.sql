-- An import's raw lines, newest first (orders/load.rs, open_raw_lines,
-- LineOrder::Newest). $1 = the import.
--
-- Rules it enforces (contract 3.1):
-- * Every line of the import is read once, each key's lines newest first:
--   the first valid line seen for a key is the one that wins.
-- * Read through the primary key (import_id, line_no), in batches.
SELECT r.line_no, r.order_id, r.shop, r.customer_name, r.order_status,
       r.order_type, r.amount, r.ordered_at
  FROM etl.raw_orders r
 WHERE r.import_id = $1
 ORDER BY r.line_no DESC
