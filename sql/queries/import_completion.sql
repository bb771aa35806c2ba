-- What completing an import needs to know (queue/chain.rs,
-- import_completed). $1 = the import, $2 = the completing role's oid.
-- Returns (status, whether the role may complete it, whether its orders
-- job exists). Its lines are counted by the next statement
-- (sql/queries/import_completion_lines.sql), with a snapshot of its own.
--
-- Rules it enforces (contract 5.3, 8):
-- * Only the import's owner, an operator or a superuser completes it.
-- * Only the first completion queues anything: an existing orders job, or
--   jobs that etl_purge removed (etl.purged_imports), means the pipeline
--   was queued before.
SELECT i.status,
       i.owner_role = pg_get_userbyid($2)
           OR pg_has_role($2, 'etl_operator', 'USAGE')
           OR coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.oid = $2), false),
       EXISTS (SELECT 1 FROM etl.jobs j WHERE j.import_id = i.import_id AND j.stage = 'orders')
           OR EXISTS (SELECT 1 FROM etl.purged_imports p
                       WHERE p.import_id = i.import_id AND p.jobs_purged_at IS NOT NULL)
  FROM etl.imports i
 WHERE i.import_id = $1
