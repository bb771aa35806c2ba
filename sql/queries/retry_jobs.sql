-- Requeues an import's dead or failed jobs (queue/jobs.rs, retry).
-- $1 = the import. Returns their stages.
--
-- Rules it enforces (contract 5.3):
-- * Only dead or failed jobs are requeued, from scratch (attempts 0, due
--   now); queued, running and done jobs are left alone.
UPDATE etl.jobs
   SET state = 'queued', attempts = 0, next_run_at = now(), updated_at = now(), finished_at = NULL
 WHERE import_id = $1 AND state IN ('dead', 'failed')
RETURNING stage
