-- The event chain's SQL side: the trigger that queues an import's pipeline
-- when it completes, and a view of every import's pipeline at a glance.

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
    AFTER INSERT OR UPDATE OF status ON etl.imports
    FOR EACH ROW
    WHEN (NEW.status = 'completed')
    EXECUTE FUNCTION etl.on_import_completed();

CREATE VIEW etl.pipeline_status AS
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
 ORDER BY i.created_at, i.import_id, array_position(ARRAY['orders', 'customers', 'leads'], j.stage);
COMMENT ON VIEW etl.pipeline_status IS
    'Each import''s pipeline at a glance: stage job states, attempts, last error, and the counts and duration of the last run of each stage.';
