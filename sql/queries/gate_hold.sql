-- Records that the quality gate holds an import (queue/gate.rs,
-- OrdersGate::after_orders), after its orders stage's writes were rolled
-- back. $1 = the import, $2 = its lines, $3 = its rejected lines, $4 = the
-- threshold (etl.max_reject_ratio), $5 = the reason, $6 = the counts per
-- shop and reason (gate_rejects_by_shop.sql), $7 = the orders run that was held.
-- Returns a row only when the hold is new.
--
-- Rules it enforces (semantics 11):
-- * One hold per import, kept after its release: an import held before
--   (held still, or released) is not held again, and IMPORT_HELD is
--   published once (the caller publishes only when a row comes back).
-- * The share is kept as numeric to six places, the threshold as set.
-- * The counts per shop and reason are kept with the hold: the held run's
--   rejects are not in etl.rejects (rolled back), and etl_quality reports
--   these until a run after the release loads the import.
INSERT INTO etl.import_holds (import_id, lines, rejected, reject_ratio, threshold, reason, rejects_by_shop, run_id)
VALUES ($1, $2, $3,
        round($3::numeric / greatest($2::bigint, 1)::numeric, 6),
        $4::double precision::numeric, $5, $6::jsonb, $7::bigint)
ON CONFLICT (import_id) DO NOTHING
RETURNING import_id
