-- Records that the quality gate holds an import (queue/gate.rs, decide).
-- $1 = the import, $2 = its lines, $3 = its rejected lines, $4 = the
-- threshold (etl.max_reject_ratio), $5 = the reason. Returns a row only
-- when the hold is new.
--
-- Rules it enforces (semantics 11):
-- * One hold per import, kept after its release: an import held before
--   (held still, or released) is not held again, and IMPORT_HELD is
--   published once (the caller publishes only when a row comes back).
-- * The share is kept as numeric to six places, the threshold as set.
INSERT INTO etl.import_holds (import_id, lines, rejected, reject_ratio, threshold, reason)
VALUES ($1, $2, $3,
        round($3::numeric / greatest($2::bigint, 1)::numeric, 6),
        $4::double precision::numeric, $5)
ON CONFLICT (import_id) DO NOTHING
RETURNING import_id
