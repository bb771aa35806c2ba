-- Milliseconds until the next job falls due, NULL when none waits
-- (queue/jobs.rs, ms_until_next_job).
--
-- Rules it enforces (contract 6):
-- * Only jobs that can run again count (queued, failed, or running with a
--   lease), read through the partial index etl.jobs_ready_idx.
SELECT CASE WHEN s.next_at IS NOT NULL
            THEN greatest(0::numeric,
                          pg_catalog.ceil(extract(epoch FROM s.next_at OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp())
                                          OPERATOR(pg_catalog.*) 1000::numeric))::bigint
       END
  FROM (SELECT pg_catalog.min(j.next_run_at) AS next_at
          FROM etl.jobs j WHERE j.state IN ('queued', 'failed', 'running')) s
