-- Locks the finished imports completed before $1 whose raw lines may go,
-- among up to $2 imports that still have raw lines from import $3 on (by
-- id) (pipeline/retention.rs, purge). Returns one row per import locked
-- (picked), one per import looked at and not locked, then one row with the
-- last import the batch looked at and how many it looked at (the batch is
-- full at $2). Removes nothing: once every batch
-- is locked, sql/queries/purge_raw_lines.sql checks them again and purges.
--
-- Rules it enforces (docs/semantics.md 13.2, 13.4):
-- * The candidates are the finished imports of sql/queries/purge_raw_lines.sql
--   (the same conditions, read here to find them).
-- * Each is locked (FOR NO KEY UPDATE, skipping any another session holds)
--   until the caller commits: a stage run that reads raw lines takes the
--   row FOR SHARE first (sql/queries/raw_lines_kept.sql), so it never sees
--   half of them gone.
-- * Locking is not deciding: what this statement read of the import's jobs
--   and holds is from before the lock. A run that held the row committed
--   (a hold, a queued job) before the lock was granted is seen only by a
--   later statement, which is why the purge itself is one.
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
)
SELECT p.import_id, true AS picked, NULL::uuid AS last_looked, NULL::bigint AS looked FROM picked p
UNION ALL
-- The imports looked at and kept: a partition holding one of them is not
-- emptied as a whole (pipeline/retention.rs, truncate_partitions).
SELECT h.import_id, false, NULL, NULL FROM looked h WHERE h.import_id NOT IN (SELECT p.import_id FROM picked p)
UNION ALL
SELECT NULL, NULL, (SELECT h.import_id FROM looked h ORDER BY h.import_id DESC LIMIT 1), (SELECT count(*) FROM looked)
