-- Removes the raw lines and rejects of up to $2 finished imports completed
-- before $1, among the imports that still have raw lines from import $3 on
-- (by id), and records what they had in etl.purged_imports
-- (pipeline/retention.rs, purge). Returns one row per import purged (raw
-- lines removed, rejects removed), then one row with the last import the
-- batch looked at and how many it looked at (the batch is full at $2).
--
-- Rules it enforces (docs/semantics.md 13.1, 13.2):
-- * Only a finished import loses its raw lines: completed, and its pipeline
--   done: it has jobs and every one is done (each stage's success queues the
--   next unless the same call ran it, so no stage is left to run), or its
--   jobs were purged when all were done. An import pending, failed, held
--   by the quality gate (an unreleased row of etl.import_holds: its jobs
--   may all be done, and etl_release needs its lines), or with a stage
--   queued, running, failed or dead keeps them.
-- * The import's row stays (its status, completed_at and owner: "a later
--   import wins" compares completed_at), with what it had.
-- * Each import is locked (FOR NO KEY UPDATE, skipping any another session
--   holds) until the caller commits: a stage run that reads raw lines takes
--   the row FOR SHARE first, so it never sees half of them gone.
-- * Each batch walks the imports that still have raw lines, in id order
--   from $3 (a skip scan of the primary key of etl.raw_orders), so a purge
--   reads each import once, and never the imports purged before.
WITH RECURSIVE holding (import_id) AS (
    (SELECT r.import_id FROM etl.raw_orders r WHERE r.import_id >= $3 ORDER BY r.import_id LIMIT 1)
    UNION ALL
    SELECT (SELECT r.import_id FROM etl.raw_orders r WHERE r.import_id > h.import_id ORDER BY r.import_id LIMIT 1)
      FROM holding h
     WHERE h.import_id IS NOT NULL
), looked AS (
    SELECT h.import_id FROM holding h WHERE h.import_id IS NOT NULL LIMIT $2
), picked AS (
    SELECT i.import_id
      FROM looked h
      JOIN etl.imports i ON i.import_id = h.import_id
      LEFT JOIN etl.purged_imports p ON p.import_id = i.import_id
     WHERE i.status = 'completed'
       AND i.completed_at < $1
       AND p.raw_purged_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM etl.jobs j
                        WHERE j.import_id = i.import_id AND j.state <> 'done')
       AND (EXISTS (SELECT 1 FROM etl.jobs j
                     WHERE j.import_id = i.import_id AND j.state = 'done')
            OR p.jobs_outcome = 'done')
       AND NOT EXISTS (SELECT 1 FROM etl.import_holds g
                        WHERE g.import_id = i.import_id AND g.released_at IS NULL)
       FOR NO KEY UPDATE OF i SKIP LOCKED
), lines AS (
    DELETE FROM etl.raw_orders r USING picked
     WHERE r.import_id = picked.import_id
    RETURNING r.import_id
), rejects AS (
    DELETE FROM etl.rejects j USING picked
     WHERE j.import_id = picked.import_id
    RETURNING j.import_id
), line_counts AS (
    SELECT import_id, count(*) AS n FROM lines GROUP BY import_id
), reject_counts AS (
    SELECT import_id, count(*) AS n FROM rejects GROUP BY import_id
), recorded AS (
    INSERT INTO etl.purged_imports AS p (import_id, raw_purged_at, raw_lines, rejected_lines)
    SELECT picked.import_id, pg_catalog.now(), coalesce(l.n, 0), coalesce(r.n, 0)
      FROM picked
      LEFT JOIN line_counts l ON l.import_id = picked.import_id
      LEFT JOIN reject_counts r ON r.import_id = picked.import_id
    ON CONFLICT (import_id) DO UPDATE
       SET raw_purged_at = excluded.raw_purged_at, raw_lines = excluded.raw_lines,
           rejected_lines = excluded.rejected_lines
    RETURNING p.raw_lines, p.rejected_lines
)
SELECT r.raw_lines, r.rejected_lines, NULL::uuid AS last_looked, NULL::bigint AS looked FROM recorded r
UNION ALL
SELECT NULL, NULL, (SELECT h.import_id FROM looked h ORDER BY h.import_id DESC LIMIT 1), (SELECT count(*) FROM looked)
