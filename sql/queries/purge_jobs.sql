-- Removes the jobs of up to $2 imports whose every job is done or dead and
-- finished before $1, and records their outcome in etl.purged_imports
-- (pipeline/retention.rs, purge_jobs). Returns one row per import: its
-- jobs removed.
--
-- Rules it enforces (docs/semantics.md 11.1, 11.3):
-- * A queued, running or failed job is never removed, nor any job of an
--   import that has one: an import's jobs go all at once.
-- * What they were stays: 'done' when every job was done (the raw lines of
--   such an import may still be purged later), else 'dead'; and the
--   import's completion queues nothing again (sql/queries/import_completion.sql).
WITH picked AS (
    SELECT j.import_id, bool_and(j.state = 'done') AS all_done, count(*) AS jobs
      FROM etl.jobs j
     GROUP BY j.import_id
    HAVING bool_and(j.state IN ('done', 'dead'))
       AND max(coalesce(j.finished_at, j.updated_at)) < $1
     ORDER BY j.import_id
     LIMIT $2
), gone AS (
    DELETE FROM etl.jobs j USING picked
     WHERE j.import_id = picked.import_id AND j.state IN ('done', 'dead')
    RETURNING j.import_id
)
INSERT INTO etl.purged_imports AS p (import_id, jobs_purged_at, jobs_outcome)
SELECT picked.import_id, pg_catalog.now(),
       CASE WHEN picked.all_done THEN 'done' ELSE 'dead' END
  FROM picked
 WHERE EXISTS (SELECT 1 FROM gone WHERE gone.import_id = picked.import_id)
ON CONFLICT (import_id) DO UPDATE
   SET jobs_purged_at = excluded.jobs_purged_at, jobs_outcome = excluded.jobs_outcome
RETURNING (SELECT count(*) FROM gone WHERE gone.import_id = p.import_id)
