-- Locks a claimed job's row if the claim is still this one's
-- (queue/runner.rs, run_claimed_job). $1 = the job, $2 = the attempt the
-- claim counted.
--
-- Rules it enforces (contract 5.3):
-- * A job runs only for the claim that counted its current attempt, and
--   only while it is running.
-- * The job's row is locked before the pipeline's lock: while this session
--   waits for a stage another runs, every other claim skips the job.
SELECT j.job_id FROM etl.jobs j
 WHERE j.job_id = $1 AND j.state = 'running' AND j.attempts = $2
   FOR UPDATE SKIP LOCKED
