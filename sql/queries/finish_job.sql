-- Records what became of a job's attempt (queue/jobs.rs, finish_job).
-- $1 = the job, $2 = its new state (a JobState name), $3 = the run (NULL:
-- none), $4 = the error, $5 = the delay in ms before a failed job is due
-- again (NULL unless it failed), $6 = whether the job ended (done or dead).
--
-- Rules it enforces (contract 5.3):
-- * A failed job is due again after its backoff (queue/jobs.rs,
--   backoff_ms); a done or dead job is finished now. Which state is which
--   is JobState's: the statement takes the state and what it implies.
UPDATE etl.jobs
   SET state = $2, last_run_id = coalesce($3, last_run_id), last_error = $4,
       next_run_at = coalesce(pg_catalog.clock_timestamp()
                                  + ($5::double precision * interval '1 millisecond'),
                              next_run_at),
       finished_at = CASE WHEN $6::boolean THEN pg_catalog.clock_timestamp() END,
       updated_at = pg_catalog.now()
 WHERE job_id = $1
