-- Whether an import's orders stage was loaded and kept before the run the
-- quality gate is about to judge (queue/gate.rs, loaded_before). $1 = the
-- import, $2 = the rehearsed orders run to leave out (a dry run asks after
-- its rehearsal, whose own run is no proof), NULL for a real run (asked
-- before its orders stage runs).
--
-- Rules it enforces (semantics 11):
-- * The gate holds back an import's load. An import whose orders stage was
--   kept before (loaded while the gate was off, or below the threshold)
--   has its lines in etl.orders already: a re-run of it passes, as a
--   released import's does. Held, the re-run alone was rolled back, and the
--   hold (and etl_explain, etl_redrive) said that nothing of it was loaded.
-- * The proof is orders_ran.sql's: a kept successful orders run; once
--   etl_purge removed the runs, a done orders job; once it removed the jobs
--   too, their recorded outcome 'done'. (The gate asks only of an import
--   never held, so no held run is among them.)
-- * Also an order the import wrote and still owns (etl.orders.import_id,
--   written by the runner only, by a kept orders run of the import; in a
--   dry run, not the rehearsal's own). A loaded import's completion emitted
--   again queues its done orders job again (enqueue_job.sql), and with its
--   runs purged that job was the last proof: the worker's re-run was judged
--   as a first load and held, its loaded lines "not yet run". (Not a done
--   customers or leads job: an operator can queue and settle those with an
--   emitted ORDERS_ETL_COMPLETED and etl_customers before the orders stage
--   ever ran, and so have a first load pass unjudged, with no hold and no
--   release on record.)
SELECT EXISTS (SELECT 1 FROM etl.runs r
                WHERE r.import_id = $1::uuid AND r.stage = 'orders'
                  AND r.status IN ('success', 'partial_success')
                  AND (r.details ->> 'kept') IS DISTINCT FROM 'false'
                  AND r.run_id IS DISTINCT FROM $2::bigint)
    OR EXISTS (SELECT 1 FROM etl.jobs j
                WHERE j.import_id = $1::uuid AND j.stage = 'orders' AND j.state = 'done')
    OR EXISTS (SELECT 1 FROM etl.orders o
                WHERE o.import_id = $1::uuid AND o.loaded_by_run IS DISTINCT FROM $2::bigint)
    OR EXISTS (SELECT 1 FROM etl.purged_imports p
                WHERE p.import_id = $1::uuid AND p.jobs_outcome = 'done')
