-- etl_explain(shop, order_id): an order's lineage (issue 10, item 2). One
-- order carried by five imports: two valid lines and a dirty one in the
-- first (dedup), a later import that wins with a cancelled status, a line a
-- user's trigger makes the database refuse, and an import not run yet; the
-- shop and order id are given with the white space the cleaning rule trims.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION etl_ext;
SELECT plan(12);

INSERT INTO etl.shops (shop_name) VALUES ('S1'), ('S2');
INSERT INTO etl.imports (import_id, source) VALUES
    ('f0000000-0000-7000-8000-00000000000a', 'first'),
    ('f0000000-0000-7000-8000-00000000000b', 'second'),
    ('f0000000-0000-7000-8000-00000000000c', 'refused'),
    ('f0000000-0000-7000-8000-00000000000d', 'not run');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at) VALUES
    ('f0000000-0000-7000-8000-00000000000a', 1, 'O1', 'S1', 'alice', 'paid', NULL, '10', '2026-01-01'),
    ('f0000000-0000-7000-8000-00000000000a', 2, ' O1', 'S1 ', 'alice', 'paid', NULL, '11', '2026-01-01'),
    ('f0000000-0000-7000-8000-00000000000a', 3, 'O1', 'S1', 'alice', 'paid', NULL, '1,2x', '2026-01-01'),
    ('f0000000-0000-7000-8000-00000000000a', 4, 'O1', 'S2', 'bob', 'paid', NULL, '5', '2026-01-01'),
    ('f0000000-0000-7000-8000-00000000000a', 5, 'O2', 'S1', 'alice', 'paid', NULL, '7', '2026-01-02'),
    ('f0000000-0000-7000-8000-00000000000b', 1, E'O1\u3000', 'S1', 'alice', 'Cancelled', NULL, '12', '2026-01-03'),
    ('f0000000-0000-7000-8000-00000000000c', 1, 'O1', 'S1', 'alice', 'paid', NULL, '666', '2026-01-04'),
    ('f0000000-0000-7000-8000-00000000000d', 1, 'O1', 'S1', 'alice', 'paid', NULL, '13', '2026-01-05');
UPDATE etl.imports SET status = 'completed', completed_at = now() + (ascii(right(import_id::text, 1)) - 96) * interval '1 minute';

SELECT is((SELECT string_agg(status, ',') FROM etl_run_all('f0000000-0000-7000-8000-00000000000a')), 'partial_success,success,success',
          'the first import runs (one line rejected)');
SELECT is((SELECT string_agg(status, ',') FROM etl_run_all('f0000000-0000-7000-8000-00000000000b')), 'success,success,success',
          'the second import runs');
-- The database refuses the third import's line (a user's trigger).
CREATE FUNCTION pg_temp.refuse_666() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.amount = 666 THEN RAISE EXCEPTION 'amount 666 refused by policy'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_666 BEFORE INSERT OR UPDATE ON etl.orders FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse_666();
SELECT is((SELECT status FROM etl_orders('f0000000-0000-7000-8000-00000000000c')), 'partial_success',
          'the third import''s line fails to load');

CREATE TEMP TABLE lineage AS SELECT * FROM etl_explain(E' S1\t', E'\u3000O1 ');
SELECT is((SELECT count(*)::int FROM lineage), 6, 'six raw lines carried S1/O1 (S2''s O1 and O2 are other orders)');
SELECT results_eq(
    $$SELECT import_source, line_no, fate FROM lineage$$,
    $$VALUES ('first', 1, 'superseded'), ('first', 2, 'superseded'), ('first', 3, 'rejected'),
             ('second', 1, 'loaded'), ('refused', 1, 'failed'), ('not run', 1, 'not yet run')$$,
    'each line''s fate, in import order');
SELECT is((SELECT detail FROM lineage WHERE import_source = 'first' AND line_no = 1),
          'by line 2 of the same import (its latest valid line of the order wins)', 'dedup within an import');
SELECT is((SELECT detail FROM lineage WHERE import_source = 'first' AND line_no = 2),
          'by import f0000000-0000-7000-8000-00000000000b, line 1 (a later import wins)', 'a later import wins');
SELECT matches((SELECT detail FROM lineage WHERE import_source = 'first' AND line_no = 3), '^bad_amount: ',
               'a rejected line says its reason');
SELECT matches((SELECT detail FROM lineage WHERE fate = 'failed'), '^load_error: .*amount 666 refused by policy',
               'a failed line carries the database''s message');
SELECT is((SELECT raw ->> 'order_id' FROM lineage WHERE import_source = 'second'), E'O1\u3000',
          'the line as imported, untrimmed');
SELECT is((SELECT DISTINCT format('%s|%s|%s|%s|%s', current_run_id = (SELECT loaded_by_run FROM etl.orders WHERE order_id = 'O1' AND shop_id = 1),
                                  customer_key = md5('1:alice'), lead_stage, counts_in_lead, why_not_counted) FROM lineage),
          't|t|OPEN|f|cancelled',
          'every row: the run that wrote the current row, its customer and lead, and why it does not count (cancelled)');
SELECT is((SELECT count(*)::int FROM etl_explain('S1', 'no such order')), 0, 'an order no line carried: no rows');

SELECT * FROM finish();
ROLLBACK;
