-- Which running stages the caller of etl.progress_rows() may see
-- (services/progress.rs, visible_to_caller). $1 = the running stages'
-- imports.
--
-- Rules it enforces (contract 8, docs/security.md):
-- * roles with etl_reader's rights (operators, readers; a superuser) see every stage:
--   reader is true and the imports are not read.
-- * Anyone else (a loader) sees the stages of its own imports (the rule of
--   etl.pipeline_status); the caller's own sessions' stages (an export load,
--   whose import is not committed yet) are matched in Rust by the role that
--   started them. Run as the caller, with search_path pinned.
SELECT pg_catalog.pg_has_role(CURRENT_USER, 'etl_reader', 'USAGE') AS reader,
       ARRAY(SELECT i.import_id
               FROM etl.imports i
              WHERE i.import_id = ANY ($1::uuid[])
                AND i.owner_role = CURRENT_USER
                AND NOT pg_catalog.pg_has_role(CURRENT_USER, 'etl_reader', 'USAGE')) AS own
