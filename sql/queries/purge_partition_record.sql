-- Records the imports of a partition of etl.raw_orders that etl_purge is
-- about to empty as a whole, and removes their rejects (pipeline/retention.rs,
-- truncate_partitions). $1 = the imports, $2 = the lines each has there
-- (sql/queries/purge_partition_lines.sql, read under the partition's lock).
-- Returns one row: the raw lines and the rejects recorded.
--
-- Rules it enforces (docs/semantics.md 13.1, 13.5):
-- * As sql/queries/purge_raw_lines.sql records a purge: the import's row
--   stays, etl.purged_imports says when its raw lines went and how many
--   there were, and its rejects go with them (counted as deleted).
-- * Runs in the transaction that then empties the partition: both commit,
--   or neither.
WITH listed AS (
    SELECT t.import_id, t.n FROM ROWS FROM (pg_catalog.unnest($1::uuid[]), pg_catalog.unnest($2::bigint[])) AS t (import_id, n)
), rejects AS (
    DELETE FROM etl.rejects j USING listed l
     WHERE j.import_id OPERATOR(pg_catalog.=) l.import_id
    RETURNING j.import_id
), reject_counts AS (
    SELECT r.import_id, pg_catalog.count(*) AS n FROM rejects r GROUP BY r.import_id
), recorded AS (
    INSERT INTO etl.purged_imports AS p (import_id, raw_purged_at, raw_lines, rejected_lines)
    SELECT l.import_id, pg_catalog.now(), l.n, coalesce(r.n, 0)
      FROM listed l
      LEFT JOIN reject_counts r ON r.import_id OPERATOR(pg_catalog.=) l.import_id
    ON CONFLICT (import_id) DO UPDATE
       SET raw_purged_at = excluded.raw_purged_at, raw_lines = excluded.raw_lines,
           rejected_lines = excluded.rejected_lines
    RETURNING p.raw_lines, p.rejected_lines
)
SELECT coalesce(pg_catalog.sum(r.raw_lines), 0)::bigint, coalesce(pg_catalog.sum(r.rejected_lines), 0)::bigint
  FROM recorded r
