-- Whether the orders stage of an import ran successfully at least once
-- (pipeline/mod.rs, redrive). $1 = the import.
--
-- Rules it enforces (contract 4.5; docs/semantics.md 13.3):
-- * A redrive needs a successful (or partly successful) orders run: before
--   it, the import has no rejected lines to retry.
-- * Once etl_purge removed the import's runs, its done orders job (or, once
--   its jobs were purged too, their recorded outcome) is that proof.
SELECT EXISTS (SELECT 1 FROM etl.runs r
                WHERE r.import_id = $1 AND r.stage = 'orders'
                  AND r.status IN ('success', 'partial_success'))
    OR EXISTS (SELECT 1 FROM etl.jobs j
                WHERE j.import_id = $1 AND j.stage = 'orders' AND j.state = 'done')
    OR EXISTS (SELECT 1 FROM etl.purged_imports p
                WHERE p.import_id = $1 AND p.jobs_outcome = 'done')
