-- Writes one batch of an export's lines (exports/mod.rs, Writer::flush).
-- $1 = the import, $2 = the line numbers, $3..$9 = the seven text columns
-- in etl.raw_orders' order, one array element per line.
--
-- Rules it enforces (issue 28, docs/semantics.md 12):
-- * One statement per batch of etl.batch_size lines, the lines as arrays:
--   statements depend on batches, never on rows; memory on the batch size.
-- * Written as the caller: the RLS policy lets a loader add lines to its
--   own pending import only.
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type,
                            amount, ordered_at)
SELECT $1::uuid, u.line_no, u.order_id, u.shop, u.customer_name, u.order_status, u.order_type, u.amount,
       u.ordered_at
  FROM unnest($2::integer[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
       AS u(line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
