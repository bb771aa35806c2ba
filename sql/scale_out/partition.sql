-- etl_ext scale-out, the partition side: installed (psql -f) in every
-- partition database, after CREATE EXTENSION etl_ext. The proxy database
-- (sql/scale_out/proxy.sql) calls these functions through PL/Proxy; they are
-- thin and idempotent, so that the proxy can repeat a call that failed on
-- another partition. They run with the rights of the role the proxy
-- connects as (SECURITY INVOKER): a role granted etl_operator is enough.
-- docs/scale-out.md says why and how.

CREATE SCHEMA IF NOT EXISTS etl_partition;
COMMENT ON SCHEMA etl_partition IS 'etl_ext scale-out: what the proxy calls on a partition (docs/scale-out.md)';

-- This partition's number, from the proxy's connect string
-- (options='-c etl_proxy.partition=N'); NULL in a session of anyone else.
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

-- The three stages of an import here, unless they are done already (by
-- the worker, or by an earlier call that failed on another partition):
-- then their last runs, marked reused, so that a re-run through the proxy
-- repeats only what is needed.
CREATE OR REPLACE FUNCTION etl_partition.run_all(p_import_id uuid)
RETURNS TABLE (partition integer, stage text, status text, rows_in bigint, rows_ok bigint,
               rows_superseded bigint, rows_rejected bigint, rows_failed bigint,
               duration_ms double precision, details jsonb, reused boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- The pipeline's lock (PIPELINE_LOCK_KEY in src/pipeline/mod.rs): waits
    -- for a stage the worker runs now, so that its runs count as done.
    PERFORM pg_advisory_xact_lock(7310587252109243393);
    IF (SELECT count(*) FROM (
            SELECT DISTINCT ON (r.stage) r.status FROM etl.runs r
             WHERE r.import_id = p_import_id ORDER BY r.stage, r.run_id DESC) last
         WHERE last.status IN ('success', 'partial_success')) = 3 THEN
        RETURN QUERY
        SELECT etl_partition.number(), last.stage, last.status, last.rows_in, last.rows_ok, last.rows_superseded,
               last.rows_rejected, last.rows_failed, last.duration_ms, last.details, true
          FROM (SELECT DISTINCT ON (r.stage) r.* FROM etl.runs r
                 WHERE r.import_id = p_import_id ORDER BY r.stage, r.run_id DESC) last
         ORDER BY array_position(ARRAY['orders', 'customers', 'leads'], last.stage);
        RETURN;
    END IF;
    RETURN QUERY
    SELECT etl_partition.number(), a.stage, a.status, a.rows_in, a.rows_ok, a.rows_superseded, a.rows_rejected,
           a.rows_failed, a.duration_ms, a.details, false
      FROM public.etl_run_all(p_import_id) a;
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA etl_partition FROM PUBLIC;
GRANT USAGE ON SCHEMA etl_partition TO etl_operator;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA etl_partition TO etl_operator;
