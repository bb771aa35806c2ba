-- Keeps an import's raw lines until the transaction ends (pipeline/mod.rs,
-- check_raw_lines_kept). $1 = the import. Returns one row when the import
-- exists.
--
-- Rules it enforces (docs/semantics.md 13.2, 13.4):
-- * It takes the import's row FOR SHARE until its transaction ends: etl_purge
--   (which locks the rows it purges FOR NO KEY UPDATE, skipping locked ones)
--   cannot remove the lines under it. A purge that locked the row first is
--   waited for.
-- * It only locks: whether the lines were purged is read by the next
--   statement (sql/queries/raw_lines_purged.sql), with a snapshot taken
--   after the lock was granted, so that it sees a purge it waited for. (In
--   one statement, the purge's etl.purged_imports row, committed while the
--   lock was awaited, is not seen: the run went on over no lines at all.)
SELECT 1
  FROM etl.imports i
 WHERE i.import_id = $1
   FOR SHARE OF i
