-- The event chain's SQL side: the rules of an import's life, the trigger
-- that queues its pipeline when it completes, and a view of every import's
-- pipeline at a glance.

-- etl.guard_import: what a role without superuser rights may do to an
-- import (its own, by the policies in finish.sql):
-- * create it pending (it then belongs to the role that created it), add
--   its lines, then complete it with UPDATE ... SET status = 'completed', or
--   give up on it with status 'failed';
-- * completed_at is the server's clock at completion: a value the loader
--   writes is replaced (when it completes the import) or refused (after),
--   so no loader makes its orders win over later imports ("a later import
--   wins" compares completed_at);
-- * a completed or failed import stays so.
-- A superuser's rows are kept exactly as given: that is how pg_restore and
-- psql put a dump back (completed imports with their own completed_at), and
-- why the completion trigger below fires on an UPDATE only.
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

CREATE FUNCTION etl.on_import_completed() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Queues the orders stage and publishes DATA_IMPORT_COMPLETED in this
    -- transaction: rolled back with it, never forgotten once committed.
    PERFORM etl.import_completed(NEW.import_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER import_completed
    AFTER UPDATE OF status ON etl.imports
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM 'completed' AND NEW.status = 'completed')
    EXECUTE FUNCTION etl.on_import_completed();

CREATE VIEW etl.pipeline_status WITH (security_barrier) AS
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
       r.finished_at AS last_run_finished_at,
       -- The quality gate (etl.import_holds): 'held' (nothing loaded, it
       -- waits for etl_release), 'released', or NULL (never held).
       CASE WHEN h.import_id IS NULL THEN NULL
            WHEN h.released_at IS NULL THEN 'held'
            ELSE 'released' END AS hold_status,
       h.reason AS hold_reason,
       h.released_by AS hold_released_by
  FROM etl.imports i
  JOIN etl.jobs j ON j.import_id = i.import_id
  LEFT JOIN LATERAL (
        SELECT r.*
          FROM etl.runs r
         WHERE r.import_id = i.import_id AND r.stage = j.stage
         ORDER BY r.run_id DESC
         LIMIT 1) r ON true
  LEFT JOIN etl.import_holds h ON h.import_id = i.import_id
-- A loader sees its own imports; readers and operators see every import.
-- (security_barrier: the filter runs before any function of the caller's in
-- a WHERE, which could otherwise see, and leak, other loaders' rows.)
-- 'USAGE': the rights of etl_reader, as its grants and row-level security
-- count them; 'MEMBER' also counted a membership granted WITH INHERIT
-- FALSE, SET FALSE, which gives none of them.
 WHERE i.owner_role = CURRENT_USER OR pg_has_role(CURRENT_USER, 'etl_reader', 'USAGE')
 ORDER BY i.created_at, i.import_id, array_position(ARRAY['orders', 'customers', 'leads'], j.stage);
COMMENT ON VIEW etl.pipeline_status IS
    'Each import''s pipeline at a glance: stage job states, attempts, last error, the counts and duration of the last run of each stage, and whether the quality gate holds it (hold_status, hold_reason).';
