-- How far a table grew since its statistics were taken, and its owner
-- (services/statistics.rs, refresh_table_if_grown). $1 = the table's name.
--
-- Rules it enforces:
-- * Read from the catalog only (no scan): the pages the statistics saw
--   (0 when never analysed) and the pages the table has now.
-- * The owner, whom ANALYZE runs as (PostgreSQL 15 lets only the owner).
SELECT CASE WHEN c.reltuples < 0 THEN 0 ELSE c.relpages END::double precision AS analysed_pages,
       (pg_catalog.pg_relation_size(c.oid) / pg_catalog.current_setting('block_size')::bigint)::double precision
           AS pages,
       c.relowner AS owner
  FROM pg_catalog.pg_class c
 WHERE c.oid = pg_catalog.to_regclass($1)::pg_catalog.oid
