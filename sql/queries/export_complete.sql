-- Completes an export's import (exports/mod.rs). $1 = the import.
--
-- Rules it enforces (issue 28, contract 5):
-- * The same UPDATE a hand-written loader runs: the completion trigger
--   (etl.import_completed, which checks the caller owns the import or is an
--   operator) queues its pipeline and publishes DATA_IMPORT_COMPLETED in
--   this transaction; etl.guard_import sets completed_at.
UPDATE etl.imports SET status = 'completed'
 WHERE import_id = $1::uuid AND status = 'pending'
