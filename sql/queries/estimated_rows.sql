-- About how many rows a table holds (services/statistics.rs,
-- estimated_rows). $1 = the table's name, $2 = rows per page.
--
-- Rules it enforces:
-- * Read from the catalog only (no scan): the analysed row count, or for a
--   table never analysed or grown since, its size at $2 rows a page,
--   whichever is larger.
SELECT greatest(c.reltuples::bigint,
            pg_catalog.pg_relation_size(c.oid) / pg_catalog.current_setting('block_size')::bigint * $2)
            AS estimated_rows
  FROM pg_catalog.pg_class c
 WHERE c.oid = pg_catalog.to_regclass($1)::pg_catalog.oid
