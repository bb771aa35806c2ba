-- The quality gate (issue 28, item 4; docs/semantics.md, section 11), as
-- the SQL functions show it in one transaction: etl.max_reject_ratio (off
-- by default, only 'off' or 0..1), a wrongly mapped file held after its
-- orders stage by etl_run_all, what etl_customers, etl_leads, etl_redrive,
-- etl_retry and an application's ORDERS_ETL_COMPLETED then do, the dry
-- run, etl_release and its errors, and etl_quality. Nothing of a held
-- import's orders stage is kept; its release runs the orders stage again. The worker, the queue
-- across commits and the roles: tests/integration/quality_gate.sh.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION etl_ext;
SELECT plan(44);

-- The setting.
SELECT is(current_setting('etl.max_reject_ratio'), 'off', 'etl.max_reject_ratio is off by default, and SHOW says so');
SELECT is((SELECT context FROM pg_settings WHERE name = 'etl.max_reject_ratio'), 'superuser',
          'only a superuser (or postgresql.conf, ALTER SYSTEM) sets it: no loader or database owner turns the gate off');
SELECT throws_ok($$SET etl.max_reject_ratio = 1.5$$, '22023', NULL, 'a share above 1 is refused');
SELECT throws_ok($$SET etl.max_reject_ratio = '-0.1'$$, '22023', NULL, 'a negative share is refused');
SELECT throws_ok($$SET etl.max_reject_ratio = 'on'$$, '22023', NULL, '"on" is no share');
SET etl.max_reject_ratio = 0.2;

INSERT INTO etl.shops (shop_name) VALUES ('S1'), ('S2');
INSERT INTO etl.imports (import_id, source) VALUES
    ('e0000000-0000-7000-8000-00000000000a', 'clean earlier'),
    ('e0000000-0000-7000-8000-00000000000b', 'wrongly mapped'),
    ('e0000000-0000-7000-8000-00000000000c', 'clean later'),
    ('e0000000-0000-7000-8000-00000000000d', 'wrongly mapped, rehearsed');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at) VALUES
    -- 1 reject in 5 lines: 0.2, not above 0.2.
    ('e0000000-0000-7000-8000-00000000000a', 1, 'A1', 'S1', 'alice', 'paid', NULL, '10.00', '2026-01-01 10:00:00'),
    ('e0000000-0000-7000-8000-00000000000a', 2, 'A2', 'S1', 'bob', 'paid', NULL, '1,2x', '2026-01-02 10:00:00'),
    ('e0000000-0000-7000-8000-00000000000a', 3, 'A3', 'S1', 'carol', 'paid', NULL, '30.00', '2026-01-03 10:00:00'),
    ('e0000000-0000-7000-8000-00000000000a', 4, 'A4', 'S1', 'dave', 'paid', NULL, '40.00', '2026-01-04 10:00:00'),
    ('e0000000-0000-7000-8000-00000000000a', 5, 'A5', 'S1', 'alice', 'paid', NULL, '50.00', '2026-01-05 10:00:00'),
    -- Columns shifted: the customer empty (or holding the status), the
    -- amount holding the date, the time holding the amount. 4 of 5 rejected.
    ('e0000000-0000-7000-8000-00000000000b', 1, 'B1', 'S1', '', 'paid', NULL, '2026-02-01 10:00:00', '12.50'),
    ('e0000000-0000-7000-8000-00000000000b', 2, 'B2', 'S1', E' \u3000', 'paid', NULL, '2026-02-02 10:00:00', '13.50'),
    ('e0000000-0000-7000-8000-00000000000b', 3, 'B3', 'S1', NULL, 'paid', NULL, '2026-02-03 10:00:00', '14.50'),
    ('e0000000-0000-7000-8000-00000000000b', 4, 'B4', 'S2', 'paid', 'x', NULL, '2026-02-04 10:00:00', '15.50'),
    ('e0000000-0000-7000-8000-00000000000b', 5, 'B5', 'S2', 'erin', 'paid', NULL, '50.00', '2026-02-05 10:00:00'),
    ('e0000000-0000-7000-8000-00000000000c', 1, 'C1', 'S1', 'frank', 'paid', NULL, '60.00', '2026-03-01 10:00:00'),
    ('e0000000-0000-7000-8000-00000000000d', 1, 'D1', 'S1', '', 'paid', NULL, '2026-04-01 10:00:00', '1.50'),
    ('e0000000-0000-7000-8000-00000000000d', 2, 'D2', 'S1', 'gina', 'paid', NULL, '2.50', '2026-04-02 10:00:00');
UPDATE etl.imports SET status = 'completed',
       completed_at = now() + (ascii(right(import_id::text, 1)) - 96) * interval '1 minute';

-- The hint of the error a statement raises.
CREATE FUNCTION pg_temp.hint_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    hint text;
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
    RETURN hint;
END
$$;

SELECT is((SELECT string_agg(status, ',') FROM etl_run_all('e0000000-0000-7000-8000-00000000000a')),
          'partial_success,success,success', 'a share equal to the threshold (1 of 5 at 0.2) is not held');
SELECT is((SELECT string_agg(status || ':' || (details -> 'quality_gate' ->> 'decision'), ',')
             FROM etl_run_all('e0000000-0000-7000-8000-00000000000b')),
          'partial_success:held', 'etl_run_all stops after orders on a wrongly mapped file, and its report says held');
SELECT is((SELECT lines || '|' || rejected || '|' || reject_ratio || '|' || threshold || '|' || (released_at IS NULL)
             FROM etl.import_holds WHERE import_id = 'e0000000-0000-7000-8000-00000000000b'),
          '5|4|0.800000|0.2|true', 'the hold records the lines, the rejects, the share and the threshold');
SELECT is((SELECT (SELECT count(*) FROM etl.orders WHERE import_id = 'e0000000-0000-7000-8000-00000000000b') || '|'
                  || (SELECT count(*) FROM etl.rejects WHERE import_id = 'e0000000-0000-7000-8000-00000000000b') || '|'
                  || (SELECT count(*) FROM etl.pending_customer_refresh) || '|'
                  || (SELECT count(*) FROM etl.pending_lead_refresh)),
          '0|0|0|0', 'nothing of the held orders stage is kept: no order (its good line B5 neither), no reject, nothing queued for refresh');
SELECT is((SELECT h.run_id = r.run_id AND r.details ->> 'kept' = 'false' AND r.details -> 'quality_gate' ->> 'decision' = 'held'
                  AND r.rows_rejected = 4
             FROM etl.import_holds h JOIN etl.runs r ON r.import_id = h.import_id AND r.stage = 'orders'
            WHERE h.import_id = 'e0000000-0000-7000-8000-00000000000b'),
          true, 'the held orders run''s etl.runs row is kept and says so (held, kept false, its counts); the hold names it');
SELECT is((SELECT string_agg(x.shop_name || ':' || coalesce(x.reason, '*') || ':' || x.lines || ':' || x.rejected, ',')
             FROM etl.import_holds h,
                  jsonb_to_recordset(h.rejects_by_shop) AS x(shop_name text, reason text, lines bigint, rejected bigint)
            WHERE h.import_id = 'e0000000-0000-7000-8000-00000000000b'),
          'S1:*:3:3,S1:missing_customer:3:3,S2:*:2:1,S2:bad_amount:1:1',
          'the hold keeps the held run''s counts per shop and reason');
SELECT is((SELECT string_agg(payload ->> 'status' || '|' || (payload ->> 'reject_ratio') || '|' || (payload ->> 'threshold')
                             || '|' || (payload ->> 'error_count'), ',')
             FROM etl.events WHERE event_type = 'IMPORT_HELD'),
          'held|0.8|0.2|4', 'one IMPORT_HELD event, with the share and the threshold');
SELECT is((SELECT string_agg(stage, ',') FROM etl.jobs WHERE import_id = 'e0000000-0000-7000-8000-00000000000b'),
          'orders', 'nothing after orders is queued for the held import');
SELECT is((SELECT DISTINCT hold_status || '|' || hold_reason FROM etl.pipeline_status
            WHERE import_id = 'e0000000-0000-7000-8000-00000000000b'),
          'held|4 of 5 lines rejected (80.0%), above etl.max_reject_ratio = 0.2; most of them missing_customer (3 lines)',
          'etl.pipeline_status shows the hold and its reason');

SELECT throws_ok($$SELECT * FROM etl_customers('e0000000-0000-7000-8000-00000000000b')$$, '55000', NULL,
                 'etl_customers refuses a held import');
SELECT matches(pg_temp.hint_of($$SELECT * FROM etl_customers('e0000000-0000-7000-8000-00000000000b')$$),
               'etl_release\(import_id\)', 'the refusal''s hint names etl_release');
SELECT throws_ok($$SELECT * FROM etl_leads('e0000000-0000-7000-8000-00000000000b')$$, '55000', NULL,
                 'etl_leads refuses a held import');
SELECT throws_ok($$SELECT * FROM etl_customers('e0000000-0000-7000-8000-00000000000b', dry_run => true)$$, '55000', NULL,
                 'a dry run of etl_customers refuses it too');
SELECT throws_ok($$SELECT * FROM etl_redrive('e0000000-0000-7000-8000-00000000000b')$$, '55000', NULL,
                 'etl_redrive refuses a held import (its customers and leads would pass the gate)');
SELECT throws_ok($$SELECT etl_retry('e0000000-0000-7000-8000-00000000000b')$$, '55000', NULL,
                 'etl_retry refuses a held import');
SELECT throws_ok($$SELECT * FROM etl_run_all('e0000000-0000-7000-8000-00000000000b')$$, '55000', NULL,
                 'etl_run_all refuses a held import (its release runs it)');
SELECT throws_ok($$SELECT * FROM etl_orders('e0000000-0000-7000-8000-00000000000b')$$, '55000', NULL,
                 'etl_orders refuses it too: nothing of it is loaded before the release');
SELECT is((SELECT string_agg(stage || ':' || (details -> 'quality_gate' ->> 'decision'), ',')
             FROM etl_orders('e0000000-0000-7000-8000-00000000000b', dry_run => true)),
          'orders:held', 'a dry run of its orders says held');
SELECT is((SELECT count(*) FROM etl.events WHERE event_type = 'IMPORT_HELD'), 1::bigint,
          'a held import is not announced again');

SELECT ok(etl_emit_event('ORDERS_ETL_COMPLETED', '{"event_version": "1.0", "import_id": "e0000000-0000-7000-8000-00000000000b", "status": "success"}') > 0,
          'an application''s ORDERS_ETL_COMPLETED for the held import is accepted');
SELECT is((SELECT string_agg(stage, ',') FROM etl.jobs WHERE import_id = 'e0000000-0000-7000-8000-00000000000b'),
          'orders', '... and queues no customers stage');
SELECT ok(etl_emit_event('IMPORT_RELEASED',
              '{"event_version": "1.0", "import_id": "e0000000-0000-7000-8000-00000000000b", "status": "released"}') > 0,
          'an application may send IMPORT_RELEASED ...');
SELECT is((SELECT string_agg(accepted || ':' || error, ',') FROM etl.events WHERE event_type = 'IMPORT_RELEASED'),
          'false:event_type ''IMPORT_RELEASED'' is published by etl_ext itself (the quality gate), not by applications',
          '... but it is stored refused, saying why');
SELECT is((SELECT released_at FROM etl.import_holds WHERE import_id = 'e0000000-0000-7000-8000-00000000000b'), NULL,
          '... and releases nothing');

-- A dry run says what the gate would do and holds nothing.
SELECT is((SELECT string_agg(stage || ':' || (details -> 'quality_gate' ->> 'decision'), ',')
             FROM etl_run_all('e0000000-0000-7000-8000-00000000000d', dry_run => true)),
          'orders:would hold', 'a dry run of a wrongly mapped file stops after orders: would hold');
SELECT is((SELECT count(*) FROM etl.import_holds WHERE import_id = 'e0000000-0000-7000-8000-00000000000d'), 0::bigint,
          '... and records no hold');

-- etl_quality: per shop and reason, against the shop's earlier imports.
SELECT results_eq(
    $$SELECT shop_name, reason, lines, rejected, reject_ratio, import_reject_ratio, previous_imports, previous_lines,
             previous_reject_ratio
        FROM etl_quality('e0000000-0000-7000-8000-00000000000b')$$,
    $$VALUES ('S1'::text, NULL::text, 3::bigint, 3::bigint, 1::float8, 0.8::float8, 1::bigint, 5::bigint, 0.2::float8),
             ('S1', 'missing_customer', 3, 3, 1, 0.8, 1, 5, 0),
             ('S2', NULL, 2, 1, 0.5, 0.8, 0, 0, NULL),
             ('S2', 'bad_amount', 2, 1, 0.5, 0.8, 0, 0, NULL)$$,
    'etl_quality: rejects per shop and reason, the import''s share, and the shop''s earlier share');
SELECT throws_ok($$SELECT * FROM etl_quality(NULL)$$, '22004', NULL, 'etl_quality(NULL) is refused');
SELECT throws_ok($$SELECT * FROM etl_quality('e0000000-0000-7000-8000-0000000000ff')$$, '42704', NULL,
                 'etl_quality of an unknown import is refused');

-- etl_release.
SELECT throws_ok($$SELECT etl_release(NULL)$$, '22004', NULL, 'etl_release(NULL) is refused');
SELECT throws_ok($$SELECT etl_release('e0000000-0000-7000-8000-0000000000ff')$$, '42704', NULL,
                 'releasing an unknown import is refused');
SELECT throws_ok($$SELECT etl_release('e0000000-0000-7000-8000-00000000000a')$$, '55000', NULL,
                 'releasing an import that is not held is refused');
SELECT ok(etl_release('e0000000-0000-7000-8000-00000000000b') > 0, 'an operator releases the held import');
SELECT is((SELECT released_by::text || '|' || (released_at IS NOT NULL) FROM etl.import_holds
            WHERE import_id = 'e0000000-0000-7000-8000-00000000000b'),
          current_user || '|true', 'the release records who and when');
SELECT is((SELECT string_agg(stage || ':' || state, ',' ORDER BY job_id) FROM etl.jobs
            WHERE import_id = 'e0000000-0000-7000-8000-00000000000b'),
          'orders:queued', 'the release queues the orders stage again (nothing of it was loaded)');
SELECT throws_ok($$SELECT etl_release('e0000000-0000-7000-8000-00000000000b')$$, '55000', NULL,
                 'releasing it again is refused (released already)');
SELECT is((SELECT string_agg(status || ':' || coalesce(details ->> 'kept', 'kept'), ',') FROM etl_run_all('e0000000-0000-7000-8000-00000000000b')),
          'partial_success:kept,success:kept,success:kept', 'a released import runs through, is kept, and is not held again');
SELECT is((SELECT count(*) FROM etl.orders WHERE import_id = 'e0000000-0000-7000-8000-00000000000b'), 1::bigint,
          'its one good line (B5) is loaded now');
SELECT is((SELECT string_agg(status, ',') FROM etl_run_all('e0000000-0000-7000-8000-00000000000c')),
          'success,success,success', 'a clean import of the same shop is not held');

SELECT * FROM finish();
ROLLBACK;
