-- Removes the jobs of the imports whose every job is done or dead and ended
-- before $1, among up to $2 imports with jobs from import $3 on (by id), and
-- records their outcome in etl.purged_imports (pipeline/retention.rs,
-- purge). Returns one row per import whose jobs went (the jobs removed),
-- then one row with the last import the batch looked at and how many it
-- looked at (the batch is full at $2).
--
-- Rules it enforces (docs/semantics.md 13.1, 13.3):
-- * A queued, running or failed job is never removed, nor any job of an
--   import that has one: an import's jobs go all at once.
-- * Nor the jobs of an import the quality gate holds (an unreleased row of
--   etl.import_holds): its done orders job is all it has, its customers and
--   leads wait for etl_release, so its pipeline is not over. Purged, they
--   were recorded 'done', and the import left etl.pipeline_status, where
--   its loader and the operators see it held.
-- * Nor the jobs of an import whose orders stage was done but a later
--   stage died: its pipeline is not over (etl_retry needs the dead job),
--   and their outcome would read 'dead', which says the orders stage never
--   loaded (orders_ran.sql, etl_explain, the quality gate's loaded_before):
--   purged, its loaded lines were reported "not yet run" and nothing was
--   left to retry. So 'dead' is recorded only for an import whose orders
--   job died (it never loaded).
-- * An import whose orders stage loaded stays recorded as loaded. A re-run
--   of a loaded import (its DATA_IMPORT_COMPLETED emitted again, etl_retry)
--   that died leaves its orders job dead, though its lines are in
--   etl.orders: with a kept successful orders run (etl.runs is purged after
--   the jobs) or the outcome 'done' a previous purge recorded, its outcome
--   is 'done', and a later purge never turns a recorded 'done' into 'dead'.
--   (Recorded 'dead', orders_ran.sql, etl_explain and the quality gate's
--   loaded_before read it as never loaded: its loaded lines were "not yet
--   run", and a re-run with the gate on was judged as a first load.)
-- * What they were stays: 'done' when every job was done (the raw lines of
--   such an import may still be purged later) or its orders stage loaded
--   before (above), else 'dead'; and the
--   import's completion queues nothing again (sql/queries/import_completion.sql).
-- * Each batch walks the imports that have jobs, in id order from $3 (a
--   skip scan of the unique index on (import_id, stage)): each once per purge.
WITH RECURSIVE holding (import_id) AS (
    (SELECT j.import_id FROM etl.jobs j WHERE j.import_id >= $3 ORDER BY j.import_id LIMIT 1)
    UNION ALL
    SELECT (SELECT j.import_id FROM etl.jobs j WHERE j.import_id > h.import_id ORDER BY j.import_id LIMIT 1)
      FROM holding h
     WHERE h.import_id IS NOT NULL
), looked AS (
    SELECT h.import_id FROM holding h WHERE h.import_id IS NOT NULL LIMIT $2
), picked AS (
    SELECT j.import_id,
           bool_and(j.state = 'done')
               OR EXISTS (SELECT 1 FROM etl.runs r
                           WHERE r.import_id = j.import_id AND r.stage = 'orders'
                             AND r.status IN ('success', 'partial_success')
                             AND (r.details ->> 'kept') IS DISTINCT FROM 'false') AS loaded
      FROM looked h
      JOIN etl.jobs j ON j.import_id = h.import_id
     GROUP BY j.import_id
    HAVING bool_and(j.state IN ('done', 'dead'))
       AND max(coalesce(j.finished_at, j.updated_at)) < $1
       AND NOT EXISTS (SELECT 1 FROM etl.import_holds g
                        WHERE g.import_id = j.import_id AND g.released_at IS NULL)
       AND NOT (bool_or(j.stage = 'orders' AND j.state = 'done') AND bool_or(j.state = 'dead'))
), gone AS (
    DELETE FROM etl.jobs j USING picked
     WHERE j.import_id = picked.import_id AND j.state IN ('done', 'dead')
    RETURNING j.import_id
), gone_counts AS (
    SELECT g.import_id, count(*) AS n FROM gone g GROUP BY g.import_id
), recorded AS (
    INSERT INTO etl.purged_imports AS p (import_id, jobs_purged_at, jobs_outcome)
    SELECT picked.import_id, pg_catalog.now(),
           CASE WHEN picked.loaded THEN 'done' ELSE 'dead' END
      FROM picked
      JOIN gone_counts g ON g.import_id = picked.import_id
    ON CONFLICT (import_id) DO UPDATE
       SET jobs_purged_at = excluded.jobs_purged_at,
           jobs_outcome = CASE WHEN p.jobs_outcome = 'done' THEN 'done' ELSE excluded.jobs_outcome END
    RETURNING p.import_id
)
SELECT g.n AS removed, NULL::uuid AS last_looked, NULL::bigint AS looked
  FROM recorded r JOIN gone_counts g ON g.import_id = r.import_id
UNION ALL
SELECT NULL, (SELECT h.import_id FROM looked h ORDER BY h.import_id DESC LIMIT 1), (SELECT count(*) FROM looked)
