-- Removes up to $2 finished runs that ended before $1, among the runs after
-- run $3 (pipeline/retention.rs, purge). Returns how many, and the last run
-- removed (the next batch starts after it).
--
-- Rules it enforces (docs/semantics.md 13.1, 13.3):
-- * A running run is never removed; a run that ended is history: nothing
--   the pipeline decides reads it once its import's jobs record the outcome
--   (a redrive and etl_explain also accept a done orders job or a purged
--   import's outcome as proof that the orders stage ran).
-- * Each batch starts after the last run the previous one removed, so no
--   batch walks again over what an earlier one removed.
WITH picked AS (
    SELECT r.run_id FROM etl.runs r
     WHERE r.run_id > $3 AND r.status <> 'running' AND r.finished_at < $1
     ORDER BY r.run_id
     LIMIT $2
), gone AS (
    DELETE FROM etl.runs r USING picked WHERE r.run_id = picked.run_id RETURNING r.run_id
)
SELECT count(*), max(run_id) FROM gone
