-- An import's rejected and failed lines as imported, newest first, with
-- the reason each was refused for (orders/load.rs, open_rejected_lines).
-- $1 = the import.
--
-- Rules it enforces (contract 4.5):
-- * A redrive retries exactly the lines etl.rejects holds for the orders
--   stage, newest first (within an import the newest valid line wins).
-- * Each line through the primary keys of etl.rejects and etl.raw_orders:
--   the cost follows the rejected lines, not the import.
-- * The raw lines are read in the import's partition only (r.import_id =
--   $1, known when planning: Sql::open_cursor_one_partition): a plan over
--   every partition would wait for one that etl_purge emptied and holds.
SELECT r.line_no, r.order_id, r.shop, r.customer_name, r.order_status,
       r.order_type, r.amount, r.ordered_at, j.reason AS former_reason
  FROM etl.rejects j
 CROSS JOIN LATERAL (
       SELECT r.* FROM etl.raw_orders r
        WHERE r.import_id = $1 AND r.line_no = j.line_no
        LIMIT 1) r
 WHERE j.import_id = $1 AND j.stage = 'orders'
 ORDER BY j.line_no DESC
