-- Records a batch's rejected lines (orders/load.rs, write_rejects).
-- $1 = the import; $2 line numbers, $3 reasons, $4 details; $5..$11 the
-- lines' text columns as imported (one array each).
--
-- Rules it enforces (contract 3.1, 4.5):
-- * Every refused line has one row in etl.rejects with its reason, a
--   description, and the line as imported (raw), taken from the batch.
-- * Rejects describe the latest run: a line refused again replaces its row.
-- * Rows are written in line order, a stable lock order.
INSERT INTO etl.rejects (import_id, line_no, stage, reason, detail, raw)
SELECT $1, u.line_no, 'orders', u.reason, u.detail,
       pg_catalog.jsonb_build_object(
           'order_id', u.order_id, 'shop', u.shop, 'customer_name', u.customer_name,
           'order_status', u.order_status, 'order_type', u.order_type,
           'amount', u.amount, 'ordered_at', u.ordered_at)
  FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
              $8::text[], $9::text[], $10::text[], $11::text[])
       AS u(line_no, reason, detail, order_id, shop, customer_name, order_status,
            order_type, amount, ordered_at)
 ORDER BY u.line_no
ON CONFLICT (import_id, line_no) DO UPDATE
   SET stage = EXCLUDED.stage, reason = EXCLUDED.reason,
       detail = EXCLUDED.detail, raw = EXCLUDED.raw, created_at = pg_catalog.now()
