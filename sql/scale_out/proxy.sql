-- etl_ext scale-out, the proxy side: installed (psql -f) in the proxy
-- database, which has the plproxy extension and a SQL/MED server named
-- etl_partitions listing the partitions (p0, p1, ... with
-- options='-c etl_proxy.partition=N -c search_path=pg_catalog,pg_temp' in
-- each connect string: PL/Proxy's calls name types without a schema, so a
-- partition session must not take its database's search_path) and a user
-- mapping; scripts/scale_out.sh creates both. Each partition has etl_ext and
-- sql/scale_out/partition.sql. Users call the same functions as on one
-- server; every line goes to the partition of its shop. docs/scale-out.md
-- says why shop is the key, what is replicated and what to do when a
-- partition is down.

-- Schemas etl_proxy and etl that another role made first could hold objects
-- these functions would bind to: refused. (Running this file again, as the
-- superuser who ran it first, is fine: it only replaces its own objects.)
DO $$
DECLARE
    taken text;
BEGIN
    SELECT pg_catalog.string_agg(pg_catalog.format('%s (owner %s)', n.nspname, pg_catalog.pg_get_userbyid(n.nspowner)), ', ')
      INTO taken
      FROM pg_catalog.pg_namespace n
     WHERE n.nspname OPERATOR(pg_catalog.=) ANY (ARRAY['etl_proxy', 'etl']::pg_catalog.name[])
       AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) n.nspowner);
    IF taken IS NOT NULL THEN
        RAISE EXCEPTION 'schema % exists and belongs to a role without superuser rights', taken
            USING ERRCODE = 'insufficient_privilege', HINT = 'Drop or rename it, then install the proxy again.';
    END IF;
END
$$;
CREATE SCHEMA IF NOT EXISTS etl_proxy;
CREATE SCHEMA IF NOT EXISTS etl;
COMMENT ON SCHEMA etl_proxy IS 'etl_ext scale-out: the proxy''s master data and PL/Proxy calls (docs/scale-out.md)';
COMMENT ON SCHEMA etl IS 'etl_ext scale-out: the partitions'' tables, read through the proxy';

-- Master data is kept here and copied to every partition with the ids given
-- here (in call order, as one server's identity would give them).
CREATE TABLE IF NOT EXISTS etl_proxy.shops (
    shop_id   bigint PRIMARY KEY,
    shop_name text NOT NULL UNIQUE,
    platform  text,
    active    boolean NOT NULL DEFAULT true
);
CREATE TABLE IF NOT EXISTS etl_proxy.order_type_mappings (
    raw_order_type    text PRIMARY KEY,
    system_order_type text NOT NULL
);

-- The partition of a line: a hash of its shop, cleaned by the contract's
-- trimming rule (so ' Tmall ' and 'Tmall' go together); no shop -> 0, a
-- fixed partition, which rejects the line as one server would.
CREATE OR REPLACE FUNCTION etl_proxy.shop_hash(shop text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$ SELECT coalesce(hashtext(nullif(btrim(shop, E' \t\r\n\u3000'), '')), 0) $$;

-- How many partitions the cluster has (its server's p0, p1, ... options).
CREATE OR REPLACE FUNCTION etl_proxy.partition_count() RETURNS integer
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*)::integer FROM pg_foreign_server s, unnest(s.srvoptions) o
     WHERE s.srvname = 'etl_partitions' AND o ~ '^p[0-9]+='
$$;

-- PL/Proxy calls. RUN ON ALL runs on every partition in parallel.
CREATE OR REPLACE FUNCTION etl_proxy.put_shop(p_shop_id bigint, p_shop_name text, p_platform text, p_active boolean)
RETURNS SETOF integer LANGUAGE plproxy AS $$
    CLUSTER 'etl_partitions'; RUN ON ALL;
    TARGET etl_partition.put_shop;
$$;
CREATE OR REPLACE FUNCTION etl_proxy.put_order_type_mapping(p_raw_order_type text, p_system_order_type text)
RETURNS SETOF integer LANGUAGE plproxy AS $$
    CLUSTER 'etl_partitions'; RUN ON ALL;
    TARGET etl_partition.put_order_type_mapping;
$$;
CREATE OR REPLACE FUNCTION etl_proxy.begin_import(p_import_id uuid, p_source text)
RETURNS SETOF integer LANGUAGE plproxy AS $$
    CLUSTER 'etl_partitions'; RUN ON ALL;
    TARGET etl_partition.begin_import;
$$;
-- Every array is split by the partition of its line's shop.
CREATE OR REPLACE FUNCTION etl_proxy.load_lines(
    p_import_id uuid, p_line_no integer[], p_order_id text[], p_shop text[], p_customer_name text[],
    p_order_status text[], p_order_type text[], p_amount text[], p_ordered_at text[])
RETURNS SETOF bigint LANGUAGE plproxy AS $$
    CLUSTER 'etl_partitions';
    SPLIT p_line_no, p_order_id, p_shop, p_customer_name, p_order_status, p_order_type, p_amount, p_ordered_at;
    RUN ON etl_proxy.shop_hash(p_shop);
    TARGET etl_partition.load_lines;
$$;
CREATE OR REPLACE FUNCTION etl_proxy.complete_import(p_import_id uuid, p_completed_at timestamptz)
RETURNS SETOF integer LANGUAGE plproxy AS $$
    CLUSTER 'etl_partitions'; RUN ON ALL;
    TARGET etl_partition.complete_import;
$$;
CREATE OR REPLACE FUNCTION etl_proxy.run_all(p_import_id uuid)
RETURNS TABLE (partition integer, stage text, status text, rows_in bigint, rows_ok bigint,
               rows_superseded bigint, rows_rejected bigint, rows_failed bigint,
               duration_ms double precision, details jsonb, reused boolean)
LANGUAGE plproxy AS $$
    CLUSTER 'etl_partitions'; RUN ON ALL;
    TARGET etl_partition.run_all;
$$;
-- One partition, by number (RUN ON takes it modulo the partition count).
CREATE OR REPLACE FUNCTION etl_proxy.ping(p_partition integer) RETURNS SETOF integer LANGUAGE plproxy AS $$
    CLUSTER 'etl_partitions'; RUN ON p_partition;
    SELECT 1;
$$;

-- The partitions that do not answer now, as "N (connect string)" text.
CREATE OR REPLACE FUNCTION etl_proxy.unreachable_partitions() RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    down text[] := '{}';
    p integer;
BEGIN
    FOR p IN 0 .. etl_proxy.partition_count() - 1 LOOP
        BEGIN
            PERFORM etl_proxy.ping(p);
        EXCEPTION WHEN OTHERS THEN
            down := down || format('%s (%s)', p,
                (SELECT substr(o, length('p' || p || '=') + 1) FROM pg_foreign_server s, unnest(s.srvoptions) o
                  WHERE s.srvname = 'etl_partitions' AND o LIKE 'p' || p || '=%'));
        END;
    END LOOP;
    RETURN down;
END
$$;

-- The user's functions: the workflow of one server.
CREATE OR REPLACE FUNCTION pg_catalog.etl_add_shop(shop_name text, platform text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    -- Ids in call order; a call that failed on some partition and is
    -- repeated gets the same id (nothing here was committed).
    LOCK TABLE etl_proxy.shops IN SHARE ROW EXCLUSIVE MODE;
    SELECT s.shop_id INTO id FROM etl_proxy.shops s WHERE s.shop_name = etl_add_shop.shop_name;
    IF id IS NOT NULL THEN
        RAISE EXCEPTION 'shop "%" exists already (shop_id %)', shop_name, id USING ERRCODE = 'unique_violation';
    END IF;
    SELECT coalesce(max(s.shop_id), 0) + 1 INTO id FROM etl_proxy.shops s;
    INSERT INTO etl_proxy.shops (shop_id, shop_name, platform) VALUES (id, etl_add_shop.shop_name, etl_add_shop.platform);
    PERFORM etl_proxy.put_shop(id, etl_add_shop.shop_name, etl_add_shop.platform, true);
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION pg_catalog.etl_set_shop_active(shop_name text, active boolean) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    shop etl_proxy.shops;
BEGIN
    UPDATE etl_proxy.shops s SET active = etl_set_shop_active.active
     WHERE s.shop_name = etl_set_shop_active.shop_name RETURNING s.* INTO shop;
    IF shop.shop_id IS NULL THEN
        RAISE EXCEPTION 'no shop is named "%"', shop_name USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM etl_proxy.put_shop(shop.shop_id, shop.shop_name, shop.platform, shop.active);
    RETURN shop.shop_id;
END
$$;

CREATE OR REPLACE FUNCTION pg_catalog.etl_add_order_type_mapping(raw_order_type text, system_order_type text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO etl_proxy.order_type_mappings AS m VALUES (raw_order_type, system_order_type)
    ON CONFLICT ON CONSTRAINT order_type_mappings_pkey DO UPDATE SET system_order_type = EXCLUDED.system_order_type;
    PERFORM etl_proxy.put_order_type_mapping(raw_order_type, system_order_type);
END
$$;

CREATE OR REPLACE FUNCTION pg_catalog.etl_begin_import(import_id uuid, source text DEFAULT NULL) RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM etl_proxy.begin_import(import_id, source);
    RETURN import_id;
END
$$;

-- Returns how many lines were stored (a line sent again is not counted).
CREATE OR REPLACE FUNCTION pg_catalog.etl_load_lines(
    import_id uuid, line_no integer[], order_id text[], shop text[], customer_name text[],
    order_status text[], order_type text[], amount text[], ordered_at text[])
RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(sum(n), 0)::bigint
      FROM etl_proxy.load_lines(import_id, line_no, order_id, shop, customer_name, order_status, order_type,
                                amount, ordered_at) n
$$;

-- Completes the import on every partition at the same time (this call's).
CREATE OR REPLACE FUNCTION pg_catalog.etl_complete_import(import_id uuid) RETURNS timestamptz
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
BEGIN
    PERFORM etl_proxy.complete_import(import_id, at);
    RETURN at;
END
$$;

-- The stages on every partition in parallel; one row per stage with the
-- counts summed, the worst status, the slowest partition's time, and each
-- partition's report in details.partitions. A partition that does not
-- answer fails the call, naming it; a re-run repeats only what is needed
-- (a partition where the import's stages are done returns its last runs).
CREATE OR REPLACE FUNCTION pg_catalog.etl_run_all(import_id uuid)
RETURNS TABLE (stage text, status text, rows_in bigint, rows_ok bigint, rows_superseded bigint,
               rows_rejected bigint, rows_failed bigint, duration_ms double precision, details jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    down text[];
BEGIN
    RETURN QUERY
    SELECT p.stage,
           CASE WHEN bool_or(p.status = 'failed') THEN 'failed'
                WHEN bool_or(p.status = 'partial_success') THEN 'partial_success'
                ELSE 'success' END,
           sum(p.rows_in)::bigint, sum(p.rows_ok)::bigint, sum(p.rows_superseded)::bigint,
           sum(p.rows_rejected)::bigint, sum(p.rows_failed)::bigint, max(p.duration_ms),
           jsonb_build_object('partitions', jsonb_agg(jsonb_build_object(
               'partition', p.partition, 'status', p.status, 'rows_in', p.rows_in, 'rows_ok', p.rows_ok,
               'rows_rejected', p.rows_rejected, 'rows_failed', p.rows_failed, 'reused', p.reused,
               'error', p.details -> 'error', 'run_id', p.details -> 'run_id') ORDER BY p.partition))
      FROM etl_proxy.run_all(etl_run_all.import_id) p
     GROUP BY p.stage
     ORDER BY array_position(ARRAY['orders', 'customers', 'leads'], p.stage);
EXCEPTION WHEN OTHERS THEN
    down := etl_proxy.unreachable_partitions();
    IF cardinality(down) > 0 THEN
        RAISE EXCEPTION 'etl_run_all(%): partition % not reachable; the others ran or kept their runs',
                        etl_run_all.import_id, array_to_string(down, ', ')
              USING ERRCODE = 'connection_failure',
                    DETAIL = SQLERRM,
                    HINT = 'Bring the partition back and call etl_run_all again: only what is not done runs.';
    END IF;
    RAISE;
END
$$;

-- Reading across partitions: the partitions' tables, each row with the
-- partition it lives in (imports and master data are the same everywhere:
-- read from one partition, or from here).
CREATE OR REPLACE FUNCTION etl_proxy.orders()
RETURNS TABLE (partition integer, shop_id bigint, order_id text, customer_nickname text, latest_status text,
               order_type text, system_order_type text, amount numeric, ordered_at timestamptz, import_id uuid,
               customer_global_id uuid, lead_id uuid, source_line_no integer, loaded_by_run bigint,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plproxy AS $$
    CLUSTER 'etl_partitions'; RUN ON ALL;
    SELECT etl_partition.number() AS partition, o.shop_id, o.order_id, o.customer_nickname, o.latest_status,
           o.order_type, o.system_order_type, o.amount, o.ordered_at, o.import_id, o.customer_global_id, o.lead_id,
           o.source_line_no, o.loaded_by_run, o.created_at, o.updated_at
      FROM etl.orders o;
$$;
CREATE OR REPLACE FUNCTION etl_proxy.customers()
RETURNS TABLE (partition integer, customer_global_id uuid, shop_id bigint, customer_nickname text, customer_key text,
               first_order_at timestamptz, last_order_at timestamptz, created_at timestamptz)
LANGUAGE plproxy AS $$
    CLUSTER 'etl_partitions'; RUN ON ALL;
    SELECT etl_partition.number() AS partition, c.customer_global_id, c.shop_id, c.customer_nickname, c.customer_key,
           c.first_order_at, c.last_order_at, c.created_at
      FROM etl.customers c;
$$;
CREATE OR REPLACE FUNCTION etl_proxy.business_leads()
RETURNS TABLE (partition integer, lead_id uuid, lead_no bigint, customer_global_id uuid, current_stage text,
               order_count integer, total_amount numeric, sample_count integer, sample_amount numeric,
               bulk_count integer, bulk_amount numeric, first_order_at timestamptz, last_order_at timestamptz,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE plproxy AS $$
    CLUSTER 'etl_partitions'; RUN ON ALL;
    SELECT etl_partition.number() AS partition, l.lead_id, l.lead_no, l.customer_global_id, l.current_stage,
           l.order_count, l.total_amount, l.sample_count, l.sample_amount, l.bulk_count, l.bulk_amount,
           l.first_order_at, l.last_order_at, l.created_at, l.updated_at
      FROM etl.business_leads l;
$$;
CREATE OR REPLACE FUNCTION etl_proxy.rejects()
RETURNS TABLE (partition integer, import_id uuid, line_no integer, stage text, reason text, detail text, raw jsonb,
               created_at timestamptz)
LANGUAGE plproxy AS $$
    CLUSTER 'etl_partitions'; RUN ON ALL;
    SELECT etl_partition.number() AS partition, r.import_id, r.line_no, r.stage, r.reason, r.detail, r.raw, r.created_at
      FROM etl.rejects r;
$$;
CREATE OR REPLACE FUNCTION etl_proxy.runs()
RETURNS TABLE (partition integer, run_id bigint, import_id uuid, stage text, status text, started_at timestamptz,
               finished_at timestamptz, rows_in bigint, rows_ok bigint, rows_superseded bigint, rows_rejected bigint,
               rows_failed bigint, batches bigint, queries bigint, duration_ms double precision, error text,
               details jsonb)
LANGUAGE plproxy AS $$
    CLUSTER 'etl_partitions'; RUN ON ALL;
    SELECT etl_partition.number() AS partition, r.run_id, r.import_id, r.stage, r.status, r.started_at, r.finished_at,
           r.rows_in::bigint, r.rows_ok::bigint, r.rows_superseded::bigint, r.rows_rejected::bigint,
           r.rows_failed::bigint, r.batches::bigint, r.queries::bigint, r.duration_ms::double precision, r.error,
           r.details
      FROM etl.runs r;
$$;
CREATE OR REPLACE FUNCTION etl_proxy.pipeline_status()
RETURNS TABLE (partition integer, import_id uuid, source text, import_status text, completed_at timestamptz,
               stage text, state text, attempts integer, next_run_at timestamptz, last_error text,
               last_run_status text, rows_in bigint, rows_ok bigint, rows_superseded bigint, rows_rejected bigint,
               rows_failed bigint, duration_ms double precision, last_run_finished_at timestamptz)
LANGUAGE plproxy AS $$
    CLUSTER 'etl_partitions'; RUN ON ALL;
    SELECT etl_partition.number() AS partition, s.import_id, s.source, s.import_status, s.completed_at, s.stage,
           s.state, s.attempts::integer, s.next_run_at, s.last_error, s.last_run_status, s.rows_in::bigint,
           s.rows_ok::bigint, s.rows_superseded::bigint, s.rows_rejected::bigint, s.rows_failed::bigint,
           s.duration_ms::double precision, s.last_run_finished_at
      FROM etl.pipeline_status s;
$$;
CREATE OR REPLACE FUNCTION etl_proxy.imports()
RETURNS TABLE (import_id uuid, source text, status text, created_at timestamptz, completed_at timestamptz)
LANGUAGE plproxy AS $$
    CLUSTER 'etl_partitions'; RUN ON 0;
    SELECT i.import_id, i.source, i.status, i.created_at, i.completed_at FROM etl.imports i;
$$;

CREATE OR REPLACE VIEW etl.shops AS SELECT * FROM etl_proxy.shops;
CREATE OR REPLACE VIEW etl.order_type_mappings AS SELECT * FROM etl_proxy.order_type_mappings;
CREATE OR REPLACE VIEW etl.imports AS SELECT * FROM etl_proxy.imports();
CREATE OR REPLACE VIEW etl.orders AS SELECT * FROM etl_proxy.orders();
CREATE OR REPLACE VIEW etl.customers AS SELECT * FROM etl_proxy.customers();
CREATE OR REPLACE VIEW etl.business_leads AS SELECT * FROM etl_proxy.business_leads();
CREATE OR REPLACE VIEW etl.rejects AS SELECT * FROM etl_proxy.rejects();
CREATE OR REPLACE VIEW etl.runs AS SELECT * FROM etl_proxy.runs();
CREATE OR REPLACE VIEW etl.pipeline_status AS SELECT * FROM etl_proxy.pipeline_status();

-- Privileges, as on one server: PUBLIC gets nothing; the roles of etl_ext
-- (created here where missing, NOLOGIN) get what they get there.
--
-- The partitions are reached only as the role the user mapping of
-- etl_proxy_caller names (scripts/scale_out.sh: etl_proxy_user): every
-- PL/Proxy function is SECURITY DEFINER, owned by etl_proxy_caller, a NOLOGIN
-- role that nobody is granted, and only it has USAGE on the server etl_partitions.
-- No loader, reader or operator has USAGE on the server, so none can create
-- or change a user mapping of its own, or reach a partition as another role.
DO $roles$
DECLARE
    wanted text;
BEGIN
    FOREACH wanted IN ARRAY ARRAY['etl_loader', 'etl_operator', 'etl_reader', 'etl_proxy_caller'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) wanted) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', wanted);
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                WHERE r.rolname OPERATOR(pg_catalog.=) 'etl_proxy_caller'
                  AND (r.rolcanlogin OR r.rolsuper
                       OR EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                                   WHERE m.roleid OPERATOR(pg_catalog.=) r.oid))) THEN
        RAISE EXCEPTION 'role etl_proxy_caller can log in, is a superuser or has members; whoever acts as it reaches the partitions'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$roles$;
GRANT etl_loader, etl_reader TO etl_operator;
REVOKE ALL ON FOREIGN SERVER etl_partitions FROM PUBLIC, etl_loader, etl_reader, etl_operator;
GRANT USAGE ON FOREIGN SERVER etl_partitions TO etl_proxy_caller;
GRANT USAGE ON SCHEMA etl_proxy TO etl_proxy_caller;
GRANT EXECUTE ON FUNCTION etl_proxy.shop_hash(text) TO etl_proxy_caller;
DO $owners$
DECLARE
    f record;
BEGIN
    FOR f IN SELECT p.oid::pg_catalog.regprocedure AS signature
               FROM pg_catalog.pg_proc p
               JOIN pg_catalog.pg_language l ON l.oid OPERATOR(pg_catalog.=) p.prolang
              WHERE l.lanname OPERATOR(pg_catalog.=) 'plproxy'
                AND p.pronamespace OPERATOR(pg_catalog.=) 'etl_proxy'::pg_catalog.regnamespace LOOP
        EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f.signature);
        EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO etl_proxy_caller', f.signature);
    END LOOP;
END
$owners$;
REVOKE ALL ON SCHEMA etl_proxy, etl FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA etl_proxy, etl FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA etl_proxy FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_catalog.etl_add_shop(text, text), pg_catalog.etl_set_shop_active(text, boolean),
    pg_catalog.etl_add_order_type_mapping(text, text), pg_catalog.etl_begin_import(uuid, text),
    pg_catalog.etl_load_lines(uuid, integer[], text[], text[], text[], text[], text[], text[], text[]),
    pg_catalog.etl_complete_import(uuid), pg_catalog.etl_run_all(uuid) FROM PUBLIC;
-- A view's functions are called with the reader's rights: SELECT on the
-- view and EXECUTE on its function.
GRANT USAGE ON SCHEMA etl TO etl_loader, etl_reader;
GRANT USAGE ON SCHEMA etl_proxy TO etl_loader, etl_reader, etl_operator;
GRANT SELECT ON etl.imports, etl.rejects, etl.pipeline_status TO etl_loader;
GRANT EXECUTE ON FUNCTION etl_proxy.imports(), etl_proxy.rejects(), etl_proxy.pipeline_status() TO etl_loader;
GRANT SELECT ON ALL TABLES IN SCHEMA etl TO etl_reader;
GRANT EXECUTE ON FUNCTION etl_proxy.imports(), etl_proxy.rejects(), etl_proxy.pipeline_status(), etl_proxy.orders(),
    etl_proxy.customers(), etl_proxy.business_leads(), etl_proxy.runs() TO etl_reader;
GRANT EXECUTE ON FUNCTION pg_catalog.etl_begin_import(uuid, text),
    pg_catalog.etl_load_lines(uuid, integer[], text[], text[], text[], text[], text[], text[], text[]),
    pg_catalog.etl_complete_import(uuid),
    etl_proxy.shop_hash(text), etl_proxy.begin_import(uuid, text),
    etl_proxy.load_lines(uuid, integer[], text[], text[], text[], text[], text[], text[], text[]),
    etl_proxy.complete_import(uuid, timestamptz)
   TO etl_loader;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA etl_proxy TO etl_operator;
GRANT EXECUTE ON FUNCTION pg_catalog.etl_add_shop(text, text), pg_catalog.etl_set_shop_active(text, boolean),
    pg_catalog.etl_add_order_type_mapping(text, text), pg_catalog.etl_run_all(uuid) TO etl_operator;
GRANT SELECT, INSERT, UPDATE ON etl_proxy.shops, etl_proxy.order_type_mappings TO etl_operator;
