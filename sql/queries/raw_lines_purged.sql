-- Whether an import's raw lines were purged, and when (pipeline/mod.rs,
-- check_raw_lines_kept). $1 = the import. Returns one row (NULL: kept).
--
-- Rules it enforces (docs/semantics.md 13.2):
-- * A run that reads the import's raw lines (orders, run_all, redrive)
--   refuses an import whose raw lines are gone, rather than load nothing.
-- * Run after sql/queries/raw_lines_kept.sql took the import's row FOR
--   SHARE, in a statement of its own: it sees a purge that committed while
--   that lock was awaited.
SELECT (SELECT p.raw_purged_at FROM etl.purged_imports p WHERE p.import_id = $1)
