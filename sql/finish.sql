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
-- attempt still counts. (A procedure with a SET clause cannot commit, so
-- these call only schema-qualified functions, which pin their own
-- search_path, and use only integer and bigint operators that exist
-- exactly in pg_catalog, which is searched first.) The zero-argument form
-- is a procedure of its own, not a DEFAULT, so that nobody can add another
-- zero-argument etl_run_queue beside it in the extension's schema.
CREATE PROCEDURE etl_run_queue(max_jobs integer)
LANGUAGE plpgsql
AS $$
DECLARE
    claimed bigint;
    jobs_run integer := 0;
BEGIN
    LOOP
        EXIT WHEN max_jobs IS NOT NULL AND jobs_run >= max_jobs;
        claimed := etl.claim_job();
        COMMIT;
        EXIT WHEN claimed IS NULL;
        PERFORM etl.run_job(claimed);
        COMMIT;
        jobs_run := jobs_run + 1;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE etl_run_queue(integer) IS
    'Runs at most max_jobs due pipeline jobs (NULL: all), committing per job.';

CREATE PROCEDURE etl_run_queue()
LANGUAGE plpgsql
AS $$
BEGIN
    CALL @extschema@.etl_run_queue(NULL::integer);
END
$$;
COMMENT ON PROCEDURE etl_run_queue() IS
    'Runs every due pipeline job, committing per job (for pg_cron: CALL etl_run_queue()).';

-- etl.progress: the stages running now, anywhere in the database (a direct
-- call or the worker), moving batch by batch while their transaction is
-- still open. Read from shared memory: empty unless the library is in
-- shared_preload_libraries.
CREATE VIEW etl.progress AS
SELECT p.pid, p.import_id, p.stage, p.started_at, p.updated_at, p.batches_done, p.batches_total,
       p.lines_done, p.lines_total, p.lines_per_second, p.eta
  FROM etl.progress_rows() p;
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

DO $roles$
DECLARE
    wanted text;
BEGIN
    FOREACH wanted IN ARRAY ARRAY['etl_loader', 'etl_operator', 'etl_reader', 'etl_runner'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) wanted) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', wanted);
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
    @extschema@.etl_orders(uuid), @extschema@.etl_customers(uuid), @extschema@.etl_leads(uuid),
    @extschema@.etl_run_all(uuid), @extschema@.etl_run_pending(), @extschema@.etl_retry(uuid),
    @extschema@.etl_emit_event(text, jsonb), @extschema@.etl_uuid_v7(),
    @extschema@.etl_polars_pool_threads(), @extschema@.etl_demo_import(integer, double precision)
    FROM PUBLIC;
REVOKE ALL ON PROCEDURE @extschema@.etl_run_queue(integer), @extschema@.etl_run_queue() FROM PUBLIC;

GRANT USAGE ON SCHEMA etl TO etl_loader, etl_reader, etl_runner;

-- etl_loader
GRANT SELECT, INSERT ON etl.imports, etl.raw_orders TO etl_loader;
GRANT UPDATE (source, status, completed_at) ON etl.imports TO etl_loader;
GRANT SELECT ON etl.rejects, etl.pipeline_status, etl.progress TO etl_loader;
GRANT EXECUTE ON FUNCTION etl.progress_rows() TO etl_loader, etl_reader;
-- The completion trigger calls it (it then works as etl_runner).
GRANT EXECUTE ON FUNCTION etl.import_completed(uuid) TO etl_loader;

-- etl_reader
GRANT SELECT ON etl.orders, etl.customers, etl.business_leads, etl.shops, etl.order_type_mappings,
                etl.imports, etl.runs, etl.events, etl.rejects, etl.pipeline_status, etl.progress
   TO etl_reader;

-- etl_operator (plus all of the above)
GRANT SELECT ON ALL TABLES IN SCHEMA etl TO etl_operator;
GRANT INSERT, UPDATE, DELETE ON etl.shops, etl.order_type_mappings TO etl_operator;
GRANT EXECUTE ON FUNCTION
    @extschema@.etl_orders(uuid), @extschema@.etl_customers(uuid), @extschema@.etl_leads(uuid),
    @extschema@.etl_run_all(uuid), @extschema@.etl_run_pending(), @extschema@.etl_retry(uuid),
    @extschema@.etl_emit_event(text, jsonb), @extschema@.etl_uuid_v7(),
    @extschema@.etl_polars_pool_threads(), @extschema@.etl_demo_import(integer, double precision),
    etl.emit_event(text, text), etl.claim_job(), etl.run_job(bigint), etl.progress_rows()
   TO etl_operator;
GRANT EXECUTE ON PROCEDURE @extschema@.etl_run_queue(integer), @extschema@.etl_run_queue() TO etl_operator;

-- etl_runner: what the stages read and write, nothing more.
GRANT SELECT ON etl.shops, etl.order_type_mappings, etl.imports, etl.raw_orders TO etl_runner;
GRANT SELECT, INSERT, UPDATE, DELETE
   ON etl.orders, etl.customers, etl.business_leads, etl.rejects, etl.runs, etl.events, etl.jobs,
      etl.pending_customer_refresh, etl.pending_lead_refresh
   TO etl_runner;
