-- The sums of a lead's counted orders: the one definition of a counted
-- order and of the lead sums, shared by lead_aggregates.sql (a lead's
-- aggregates in full) and attribute_orders*.sql (the growth of a lead's
-- aggregates by its newly attributed orders). A part of a statement, not a
-- statement: leads/load.rs puts it between the two files of each statement
-- (concat! of whole files, no text replaced); the statement before it ends
-- in a SELECT list's start and defines `lead_orders` (rows with amount,
-- system_order_type, ordered_at and latest_status).
--
-- Rules it enforces (contract 3.3, 3.4.3):
-- * A counted order is one whose latest_status is neither CANCELLED nor
--   REFUNDED; the others count nowhere.
-- * A lead's sums: the count and the sum of amount of its counted orders,
--   the same for SAMPLE and for BULK orders (by system_order_type), and the
--   first and last ordered_at; over no order, counts 0, sums 0 and NULL
--   times.
-- * Sums are numeric: exact, and numeric(24,2) holds any number of orders
--   of up to 10^12 each without overflow or wrap.
       pg_catalog.count(*)::integer AS order_count,
       coalesce(pg_catalog.sum(o.amount), 0::numeric)::numeric(24,2) AS total_amount,
       pg_catalog.count(*) FILTER (WHERE o.system_order_type = 'SAMPLE'::text)::integer AS sample_count,
       coalesce(pg_catalog.sum(o.amount) FILTER (WHERE o.system_order_type = 'SAMPLE'::text),
                0::numeric)::numeric(24,2) AS sample_amount,
       pg_catalog.count(*) FILTER (WHERE o.system_order_type = 'BULK'::text)::integer AS bulk_count,
       coalesce(pg_catalog.sum(o.amount) FILTER (WHERE o.system_order_type = 'BULK'::text),
                0::numeric)::numeric(24,2) AS bulk_amount,
       pg_catalog.min(o.ordered_at) AS first_at,
       pg_catalog.max(o.ordered_at) AS last_at
  FROM lead_orders o
 WHERE o.latest_status <> ALL ('{CANCELLED,REFUNDED}'::text[])
