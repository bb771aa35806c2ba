-- etl_ext 0.3.0 -> 0.4.0 (ALTER EXTENSION etl_ext UPDATE TO '0.4.0').
--
-- What changes, and why (docs/security.md, docs/operations.md):
-- * The SQL functions move from the schema the extension was created in
--   (public by default, which the database owner owns and can plant objects
--   in) to pg_catalog, which only a superuser can create in and every
--   search_path reaches: they are called unqualified as before. The
--   extension's recorded schema becomes pg_catalog, as a fresh install's
--   (etl_ext.control names it); PostgreSQL has no command to move a
--   non-relocatable extension, so this updates pg_extension and drops the
--   extension's dependency on the old schema, as superuser.
-- * Views and bodies are created again with search_path = pg_catalog,
--   pg_temp: what 0.3.0's install bound to in the old schema (an exact-type
--   array_position planted there before it, for one) is bound no more, and
--   the procedure etl_run_queue, which cannot pin its search_path, spells
--   every operator OPERATOR(pg_catalog.x).
-- * The pipeline's lock is a row of etl.pipeline_lock that only the runner
--   role may lock, instead of an advisory lock any role could hold.
-- * An import belongs to the role that created it (etl.imports.owner_role;
--   imports created before the update belong to the role running it):
--   row-level security on etl.imports, etl.raw_orders and etl.rejects, and
--   etl.guard_import for completed_at (the server's time) and status.
--   Completion queues the pipeline on an UPDATE to completed only.
-- * Every table that holds what users or the pipeline wrote, and every
--   identity sequence, is registered with pg_extension_config_dump, so that
--   pg_dump carries their rows (0.3.0's dumps restored no row).
-- * DROP EXTENSION etl_ext is refused while etl.orders holds rows, unless
--   etl.allow_drop_with_data is on (an event trigger).
-- Data is kept as it is: no row of any table changes.

\echo Use "ALTER EXTENSION etl_ext UPDATE TO '0.4.0'" to load this file. \quit

-- This script binds names: nothing but pg_catalog and the extension.
SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);

DO $checks$
BEGIN
    IF pg_catalog.getdatabaseencoding() OPERATOR(pg_catalog.<>) 'UTF8' THEN
        RAISE EXCEPTION 'etl_ext needs a UTF8 database; database "%" is %',
                pg_catalog.current_database(), pg_catalog.getdatabaseencoding()
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Dump the data, and restore it into a database created with ENCODING ''UTF8''.';
    END IF;
END
$checks$;

-- The functions and procedures, into pg_catalog.
DO $move$
DECLARE
    ext_oid oid;
    old_schema oid;
    member record;
BEGIN
    SELECT e.oid, e.extnamespace INTO ext_oid, old_schema
      FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'etl_ext';
    IF old_schema OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace THEN
        RETURN;
    END IF;
    FOR member IN
        SELECT p.oid::pg_catalog.regprocedure::text AS signature, p.prokind
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) d.objid
         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid OPERATOR(pg_catalog.=) ext_oid
           AND d.deptype OPERATOR(pg_catalog.=) 'e'
           AND p.pronamespace OPERATOR(pg_catalog.=) old_schema
    LOOP
        EXECUTE pg_catalog.format('ALTER %s %s SET SCHEMA pg_catalog',
                                  CASE WHEN member.prokind OPERATOR(pg_catalog.=) 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                                  member.signature);
    END LOOP;
    UPDATE pg_catalog.pg_extension SET extnamespace = 'pg_catalog'::pg_catalog.regnamespace
     WHERE oid OPERATOR(pg_catalog.=) ext_oid;
    -- A fresh install records no dependency on pg_catalog (it is pinned).
    DELETE FROM pg_catalog.pg_depend
     WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND objid OPERATOR(pg_catalog.=) ext_oid
       AND refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
       AND refobjid OPERATOR(pg_catalog.=) old_schema;
END
$move$;

-- Bodies that named the old schema (@extschema@) or resolve operators at
-- run time, created again.
CREATE OR REPLACE PROCEDURE pg_catalog.etl_run_queue(max_jobs integer)
LANGUAGE plpgsql
AS $$
DECLARE
    claimed bigint;
    jobs_run integer := 0;
BEGIN
    LOOP
        EXIT WHEN max_jobs IS NOT NULL AND jobs_run OPERATOR(pg_catalog.>=) max_jobs;
        claimed := etl.claim_job();
        COMMIT;
        EXIT WHEN claimed IS NULL;
        PERFORM etl.run_job(claimed);
        COMMIT;
        jobs_run := jobs_run OPERATOR(pg_catalog.+) 1;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE pg_catalog.etl_run_queue(integer) IS
    'Runs at most max_jobs due pipeline jobs (NULL: all), committing per job.';

CREATE OR REPLACE PROCEDURE pg_catalog.etl_run_queue()
LANGUAGE plpgsql
AS $$
BEGIN
    CALL pg_catalog.etl_run_queue(NULL::integer);
END
$$;
COMMENT ON PROCEDURE pg_catalog.etl_run_queue() IS
    'Runs every due pipeline job, committing per job (for pg_cron: CALL etl_run_queue()).';

CREATE OR REPLACE FUNCTION pg_catalog.etl_demo_import(rows integer DEFAULT 1000, seed double precision DEFAULT 0.42)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_import uuid := pg_catalog.etl_uuid_v7();
BEGIN
    IF rows IS NULL OR rows < 0 THEN
        RAISE EXCEPTION 'etl_demo_import: rows must be a non-negative number, not %', rows
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF seed IS NULL OR seed < -1 OR seed > 1 THEN
        RAISE EXCEPTION 'etl_demo_import: seed must be between -1 and 1, not %', seed
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    INSERT INTO etl.shops (shop_name, platform, active)
    VALUES ('Tmall Flagship', 'tmall', true),
           ('JD Outlet', 'jd', true),
           ('Douyin Live', 'douyin', true),
           ('Pinduoduo "Deals"', 'pdd', true),
           ('Old Taobao Store', 'taobao', false)
    ON CONFLICT (shop_name) DO NOTHING;

    INSERT INTO etl.order_type_mappings (raw_order_type, system_order_type)
    VALUES ('样品', 'SAMPLE'), ('sample', 'SAMPLE'), ('Sample', 'SAMPLE'),
           ('批发', 'BULK'), ('wholesale', 'BULK'), ('gift', 'GIFT')
    ON CONFLICT (raw_order_type) DO NOTHING;

    INSERT INTO etl.imports (import_id, source, status)
    VALUES (new_import, format('etl_demo_import(%s, %s)', rows, seed), 'pending');

    PERFORM setseed(seed);
    INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name,
                                order_status, order_type, amount, ordered_at)
    SELECT new_import, g.n,
           CASE WHEN g.dirt = 1 THEN '   '
                -- About 10% reuse an earlier order id of this import (dedup) or
                -- of an earlier demo import (an update).
                WHEN g.r1 < 0.10 THEN 'SO-' || lpad((1 + floor(g.r2 * greatest(g.n, 1)))::int::text, 7, '0')
                ELSE 'SO-' || lpad(g.n::text, 7, '0') END,
           CASE WHEN g.dirt = 2 THEN 'No Such Shop'
                WHEN g.dirt = 3 THEN 'Old Taobao Store'
                ELSE (ARRAY['Tmall Flagship', ' JD Outlet', 'Douyin Live',
                            'Pinduoduo "Deals"', E'Tmall Flagship\u3000'])[1 + floor(g.r3 * 5)::int] END,
           CASE WHEN g.dirt = 4 THEN E'\u3000 \t'
                ELSE (ARRAY['王小明', 'Li Lei', 'O''Brien', E'back\\slash', '张 伟',
                            E'\u3000小红\u3000', 'alice--bob', 'Zoë'])[1 + floor(g.r4 * 8)::int]
                     || CASE WHEN g.r5 < 0.7 THEN '' ELSE ' #' || floor(g.r5 * 40)::int END END,
           (ARRAY['paid', 'Shipped', 'completed', 'cancelled', 'REFUNDED', NULL, ' délivré '])[1 + floor(g.r6 * 7)::int],
           (ARRAY['样品', 'sample', '批发', 'wholesale', NULL, 'gift', 'retail'])[1 + floor(g.r2 * 7)::int],
           CASE WHEN g.dirt = 5 THEN '¥1,2x4'
                WHEN g.dirt = 6 THEN '1234567890123.00'
                WHEN g.r6 < 0.3 THEN '¥' || to_char(round((g.r3 * 20000)::numeric, 3), 'FM999,990.000')
                ELSE round((g.r3 * 5000)::numeric, 2)::text END,
           CASE WHEN g.dirt = 7 THEN '2026-02-30 10:00:00'
                WHEN g.dirt = 8 THEN NULL
                WHEN g.r1 < 0.5 THEN to_char(timestamp '2026-01-01' + g.r4 * interval '300 days', 'YYYY-MM-DD HH24:MI:SS')
                WHEN g.r1 < 0.8 THEN to_char(timestamp '2026-01-01' + g.r5 * interval '300 days', 'YYYY-MM-DD"T"HH24:MI:SS') || '+08:00'
                ELSE to_char(timestamp '2026-01-01' + g.r2 * interval '300 days', 'YYYY-MM-DD') END
      FROM (SELECT n,
                   -- One line in twenty is dirty, in one of eight ways.
                   CASE WHEN random() < 0.05 THEN 1 + floor(random() * 8)::int ELSE 0 END AS dirt,
                   random() AS r1, random() AS r2, random() AS r3, random() AS r4,
                   random() AS r5, random() AS r6
              FROM generate_series(1, rows) AS n) AS g;

    UPDATE etl.imports SET status = 'completed', completed_at = now() WHERE import_id = new_import;
    RETURN new_import;
END
$$;
COMMENT ON FUNCTION pg_catalog.etl_demo_import(integer, double precision) IS
    'Creates a reproducible demo import of `rows` raw order lines (about 5% dirty) and marks it completed.';

-- The pipeline's lock.
CREATE TABLE etl.pipeline_lock (
    only_row boolean PRIMARY KEY DEFAULT true CONSTRAINT pipeline_lock_has_one_row CHECK (only_row)
);
INSERT INTO etl.pipeline_lock VALUES (true);

GRANT SELECT, UPDATE ON etl.pipeline_lock TO etl_runner;
GRANT SELECT ON etl.pipeline_lock TO etl_operator;

CREATE FUNCTION etl."lock_pipeline"() RETURNS void
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'lock_pipeline_wrapper';
REVOKE ALL ON FUNCTION etl.lock_pipeline() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION etl.lock_pipeline() TO etl_operator;

-- Imports owned by their loader.
ALTER TABLE etl.imports ADD COLUMN owner_role name NOT NULL DEFAULT CURRENT_USER;

CREATE FUNCTION etl.guard_import() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    by_superuser boolean := (SELECT r.rolsuper FROM pg_catalog.pg_roles r
                              WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER);
BEGIN
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        IF by_superuser THEN
            RETURN NEW;
        END IF;
        IF NEW.status IS DISTINCT FROM 'pending' THEN
            RAISE EXCEPTION 'etl_ext: a new import is created pending, not %', pg_catalog.quote_nullable(NEW.status)
                USING ERRCODE = 'check_violation',
                      HINT = 'Insert it pending, add its lines to etl.raw_orders, then UPDATE etl.imports SET status = ''completed''.';
        END IF;
        NEW.owner_role := CURRENT_USER;
        NEW.created_at := pg_catalog.now();
        NEW.completed_at := NULL;
        RETURN NEW;
    END IF;

    IF OLD.status OPERATOR(pg_catalog.=) 'pending' AND NEW.status OPERATOR(pg_catalog.=) 'completed' THEN
        IF NOT by_superuser OR NEW.completed_at IS NULL THEN
            NEW.completed_at := pg_catalog.clock_timestamp();
        END IF;
        RETURN NEW;
    END IF;
    IF by_superuser THEN
        RETURN NEW;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND OLD.status OPERATOR(pg_catalog.<>) 'pending' THEN
        RAISE EXCEPTION 'etl_ext: import % is %; its status cannot change', OLD.import_id, OLD.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF NEW.completed_at IS DISTINCT FROM OLD.completed_at THEN
        RAISE EXCEPTION 'etl_ext: completed_at of import % is the server''s time of its completion; it cannot be set',
                OLD.import_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.owner_role IS DISTINCT FROM OLD.owner_role OR NEW.created_at IS DISTINCT FROM OLD.created_at
       OR NEW.import_id IS DISTINCT FROM OLD.import_id THEN
        RAISE EXCEPTION 'etl_ext: the id, owner and creation time of import % cannot change', OLD.import_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER guard_import
    BEFORE INSERT OR UPDATE ON etl.imports
    FOR EACH ROW
    EXECUTE FUNCTION etl.guard_import();

REVOKE ALL ON FUNCTION etl.guard_import() FROM PUBLIC;

DROP TRIGGER import_completed ON etl.imports;
CREATE TRIGGER import_completed
    AFTER UPDATE OF status ON etl.imports
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM 'completed' AND NEW.status = 'completed')
    EXECUTE FUNCTION etl.on_import_completed();

CREATE OR REPLACE VIEW etl.pipeline_status WITH (security_barrier) AS
SELECT i.import_id,
       i.source,
       i.status AS import_status,
       i.completed_at,
       j.stage,
       j.state,
       j.attempts,
       j.next_run_at,
       j.last_error,
       r.status AS last_run_status,
       r.rows_in,
       r.rows_ok,
       r.rows_superseded,
       r.rows_rejected,
       r.rows_failed,
       r.duration_ms,
       r.finished_at AS last_run_finished_at
  FROM etl.imports i
  JOIN etl.jobs j ON j.import_id = i.import_id
  LEFT JOIN LATERAL (
        SELECT r.*
          FROM etl.runs r
         WHERE r.import_id = i.import_id AND r.stage = j.stage
         ORDER BY r.run_id DESC
         LIMIT 1) r ON true
-- A loader sees its own imports; readers and operators see every import.
 WHERE i.owner_role = CURRENT_USER OR pg_has_role(CURRENT_USER, 'etl_reader', 'MEMBER')
 ORDER BY i.created_at, i.import_id, array_position(ARRAY['orders', 'customers', 'leads'], j.stage);

CREATE OR REPLACE VIEW etl.progress WITH (security_barrier) AS
SELECT p.pid, p.import_id, p.stage, p.started_at, p.updated_at, p.batches_done, p.batches_total,
       p.lines_done, p.lines_total, p.lines_per_second, p.eta
  FROM etl.progress_rows() p
 WHERE pg_has_role(CURRENT_USER, 'etl_reader', 'MEMBER')
    OR EXISTS (SELECT 1 FROM etl.imports i WHERE i.import_id = p.import_id AND i.owner_role = CURRENT_USER);

ALTER TABLE etl.imports ENABLE ROW LEVEL SECURITY;
ALTER TABLE etl.raw_orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE etl.rejects ENABLE ROW LEVEL SECURITY;

CREATE POLICY imports_of_every_import ON etl.imports TO etl_operator, etl_runner
    USING (true) WITH CHECK (true);
CREATE POLICY imports_read_by_readers ON etl.imports FOR SELECT TO etl_reader
    USING (true);
CREATE POLICY imports_read_by_owner ON etl.imports FOR SELECT TO etl_loader
    USING (owner_role = CURRENT_USER);
CREATE POLICY imports_created_by_owner ON etl.imports FOR INSERT TO etl_loader
    WITH CHECK (owner_role = CURRENT_USER);
CREATE POLICY imports_pending_changed_by_owner ON etl.imports FOR UPDATE TO etl_loader
    USING (owner_role = CURRENT_USER AND status = 'pending')
    WITH CHECK (owner_role = CURRENT_USER);

CREATE POLICY raw_orders_of_every_import ON etl.raw_orders TO etl_operator, etl_runner
    USING (true) WITH CHECK (true);
CREATE POLICY raw_orders_read_by_owner ON etl.raw_orders FOR SELECT TO etl_loader
    USING (EXISTS (SELECT 1 FROM etl.imports i
                    WHERE i.import_id = raw_orders.import_id AND i.owner_role = CURRENT_USER));
CREATE POLICY raw_orders_added_by_owner ON etl.raw_orders FOR INSERT TO etl_loader
    WITH CHECK (EXISTS (SELECT 1 FROM etl.imports i
                         WHERE i.import_id = raw_orders.import_id AND i.owner_role = CURRENT_USER
                           AND i.status = 'pending'));

CREATE POLICY rejects_of_every_import ON etl.rejects TO etl_operator, etl_runner, etl_reader
    USING (true) WITH CHECK (true);
CREATE POLICY rejects_read_by_owner ON etl.rejects FOR SELECT TO etl_loader
    USING (EXISTS (SELECT 1 FROM etl.imports i
                    WHERE i.import_id = rejects.import_id AND i.owner_role = CURRENT_USER));

-- Logical backups carry every row (sql/backup.sql, as a fresh install runs it).
SELECT pg_catalog.pg_extension_config_dump('etl.shops', '');
SELECT pg_catalog.pg_extension_config_dump('etl.order_type_mappings', '');
SELECT pg_catalog.pg_extension_config_dump('etl.imports', '');
SELECT pg_catalog.pg_extension_config_dump('etl.raw_orders', '');
SELECT pg_catalog.pg_extension_config_dump('etl.orders', '');
SELECT pg_catalog.pg_extension_config_dump('etl.customers', '');
SELECT pg_catalog.pg_extension_config_dump('etl.business_leads', '');
SELECT pg_catalog.pg_extension_config_dump('etl.rejects', '');
SELECT pg_catalog.pg_extension_config_dump('etl.runs', '');
SELECT pg_catalog.pg_extension_config_dump('etl.events', '');
SELECT pg_catalog.pg_extension_config_dump('etl.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('etl.pending_customer_refresh', '');
SELECT pg_catalog.pg_extension_config_dump('etl.pending_lead_refresh', '');
SELECT pg_catalog.pg_extension_config_dump('etl.redrive_scope', '');

-- The identity sequences (shops.shop_id, business_leads.lead_no,
-- runs.run_id, events.event_id, jobs.job_id; the names
-- pg_get_serial_sequence gives): pg_dump then restores each one's position
-- with setval. One statement each: pg_extension_config_dump updates the
-- extension's catalog row, which a single statement may update only once.
SELECT pg_catalog.pg_extension_config_dump('etl.shops_shop_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('etl.business_leads_lead_no_seq', '');
SELECT pg_catalog.pg_extension_config_dump('etl.runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('etl.events_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('etl.jobs_job_id_seq', '');

-- The guard against an accidental DROP EXTENSION (sql/drop_guard.sql).
CREATE FUNCTION etl.drop_guard() RETURNS event_trigger
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'etl_drop_guard';
COMMENT ON FUNCTION etl.drop_guard() IS
    'Refuses DROP EXTENSION etl_ext while etl.orders holds rows, unless etl.allow_drop_with_data is on.';
REVOKE ALL ON FUNCTION etl.drop_guard() FROM PUBLIC;

CREATE EVENT TRIGGER etl_ext_drop_guard ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP OWNED')
    EXECUTE FUNCTION etl.drop_guard();
COMMENT ON EVENT TRIGGER etl_ext_drop_guard IS
    'etl_ext: refuses DROP EXTENSION etl_ext while etl.orders holds rows (SET etl.allow_drop_with_data = on to drop anyway).';
