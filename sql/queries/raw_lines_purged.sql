-- Whether an import's raw lines were purged, and when (pipeline/mod.rs,
-- check_raw_lines_kept). $1 = the import. Returns one row (NULL: kept)
-- when the import exists.
--
-- Rules it enforces (docs/semantics.md 13.2):
-- * A run that reads the import's raw lines (orders, run_all, redrive)
--   refuses an import whose raw lines are gone, rather than load nothing.
-- * It takes the import's row FOR SHARE until its transaction ends: etl_purge
--   (which locks the rows it purges) cannot remove the lines under it.
SELECT p.raw_purged_at
  FROM etl.imports i
  LEFT JOIN etl.purged_imports p ON p.import_id = i.import_id
 WHERE i.import_id = $1
   FOR SHARE OF i
