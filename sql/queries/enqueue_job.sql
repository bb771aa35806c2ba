-- Queues a stage of an import (queue/jobs.rs, enqueue). $1 = the import,
-- $2 = the stage.
--
-- Rules it enforces (contract 5.3):
-- * One job per import and stage. A job that is queued or running will run
--   (a running one after the stage that queues it now, behind the
--   pipeline's lock): it is left alone, and its row, which a worker waiting
--   for the pipeline's lock holds, is not waited for.
-- * A job that is done, failed or dead is queued again from scratch
--   (attempts 0, due now).
INSERT INTO etl.jobs AS j (import_id, stage)
SELECT $1, $2
 WHERE NOT EXISTS (SELECT 1 FROM etl.jobs q
                    WHERE q.import_id = $1 AND q.stage = $2 AND q.state IN ('queued', 'running'))
ON CONFLICT (import_id, stage) DO UPDATE
   SET state = 'queued', attempts = 0, next_run_at = now(), last_error = NULL,
       updated_at = now(), finished_at = NULL
 WHERE j.state IN ('done', 'failed', 'dead')
