-- Claims the next due job of the queue and counts an attempt (queue/jobs.rs,
-- claim_next_job). $1 = etl.max_attempts, $2 = the lease in ms of an
-- attempt after 0, 1, 2, ... attempts (double precision[], queue/jobs.rs,
-- lease_ms: the backoff is computed there only; the last entry holds for
-- every later attempt).
--
-- Rules it enforces:
-- * An attempt counts when it starts: the caller commits this before the
--   stage runs, so a stage whose backend crashes still used an attempt.
-- * A job left `running` by a backend that died is due again once its lease
--   (`next_run_at`, the backoff of that attempt) passes; one out of
--   attempts is marked `dead` with the reason instead of running again.
-- * Jobs are taken oldest due first, skipping rows other sessions hold, so a
--   dead or backing-off import never blocks the others.
WITH next AS (
    SELECT q.job_id
      FROM etl.jobs q
     WHERE q.state IN ('queued', 'failed', 'running')
       AND q.next_run_at OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp()
     ORDER BY q.next_run_at, q.job_id
     LIMIT 1
       FOR UPDATE SKIP LOCKED
), claim AS (
    SELECT j.job_id,
           j.attempts OPERATOR(pg_catalog.>=) $1::integer AS out_of_attempts,
           j.state OPERATOR(pg_catalog.=) 'running'::text AS died
      FROM etl.jobs j
      JOIN next ON next.job_id OPERATOR(pg_catalog.=) j.job_id
)
UPDATE etl.jobs j
   SET state = CASE WHEN c.out_of_attempts THEN 'dead' ELSE 'running' END,
       attempts = CASE WHEN c.out_of_attempts THEN j.attempts
                       ELSE j.attempts OPERATOR(pg_catalog.+) 1 END,
       last_error = CASE WHEN c.died
                         THEN 'attempt ' OPERATOR(pg_catalog.||) j.attempts::text
                              OPERATOR(pg_catalog.||) ' did not finish: its backend ended (crash, kill or shutdown)'
                         ELSE j.last_error END,
       -- The lease: when this attempt's backend dies, the job is due again
       -- after the backoff of this attempt (at least a second).
       next_run_at = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+)
                     (($2::double precision[])[least(j.attempts OPERATOR(pg_catalog.+) 1,
                                                     pg_catalog.cardinality($2::double precision[]))]
                      OPERATOR(pg_catalog.*) interval '1 millisecond'),
       finished_at = CASE WHEN c.out_of_attempts THEN pg_catalog.clock_timestamp() END,
       updated_at = pg_catalog.now()
  FROM claim c
 WHERE j.job_id OPERATOR(pg_catalog.=) c.job_id
RETURNING j.job_id, j.import_id, j.stage, j.state, j.attempts
