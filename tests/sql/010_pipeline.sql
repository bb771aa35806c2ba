-- End to end: several imports in a row through etl_run_all, on a fresh
-- database. Expected values come from the contract (docs/semantics.md).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION etl_ext;
SELECT plan(19);

SELECT has_function('etl_run_all', ARRAY['uuid', 'boolean'], 'etl_run_all(uuid, dry_run boolean) is installed');
SELECT is(current_setting('etl.source_timezone'), 'Asia/Shanghai', 'default source time zone');

INSERT INTO etl.shops (shop_id, shop_name, platform, active)
VALUES (1, 'S1', 'tmall', true), (2, 'Old', 'taobao', false);
INSERT INTO etl.order_type_mappings (raw_order_type, system_order_type)
VALUES ('sample', 'SAMPLE'), ('gift', 'GIFT');

-- Import 1: alice (a sample and a cancelled order), carol (a gift), a
-- duplicate key and a line of an inactive shop.
INSERT INTO etl.imports (import_id, source) VALUES ('d0000000-0000-7000-8000-000000000001', 'pgtap');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
VALUES ('d0000000-0000-7000-8000-000000000001', 1, 'O1', 'S1', 'alice', 'paid', 'sample', '¥1,000.005', '2026-01-01 10:00:00'),
       ('d0000000-0000-7000-8000-000000000001', 2, 'O2', 'S1', E'\u3000alice ', 'cancelled', NULL, '20', '2026-01-02T10:00:00+08:00'),
       ('d0000000-0000-7000-8000-000000000001', 3, 'O3', 'S1', 'carol', 'paid', 'gift', '4', '2026-01-03'),
       ('d0000000-0000-7000-8000-000000000001', 4, 'O3', 'S1', 'carol', 'paid', 'gift', '5', '2026-01-03'),
       ('d0000000-0000-7000-8000-000000000001', 5, 'O9', 'Old', 'dan', 'paid', NULL, '1', '2026-01-01');
UPDATE etl.imports SET status = 'completed', completed_at = now() WHERE import_id = 'd0000000-0000-7000-8000-000000000001';

SELECT results_eq(
    $$SELECT stage, status, rows_in, rows_ok, rows_superseded, rows_rejected, rows_failed
        FROM etl_run_all('d0000000-0000-7000-8000-000000000001')$$,
    $$VALUES ('orders'::text, 'partial_success'::text, 5::bigint, 3::bigint, 1::bigint, 1::bigint, 0::bigint),
             ('customers', 'success', 2, 2, 0, 0, 0),
             ('leads', 'success', 2, 2, 0, 0, 0)$$,
    'import 1: every stage runs, one line superseded, one rejected');

SELECT results_eq(
    $$SELECT order_id, customer_nickname, latest_status, system_order_type, amount, ordered_at
        FROM etl.orders ORDER BY order_id$$,
    $$VALUES ('O1'::text, 'alice'::text, 'PAID'::text, 'SAMPLE'::text, 1000.01::numeric(14,2), '2026-01-01 02:00:00+00'::timestamptz),
             ('O2', 'alice', 'CANCELLED', 'BULK', 20.00, '2026-01-02 02:00:00+00'),
             ('O3', 'carol', 'PAID', 'GIFT', 5.00, '2026-01-02 16:00:00+00')$$,
    'import 1: orders cleaned, deduplicated and in UTC');

SELECT results_eq(
    $$SELECT line_no, reason, raw ->> 'shop' FROM etl.rejects WHERE import_id = 'd0000000-0000-7000-8000-000000000001'$$,
    $$VALUES (5, 'unknown_shop'::text, 'Old'::text)$$,
    'import 1: the inactive shop''s line is rejected');

SELECT results_eq(
    $$SELECT c.customer_nickname, c.customer_key, l.current_stage, l.order_count, l.total_amount,
             l.sample_count, l.sample_amount, l.bulk_count, l.bulk_amount, l.first_order_at, l.last_order_at
        FROM etl.business_leads l JOIN etl.customers c USING (customer_global_id) ORDER BY l.lead_no$$,
    $$VALUES ('alice'::text, md5('1:alice'), 'OPEN'::text, 1, 1000.01::numeric(14,2), 1, 1000.01::numeric(14,2), 0, 0.00::numeric(14,2),
              '2026-01-01 02:00:00+00'::timestamptz, '2026-01-01 02:00:00+00'::timestamptz),
             ('carol', md5('1:carol'), 'OPEN', 1, 5.00, 0, 0.00, 0, 0.00,
              '2026-01-02 16:00:00+00', '2026-01-02 16:00:00+00')$$,
    'import 1: one open lead per customer, cancelled orders left out');

-- Re-running the whole pipeline for import 1 changes no business row.
CREATE TEMP VIEW business AS
SELECT 'order' AS kind, format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', shop_id, order_id, customer_nickname, latest_status,
       order_type, system_order_type, amount, ordered_at, import_id, customer_global_id, lead_id) AS row
  FROM etl.orders
UNION ALL
SELECT 'customer', format('%s|%s|%s|%s|%s|%s', customer_global_id, shop_id, customer_nickname, customer_key,
       first_order_at, last_order_at)
  FROM etl.customers
UNION ALL
SELECT 'lead', format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', lead_id, lead_no, customer_global_id, current_stage,
       order_count, total_amount, sample_count, sample_amount, bulk_count, bulk_amount, first_order_at, last_order_at)
  FROM etl.business_leads
UNION ALL
SELECT 'reject', format('%s|%s|%s|%s|%s', import_id, line_no, stage, reason, raw)
  FROM etl.rejects;
CREATE TEMP TABLE before_rerun AS SELECT * FROM business;
SELECT results_eq(
    $$SELECT stage, status FROM etl_run_all('d0000000-0000-7000-8000-000000000001')$$,
    $$VALUES ('orders'::text, 'partial_success'::text), ('customers', 'success'), ('leads', 'success')$$,
    'import 1 again: every stage runs');
SELECT set_eq('SELECT * FROM business', 'SELECT * FROM before_rerun', 'the re-run changed no business row');

-- Import 2: O1 moves from alice to bob.
INSERT INTO etl.imports (import_id, source) VALUES ('d0000000-0000-7000-8000-000000000002', 'pgtap');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
VALUES ('d0000000-0000-7000-8000-000000000002', 1, 'O1', 'S1', 'bob', 'shipped', 'sample', '1000.01', '2026-01-01 10:00:00');
UPDATE etl.imports SET status = 'completed' WHERE import_id = 'd0000000-0000-7000-8000-000000000002';

SELECT results_eq(
    $$SELECT stage, status, rows_in, rows_ok FROM etl_run_all('d0000000-0000-7000-8000-000000000002')$$,
    $$VALUES ('orders'::text, 'success'::text, 1::bigint, 1::bigint), ('customers', 'success', 1, 1), ('leads', 'success', 1, 1)$$,
    'import 2 runs');
SELECT results_eq(
    $$SELECT o.customer_nickname, c.customer_nickname, o.import_id
        FROM etl.orders o JOIN etl.customers c USING (customer_global_id) WHERE o.order_id = 'O1'$$,
    $$VALUES ('bob'::text, 'bob'::text, 'd0000000-0000-7000-8000-000000000002'::uuid)$$,
    'O1 belongs to bob now');
SELECT results_eq(
    $$SELECT l.order_count, l.total_amount, l.sample_count, l.bulk_count, l.first_order_at, l.last_order_at
        FROM etl.business_leads l JOIN etl.customers c USING (customer_global_id) WHERE c.customer_nickname = 'alice'$$,
    $$VALUES (0, 0.00::numeric(14,2), 0, 0, NULL::timestamptz, NULL::timestamptz)$$,
    'alice''s lead is recomputed: only a cancelled order is left');
SELECT results_eq(
    $$SELECT first_order_at, last_order_at FROM etl.customers WHERE customer_nickname = 'alice'$$,
    $$VALUES ('2026-01-02 02:00:00+00'::timestamptz, '2026-01-02 02:00:00+00'::timestamptz)$$,
    'alice''s order times are recomputed');
SELECT results_eq(
    $$SELECT l.current_stage, l.order_count, l.total_amount, l.sample_count, l.sample_amount
        FROM etl.business_leads l JOIN etl.customers c USING (customer_global_id) WHERE c.customer_nickname = 'bob'$$,
    $$VALUES ('OPEN'::text, 1, 1000.01::numeric(14,2), 1, 1000.01::numeric(14,2))$$,
    'bob has a new lead with O1');

-- Import 3: carol's lead went cold; a new order reopens it.
UPDATE etl.business_leads SET current_stage = 'COLD'
 WHERE customer_global_id = (SELECT customer_global_id FROM etl.customers WHERE customer_nickname = 'carol');
INSERT INTO etl.imports (import_id, source) VALUES ('d0000000-0000-7000-8000-000000000003', 'pgtap');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
VALUES ('d0000000-0000-7000-8000-000000000003', 1, 'O4', 'S1', 'carol', 'paid', NULL, '7', '2026-02-01 00:00:00Z');
UPDATE etl.imports SET status = 'completed' WHERE import_id = 'd0000000-0000-7000-8000-000000000003';

SELECT results_eq(
    $$SELECT stage, status FROM etl_run_all('d0000000-0000-7000-8000-000000000003')$$,
    $$VALUES ('orders'::text, 'success'::text), ('customers', 'success'), ('leads', 'success')$$,
    'import 3 runs');
SELECT results_eq(
    $$SELECT l.current_stage, l.order_count, l.total_amount, l.bulk_count, l.bulk_amount, l.first_order_at, l.last_order_at
        FROM etl.business_leads l JOIN etl.customers c USING (customer_global_id) WHERE c.customer_nickname = 'carol'$$,
    $$VALUES ('OPEN'::text, 2, 12.00::numeric(14,2), 1, 7.00::numeric(14,2),
              '2026-01-02 16:00:00+00'::timestamptz, '2026-02-01 00:00:00+00'::timestamptz)$$,
    'carol''s cold lead is reused and reopened');
SELECT is((SELECT count(*) FROM etl.business_leads), 3::bigint, 'three leads in all');

-- The run log: a row per stage run, with batches and queries.
SELECT is((SELECT count(*) FROM etl.runs), 12::bigint, 'four pipeline runs logged');
SELECT is((SELECT count(*) FROM etl.runs
            WHERE finished_at IS NOT NULL AND batches >= 0 AND queries > 0
              AND details ? 'batches' AND details ? 'queries'
              AND (stage <> 'orders' OR rows_in = rows_ok + rows_superseded + rows_rejected + rows_failed)),
          12::bigint, 'every run row is complete and every raw line counted once');
SELECT throws_ok($$SELECT * FROM etl_run_all('d0000000-0000-7000-8000-0000000000ff')$$, '42704', NULL,
                 'an unknown import is an error');

SELECT * FROM finish();
ROLLBACK;
