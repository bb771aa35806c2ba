-- How many line numbers an import's raw lines span (orders/load.rs,
-- line_span). $1 = the import.
--
-- Rules it enforces:
-- * The greatest minus the least line number, plus one; 0 for none: the
--   import's size when numbered from 1, an upper bound otherwise.
-- * Two descents of the primary key, where a count reads every line.
SELECT coalesce(pg_catalog.max(r.line_no)::bigint - pg_catalog.min(r.line_no)::bigint + 1, 0)
  FROM etl.raw_orders r
 WHERE r.import_id = $1
