-- What one partition of etl.raw_orders holds, and whether all of it may go
-- as a whole (pipeline/retention.rs, truncate_partitions). The partition's
-- name replaces {partition} (one of etl.raw_orders_01 .. _31, a constant of
-- services/raw_partitions.rs, never input). $1 = the cutoff, $2 = the
-- imports this purge locked. Returns one row: whether every import with
-- lines in the partition may be purged, and those imports with their lines.
--
-- Rules it enforces (docs/semantics.md 13.2, 13.5):
-- * Run while this transaction holds the partition ACCESS EXCLUSIVE, in a
--   statement whose snapshot follows the lock (READ COMMITTED only: the
--   caller does not empty partitions in a transaction with one snapshot):
--   no line can be added to it or be in flight, so what it reads is all
--   the partition holds until commit.
-- * Every import in it must be one this purge locked (no stage run can
--   read it meanwhile) and still finished now, by the conditions of
--   sql/queries/purge_raw_lines.sql: one import that is not keeps the whole
--   partition (its finished imports then go by DELETE).
WITH lines AS (
    SELECT r.import_id, pg_catalog.count(*) AS n FROM etl.{partition} r GROUP BY r.import_id
), judged AS (
    SELECT l.import_id, l.n,
           l.import_id OPERATOR(pg_catalog.=) ANY ($2::uuid[])
           AND EXISTS (
               SELECT 1
                 FROM etl.imports i
                 LEFT JOIN etl.purged_imports p ON p.import_id OPERATOR(pg_catalog.=) i.import_id
                WHERE i.import_id OPERATOR(pg_catalog.=) l.import_id
                  AND i.status OPERATOR(pg_catalog.=) 'completed'
                  AND i.completed_at OPERATOR(pg_catalog.<) $1
                  AND p.raw_purged_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM etl.jobs j
                                   WHERE j.import_id OPERATOR(pg_catalog.=) i.import_id
                                     AND j.state OPERATOR(pg_catalog.<>) 'done')
                  AND (EXISTS (SELECT 1 FROM etl.jobs j
                                WHERE j.import_id OPERATOR(pg_catalog.=) i.import_id
                                  AND j.state OPERATOR(pg_catalog.=) 'done')
                       OR p.jobs_outcome OPERATOR(pg_catalog.=) 'done')
                  AND NOT EXISTS (SELECT 1 FROM etl.import_holds g
                                   WHERE g.import_id OPERATOR(pg_catalog.=) i.import_id
                                     AND g.released_at IS NULL)) AS purgeable
      FROM lines l
)
SELECT coalesce(pg_catalog.bool_and(j.purgeable), false) AS all_purgeable,
       coalesce(pg_catalog.array_agg(j.import_id), '{}') AS imports,
       coalesce(pg_catalog.array_agg(j.n), '{}') AS lines
  FROM judged j
