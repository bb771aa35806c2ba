-- What CREATE EXTENSION etl_ext installs (contract sections 1, 2 and 4) and
-- that DROP EXTENSION removes all of it. Runs in a transaction rolled back
-- at the end, so the database is left as it was.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(59);

CREATE EXTENSION etl_ext;
SELECT has_schema('etl', 'schema etl exists');

-- The contract's tables and their key columns.
SELECT has_table('etl', t, 'table etl.' || t)
  FROM unnest(ARRAY['shops', 'order_type_mappings', 'imports', 'raw_orders', 'orders', 'customers',
                    'business_leads', 'rejects', 'runs', 'events']) AS t;
SELECT col_is_pk('etl', 'orders', ARRAY['shop_id', 'order_id'], 'orders keyed by (shop_id, order_id)');
SELECT col_is_pk('etl', 'raw_orders', ARRAY['import_id', 'line_no'], 'raw_orders keyed by (import_id, line_no)');
SELECT col_is_pk('etl', 'rejects', ARRAY['import_id', 'line_no'], 'rejects keyed by (import_id, line_no)');
SELECT col_type_is('etl', 'orders', 'amount', 'numeric(14,2)', 'orders.amount is numeric(14,2)');
SELECT col_type_is('etl', 'orders', 'ordered_at', 'timestamp with time zone', 'orders.ordered_at is timestamptz');
SELECT col_type_is('etl', 'business_leads', c, 'numeric(24,2)', 'leads.' || c || ' is numeric(24,2): sums never overflow')
  FROM unnest(ARRAY['total_amount', 'sample_amount', 'bulk_amount']) AS c;
SELECT col_type_is('etl', 'business_leads', 'lead_no', 'bigint', 'leads.lead_no is bigint');
SELECT col_type_is('etl', 'rejects', 'raw', 'jsonb', 'rejects.raw is jsonb');
SELECT col_type_is('etl', 'events', 'payload', 'jsonb', 'events.payload is jsonb');
SELECT col_not_null('etl', 'orders', c, 'orders.' || c || ' is NOT NULL')
  FROM unnest(ARRAY['customer_nickname', 'latest_status', 'system_order_type', 'amount', 'ordered_at', 'import_id']) AS c;
SELECT col_default_is('etl', 'imports', 'status', 'pending', 'imports.status defaults to pending');
SELECT col_default_is('etl', 'shops', 'active', 'true', 'shops.active defaults to true');
SELECT has_column('etl', 'runs', c, 'runs.' || c)
  FROM unnest(ARRAY['import_id', 'stage', 'status', 'started_at', 'finished_at', 'rows_in', 'rows_ok',
                    'rows_superseded', 'rows_rejected', 'rows_failed', 'batches', 'queries', 'duration_ms', 'error']) AS c;

-- The functions, callable unqualified with the default search_path (the
-- stage functions' dry_run defaults to false: f(import_id) calls them).
SELECT has_function(f, ARRAY['uuid', 'boolean'], f || '(uuid, dry_run boolean)')
  FROM unnest(ARRAY['etl_orders', 'etl_customers', 'etl_leads', 'etl_run_all']) AS f;
SELECT has_function('etl_redrive', ARRAY['uuid'], 'etl_redrive(uuid)');
SELECT has_function('etl_import_export', ARRAY['bytea', 'text', 'text', 'text', 'boolean'],
                    'etl_import_export(content, profile, source, shop, reload)');
SELECT has_function('etl_import_export_file', ARRAY['text', 'text', 'text', 'text', 'boolean'],
                    'etl_import_export_file(path, profile, source, shop, reload)');
SELECT is((SELECT string_agg(profile_name, ',' ORDER BY profile_name) FROM etl.export_profiles WHERE built_in),
          'generic,shopify', 'the built-in export profiles');
SELECT has_function('etl_run_pending', 'etl_run_pending()');
SELECT has_function('etl_emit_event', ARRAY['text', 'jsonb'], 'etl_emit_event(text, jsonb)');
SELECT is(current_setting('search_path'), '"$user", public', 'the default search_path');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
             JOIN pg_extension e ON e.oid = d.refobjid AND d.deptype = 'e'
            WHERE e.extname = 'etl_ext' AND p.pronamespace <> 'pg_catalog'::regnamespace
              AND p.pronamespace <> 'etl'::regnamespace),
          0, 'every function of etl_ext is in pg_catalog or etl, none in public');

-- DROP EXTENSION removes all of it.
DROP EXTENSION etl_ext;
SELECT hasnt_schema('etl', 'schema etl is gone');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname LIKE 'etl\_%'), 0, 'no etl_* function is left');
SELECT is((SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'etl'),
          0, 'no relation is left in schema etl');

SELECT * FROM finish();
ROLLBACK;
