-- An import belongs to the role that created it (contract section 8):
-- another loader cannot see it, lock it, add lines to it, complete it or
-- publish its completion; completed_at is the server's time, whatever the
-- loader writes; a completed import stays completed; operators work on every
-- import; a superuser's rows are kept as given (how a dump is restored).
-- Two throw-away roles granted etl_loader, as an administrator would grant it
-- to two applications. Runs in one transaction rolled back at the end.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION etl_ext;
SELECT plan(25);

\ir lib/try.psql

CREATE ROLE etl_test_alice NOLOGIN;
CREATE ROLE etl_test_bob NOLOGIN;
CREATE ROLE etl_test_ops NOLOGIN;
GRANT etl_loader TO etl_test_alice, etl_test_bob;
GRANT etl_operator TO etl_test_ops;
INSERT INTO etl.shops (shop_name) VALUES ('OwnShop');

-- Alice writes her import and completes it, naming a completed_at of her choice.
SET LOCAL ROLE etl_test_alice;
SELECT lives_ok($$INSERT INTO etl.imports (import_id, source, created_at, owner_role)
                  VALUES ('f0000000-0000-7000-8000-00000000000a', 'alice', '2000-01-01', 'etl_test_bob')$$,
                'alice creates an import (naming another owner and a creation time)');
SELECT lives_ok($$INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
                  VALUES ('f0000000-0000-7000-8000-00000000000a', 1, 'A-1', 'OwnShop', 'Ann', 'paid', NULL, '10', '2026-01-02')$$,
                'alice adds a line to her import');
SELECT is(pg_temp.try($$INSERT INTO etl.imports (import_id, source, status) VALUES ('f0000000-0000-7000-8000-00000000000c', 'x', 'completed')$$),
          'ERROR 23514', 'a new import cannot be created completed');
RESET ROLE;
SELECT is((SELECT owner_role::text || '|' || (created_at > '2001-01-01') FROM etl.imports WHERE import_id = 'f0000000-0000-7000-8000-00000000000a'),
          'etl_test_alice|true', 'the import belongs to alice, created now, whatever she wrote');

-- Bob sees nothing of it and can do nothing to it.
SET LOCAL ROLE etl_test_bob;
SELECT lives_ok($$INSERT INTO etl.imports (import_id, source) VALUES ('f0000000-0000-7000-8000-00000000000b', 'bob')$$,
                'bob creates his own import');
SELECT is(pg_temp.try($$SELECT count(*) FROM etl.imports WHERE import_id = 'f0000000-0000-7000-8000-00000000000a'$$),
          '0', 'bob does not see alice''s import');
SELECT is(pg_temp.try($$SELECT count(*) FROM etl.raw_orders WHERE import_id = 'f0000000-0000-7000-8000-00000000000a'$$),
          '0', 'bob does not see alice''s lines');
SELECT is(pg_temp.try($$INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
                        VALUES ('f0000000-0000-7000-8000-00000000000a', 2, 'B-1', 'OwnShop', 'Bob', 'paid', NULL, '1', '2026-01-02')$$),
          'ERROR 42501', 'bob cannot add a line to alice''s import');
SELECT is(pg_temp.try($$WITH u AS (UPDATE etl.imports SET status = 'completed' WHERE import_id = 'f0000000-0000-7000-8000-00000000000a' RETURNING 1)
                        SELECT count(*) FROM u$$),
          '0', 'bob cannot complete alice''s import (no row is his to update)');
SELECT is(pg_temp.try($$SELECT count(*) FROM (SELECT 1 FROM etl.imports FOR UPDATE) l$$),
          '1', 'bob can lock only his own pending import');
SELECT is(pg_temp.try($$SELECT etl.import_completed('f0000000-0000-7000-8000-00000000000a')$$),
          'ERROR 42501', 'bob cannot publish the completion of alice''s import');
RESET ROLE;

-- Alice completes hers, with a completed_at from the future.
SET LOCAL ROLE etl_test_alice;
SELECT lives_ok($$UPDATE etl.imports SET status = 'completed', completed_at = 'infinity'
                   WHERE import_id = 'f0000000-0000-7000-8000-00000000000a'$$,
                'alice completes her import (naming completed_at = infinity)');
RESET ROLE;
SELECT is((SELECT completed_at BETWEEN now() AND clock_timestamp() FROM etl.imports WHERE import_id = 'f0000000-0000-7000-8000-00000000000a'),
          true, 'completed_at is the server''s time of completion, not the loader''s');
SELECT is((SELECT string_agg(stage || ':' || state, ',') FROM etl.jobs WHERE import_id = 'f0000000-0000-7000-8000-00000000000a'),
          'orders:queued', 'the completion queued the orders stage');
SET LOCAL ROLE etl_test_alice;
SELECT is(pg_temp.try($$WITH u AS (UPDATE etl.imports SET completed_at = '2000-01-01' WHERE import_id = 'f0000000-0000-7000-8000-00000000000a' RETURNING 1)
                        SELECT count(*) FROM u$$),
          '0', 'a change of completed_at after completion touches no row (the import is no longer pending)');
SELECT is(pg_temp.try($$WITH u AS (UPDATE etl.imports SET status = 'pending' WHERE import_id = 'f0000000-0000-7000-8000-00000000000a' RETURNING 1)
                        SELECT count(*) FROM u$$),
          '0', 'alice cannot set her completed import back to pending');
SELECT is(pg_temp.try($$INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
                        VALUES ('f0000000-0000-7000-8000-00000000000a', 9, 'A-9', 'OwnShop', 'Ann', 'paid', NULL, '1', '2026-01-02')$$),
          'ERROR 42501', 'alice cannot add lines to her import once completed');
SELECT is(pg_temp.try($$SELECT etl.import_completed('f0000000-0000-7000-8000-00000000000a')::text$$),
          NULL, 'publishing her completion again queues nothing more (NULL)');
SELECT is(pg_temp.try($$SELECT count(*) FROM etl.pipeline_status$$),
          '1', 'etl.pipeline_status shows alice her own import only');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM etl.events WHERE payload ->> 'import_id' = 'f0000000-0000-7000-8000-00000000000a'),
          1, 'one DATA_IMPORT_COMPLETED event, not two');

-- An operator works on every import, and changes a completed_at only as the server's time.
SET LOCAL ROLE etl_test_ops;
SELECT is(pg_temp.try($$SELECT count(*) FROM etl.imports$$), '2', 'an operator sees every import');
SELECT lives_ok($$UPDATE etl.imports SET status = 'failed' WHERE import_id = 'f0000000-0000-7000-8000-00000000000b'$$,
                'an operator may give up bob''s pending import');
SELECT is(pg_temp.try($$WITH u AS (UPDATE etl.imports SET completed_at = now() WHERE import_id = 'f0000000-0000-7000-8000-00000000000a' RETURNING 1)
                        SELECT count(*) FROM u$$),
          'ERROR 42501', 'an operator cannot rewrite completed_at either');
RESET ROLE;

-- A superuser's rows are kept as given (pg_restore and psql put a dump back this way) and fire nothing.
INSERT INTO etl.imports (import_id, source, status, created_at, completed_at, owner_role)
VALUES ('f0000000-0000-7000-8000-0000000000dd', 'restored', 'completed', '2020-01-01', '2020-01-02', 'someone');
SELECT is((SELECT status || '|' || completed_at::date || '|' || owner_role FROM etl.imports WHERE import_id = 'f0000000-0000-7000-8000-0000000000dd'),
          'completed|2020-01-02|someone', 'a superuser''s completed import is kept as given');
SELECT is((SELECT count(*)::int FROM etl.jobs WHERE import_id = 'f0000000-0000-7000-8000-0000000000dd'),
          0, 'and queues nothing (a restore must not run the chain again)');

SELECT * FROM finish();
ROLLBACK;
