-- Whether etl_ext belongs to one of the roles $1 (oid[]): DROP OWNED BY
-- them would drop it (drop_guard.rs, owned_by_one_of).
--
-- Rules it enforces (docs/operations.md, "Dropping the extension"):
-- * DROP OWNED BY the extension's owner is guarded like DROP EXTENSION.
-- * Catalogs only, every operator pg_catalog's: it runs inside the DROP of
--   whoever issues it, on any search_path.
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e
                WHERE e.extname OPERATOR(pg_catalog.=) 'etl_ext'
                  AND e.extowner OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.oid[]))
