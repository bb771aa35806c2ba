-- The last part of CREATE EXTENSION (pgrx runs it after every other
-- object): the SQL-language entry points over the Rust functions, then
-- the roles and privileges on everything.

-- SQL-language entry points that wrap the extension's Rust functions.

-- etl_emit_event(event_type, payload jsonb): the payload goes to Rust as
-- jsonb's text, so that what JSON-in-Rust cannot hold (nesting deeper than
-- 128, numbers beyond a double) is refused and stored as refused, never a
-- panic (see etl.emit_event).
CREATE FUNCTION etl_emit_event(event_type text, payload jsonb) RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT etl.emit_event(event_type, payload::text) $$;
COMMENT ON FUNCTION etl_emit_event(text, jsonb) IS
    'Publishes an application event: stored, notified on etl_events and acted on when valid; stored with accepted = false and its reason when not.';

-- CALL etl_run_queue([max_jobs]): runs the due jobs of the queue, for
-- pg_cron. It commits after counting each attempt and after each job, so a
-- cancel or statement_timeout loses at most the job in progress, whose
-- attempt still counts. A procedure that commits cannot pin its
-- search_path (a SET clause forbids COMMIT), and it runs with whatever path
-- the caller has, pg_cron's superuser session included: so every operator
-- in it is written OPERATOR(pg_catalog.x) and every function and procedure
-- is schema-qualified, with exact argument types; nothing in it resolves
-- through the caller's search_path. The zero-argument form is a procedure
-- of its own, not a DEFAULT, so that no other zero-argument etl_run_queue
-- can be added beside it.
CREATE PROCEDURE etl_run_queue(max_jobs integer)
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
COMMENT ON PROCEDURE etl_run_queue(integer) IS
    'Runs at most max_jobs due pipeline jobs (NULL: all), committing per job.';

CREATE PROCEDURE etl_run_queue()
LANGUAGE plpgsql
AS $$
BEGIN
    CALL pg_catalog.etl_run_queue(NULL::integer);
END
$$;
COMMENT ON PROCEDURE etl_run_queue() IS
    'Runs every due pipeline job, committing per job (for pg_cron: CALL etl_run_queue()).';

-- etl_explain(shop, order_id): the lineage of one order. One row per raw
-- line of any import that carried it (matched by the cleaning rule of the
-- orders stage: both texts trimmed of space, tab, CR, LF and U+3000), with
-- the line as imported and its fate:
--   loaded       it wrote the order's current row;
--   superseded   a later valid line of its import, or a later import, won;
--   rejected     a validation rule refused it (detail: reason and why);
--   failed       the database refused it (detail: the database's message);
--   not yet run  the orders stage of its import has not run successfully.
-- Once etl_purge removed an import's raw lines, its line that wrote the
-- current row is still listed (raw NULL, detail: when it was purged); its
-- other lines of the order are gone with their text.
-- Every row also says which run wrote the current row, its customer (key)
-- and lead (number, stage), and whether the order counts in the lead's
-- aggregates, and if not why. It reads every raw line (no index serves a
-- search by order id): seconds on tens of millions of lines.
CREATE FUNCTION etl_explain(shop text, order_id text)
RETURNS TABLE (import_id uuid, import_source text, line_no integer, raw jsonb, fate text, detail text,
               current_run_id bigint, customer_key text, lead_no bigint, lead_stage text,
               counts_in_lead boolean, why_not_counted text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH wanted AS (
    SELECT nullif(btrim(shop, E' \t\r\n\u3000'), '') AS shop,
           nullif(btrim(order_id, E' \t\r\n\u3000'), '') AS order_id
), current_order AS (
    SELECT o.import_id, o.source_line_no, o.loaded_by_run, o.latest_status, o.lead_id,
           c.customer_key, l.lead_no, l.current_stage
      FROM wanted w
      JOIN etl.shops s ON s.shop_name = w.shop
      JOIN etl.orders o ON o.shop_id = s.shop_id AND o.order_id = w.order_id
      LEFT JOIN etl.customers c ON c.customer_global_id = o.customer_global_id
      LEFT JOIN etl.business_leads l ON l.lead_id = o.lead_id
), lines AS (
    SELECT r.import_id, r.line_no, r.order_id, r.shop, r.customer_name, r.order_status, r.order_type,
           r.amount, r.ordered_at, i.source,
           coalesce(i.completed_at, i.created_at) AS import_time,
           j.reason, j.detail AS reject_detail,
           -- An orders run the quality gate held (kept = false) loaded
           -- nothing, and its done job is no proof either (as
           -- sql/queries/orders_ran.sql).
           EXISTS (SELECT 1 FROM etl.runs u
                    WHERE u.import_id = r.import_id AND u.stage = 'orders'
                      AND u.status IN ('success', 'partial_success')
                      AND (u.details ->> 'kept') IS DISTINCT FROM 'false')
           OR EXISTS (SELECT 1 FROM etl.jobs q
                       WHERE q.import_id = r.import_id AND q.stage = 'orders' AND q.state = 'done'
                         AND NOT EXISTS (SELECT 1 FROM etl.import_holds g
                                          WHERE g.import_id = q.import_id AND g.run_id = q.last_run_id))
           OR EXISTS (SELECT 1 FROM etl.purged_imports p
                       WHERE p.import_id = r.import_id AND p.jobs_outcome = 'done'
                         AND NOT EXISTS (SELECT 1 FROM etl.import_holds g
                                          WHERE g.import_id = p.import_id AND g.released_at IS NULL)) AS ran,
           (SELECT g.reason FROM etl.import_holds g
             WHERE g.import_id = r.import_id AND g.released_at IS NULL) AS held_for,
           NULL::timestamptz AS purged_at
      FROM wanted w
      JOIN etl.raw_orders r
        ON nullif(btrim(r.order_id, E' \t\r\n\u3000'), '') = w.order_id
       AND nullif(btrim(r.shop, E' \t\r\n\u3000'), '') = w.shop
      JOIN etl.imports i ON i.import_id = r.import_id
      LEFT JOIN etl.rejects j ON j.import_id = r.import_id AND j.line_no = r.line_no
    UNION ALL
    -- The line that wrote the current row, when etl_purge removed its
    -- import's raw lines: known by the order's lineage, its text gone.
    SELECT c.import_id, c.source_line_no, NULL, NULL, NULL, NULL, NULL, NULL, NULL, i.source,
           coalesce(i.completed_at, i.created_at), NULL, NULL, true, NULL, p.raw_purged_at
      FROM current_order c
      JOIN etl.imports i ON i.import_id = c.import_id
      JOIN etl.purged_imports p ON p.import_id = c.import_id AND p.raw_purged_at IS NOT NULL
)
SELECT l.import_id, l.source, l.line_no,
       CASE WHEN l.purged_at IS NULL THEN
       jsonb_build_object('order_id', l.order_id, 'shop', l.shop, 'customer_name', l.customer_name,
                          'order_status', l.order_status, 'order_type', l.order_type,
                          'amount', l.amount, 'ordered_at', l.ordered_at) END,
       CASE WHEN l.reason = 'load_error' THEN 'failed'
            WHEN l.reason IS NOT NULL THEN 'rejected'
            WHEN NOT l.ran THEN 'not yet run'
            WHEN c.import_id = l.import_id AND c.source_line_no = l.line_no THEN 'loaded'
            ELSE 'superseded' END,
       CASE WHEN l.reason IS NOT NULL THEN l.reason || ': ' || coalesce(l.reject_detail, '')
            WHEN NOT l.ran AND l.held_for IS NOT NULL
                 THEN 'the quality gate holds this import (' || l.held_for
                      || '): nothing of it was loaded; etl_release(import_id) runs its orders stage again'
            WHEN NOT l.ran THEN 'the orders stage of this import has not run successfully'
            WHEN c.import_id = l.import_id AND c.source_line_no = l.line_no
                 THEN 'wrote the current row (run ' || c.loaded_by_run || ')'
                      || CASE WHEN l.purged_at IS NOT NULL
                              THEN '; its raw line was purged at ' || l.purged_at END
            WHEN later.line_no IS NOT NULL
                 THEN 'by line ' || later.line_no || ' of the same import (its latest valid line of the order wins)'
            WHEN c.import_id IS NOT NULL
                 THEN 'by import ' || c.import_id || ', line ' || c.source_line_no || ' (a later import wins)'
            ELSE 'its import''s winning line of the order failed to load' END,
       c.loaded_by_run, c.customer_key, c.lead_no, c.current_stage,
       coalesce(c.lead_id IS NOT NULL AND c.latest_status NOT IN ('CANCELLED', 'REFUNDED'), false),
       CASE WHEN c.import_id IS NULL THEN 'no such order'
            WHEN c.lead_id IS NULL THEN 'no lead yet (the customers and leads stages have not run for it)'
            WHEN c.latest_status = 'CANCELLED' THEN 'cancelled'
            WHEN c.latest_status = 'REFUNDED' THEN 'refunded' END
  FROM lines l
  LEFT JOIN current_order c ON true
  LEFT JOIN LATERAL (
        SELECT max(l2.line_no) AS line_no FROM lines l2
         WHERE l2.import_id = l.import_id AND l2.line_no > l.line_no
           AND (l2.reason IS NULL OR l2.reason = 'load_error')) later ON later.line_no IS NOT NULL
 ORDER BY l.import_time, l.import_id, l.line_no
$fn$;
COMMENT ON FUNCTION etl_explain(text, text) IS
    'The lineage of one order: every raw line that carried it with its fate (loaded, superseded, rejected, failed, not yet run), the run that wrote the current row, its customer and lead, and whether it counts in the lead.';

-- etl.progress: the stages running now in this database (a direct call or
-- the worker), moving batch by batch while their transaction is still open.
-- Read from shared memory: empty unless the library is in
-- shared_preload_libraries. A loader sees its own imports' stages (a
-- security_barrier, as etl.pipeline_status; readers are those with
-- etl_reader's rights, 'USAGE', as there), and the export loads
-- (etl_import_export) of its own sessions: their import is not committed
-- yet, so no other session sees its etl.imports row.
CREATE VIEW etl.progress WITH (security_barrier) AS
SELECT p.pid, p.import_id, p.stage, p.started_at, p.updated_at, p.batches_done, p.batches_total,
       p.lines_done, p.lines_total, p.lines_per_second, p.eta
  FROM etl.progress_rows() p
 WHERE pg_has_role(CURRENT_USER, 'etl_reader', 'USAGE')
    OR EXISTS (SELECT 1 FROM etl.imports i WHERE i.import_id = p.import_id AND i.owner_role = CURRENT_USER)
    OR (p.stage = 'export'
        AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = p.pid AND a.usename = CURRENT_USER));
COMMENT ON VIEW etl.progress IS
    'Stages running now: batches and lines done (and totals when known), lines per second and time left; empty unless etl_ext is preloaded.';

-- Roles and privileges (least privilege; docs/security.md says why).
--
-- * etl_loader   writes imports and their raw lines, completes them, reads
--                their status and rejects.
-- * etl_operator all a loader may do, runs the stages and the queue, manages
--                shops and mappings, reads everything.
-- * etl_reader   reads the results, runs, events and status.
-- * etl_runner   what the stages run as (etl.runner_role): just the rights
--                the stages need. Never granted to a person.
-- PUBLIC gets nothing. Roles are cluster-wide: created where missing, never
-- dropped by DROP EXTENSION. Every role is NOLOGIN: an administrator grants
-- them to login roles.

--
-- A role of these names that already exists (another database of the
-- cluster installed etl_ext, or someone created it first) is used only if
-- it has no superuser or BYPASSRLS right, and etl_runner also no LOGIN and
-- no member: whoever could act as etl_runner would have the pipeline's rights.
DO $roles$
DECLARE
    wanted text;
    found_role record;
BEGIN
    FOREACH wanted IN ARRAY ARRAY['etl_loader', 'etl_operator', 'etl_reader', 'etl_runner'] LOOP
        SELECT r.oid, r.rolsuper, r.rolbypassrls, r.rolcanlogin INTO found_role
          FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) wanted;
        IF NOT FOUND THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', wanted);
        ELSIF found_role.rolsuper OR found_role.rolbypassrls THEN
            RAISE EXCEPTION 'role % exists with superuser or BYPASSRLS rights; etl_ext will not use it', wanted
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'ALTER ROLE ' || wanted || ' NOSUPERUSER NOBYPASSRLS, or drop it, then CREATE EXTENSION etl_ext.';
        ELSIF wanted OPERATOR(pg_catalog.=) 'etl_runner'
              AND (found_role.rolcanlogin
                   OR EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                               WHERE m.roleid OPERATOR(pg_catalog.=) found_role.oid)) THEN
            RAISE EXCEPTION 'role etl_runner exists and can log in or has members; whoever acts as it has the pipeline''s rights'
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'ALTER ROLE etl_runner NOLOGIN and REVOKE etl_runner FROM its members, then CREATE EXTENSION etl_ext.';
        END IF;
    END LOOP;
END
$roles$;
GRANT etl_loader, etl_reader TO etl_operator;

-- Nothing for PUBLIC.
REVOKE ALL ON SCHEMA etl FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA etl FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA etl FROM PUBLIC;
REVOKE ALL ON FUNCTION
    pg_catalog.etl_orders(uuid, boolean), pg_catalog.etl_customers(uuid, boolean), pg_catalog.etl_leads(uuid, boolean),
    pg_catalog.etl_run_all(uuid, boolean), pg_catalog.etl_run_pending(), pg_catalog.etl_retry(uuid),
    pg_catalog.etl_emit_event(text, jsonb), pg_catalog.etl_uuid_v7(),
    pg_catalog.etl_polars_pool_threads(), pg_catalog.etl_demo_import(integer, double precision),
    pg_catalog.etl_explain(text, text), pg_catalog.etl_redrive(uuid),
    pg_catalog.etl_release(uuid), pg_catalog.etl_quality(uuid),
    pg_catalog.etl_import_export(bytea, text, text, text, boolean),
    pg_catalog.etl_import_export_file(text, text, text, text, boolean),
    pg_catalog.etl_purge(interval),
    -- The routing of etl.raw_orders calls them without a privilege check.
    pg_catalog.etl_raw_orders_day_hash(uuid, bigint), pg_catalog.etl_raw_orders_day_hash32(uuid)
    FROM PUBLIC;
REVOKE ALL ON PROCEDURE pg_catalog.etl_run_queue(integer), pg_catalog.etl_run_queue() FROM PUBLIC;

GRANT USAGE ON SCHEMA etl TO etl_loader, etl_reader, etl_runner;

-- etl_loader
GRANT SELECT, INSERT ON etl.imports, etl.raw_orders TO etl_loader;
GRANT UPDATE (source, status, completed_at) ON etl.imports TO etl_loader;
GRANT SELECT ON etl.rejects, etl.pipeline_status, etl.progress TO etl_loader;
GRANT EXECUTE ON FUNCTION etl.progress_rows() TO etl_loader, etl_reader;
-- The completion trigger calls it (it then works as etl_runner).
GRANT EXECUTE ON FUNCTION etl.import_completed(uuid) TO etl_loader;
-- The quality of its own imports (etl_quality checks the caller: a loader
-- sees its own imports only).
GRANT EXECUTE ON FUNCTION pg_catalog.etl_quality(uuid) TO etl_loader, etl_reader;
-- Loading a shop's export into an import of its own (it runs as the
-- caller: the grants and policies above decide what it may write). The
-- file variant also needs the privileges of pg_read_server_files, which it
-- checks itself. Loaders read the profiles; operators manage them.
GRANT EXECUTE ON FUNCTION pg_catalog.etl_import_export(bytea, text, text, text, boolean),
                          pg_catalog.etl_import_export_file(text, text, text, text, boolean)
   TO etl_loader;
GRANT SELECT ON etl.export_profiles TO etl_loader;

-- etl_reader
GRANT SELECT ON etl.orders, etl.customers, etl.business_leads, etl.shops, etl.order_type_mappings,
                etl.imports, etl.runs, etl.events, etl.rejects, etl.pipeline_status, etl.progress,
                etl.import_holds,
                etl.export_profiles,
                etl.purged_imports
   TO etl_reader;

-- etl_operator (plus all of the above)
GRANT SELECT ON ALL TABLES IN SCHEMA etl TO etl_operator;
GRANT INSERT, UPDATE, DELETE ON etl.shops, etl.order_type_mappings TO etl_operator;
GRANT INSERT, UPDATE, DELETE ON etl.export_profiles TO etl_operator;
GRANT EXECUTE ON FUNCTION
    pg_catalog.etl_orders(uuid, boolean), pg_catalog.etl_customers(uuid, boolean), pg_catalog.etl_leads(uuid, boolean),
    pg_catalog.etl_run_all(uuid, boolean), pg_catalog.etl_run_pending(), pg_catalog.etl_retry(uuid),
    pg_catalog.etl_emit_event(text, jsonb), pg_catalog.etl_uuid_v7(),
    pg_catalog.etl_polars_pool_threads(), pg_catalog.etl_demo_import(integer, double precision),
    pg_catalog.etl_explain(text, text), pg_catalog.etl_redrive(uuid), pg_catalog.etl_purge(interval),
    etl.emit_event(text, text), etl.claim_job(), etl.run_job(bigint), etl.progress_rows(), etl.lock_pipeline()
   TO etl_operator;
GRANT EXECUTE ON PROCEDURE pg_catalog.etl_run_queue(integer), pg_catalog.etl_run_queue() TO etl_operator;
-- Releasing an import the quality gate holds is an operator's decision: a
-- loader cannot release its own bad file.
GRANT EXECUTE ON FUNCTION pg_catalog.etl_release(uuid) TO etl_operator;

-- etl_runner: what the stages read and write, nothing more. UPDATE on
-- etl.pipeline_lock is what lets it lock the pipeline's row: no other role
-- has it.
GRANT SELECT ON etl.shops, etl.order_type_mappings, etl.imports, etl.raw_orders TO etl_runner;
GRANT SELECT, UPDATE ON etl.pipeline_lock TO etl_runner;
GRANT SELECT, INSERT, UPDATE ON etl.import_holds TO etl_runner;
-- Retention (etl_purge runs as the runner): it removes the raw lines of
-- finished imports and records what they had. UPDATE of import_id (which
-- etl.guard_import never lets a non-superuser change) is what row locks on
-- etl.imports need: etl_purge locks the imports it purges, a stage run the
-- import it reads the raw lines of (sql/queries/raw_lines_kept.sql).
GRANT DELETE ON etl.raw_orders TO etl_runner;
-- It empties a partition of etl.raw_orders whose imports are all purged as
-- a whole (TRUNCATE: pipeline/retention.rs), after reading the partition to
-- know that they are. (It may delete every raw line already: TRUNCATE adds
-- no power, only speed.) No loader or reader is granted a partition: they
-- reach raw lines through etl.raw_orders and its policies (operators read
-- every line anyway: SELECT on every table, above).
DO $$
BEGIN
    FOR n IN 0..31 LOOP
        EXECUTE pg_catalog.format('GRANT SELECT, TRUNCATE ON etl.%I TO etl_runner',
                                  'raw_orders_' || pg_catalog.lpad(n::text, 2, '0'));
    END LOOP;
END
$$;
GRANT UPDATE (import_id) ON etl.imports TO etl_runner;
GRANT SELECT, INSERT, UPDATE ON etl.purged_imports TO etl_runner;
GRANT SELECT, INSERT, UPDATE, DELETE
   ON etl.orders, etl.customers, etl.business_leads, etl.rejects, etl.runs, etl.events, etl.jobs,
      etl.pending_customer_refresh, etl.pending_lead_refresh, etl.redrive_scope
   TO etl_runner;

-- An import belongs to the role that created it (etl.imports.owner_role):
-- row-level security lets a loader see, lock, complete and add lines to its
-- own imports only, and lock or change them only while they are pending (a
-- completed import is the pipeline's: no loader can hold its row and stop
-- the stages). etl.guard_import (chain.sql) keeps the rest of the rules.
-- Operators and the runner see and work on every import; readers see every
-- import and reject. Superusers and the tables' owner are not subject to it.
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

-- Lines are added to a pending import only, by anyone but a superuser (who
-- restores dumps): a line added to a completed import would never be
-- loaded. The check locks the import FOR SHARE (once per import and
-- transaction in effect: locking a row again is cheap), which completion's
-- UPDATE must wait for: an import is completed only once every transaction
-- that added lines to it has ended, and an insert still running when it is
-- completed is refused (the lock finds the completed row). Without the lock
-- such a line committed after the orders stage had read the import and was
-- never loaded (tests/integration/late_lines.sh).
CREATE POLICY raw_orders_of_every_import ON etl.raw_orders FOR SELECT TO etl_operator, etl_runner
    USING (true);
CREATE POLICY raw_orders_purged_by_runner ON etl.raw_orders FOR DELETE TO etl_runner
    USING (true);
CREATE POLICY raw_orders_read_by_owner ON etl.raw_orders FOR SELECT TO etl_loader
    USING (EXISTS (SELECT 1 FROM etl.imports i
                    WHERE i.import_id = raw_orders.import_id AND i.owner_role = CURRENT_USER));
CREATE POLICY raw_orders_added_by_owner ON etl.raw_orders FOR INSERT TO etl_loader
    WITH CHECK (EXISTS (SELECT 1 FROM etl.imports i
                         WHERE i.import_id = raw_orders.import_id AND i.owner_role = CURRENT_USER
                           AND i.status = 'pending'
                           FOR SHARE));
CREATE POLICY raw_orders_added_by_operators ON etl.raw_orders FOR INSERT TO etl_operator
    WITH CHECK (EXISTS (SELECT 1 FROM etl.imports i
                         WHERE i.import_id = raw_orders.import_id AND i.status = 'pending'
                           FOR SHARE));

CREATE POLICY rejects_of_every_import ON etl.rejects TO etl_operator, etl_runner, etl_reader
    USING (true) WITH CHECK (true);
CREATE POLICY rejects_read_by_owner ON etl.rejects FOR SELECT TO etl_loader
    USING (EXISTS (SELECT 1 FROM etl.imports i
                    WHERE i.import_id = rejects.import_id AND i.owner_role = CURRENT_USER));

-- Export profiles: everyone granted the table reads every profile;
-- operators add, change and delete their own (built_in = false) and none of
-- the built-in ones, which the install and its updates write (a superuser,
-- not subject to these policies). pg_dump leaves the built-in ones out.
ALTER TABLE etl.export_profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY export_profiles_read ON etl.export_profiles FOR SELECT TO etl_loader, etl_reader
    USING (true);
CREATE POLICY export_profiles_added_by_operators ON etl.export_profiles FOR INSERT TO etl_operator
    WITH CHECK (NOT built_in);
CREATE POLICY export_profiles_changed_by_operators ON etl.export_profiles FOR UPDATE TO etl_operator
    USING (NOT built_in) WITH CHECK (NOT built_in);
CREATE POLICY export_profiles_deleted_by_operators ON etl.export_profiles FOR DELETE TO etl_operator
    USING (NOT built_in);
