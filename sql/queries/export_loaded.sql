-- The import that already holds an export (exports/mod.rs, find_loaded).
-- $1 = the content's sha256 (bytea), $2 = the profile, $3 = the call's
-- shop (NULL when none).
--
-- Rules it enforces (issue 28, docs/semantics.md 12):
-- * The same file twice is one import: the caller's own import with the
--   same content, profile and shop is returned instead of a new one.
-- * Only the caller's own imports count (owner_role = CURRENT_USER; the
--   function runs as its caller): an import someone else made with a
--   forged hash is never handed back, not even to an operator.
-- * A failed import does not count: loading again makes a new one.
-- * It reads no raw line: its lines are counted by the next statement,
--   planned for its id (exports/mod.rs, find_loaded). A count here, in a
--   subquery over every partition of etl.raw_orders, locked all 32 when it
--   started, and waited for any that etl_purge had emptied and still held.
SELECT i.import_id
  FROM etl.imports i
 WHERE i.content_sha256 = $1::bytea
   AND i.export_profile = $2::text
   AND i.export_shop IS NOT DISTINCT FROM $3::text
   AND i.owner_role = CURRENT_USER
   AND i.status <> 'failed'
 ORDER BY i.created_at DESC, i.import_id DESC
 LIMIT 1
