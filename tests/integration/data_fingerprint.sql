-- Every row of every table of schema etl, as text (ids and timestamps
-- included), one line per table: to check that nothing changed a row. A
-- partitioned table is one table (its partitions are where its rows are).
-- psql variable leave_out (optional): column names, comma-separated, left
-- out of every row, for columns an update adds (their values are new, not
-- a changed row).
\if :{?leave_out}
\else
\set leave_out ''
\endif
SELECT pg_catalog.format('SELECT %L AS table_name, count(*) AS row_count, '
                         'md5(coalesce(string_agg((to_jsonb(t) - string_to_array(%L, '','')::text[])::text, E''\n'' ORDER BY (to_jsonb(t) - string_to_array(%L, '','')::text[])::text), '''')) AS rows_md5 FROM %s t',
                         c.oid::regclass, :'leave_out', :'leave_out', c.oid::regclass)
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'etl' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
 ORDER BY c.relname
\gexec
