-- A job claimed in an earlier transaction, by its id (queue/runner.rs,
-- run_job_by_id). $1 = the job.
--
-- Rules it enforces (contract 5.3):
-- * Only a running job (its attempt counted by the claim) is run.
SELECT j.job_id, j.import_id, j.stage, j.state, j.attempts
  FROM etl.jobs j
 WHERE j.job_id = $1 AND j.state = 'running'
