-- etl_ext scale-out, the partition side: installed (psql -f) in every
-- partition database, after CREATE EXTENSION etl_ext. The proxy database
-- (sql/scale_out/proxy.sql) calls these functions through PL/Proxy; they are
-- thin and idempotent, so that the proxy can repeat a call that failed on
-- another partition. They run with the rights of the role the proxy
-- connects as (SECURITY INVOKER): a role granted etl_operator is enough.
-- docs/scale-out.md says why and how.

-- A schema etl_partition that someone else made first could hold objects
-- these functions would bind to: refused.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
                WHERE n.nspname OPERATOR(pg_catalog.=) 'etl_partition'
                  AND n.nspowner OPERATOR(pg_catalog.<>) (SELECT r.oid FROM pg_catalog.pg_roles r
                                                           WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)) THEN
        RAISE EXCEPTION 'schema etl_partition exists and belongs to another role'
            USING ERRCODE = 'insufficient_privilege', HINT = 'Drop or rename it, then install the partition again.';
    END IF;
END
$$;
CREATE SCHEMA IF NOT EXISTS etl_partition;
COMMENT ON SCHEMA etl_partition IS 'etl_ext scale-out: what the proxy calls on a partition (docs/scale-out.md)';

-- This partition's number, from the proxy's connect string
-- (options='-c etl_proxy.partition=N ...'); NULL in a session of anyone else.
CREATE OR REPLACE FUNCTION etl_partition.number() RETURNS integer
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT nullif(current_setting('etl_proxy.partition', true), '')::integer $$;

-- Master data, with the ids the proxy gave: the same on every partition, so
-- that shop_id and customer_key agree everywhere.
CREATE OR REPLACE FUNCTION etl_partition.put_shop(p_shop_id bigint, p_shop_name text, p_platform text, p_active boolean)
RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO etl.shops (shop_id, shop_name, platform, active)
    VALUES (p_shop_id, p_shop_name, p_platform, p_active)
    ON CONFLICT (shop_id) DO UPDATE
       SET shop_name = EXCLUDED.shop_name, platform = EXCLUDED.platform, active = EXCLUDED.active
    RETURNING 1
$$;

CREATE OR REPLACE FUNCTION etl_partition.put_order_type_mapping(p_raw_order_type text, p_system_order_type text)
RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO etl.order_type_mappings (raw_order_type, system_order_type)
    VALUES (p_raw_order_type, p_system_order_type)
    ON CONFLICT (raw_order_type) DO UPDATE SET system_order_type = EXCLUDED.system_order_type
    RETURNING 1
$$;

-- Imports exist on every partition (a partition that gets none of an
-- import's lines runs it empty, so the import's stages are done everywhere).
CREATE OR REPLACE FUNCTION etl_partition.begin_import(p_import_id uuid, p_source text) RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO etl.imports (import_id, source) VALUES (p_import_id, p_source)
    ON CONFLICT (import_id) DO NOTHING;
    SELECT 1
$$;

-- The lines the proxy routed here (a line sent twice is kept once).
CREATE OR REPLACE FUNCTION etl_partition.load_lines(
    p_import_id uuid, p_line_no integer[], p_order_id text[], p_shop text[], p_customer_name text[],
    p_order_status text[], p_order_type text[], p_amount text[], p_ordered_at text[])
RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    WITH loaded AS (
        INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status,
                                    order_type, amount, ordered_at)
        SELECT p_import_id, u.*
          FROM unnest(p_line_no, p_order_id, p_shop, p_customer_name, p_order_status, p_order_type,
                      p_amount, p_ordered_at) AS u
        ON CONFLICT (import_id, line_no) DO NOTHING
        RETURNING 1)
    SELECT count(*) FROM loaded
$$;

-- Completion at the proxy's time, the same on every partition: "a later
-- import wins" compares completion times. Fires the completion trigger
-- (the worker, when preloaded, chains the stages here).
CREATE OR REPLACE FUNCTION etl_partition.complete_import(p_import_id uuid, p_completed_at timestamptz)
RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    WITH done AS (
        UPDATE etl.imports SET status = 'completed', completed_at = p_completed_at
         WHERE import_id = p_import_id AND status <> 'completed'
        RETURNING 1)
    SELECT count(*)::integer FROM done
$$;

-- The three stages of an import here, each unless it is done already (by
-- the worker, or by an earlier call that failed on another partition): its
-- last run succeeded, after the last run of the stage before it. A stage
-- done is reported by its last run, marked reused, so that a re-run through
-- the proxy repeats only what is needed; once a stage runs, the ones after
-- it run too. Stops after a failed stage, as etl_run_all does.
CREATE OR REPLACE FUNCTION etl_partition.run_all(p_import_id uuid)
RETURNS TABLE (partition integer, stage text, status text, rows_in bigint, rows_ok bigint,
               rows_superseded bigint, rows_rejected bigint, rows_failed bigint,
               duration_ms double precision, details jsonb, reused boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    this_stage text;
    last_run etl.runs;
    before_run bigint := 0;
    must_run boolean := false;
BEGIN
    -- The pipeline's lock (lock_pipeline in src/pipeline/mod.rs): waits
    -- for a stage the worker runs now, and keeps the worker out until the
    -- end of this call's transaction.
    PERFORM etl.lock_pipeline();
    FOREACH this_stage IN ARRAY ARRAY['orders', 'customers', 'leads'] LOOP
        SELECT r.* INTO last_run FROM etl.runs r
         WHERE r.import_id = p_import_id AND r.stage = this_stage ORDER BY r.run_id DESC LIMIT 1;
        must_run := must_run OR last_run.run_id IS NULL OR last_run.run_id < before_run
                    OR last_run.status NOT IN ('success', 'partial_success');
        IF must_run THEN
            -- etl_orders, etl_customers or etl_leads (a direct call settles
            -- the stage's waiting job, so the worker does not run it again).
            RETURN QUERY EXECUTE format(
                'SELECT etl_partition.number(), a.stage, a.status, a.rows_in, a.rows_ok, a.rows_superseded,
                        a.rows_rejected, a.rows_failed, a.duration_ms, a.details, false
                   FROM pg_catalog.%I($1) a', 'etl_' || this_stage) USING p_import_id;
            SELECT r.* INTO last_run FROM etl.runs r
             WHERE r.import_id = p_import_id AND r.stage = this_stage ORDER BY r.run_id DESC LIMIT 1;
            EXIT WHEN last_run.status = 'failed';
        ELSE
            RETURN QUERY SELECT etl_partition.number(), last_run.stage, last_run.status, last_run.rows_in,
                                last_run.rows_ok, last_run.rows_superseded, last_run.rows_rejected,
                                last_run.rows_failed, last_run.duration_ms, last_run.details, true;
        END IF;
        before_run := last_run.run_id;
    END LOOP;
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA etl_partition FROM PUBLIC;
GRANT USAGE ON SCHEMA etl_partition TO etl_operator;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA etl_partition TO etl_operator;
