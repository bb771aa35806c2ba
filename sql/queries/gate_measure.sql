-- What the quality gate measures of an import after its orders stage
-- (queue/gate.rs, measure): inside the orders stage's subtransaction,
-- before what it wrote is kept or rolled back (or in a dry run's
-- rehearsal). $1 = the import. Returns (lines, rejected lines, the most
-- frequent reason, its lines). A held run's counts per shop and reason:
-- gate_rejects_by_shop.sql.
--
-- Rules it enforces (semantics 11):
-- * The share is over the whole import as its latest orders run left it:
--   etl.rejects describes the latest run of each line (a redrive's too),
--   so it is the import's rejected lines over its raw lines, whichever run
--   wrote them. Both counts read the (import_id, line_no) keys: index scans
--   of the import only.
-- * The reason names the reason most lines have (ties: the first by name),
--   which is what a wrongly mapped file shows at a glance.
SELECT (SELECT count(*) FROM etl.raw_orders r WHERE r.import_id = $1),
       (SELECT count(*) FROM etl.rejects j WHERE j.import_id = $1),
       top.reason,
       top.lines
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (
        SELECT j.reason, count(*) AS lines
          FROM etl.rejects j
         WHERE j.import_id = $1
         GROUP BY j.reason
         ORDER BY count(*) DESC, j.reason
         LIMIT 1) top ON true
