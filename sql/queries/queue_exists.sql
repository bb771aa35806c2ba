-- Whether the extension is installed in the current database
-- (queue/jobs.rs, queue_exists).
--
-- Rules it enforces (contract 6, 8):
-- * etl.jobs exists and is a member of the extension etl_ext: a table
--   someone else created under that name is not run.
SELECT EXISTS (
    SELECT 1
      FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
     WHERE e.extname OPERATOR(pg_catalog.=) 'etl_ext'::pg_catalog.name
       AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass::pg_catalog.oid
       AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid
       AND d.deptype OPERATOR(pg_catalog.=) 'e'::pg_catalog.char
       AND d.objid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('etl.jobs')::pg_catalog.oid)
