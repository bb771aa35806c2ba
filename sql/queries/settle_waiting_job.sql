-- Settles the waiting job of a stage a SQL call ran directly
-- (queue/jobs.rs, settle_waiting_job). $1 = the import, $2 = the stage,
-- $3 = the run.
--
-- Rules it enforces (contract 5.3):
-- * A queued or failed job of a stage that just succeeded is done: it
--   would only run the stage again.
-- * A job some worker is running right now is not waited for (SKIP LOCKED).
UPDATE etl.jobs
   SET state = 'done', last_run_id = $3, last_error = NULL, updated_at = now(),
       finished_at = clock_timestamp()
 WHERE job_id IN (SELECT job_id FROM etl.jobs
                   WHERE import_id = $1 AND stage = $2 AND state IN ('queued', 'failed')
                     FOR UPDATE SKIP LOCKED)
