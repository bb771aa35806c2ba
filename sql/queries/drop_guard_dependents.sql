-- Whether a member of etl_ext depends on a member of one of the extensions
-- named $1 (name[]): DROP EXTENSION ... CASCADE of them would drop etl_ext
-- (its functions depend on plpgsql's language, say) (drop_guard.rs,
-- depends_on_one_of).
--
-- Rules it enforces (docs/operations.md, "Dropping the extension"):
-- * A DROP that reaches etl_ext by CASCADE is guarded like DROP EXTENSION
--   etl_ext itself.
-- * Catalogs only, every operator pg_catalog's: it runs inside the DROP of
--   whoever issues it, on any search_path.
SELECT EXISTS (
    SELECT 1
      FROM pg_catalog.pg_extension mine
      JOIN pg_catalog.pg_depend m
        ON m.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND m.refobjid OPERATOR(pg_catalog.=) mine.oid AND m.deptype OPERATOR(pg_catalog.=) 'e'
      JOIN pg_catalog.pg_depend d
        ON d.classid OPERATOR(pg_catalog.=) m.classid AND d.objid OPERATOR(pg_catalog.=) m.objid
      JOIN pg_catalog.pg_depend x
        ON x.classid OPERATOR(pg_catalog.=) d.refclassid AND x.objid OPERATOR(pg_catalog.=) d.refobjid
       AND x.deptype OPERATOR(pg_catalog.=) 'e'
       AND x.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
      JOIN pg_catalog.pg_extension other ON other.oid OPERATOR(pg_catalog.=) x.refobjid
     WHERE mine.extname OPERATOR(pg_catalog.=) 'etl_ext'
       AND other.extname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.name[]))
