-- Whether an import's raw lines were purged, read with a snapshot taken now
-- (pipeline/mod.rs, check_raw_lines_kept and check_not_purged_after_read;
-- exports/mod.rs, purged_lines: Sql::count_now). $1 = the import.
-- Returns 1 when they were, else 0.
--
-- Rules it enforces (docs/semantics.md 13.5):
-- * A REPEATABLE READ or SERIALIZABLE transaction whose snapshot predates a
--   purge that emptied the import's partition (TRUNCATE) would read no
--   lines; it is refused (40001) rather than run over none.
-- * A read made without the import's row lock (etl_quality, etl_import_export
--   given a file loaded before) checks it after reading: a purge that
--   emptied the partition while the read waited for it left no lines.
SELECT pg_catalog.count(*)
  FROM etl.purged_imports p
 WHERE p.import_id OPERATOR(pg_catalog.=) $1
   AND p.raw_purged_at IS NOT NULL
