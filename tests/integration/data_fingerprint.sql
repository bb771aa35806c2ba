-- Every row of every table of schema etl, as text (ids and timestamps
-- included), one line per table: to check that nothing changed a row.
SELECT pg_catalog.format('SELECT %L AS table_name, count(*) AS row_count, '
                         'md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) AS rows_md5 FROM %s t',
                         c.oid::regclass, c.oid::regclass)
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'etl' AND c.relkind = 'r'
 ORDER BY c.relname
\gexec
