-- Whether the orders stage of an import ran successfully at least once
-- (pipeline/mod.rs, redrive). $1 = the import.
--
-- Rules it enforces (contract 4.5; docs/semantics.md 11, 13.3):
-- * A redrive needs a successful (or partly successful) orders run that
--   was kept: before it, the import has no rejected lines to retry.
-- * An orders run the quality gate held was rolled back (its etl.runs row
--   says kept = false, and its job is done with that run): it loaded
--   nothing and is no proof, also after the release and until the release's
--   orders run loads the import (a redrive then would find no rejected
--   line, run customers and leads on nothing, and its orders run would pass
--   for the import's load in etl_quality).
-- * Once etl_purge removed the import's runs, its done orders job (or, once
--   its jobs were purged too, their recorded outcome) is that proof; a job
--   whose last run is the held one is not, and etl_purge keeps the jobs of
--   an import the gate holds.
SELECT EXISTS (SELECT 1 FROM etl.runs r
                WHERE r.import_id = $1 AND r.stage = 'orders'
                  AND r.status IN ('success', 'partial_success')
                  AND (r.details ->> 'kept') IS DISTINCT FROM 'false')
    OR EXISTS (SELECT 1 FROM etl.jobs j
                WHERE j.import_id = $1 AND j.stage = 'orders' AND j.state = 'done'
                  AND NOT EXISTS (SELECT 1 FROM etl.import_holds h
                                   WHERE h.import_id = j.import_id AND h.run_id = j.last_run_id))
    OR EXISTS (SELECT 1 FROM etl.purged_imports p
                WHERE p.import_id = $1 AND p.jobs_outcome = 'done'
                  AND NOT EXISTS (SELECT 1 FROM etl.import_holds h
                                   WHERE h.import_id = p.import_id AND h.released_at IS NULL))
