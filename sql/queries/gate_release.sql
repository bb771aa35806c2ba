-- Releases an import the quality gate holds (queue/gate.rs, release).
-- $1 = the import, $2 = the releasing role's oid. Returns (lines,
-- rejected, reject_ratio, threshold, reason, released_by) when it
-- released it, nothing when it was not held.
--
-- Rules it enforces (semantics 11):
-- * Who released it and when are recorded; the row stays, so the import is
--   never held again.
-- * Two releases at once release once: the second waits for the first
--   (the pipeline's lock its caller takes first, and this row's lock), then
--   finds released_at set and changes nothing (its caller raises that the
--   import was released already, and queues nothing).
UPDATE etl.import_holds h
   SET released_at = pg_catalog.now(), released_by = pg_catalog.pg_get_userbyid($2)
 WHERE h.import_id = $1 AND h.released_at IS NULL
RETURNING h.lines, h.rejected, h.reject_ratio::double precision, h.threshold::double precision,
          h.reason, h.released_by::text
