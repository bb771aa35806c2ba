-- Retention (issue 29; docs/semantics.md 13): etl_purge(older_than) removes
-- the history its settings let go and nothing else, and what stays is
-- honest afterwards. Five imports: two finished long ago (one with a
-- rejected line), one completed long ago whose pipeline never ran (its
-- orders job still queued), one left pending, one finished just now. The
-- clock is faked by writing old times as the superuser (completed_at, the
-- jobs' and runs' ends, events). Runs in one transaction rolled back.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION etl_ext;
SELECT plan(41);

\ir lib/try.psql
CREATE TEMP TABLE last_purge (history text, removed bigint, before timestamptz);
CREATE FUNCTION pg_temp.purged(what text) RETURNS bigint LANGUAGE sql AS $$
    SELECT removed FROM pg_temp.last_purge WHERE history = what
$$;

INSERT INTO etl.shops (shop_name) VALUES ('S1');
INSERT INTO etl.imports (import_id, source) VALUES
    ('a0000000-0000-7000-8000-00000000000a', 'old'),
    ('a0000000-0000-7000-8000-00000000000b', 'old with a reject'),
    ('a0000000-0000-7000-8000-00000000000c', 'old, never run'),
    ('a0000000-0000-7000-8000-00000000000d', 'pending'),
    ('a0000000-0000-7000-8000-00000000000e', 'recent');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
SELECT ('a0000000-0000-7000-8000-00000000000' || x)::uuid, n, CASE WHEN x = 'e' THEN 'E' ELSE 'O' END || n, 'S1', 'alice', 'paid', NULL,
       CASE WHEN x = 'b' AND n = 2 THEN '1,2x' ELSE (n * 10 + ascii(x))::text END, '2026-01-01'
  FROM unnest(ARRAY['a', 'b', 'c', 'd', 'e']) x, generate_series(1, 3) n;
-- A later import wins: 'b' (completed after 'a') writes O1 and O3; 'e'
-- carries orders of its own.
UPDATE etl.imports SET status = 'completed', completed_at = '2026-01-01 10:00+00' WHERE source = 'old';
UPDATE etl.imports SET status = 'completed', completed_at = '2026-01-01 11:00+00' WHERE source = 'old with a reject';
UPDATE etl.imports SET status = 'completed', completed_at = '2026-01-01 12:00+00' WHERE source = 'old, never run';
UPDATE etl.imports SET status = 'completed' WHERE source = 'recent';
CREATE TEMP TABLE ran (stage text, status text);
INSERT INTO ran SELECT stage, status FROM etl_run_all('a0000000-0000-7000-8000-00000000000a');
INSERT INTO ran SELECT stage, status FROM etl_run_all('a0000000-0000-7000-8000-00000000000b');
INSERT INTO ran SELECT stage, status FROM etl_run_all('a0000000-0000-7000-8000-00000000000e');
-- Their jobs, runs and events ended long ago, except the recent import's.
UPDATE etl.jobs SET finished_at = '2026-01-02+00'
 WHERE import_id <> 'a0000000-0000-7000-8000-00000000000e' AND state = 'done';
UPDATE etl.runs SET finished_at = '2026-01-02+00' WHERE import_id <> 'a0000000-0000-7000-8000-00000000000e';
UPDATE etl.events SET created_at = '2026-01-02+00' WHERE payload ->> 'import_id' <> 'a0000000-0000-7000-8000-00000000000e';
CREATE TEMP TABLE business_before AS
SELECT (SELECT md5(string_agg(o::text, ',' ORDER BY shop_id, order_id)) FROM etl.orders o) AS orders,
       (SELECT md5(string_agg(c::text, ',' ORDER BY customer_global_id)) FROM etl.customers c) AS customers,
       (SELECT md5(string_agg(l::text, ',' ORDER BY lead_id)) FROM etl.business_leads l) AS leads;

-- Off by default: nothing goes.
DELETE FROM last_purge;
INSERT INTO last_purge SELECT * FROM etl_purge('0');
SELECT is((SELECT sum(removed)::int FROM last_purge), 0, 'every retention is off by default: etl_purge removes nothing');
SELECT is((SELECT count(*)::int FROM last_purge WHERE before IS NULL), 5, 'each table says its retention is off (before NULL)');

-- Refusals.
SELECT is(pg_temp.try($$SELECT count(*) FROM etl_purge(NULL)$$), 'ERROR 22004', 'older_than NULL is refused');
SELECT is(pg_temp.try($$SELECT count(*) FROM etl_purge('-1 second')$$), 'ERROR 22023', 'a negative older_than is refused');
CREATE ROLE etl_test_loader NOLOGIN;
CREATE ROLE etl_test_reader NOLOGIN;
GRANT etl_loader TO etl_test_loader;
GRANT etl_reader TO etl_test_reader;
SET LOCAL ROLE etl_test_loader;
SELECT is(pg_temp.try($$SELECT count(*) FROM etl_purge('0')$$), 'ERROR 42501', 'a loader cannot purge');
SELECT is(pg_temp.try($$SELECT set_config('etl.retain_raw_lines', '0', true)$$), 'ERROR 42501', 'a loader cannot shorten a retention');
SELECT is(pg_temp.try($$DELETE FROM etl.raw_orders$$), 'ERROR 42501', 'a loader cannot delete raw lines');
RESET ROLE;
SET LOCAL ROLE etl_test_reader;
SELECT is(pg_temp.try($$SELECT count(*) FROM etl_purge('0')$$), 'ERROR 42501', 'a reader cannot purge');
RESET ROLE;

-- Raw lines: kept two days; etl_purge('1 day') takes the larger.
SET LOCAL etl.retain_raw_lines = '2d';
DELETE FROM last_purge;
INSERT INTO last_purge SELECT * FROM etl_purge('1 day');
SELECT is(pg_temp.purged('etl.raw_orders'), 6::bigint, 'the raw lines of the two finished old imports go');
SELECT is(pg_temp.purged('etl.rejects'), 1::bigint, 'and their rejects');
SELECT is(pg_temp.purged('etl.jobs') + pg_temp.purged('etl.runs') + pg_temp.purged('etl.events'), 0::bigint,
          'jobs, runs and events stay while their retention is off');
SELECT ok((SELECT before BETWEEN now() - interval '2 days 1 second' AND now() - interval '2 days' FROM last_purge
            WHERE history = 'etl.raw_orders'), 'the larger of older_than and the setting wins');
SELECT results_eq(
    $$SELECT i.source, count(r.line_no)::int FROM etl.imports i LEFT JOIN etl.raw_orders r USING (import_id)
       GROUP BY i.source ORDER BY i.source$$,
    $$VALUES ('old', 0), ('old with a reject', 0), ('old, never run', 3), ('pending', 3), ('recent', 3)$$,
    'an import never run, a pending one and a recent one keep their lines');
SELECT results_eq(
    $$SELECT i.source, i.status, p.raw_lines::int, p.rejected_lines::int, p.raw_purged_at = now()
        FROM etl.purged_imports p JOIN etl.imports i USING (import_id) ORDER BY i.source$$,
    $$VALUES ('old', 'completed', 3, 0, true), ('old with a reject', 'completed', 3, 1, true)$$,
    'a purged import is still there, completed, with what it had and when it went');
SELECT is((SELECT format('%s|%s|%s', orders, customers, leads) FROM business_before),
          (SELECT format('%s|%s|%s',
                  (SELECT md5(string_agg(o::text, ',' ORDER BY shop_id, order_id)) FROM etl.orders o),
                  (SELECT md5(string_agg(c::text, ',' ORDER BY customer_global_id)) FROM etl.customers c),
                  (SELECT md5(string_agg(l::text, ',' ORDER BY lead_id)) FROM etl.business_leads l))),
          'orders, customers and leads are untouched');
DELETE FROM last_purge;
INSERT INTO last_purge SELECT * FROM etl_purge('1 day');
SELECT is((SELECT sum(removed)::int FROM etl_purge('1 day')), 0, 'a second purge finds nothing more');

-- Honest afterwards: explain, re-runs, redrive.
CREATE TEMP TABLE lineage AS SELECT * FROM etl_explain('S1', 'O1');
SELECT results_eq(
    $$SELECT import_source, line_no, raw IS NULL, fate FROM lineage$$,
    $$VALUES ('old with a reject', 1, true, 'loaded'), ('old, never run', 1, false, 'not yet run'),
             ('pending', 1, false, 'not yet run')$$,
    'explain: the purged line that wrote the current row is listed without its text; the purged superseded one is gone');
SELECT matches((SELECT detail FROM lineage WHERE import_source = 'old with a reject'),
               '^wrote the current row \(run [0-9]+\); its raw line was purged at ',
               'explain says the line was purged, and when');
SELECT is(pg_temp.try($$SELECT count(*) FROM etl_run_all('a0000000-0000-7000-8000-00000000000a')$$), 'ERROR 55000',
          'etl_run_all refuses a purged import');
SELECT is(pg_temp.try($$SELECT count(*) FROM etl_orders('a0000000-0000-7000-8000-00000000000a', dry_run => true)$$),
          'ERROR 55000', 'a dry run of its orders stage too');
SELECT is(pg_temp.try($$SELECT count(*) FROM etl_redrive('a0000000-0000-7000-8000-00000000000b')$$), 'ERROR 55000',
          'etl_redrive refuses a purged import');
SELECT throws_like($$SELECT * FROM etl_orders('a0000000-0000-7000-8000-00000000000b')$$,
                   '%raw lines of import a0000000-0000-7000-8000-00000000000b were purged at %',
                   'the error names the import and when it was purged');

-- Jobs: kept one day; only imports whose every job is done or dead.
SET LOCAL etl.retain_jobs = '1d';
DELETE FROM last_purge;
INSERT INTO last_purge SELECT * FROM etl_purge('0');
SELECT is((SELECT removed FROM etl_purge('0') WHERE history = 'etl.jobs'), 0::bigint, 'nothing more after a first jobs purge');
SELECT results_eq(
    $$SELECT i.source, j.stage, j.state FROM etl.jobs j JOIN etl.imports i USING (import_id) ORDER BY 1, 2$$,
    $$VALUES ('old, never run', 'orders', 'queued'), ('recent', 'orders', 'done')$$,
    'a queued job and a recent one stay');
SELECT results_eq(
    $$SELECT i.source, p.jobs_outcome FROM etl.purged_imports p JOIN etl.imports i USING (import_id) ORDER BY 1$$,
    $$VALUES ('old', 'done'), ('old with a reject', 'done')$$,
    'what the purged jobs were is kept');
SELECT is(etl.import_completed('a0000000-0000-7000-8000-00000000000a'), NULL,
          'completing a purged import again queues nothing');
SELECT is((SELECT count(*)::int FROM etl.jobs WHERE import_id = 'a0000000-0000-7000-8000-00000000000a'), 0,
          'and no job comes back');

-- Runs and events: by age; a running run stays.
INSERT INTO etl.runs (import_id, stage, status, finished_at)
VALUES ('a0000000-0000-7000-8000-00000000000c', 'orders', 'running', '2026-01-01+00');
SET LOCAL etl.retain_runs = '1h';
SET LOCAL etl.retain_events = '1h';
DELETE FROM last_purge;
INSERT INTO last_purge SELECT * FROM etl_purge('0');
SELECT is(pg_temp.purged('etl.runs'), 6::bigint, 'the six old runs go');
SELECT results_eq($$SELECT status, count(*)::int FROM etl.runs GROUP BY 1 ORDER BY 1$$,
                  $$VALUES ('running', 1), ('success', 3)$$, 'a running run and the recent ones stay');
SELECT is(pg_temp.purged('etl.events'), 9::bigint, 'the old events go (three completions, six stage ends)');
SELECT is((SELECT count(*)::int FROM etl.events WHERE created_at < now() - interval '1 hour'), 0, 'no old event stays');

-- With its runs gone, a redrive still knows the orders stage ran.
UPDATE etl.runs SET finished_at = '2026-01-02+00' WHERE import_id = 'a0000000-0000-7000-8000-00000000000e';
SELECT is((SELECT removed FROM etl_purge('0') WHERE history = 'etl.runs'), 3::bigint, 'the recent import''s runs go once old');
SELECT lives_ok($$SELECT * FROM etl_redrive('a0000000-0000-7000-8000-00000000000e')$$,
                'a redrive of an import whose runs were purged is not refused as never run');
-- An import whose jobs went first loses its raw lines later (its jobs' outcome says it finished).
UPDATE etl.jobs SET finished_at = '2026-01-02+00' WHERE import_id = 'a0000000-0000-7000-8000-00000000000e';
UPDATE etl.imports SET completed_at = '2026-01-01 13:00+00' WHERE import_id = 'a0000000-0000-7000-8000-00000000000e';
SET LOCAL etl.retain_raw_lines = -1;
SELECT is((SELECT removed FROM etl_purge('0') WHERE history = 'etl.jobs'), 1::bigint, 'the recent import''s job goes once old');
SET LOCAL etl.retain_raw_lines = '2d';
SELECT is((SELECT removed FROM etl_purge('0') WHERE history = 'etl.raw_orders'), 3::bigint,
          'then its raw lines, its jobs'' recorded outcome saying its pipeline finished');

-- Many batches (1000 imports, or 50,000 runs or events, per statement):
-- 2500 finished imports of one line and a done job, every seventh one with
-- a queued job instead (kept), and 120,000 old runs and events, one in
-- eleven of the runs still running (kept).
INSERT INTO etl.imports (import_id, source, status, completed_at)
SELECT ('b0000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid, 'many ' || i, 'completed', '2026-01-01+00'
  FROM generate_series(1, 2500) i;
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
SELECT ('b0000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid, 1, 'M' || i, 'S1', 'bob', 'paid', NULL, '1', '2026-01-01'
  FROM generate_series(1, 2500) i;
INSERT INTO etl.jobs (import_id, stage, state, finished_at)
SELECT ('b0000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid, 'orders',
       CASE WHEN i % 7 = 0 THEN 'queued' ELSE 'done' END, '2026-01-02+00'
  FROM generate_series(1, 2500) i;
INSERT INTO etl.runs (import_id, stage, status, finished_at)
SELECT 'b0000000-0000-7000-8000-000000000001', 'orders', CASE WHEN n % 11 = 0 THEN 'running' ELSE 'success' END, '2026-01-02+00'
  FROM generate_series(1, 120000) n;
INSERT INTO etl.events (event_type, payload, created_at, accepted)
SELECT 'BENCH', '{}', '2026-01-02+00', true FROM generate_series(1, 120000) n;
-- The nil UUID, the first id of all, is a finished import like any other.
INSERT INTO etl.imports (import_id, source, status, completed_at)
VALUES ('00000000-0000-0000-0000-000000000000', 'nil', 'completed', '2026-01-01+00');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
VALUES ('00000000-0000-0000-0000-000000000000', 1, 'N1', 'S1', 'bob', 'paid', NULL, '1', '2026-01-01');
INSERT INTO etl.jobs (import_id, stage, state, finished_at)
VALUES ('00000000-0000-0000-0000-000000000000', 'orders', 'done', '2026-01-02+00');
SET LOCAL etl.retain_raw_lines = '2d';
SET LOCAL etl.retain_jobs = -1;
DELETE FROM last_purge;
INSERT INTO last_purge SELECT * FROM etl_purge('0');
SELECT is(pg_temp.purged('etl.raw_orders'), 2144::bigint, 'over three batches: the lines of the 2143 finished imports (and the nil one) go');
SELECT is((SELECT count(*)::int FROM etl.raw_orders r WHERE r.import_id::text LIKE 'b%'), 357,
          'the 357 with a queued job keep theirs, wherever they fell in a batch');
SELECT is(pg_temp.purged('etl.runs'), 109091::bigint, 'over three batches: every old run that ended');
SELECT is((SELECT count(*)::int FROM etl.runs WHERE status = 'running'), 10909 + 1, 'the running ones stay');
SELECT is(pg_temp.purged('etl.events'), 120000::bigint, 'over three batches: every old event');
SET LOCAL etl.retain_jobs = '1d';
SELECT is((SELECT removed FROM etl_purge('0') WHERE history = 'etl.jobs'), 2144::bigint,
          'over three batches: the jobs of every import whose jobs are all done');

SELECT * FROM finish();
ROLLBACK;
