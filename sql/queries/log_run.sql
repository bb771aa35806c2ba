-- Records how a stage run ended in its etl.runs row (pipeline/mod.rs,
-- log_run). $1 = the run; $2 status; $3..$7 rows in, ok, superseded,
-- rejected, failed; $8 batches; $9 statements; $10 duration in ms;
-- $11 error; $12 details.
--
-- Rules it enforces (contract 4.2):
-- * Every stage run leaves one row with its status, counts and timing;
--   rows_in = rows_ok + rows_superseded + rows_rejected + rows_failed for
--   the orders stage.
UPDATE etl.runs
   SET status = $2, finished_at = clock_timestamp(),
       rows_in = $3, rows_ok = $4, rows_superseded = $5, rows_rejected = $6, rows_failed = $7,
       batches = $8, queries = $9, duration_ms = $10, error = $11, details = $12
 WHERE run_id = $1
