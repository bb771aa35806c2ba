-- Dry run (issue 10, item 3): etl_run_all(import_id, dry_run => true) and
-- the same argument on each stage function report what the run would
-- change and leave no row of any table changed (runs, events, jobs and
-- rejects included); the real run that follows reports the same changes.
-- The rehearsed import has every kind of change: an order updated, one
-- unchanged, new ones, a line superseded in the import, rejects of three
-- reasons, a new customer, a lead reused, a lead created, a COLD lead
-- reopened.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION etl_ext;
SELECT plan(20);

INSERT INTO etl.shops (shop_name) VALUES ('S1');
INSERT INTO etl.shops (shop_name, active) VALUES ('Closed', false);
INSERT INTO etl.imports (import_id, source) VALUES
    ('d0000000-0000-7000-8000-00000000000a', 'history'),
    ('d0000000-0000-7000-8000-00000000000b', 'rehearsed');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at) VALUES
    ('d0000000-0000-7000-8000-00000000000a', 1, 'O1', 'S1', 'alice', 'paid', NULL, '10.00', '2026-01-01 10:00:00'),
    ('d0000000-0000-7000-8000-00000000000a', 2, 'O2', 'S1', 'alice', 'paid', NULL, '20.00', '2026-01-02 10:00:00'),
    ('d0000000-0000-7000-8000-00000000000a', 3, 'O3', 'S1', 'bob', 'paid', NULL, '30.00', '2026-01-03 10:00:00'),
    -- O1 at a new amount (updated), O2 sent again as it was (unchanged).
    ('d0000000-0000-7000-8000-00000000000b', 1, 'O1', 'S1', 'alice', 'paid', NULL, '11.50', '2026-01-01 10:00:00'),
    ('d0000000-0000-7000-8000-00000000000b', 2, ' O2 ', 'S1', 'alice', 'paid', NULL, '20', '2026-01-02 10:00:00'),
    -- New orders: alice's (her lead reused), bob's (his COLD lead reopened),
    -- carol's (a new customer and a new lead); O5 twice, the later line wins.
    ('d0000000-0000-7000-8000-00000000000b', 3, 'O4', 'S1', 'alice', 'paid', NULL, '1', '2026-02-01 10:00:00'),
    ('d0000000-0000-7000-8000-00000000000b', 4, 'O5', 'S1', 'bob', 'paid', NULL, '2', '2026-02-02 10:00:00'),
    ('d0000000-0000-7000-8000-00000000000b', 5, 'O5', 'S1', 'bob', 'paid', NULL, '3', '2026-02-02 10:00:00'),
    ('d0000000-0000-7000-8000-00000000000b', 6, 'O6', 'S1', 'carol', 'paid', NULL, '4', '2026-02-03 10:00:00'),
    -- Rejects: a bad amount, an unknown shop, an inactive shop (unknown too).
    ('d0000000-0000-7000-8000-00000000000b', 7, 'O7', 'S1', 'dave', 'paid', NULL, '1,2x', '2026-02-04 10:00:00'),
    ('d0000000-0000-7000-8000-00000000000b', 8, 'O8', 'Nowhere', 'erin', 'paid', NULL, '5', '2026-02-05 10:00:00'),
    ('d0000000-0000-7000-8000-00000000000b', 9, 'O9', 'Closed', 'frank', 'paid', NULL, '6', '2026-02-06 10:00:00');
UPDATE etl.imports SET status = 'completed',
       completed_at = now() + (ascii(right(import_id::text, 1)) - 96) * interval '1 minute';

SELECT is((SELECT string_agg(status, ',') FROM etl_run_all('d0000000-0000-7000-8000-00000000000a')),
          'success,success,success', 'the history import runs');
UPDATE etl.business_leads SET current_stage = 'COLD'
 WHERE customer_global_id = (SELECT customer_global_id FROM etl.customers WHERE customer_nickname = 'bob');
-- The import's completion queued a pipeline job: the rehearsal must leave
-- it waiting, as it is.
SELECT ok((SELECT count(*) FROM etl.jobs WHERE import_id = 'd0000000-0000-7000-8000-00000000000b') > 0,
          'the rehearsed import has a queued job');

-- Every row of every table of schema etl, as one digest per table.
CREATE FUNCTION pg_temp.table_digests() RETURNS TABLE (table_name text, digest text)
LANGUAGE plpgsql AS $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT c.oid::regclass AS rel, c.relname FROM pg_class c
              WHERE c.relnamespace = 'etl'::regnamespace AND c.relkind IN ('r', 'p') ORDER BY c.relname LOOP
        table_name := t.relname;
        EXECUTE format('SELECT coalesce(md5(string_agg(x::text, %L ORDER BY x::text)), %L) FROM %s x', '|', 'empty', t.rel)
           INTO digest;
        RETURN NEXT;
    END LOOP;
END $$;
CREATE TEMP TABLE before AS SELECT * FROM pg_temp.table_digests();

CREATE TEMP TABLE rehearsal AS
    SELECT * FROM etl_run_all('d0000000-0000-7000-8000-00000000000b', dry_run => true);
SELECT set_eq($$SELECT * FROM pg_temp.table_digests()$$, $$SELECT * FROM before$$,
              'a dry run leaves every row of every table as it was (runs, events, jobs, rejects, orders...)');
SELECT is((SELECT string_agg(format('%s:%s', stage, status), ',') FROM rehearsal),
          'orders:partial_success,customers:success,leads:success', 'the dry run reports the three stages');
SELECT ok((SELECT bool_and((details ->> 'dry_run')::boolean AND NOT details ? 'run_id') FROM rehearsal),
          'each report says it was a dry run and names no run');
SELECT is((SELECT format('%s/%s/%s/%s', rows_in, rows_ok, rows_superseded, rows_rejected) FROM rehearsal WHERE stage = 'orders'),
          '9/5/1/3', 'orders: 9 lines, 5 loaded, 1 superseded, 3 rejected');
SELECT is((SELECT format('%s/%s/%s', details ->> 'orders_inserted', details ->> 'orders_updated', details ->> 'orders_unchanged')
             FROM rehearsal WHERE stage = 'orders'),
          '3/1/1', 'orders: 3 would be inserted, 1 updated, 1 unchanged');
SELECT is((SELECT details -> 'rejects_by_reason' FROM rehearsal WHERE stage = 'orders'),
          '{"bad_amount": 1, "unknown_shop": 2}'::jsonb, 'orders: rejects by reason');
SELECT is((SELECT details ->> 'customers_created' FROM rehearsal WHERE stage = 'customers'), '1',
          'customers: one would be created (carol)');
SELECT is((SELECT format('%s/%s/%s', details ->> 'leads_created', details ->> 'leads_reused', details ->> 'leads_reopened')
             FROM rehearsal WHERE stage = 'leads'),
          '1/2/1', 'leads: one created (carol), two reused (alice, bob), one of them reopened (bob)');

-- Each stage function takes the argument too.
SELECT is((SELECT format('%s:%s', stage, rows_rejected) FROM etl_orders('d0000000-0000-7000-8000-00000000000b', dry_run => true)),
          'orders:3', 'etl_orders rehearses');
SELECT is((SELECT stage FROM etl_customers('d0000000-0000-7000-8000-00000000000b', dry_run => true)), 'customers',
          'etl_customers rehearses');
SELECT is((SELECT stage FROM etl_leads('d0000000-0000-7000-8000-00000000000b', dry_run => true)), 'leads',
          'etl_leads rehearses');
SELECT set_eq($$SELECT * FROM pg_temp.table_digests()$$, $$SELECT * FROM before$$,
              'the stage functions'' dry runs leave every table as it was');
SELECT throws_ok($$SELECT * FROM etl_run_all('d0000000-0000-7000-8000-00000000000b', dry_run => NULL)$$, '22004', NULL,
                 'dry_run => NULL is refused');

-- The real run that follows changes what the dry run said it would.
CREATE TEMP TABLE real_run AS SELECT * FROM etl_run_all('d0000000-0000-7000-8000-00000000000b');
CREATE FUNCTION pg_temp.what_changes(r jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'inserted', r -> 'orders_inserted', 'updated', r -> 'orders_updated', 'unchanged', r -> 'orders_unchanged',
        'rejects', r -> 'rejects_by_reason', 'customers_created', r -> 'customers_created',
        'orders_linked', r -> 'orders_linked', 'leads_created', r -> 'leads_created', 'leads_reused', r -> 'leads_reused',
        'leads_reopened', r -> 'leads_reopened', 'orders_attributed', r -> 'orders_attributed'))
$$;
SELECT results_eq(
    $$SELECT stage, status, rows_in, rows_ok, rows_superseded, rows_rejected, rows_failed, pg_temp.what_changes(details)
        FROM rehearsal ORDER BY stage$$,
    $$SELECT stage, status, rows_in, rows_ok, rows_superseded, rows_rejected, rows_failed, pg_temp.what_changes(details)
        FROM real_run ORDER BY stage$$,
    'the real run reports, stage by stage, what the dry run said');
SELECT is((SELECT count(*)::int FROM etl.rejects WHERE import_id = 'd0000000-0000-7000-8000-00000000000b'), 3,
          'the real run keeps its 3 rejects');
SELECT is((SELECT amount FROM etl.orders WHERE order_id = 'O1'), 11.50::numeric(14,2), 'the real run updates O1');
SELECT is((SELECT current_stage FROM etl.business_leads l JOIN etl.customers c USING (customer_global_id)
            WHERE c.customer_nickname = 'bob' ORDER BY l.lead_no DESC LIMIT 1), 'OPEN', 'the real run reopens bob''s lead');
SELECT is((SELECT count(*)::int FROM etl.runs WHERE import_id = 'd0000000-0000-7000-8000-00000000000b'), 3,
          'only the real run is logged');

SELECT * FROM finish();
ROLLBACK;
