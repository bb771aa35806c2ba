-- Whether the orders stage of an import ran successfully at least once
-- (pipeline/mod.rs, redrive). $1 = the import.
--
-- Rules it enforces (contract 4.5):
-- * A redrive needs a successful (or partly successful) orders run: before
--   it, the import has no rejected lines to retry.
SELECT EXISTS (SELECT 1 FROM etl.runs r
                WHERE r.import_id = $1 AND r.stage = 'orders'
                  AND r.status IN ('success', 'partial_success'))
