-- Roles and privileges (contract section 8, issue 7): the roles CREATE
-- EXTENSION creates, that PUBLIC gets nothing, that etl_loader, etl_operator
-- and etl_reader can each do their job and are refused (42501) what they may
-- not, and that the stages run as etl_runner, never as their caller or as a
-- superuser. Each role is used through a throw-away role it is granted to, as
-- an administrator would grant it to a login role. Runs in one transaction
-- rolled back at the end, so the database and the cluster's roles are left as
-- they were.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION etl_ext;
SELECT plan(101);

\ir lib/try.psql

-- The roles (4 x 4 checks).
SELECT has_role(r, 'role ' || r || ' exists')
  FROM unnest(ARRAY['etl_loader', 'etl_operator', 'etl_reader', 'etl_runner']) AS r;
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = r), false, r || ' is NOLOGIN')
  FROM unnest(ARRAY['etl_loader', 'etl_operator', 'etl_reader', 'etl_runner']) AS r;
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = r), false, r || ' is not a superuser')
  FROM unnest(ARRAY['etl_loader', 'etl_operator', 'etl_reader', 'etl_runner']) AS r;
SELECT is((SELECT rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls FROM pg_roles WHERE rolname = r), false,
          r || ' has no CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS')
  FROM unnest(ARRAY['etl_loader', 'etl_operator', 'etl_reader', 'etl_runner']) AS r;
SELECT is(pg_temp.try($$SELECT pg_has_role('etl_operator', 'etl_loader', 'USAGE') AND pg_has_role('etl_operator', 'etl_reader', 'USAGE')$$),
          'true', 'etl_operator has the rights of etl_loader and etl_reader');
SELECT is(pg_temp.try($$SELECT string_agg(r, ', ') FROM unnest(ARRAY['etl_loader', 'etl_operator', 'etl_reader']) AS r
                        WHERE pg_has_role(r, 'etl_runner', 'MEMBER')$$),
          NULL, 'no etl role is a member of etl_runner');

-- The extension's functions, for the checks below.
CREATE TEMP TABLE ext_functions AS
SELECT p.oid, p.proname::text AS proname, p.oid::regprocedure::text AS sig
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'etl_ext');
SELECT is((SELECT count(DISTINCT proname)::int FROM ext_functions
            WHERE proname IN ('etl_orders', 'etl_customers', 'etl_leads', 'etl_run_all', 'etl_run_pending', 'etl_retry',
                              'etl_emit_event', 'etl_run_queue', 'claim_job', 'run_job', 'etl_demo_import',
                              'import_completed', 'etl_explain', 'etl_redrive')),
          14, 'the entry points the checks below are about all exist');

-- PUBLIC gets nothing.
SELECT is(has_schema_privilege('public', 'etl', 'USAGE'), false, 'PUBLIC has no USAGE on schema etl');
SELECT is(has_schema_privilege('public', 'etl', 'CREATE'), false, 'PUBLIC has no CREATE on schema etl');
SELECT is((SELECT string_agg(sig, ', ' ORDER BY sig) FROM ext_functions WHERE has_function_privilege('public', oid, 'EXECUTE')),
          NULL, 'PUBLIC can execute none of the extension''s functions');
SELECT is((SELECT string_agg(c.oid::regclass::text, ', ' ORDER BY c.relname) FROM pg_class c
            WHERE c.relnamespace = 'etl'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
              AND has_table_privilege('public', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')),
          NULL, 'PUBLIC has no privilege on any table or view of schema etl');

-- What each role may execute and touch, from the catalog.
SELECT is((SELECT string_agg(sig, ', ' ORDER BY sig) FROM ext_functions
            WHERE proname IN ('etl_orders', 'etl_customers', 'etl_leads', 'etl_run_all', 'etl_run_pending', 'etl_retry',
                              'etl_emit_event', 'etl_run_queue', 'claim_job', 'run_job', 'etl_demo_import',
                              'etl_explain', 'etl_redrive', 'etl_release')
              AND has_function_privilege('etl_loader', oid, 'EXECUTE')),
          NULL, 'etl_loader can execute no stage, queue, event, lineage, redrive or release function');
SELECT is((SELECT string_agg(sig, ', ' ORDER BY sig) FROM ext_functions
            WHERE proname = 'import_completed' AND NOT has_function_privilege('etl_loader', oid, 'EXECUTE')),
          NULL, 'etl_loader can execute etl.import_completed (the completion trigger calls it)');
-- Loading a shop's export (semantics 11.2, 11.7): loaders (and so
-- operators), nobody else; the file variant checks pg_read_server_files itself.
SELECT is((SELECT string_agg(sig, ', ' ORDER BY sig) FROM ext_functions
            WHERE proname IN ('etl_import_export', 'etl_import_export_file')
              AND has_function_privilege('etl_loader', oid, 'EXECUTE')),
          'etl_import_export(bytea,text,text,text,boolean), etl_import_export_file(text,text,text,text,boolean)',
          'etl_loader can execute etl_import_export and etl_import_export_file');
SELECT is((SELECT string_agg(sig, ', ' ORDER BY sig) FROM ext_functions
            WHERE proname IN ('etl_import_export', 'etl_import_export_file')
              AND has_function_privilege('etl_reader', oid, 'EXECUTE')),
          NULL, 'etl_reader cannot load exports');
SELECT is(has_table_privilege('etl_loader', 'etl.export_profiles', 'INSERT, UPDATE, DELETE, TRUNCATE'), false,
          'etl_loader reads the export profiles and cannot change them');
SELECT is(has_table_privilege('etl_operator', 'etl.export_profiles', 'INSERT')
          AND has_table_privilege('etl_operator', 'etl.export_profiles', 'UPDATE')
          AND has_table_privilege('etl_operator', 'etl.export_profiles', 'DELETE')
          AND has_table_privilege('etl_loader', 'etl.export_profiles', 'SELECT'), true,
          'etl_operator adds, changes and deletes export profiles (RLS keeps the built-in ones); loaders read them');
SELECT is((SELECT string_agg(sig, ', ' ORDER BY sig) FROM ext_functions
            WHERE proname IN ('etl_orders', 'etl_customers', 'etl_leads', 'etl_run_all', 'etl_run_pending', 'etl_retry',
                              'etl_emit_event', 'etl_run_queue', 'claim_job', 'run_job', 'etl_demo_import',
                              'etl_uuid_v7', 'etl_polars_pool_threads', 'etl_explain', 'etl_redrive',
                              'etl_release', 'etl_quality')
              AND NOT has_function_privilege('etl_operator', oid, 'EXECUTE')),
          NULL, 'etl_operator can execute the stage, queue, retry, event, demo, lineage, redrive, release and quality functions');
SELECT is((SELECT string_agg(sig, ', ' ORDER BY sig) FROM ext_functions
            WHERE has_function_privilege('etl_reader', oid, 'EXECUTE')
              AND sig NOT IN ('etl.progress_rows()', 'etl_quality(uuid)')),
          NULL, 'etl_reader can execute none of the extension''s functions but etl.progress_rows() (etl.progress reads it) and etl_quality(uuid)');
SELECT is((SELECT string_agg(sig, ', ' ORDER BY sig) FROM ext_functions
            WHERE proname IN ('etl_quality') AND NOT (has_function_privilege('etl_reader', oid, 'EXECUTE')
                                                      AND has_function_privilege('etl_loader', oid, 'EXECUTE'))),
          NULL, 'etl_reader and etl_loader can execute etl_quality (a loader for its own imports: quality_gate.sh)');
SELECT is((SELECT string_agg(r, ', ' ORDER BY r) FROM unnest(ARRAY['etl_loader', 'etl_reader', 'etl_operator']) AS r
            WHERE NOT (has_table_privilege(r, 'etl.progress', 'SELECT')
                       AND has_function_privilege(r, 'etl.progress_rows()', 'EXECUTE'))),
          NULL, 'etl_loader, etl_reader and etl_operator can watch etl.progress');
SELECT is((SELECT string_agg(c.oid::regclass::text, ', ' ORDER BY c.relname) FROM pg_class c
            WHERE c.relnamespace = 'etl'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
              AND NOT has_table_privilege('etl_operator', c.oid, 'SELECT')),
          NULL, 'etl_operator can read every table and view of schema etl');
SELECT is((SELECT string_agg(c.oid::regclass::text, ', ' ORDER BY c.relname) FROM pg_class c
            WHERE c.relnamespace = 'etl'::regnamespace
              AND c.relname IN ('orders', 'customers', 'business_leads', 'rejects', 'runs', 'events', 'jobs',
                                'pending_customer_refresh', 'pending_lead_refresh')
              AND has_table_privilege('etl_operator', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')),
          NULL, 'etl_operator can write none of the tables the stages own');
SELECT is((SELECT string_agg(c.oid::regclass::text, ', ' ORDER BY c.relname) FROM pg_class c
            WHERE c.relnamespace = 'etl'::regnamespace AND c.relkind IN ('r', 'p')
              AND has_table_privilege('etl_loader', c.oid, 'DELETE, TRUNCATE')),
          NULL, 'etl_loader can delete from no table of schema etl');
SELECT is((SELECT string_agg(rel, ', ' ORDER BY rel)
             FROM unnest(ARRAY['etl.orders', 'etl.customers', 'etl.business_leads', 'etl.shops', 'etl.order_type_mappings',
                               'etl.imports', 'etl.runs', 'etl.events', 'etl.rejects', 'etl.pipeline_status',
                               'etl.progress']) AS rel
            WHERE NOT has_table_privilege('etl_reader', rel, 'SELECT')),
          NULL, 'etl_reader can read the results, shops, mappings, imports, runs, events, rejects, etl.pipeline_status and etl.progress');
SELECT is((SELECT string_agg(c.oid::regclass::text, ', ' ORDER BY c.relname) FROM pg_class c
            WHERE c.relnamespace = 'etl'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
              AND has_table_privilege('etl_reader', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')),
          NULL, 'etl_reader can write no table of schema etl');

-- Throw-away roles, granted the etl roles as an administrator grants them to
-- login roles (NOLOGIN here: SET ROLE is enough for a test).
CREATE ROLE etl_test_loader NOLOGIN;
CREATE ROLE etl_test_operator NOLOGIN;
CREATE ROLE etl_test_reader NOLOGIN;
GRANT etl_loader TO etl_test_loader;
GRANT etl_operator TO etl_test_operator;
GRANT etl_reader TO etl_test_reader;

-- A trigger an administrator attaches to etl.orders: it records who it runs
-- as into a table etl_runner may write.
CREATE TABLE public.etl_test_stage_seen (who name NOT NULL, su boolean, op text);
GRANT INSERT ON public.etl_test_stage_seen TO etl_runner;
CREATE FUNCTION public.etl_test_record_stage_user() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER AS $$
BEGIN
    INSERT INTO public.etl_test_stage_seen (who, su, op)
    VALUES (current_user, (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), TG_OP);
    RETURN NULL;
END
$$;
CREATE TRIGGER etl_test_stage_user AFTER INSERT OR UPDATE ON etl.orders
    FOR EACH ROW EXECUTE FUNCTION public.etl_test_record_stage_user();

-- etl_operator manages shops and mappings.
SET LOCAL ROLE etl_test_operator;
SELECT lives_ok($$INSERT INTO etl.shops (shop_name, platform) VALUES ('P1', 'web'), ('P-tmp', 'web')$$,
                'etl_operator adds shops');
SELECT lives_ok($$UPDATE etl.shops SET platform = 'tmall' WHERE shop_name = 'P1'$$, 'etl_operator changes a shop');
SELECT lives_ok($$DELETE FROM etl.shops WHERE shop_name = 'P-tmp'$$, 'etl_operator removes a shop');
SELECT lives_ok($$INSERT INTO etl.order_type_mappings (raw_order_type, system_order_type) VALUES ('smp', 'SAMPLE')$$,
                'etl_operator adds an order type mapping');
RESET ROLE;

-- etl_loader writes an import, completes it, and is refused the rest.
SET LOCAL ROLE etl_test_loader;
SELECT lives_ok($$INSERT INTO etl.imports (import_id, source) VALUES ('e0000000-0000-7000-8000-000000000001', 'pgtap-loader')$$,
                'etl_loader creates an import');
SELECT lives_ok($$INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
                  VALUES ('e0000000-0000-7000-8000-000000000001', 1, 'L-1', 'P1', 'Ann', 'paid', 'smp', '10.50', '2026-01-02 03:04:05'),
                         ('e0000000-0000-7000-8000-000000000001', 2, 'L-2', 'P1', 'Bob', 'paid', NULL, '¥1,234.565', '2026-01-03'),
                         ('e0000000-0000-7000-8000-000000000001', 3, 'L-3', 'No Such Shop', 'Cid', 'paid', NULL, '1', '2026-01-03')$$,
                'etl_loader writes the import''s raw lines');
SELECT lives_ok($$UPDATE etl.imports SET status = 'completed', completed_at = now()
                   WHERE import_id = 'e0000000-0000-7000-8000-000000000001'$$,
                'etl_loader marks its import completed (the completion trigger queues it)');
SELECT is(pg_temp.try($$SELECT string_agg(stage || ':' || state, ',') FROM etl.pipeline_status
                         WHERE import_id = 'e0000000-0000-7000-8000-000000000001'$$),
          'orders:queued', 'etl_loader reads etl.pipeline_status: its import is queued');
SELECT is(pg_temp.try($$SELECT count(*) FROM etl.rejects WHERE import_id = 'e0000000-0000-7000-8000-000000000001'$$),
          '0', 'etl_loader reads etl.rejects');
SELECT throws_ok($$SELECT * FROM etl_run_all('e0000000-0000-7000-8000-000000000001')$$, '42501', NULL,
                 'etl_loader cannot call etl_run_all');
SELECT throws_ok($$SELECT * FROM etl_orders('e0000000-0000-7000-8000-000000000001')$$, '42501', NULL,
                 'etl_loader cannot call a stage function');
SELECT throws_ok($$SELECT etl_run_pending()$$, '42501', NULL, 'etl_loader cannot call etl_run_pending');
SELECT throws_ok($$CALL etl_run_queue()$$, '42501', NULL, 'etl_loader cannot call etl_run_queue');
SELECT throws_ok($$SELECT etl_retry('e0000000-0000-7000-8000-000000000001')$$, '42501', NULL, 'etl_loader cannot call etl_retry');
SELECT throws_ok($$SELECT etl_emit_event('DATA_IMPORT_COMPLETED', '{"event_version": "1.0"}')$$, '42501', NULL,
                 'etl_loader cannot call etl_emit_event');
SELECT throws_ok($$SELECT count(*) FROM etl.orders$$, '42501', NULL, 'etl_loader cannot read etl.orders');
SELECT throws_ok($$INSERT INTO etl.orders (shop_id, order_id, customer_nickname, latest_status, system_order_type, amount,
                                           ordered_at, import_id, source_line_no, loaded_by_run)
                   VALUES (1, 'X-1', 'Eve', 'PAID', 'BULK', 1, now(), 'e0000000-0000-7000-8000-000000000001', 1, 1)$$,
                 '42501', NULL, 'etl_loader cannot write etl.orders');
SELECT throws_ok($$UPDATE etl.jobs SET state = 'done'$$, '42501', NULL, 'etl_loader cannot touch the queue');
SELECT throws_ok($$DELETE FROM etl.raw_orders WHERE import_id = 'e0000000-0000-7000-8000-000000000001'$$, '42501', NULL,
                 'etl_loader cannot delete raw lines');
SELECT throws_ok($$UPDATE etl.imports SET created_at = now() WHERE import_id = 'e0000000-0000-7000-8000-000000000001'$$,
                 '42501', NULL, 'etl_loader can update only source, status and completed_at of an import');
SELECT throws_ok($$INSERT INTO etl.shops (shop_name) VALUES ('Loader Shop')$$, '42501', NULL, 'etl_loader cannot add shops');
RESET ROLE;

-- etl_operator runs the pipeline and is refused direct writes.
SET LOCAL ROLE etl_test_operator;
SELECT is(pg_temp.try($$SELECT string_agg(stage || ':' || status || ':' || rows_in || '/' || rows_ok || '/' || rows_rejected, ','
                                          ORDER BY array_position(ARRAY['orders', 'customers', 'leads'], stage))
                          FROM etl_run_all('e0000000-0000-7000-8000-000000000001')$$),
          'orders:partial_success:3/2/1,customers:success:2/2/0,leads:success:2/2/0',
          'etl_operator runs etl_run_all on the completed import and gets a row per stage');
SELECT is(pg_temp.try($$SELECT count(*) FROM etl.orders WHERE import_id = 'e0000000-0000-7000-8000-000000000001'$$),
          '2', 'etl_operator reads etl.orders: the import''s two orders');
SELECT is(pg_temp.try($$SELECT count(*) > 0 FROM etl.jobs$$), 'true', 'etl_operator reads etl.jobs');
SELECT throws_ok($$INSERT INTO etl.orders (shop_id, order_id, customer_nickname, latest_status, system_order_type, amount,
                                           ordered_at, import_id, source_line_no, loaded_by_run)
                   VALUES (1, 'X-1', 'Eve', 'PAID', 'BULK', 1, now(), 'e0000000-0000-7000-8000-000000000001', 1, 1)$$,
                 '42501', NULL, 'etl_operator cannot INSERT into etl.orders directly');
SELECT throws_ok($$UPDATE etl.orders SET amount = 0$$, '42501', NULL, 'etl_operator cannot UPDATE etl.orders directly');
SELECT throws_ok($$DELETE FROM etl.business_leads$$, '42501', NULL, 'etl_operator cannot DELETE leads directly');
SELECT throws_ok($$UPDATE etl.jobs SET attempts = 0$$, '42501', NULL, 'etl_operator cannot change the queue directly');
SELECT throws_ok($$INSERT INTO etl.events (event_type, payload, accepted) VALUES ('X', '{}', true)$$, '42501', NULL,
                 'etl_operator cannot write etl.events directly');
-- (SET ROLE would be checked against the session's superuser here: ask the catalog.)
SELECT is(pg_temp.try($$SELECT pg_has_role(current_user, 'etl_runner', 'MEMBER')$$), 'false',
          'etl_operator is no member of etl_runner (cannot SET ROLE to it)');
SELECT throws_ok($$SELECT set_config('etl.runner_role', 'etl_operator', true)$$, '42501', NULL,
                 'etl_operator cannot change etl.runner_role');
SET LOCAL client_min_messages = error;  -- the event is refused, with a WARNING
SELECT lives_ok($$SELECT etl_emit_event('APP_EVENT', '{"event_version": "1.0"}')$$, 'etl_operator calls etl_emit_event');
RESET client_min_messages;
RESET ROLE;

-- The stages run as etl_runner: what the trigger on etl.orders saw.
SELECT is((SELECT string_agg(DISTINCT who || '/' || su, ',') FROM public.etl_test_stage_seen),
          'etl_runner/false', 'inside the stages etl_operator called, current_user is etl_runner, not a superuser');
SELECT is((SELECT count(*)::int FROM public.etl_test_stage_seen WHERE op = 'INSERT'), 2,
          'the trigger on etl.orders fired for the two new orders');

-- etl_loader sees what became of its import.
SET LOCAL ROLE etl_test_loader;
SELECT is(pg_temp.try($$SELECT string_agg(line_no || ':' || reason, ',') FROM etl.rejects
                         WHERE import_id = 'e0000000-0000-7000-8000-000000000001'$$),
          '3:unknown_shop', 'etl_loader reads its import''s rejects');
SELECT is(pg_temp.try($$SELECT bool_and(state = 'done') FROM etl.pipeline_status
                         WHERE import_id = 'e0000000-0000-7000-8000-000000000001'$$),
          'true', 'etl_loader reads etl.pipeline_status: nothing of its import is left queued');
RESET ROLE;

-- etl_reader reads the results and is refused the rest.
SET LOCAL ROLE etl_test_reader;
SELECT is(pg_temp.try($$SELECT count(*) FROM etl.orders$$), '2', 'etl_reader reads etl.orders');
SELECT is(pg_temp.try($$SELECT count(*) FROM etl.runs WHERE import_id = 'e0000000-0000-7000-8000-000000000001'$$),
          '3', 'etl_reader reads etl.runs');
SELECT is(pg_temp.try($$SELECT count(*) FROM etl.events WHERE payload ->> 'import_id' = 'e0000000-0000-7000-8000-000000000001'$$),
          '4', 'etl_reader reads etl.events: the import''s four events');
SELECT lives_ok($$SELECT (SELECT count(*) FROM etl.customers) + (SELECT count(*) FROM etl.business_leads)
                       + (SELECT count(*) FROM etl.shops) + (SELECT count(*) FROM etl.order_type_mappings)
                       + (SELECT count(*) FROM etl.imports) + (SELECT count(*) FROM etl.rejects)
                       + (SELECT count(*) FROM etl.pipeline_status)$$,
                'etl_reader reads customers, leads, shops, mappings, imports, rejects and etl.pipeline_status');
SELECT throws_ok($$INSERT INTO etl.imports (import_id, source) VALUES ('e0000000-0000-7000-8000-000000000009', 'reader')$$,
                 '42501', NULL, 'etl_reader cannot insert an import');
SELECT throws_ok($$SELECT * FROM etl_run_all('e0000000-0000-7000-8000-000000000001')$$, '42501', NULL,
                 'etl_reader cannot execute etl_run_all');
SELECT throws_ok($$SELECT etl_run_pending()$$, '42501', NULL, 'etl_reader cannot execute etl_run_pending');
SELECT throws_ok($$SELECT etl_emit_event('DATA_IMPORT_COMPLETED', '{"event_version": "1.0"}')$$, '42501', NULL,
                 'etl_reader cannot execute etl_emit_event');
SELECT throws_ok($$SELECT count(*) FROM etl.raw_orders$$, '42501', NULL, 'etl_reader cannot read raw lines');
SELECT throws_ok($$UPDATE etl.shops SET active = false$$, '42501', NULL, 'etl_reader cannot change shops');
RESET ROLE;

-- A superuser's call runs the stages as etl_runner too.
DELETE FROM public.etl_test_stage_seen;
INSERT INTO etl.imports (import_id, source) VALUES ('e0000000-0000-7000-8000-000000000002', 'pgtap-superuser');
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
VALUES ('e0000000-0000-7000-8000-000000000002', 1, 'S-1', 'P1', 'Dee', 'paid', NULL, '5', '2026-02-01');
UPDATE etl.imports SET status = 'completed' WHERE import_id = 'e0000000-0000-7000-8000-000000000002';
SELECT is(pg_temp.try($$SELECT string_agg(stage || ':' || status, ',' ORDER BY array_position(ARRAY['orders', 'customers', 'leads'], stage))
                          FROM etl_run_all('e0000000-0000-7000-8000-000000000002')$$),
          'orders:success,customers:success,leads:success', 'a superuser''s etl_run_all runs');
SELECT is((SELECT string_agg(DISTINCT who || '/' || su, ',') FROM public.etl_test_stage_seen),
          'etl_runner/false', 'inside the stages a superuser called, current_user is etl_runner, not a superuser');

-- The queue, run by etl_operator, also runs as etl_runner.
DELETE FROM public.etl_test_stage_seen;
SET LOCAL ROLE etl_test_operator;
SELECT isnt(pg_temp.try($$SELECT etl_demo_import(30, 0.25)$$), NULL, 'etl_operator creates a demo import');
SELECT is(pg_temp.try($$SELECT etl_run_pending()$$), '1', 'etl_operator runs the queued pipeline with etl_run_pending()');
RESET ROLE;
SELECT is((SELECT string_agg(DISTINCT who || '/' || su, ',') FROM public.etl_test_stage_seen),
          'etl_runner/false', 'inside the stages etl_run_pending ran, current_user is etl_runner, not a superuser');

-- etl.runner_role: etl_runner by default; a superuser named there stops
-- every stage call (42501), a role that does not exist too (42704).
SELECT is(pg_temp.try($$SELECT current_setting('etl.runner_role')$$), 'etl_runner', 'etl.runner_role is etl_runner by default');
SELECT is(pg_temp.try($$SELECT set_config('etl.runner_role', session_user, true)$$), session_user::text,
          'a superuser sets etl.runner_role to a superuser');
SELECT throws_ok($$SELECT * FROM etl_run_all('e0000000-0000-7000-8000-000000000002')$$, '42501', NULL,
                 'with etl.runner_role naming a superuser, a superuser''s etl_run_all fails with 42501');
SET LOCAL ROLE etl_test_operator;
SELECT throws_ok($$SELECT * FROM etl_run_all('e0000000-0000-7000-8000-000000000002')$$, '42501', NULL,
                 'with etl.runner_role naming a superuser, etl_operator''s etl_run_all fails with 42501');
SELECT throws_ok($$SELECT * FROM etl_orders('e0000000-0000-7000-8000-000000000002')$$, '42501', NULL,
                 'with etl.runner_role naming a superuser, etl_operator''s etl_orders fails with 42501');
RESET ROLE;
SELECT is(pg_temp.try($$SELECT set_config('etl.runner_role', 'etl_test_no_such_role', true)$$), 'etl_test_no_such_role',
          'a superuser sets etl.runner_role to a role that does not exist');
SELECT throws_ok($$SELECT * FROM etl_run_all('e0000000-0000-7000-8000-000000000002')$$, '42704', NULL,
                 'with etl.runner_role naming no role, etl_run_all fails with 42704');
SELECT is(pg_temp.try($$SELECT set_config('etl.runner_role', 'etl_runner', true)$$), 'etl_runner', 'etl.runner_role back to etl_runner');
SELECT is(pg_temp.try($$SELECT count(*) FROM etl_run_all('e0000000-0000-7000-8000-000000000002')$$), '3',
          'with etl.runner_role back to etl_runner, etl_run_all runs again');

-- etl.progress as the roles that watch it: without shared_preload_libraries
-- (this cluster) nothing runs in shared memory, so it is empty, not an error.
SET LOCAL ROLE etl_test_loader;
SELECT is(pg_temp.try($$SELECT count(*) FROM etl.progress$$), '0', 'etl_loader reads etl.progress (empty without preloading)');
RESET ROLE;
SET LOCAL ROLE etl_test_reader;
SELECT is(pg_temp.try($$SELECT count(*) FROM etl.progress$$), '0', 'etl_reader reads etl.progress (empty without preloading)');
RESET ROLE;
SET LOCAL ROLE etl_test_operator;
SELECT is(pg_temp.try($$SELECT count(*) FROM etl.progress$$), '0', 'etl_operator reads etl.progress (empty without preloading)');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
