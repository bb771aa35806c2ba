-- What the quality gate measures of an import after its orders stage
-- (queue/gate.rs, measure): run inside the orders stage's subtransaction,
-- before what it wrote is kept or rolled back. $1 = the import. Returns
-- (lines, rejected lines, the most frequent reason, its lines, the counts
-- per shop and reason as jsonb).
--
-- Rules it enforces (semantics 11):
-- * The share is over the whole import as its latest orders run left it:
--   etl.rejects describes the latest run of each line (a redrive's too),
--   so it is the import's rejected lines over its raw lines, whichever run
--   wrote them. It reads the import's lines once (index scans of its
--   (import_id, line_no) keys); memory is bounded by the number of shops
--   and reasons, never by the lines.
-- * A line's shop is found as etl_quality finds it (quality.sql): its shop
--   text trimmed of space, tab, CR, LF and U+3000, in etl.shops; lines of
--   no known shop are one group (shop_id NULL).
-- * The counts per shop and reason are an array of objects {shop_id,
--   shop_name, reason, lines, rejected}: one per shop with reason null
--   (all its lines, all its rejects), one per shop and reject reason (its
--   rejected lines). A held import's hold keeps them, since its rejects
--   are rolled back with the rest of the stage (etl_quality reads them).
-- * The reason names the reason most lines have (ties: the first by name),
--   which is what a wrongly mapped file shows at a glance.
WITH lines AS (
    SELECT s.shop_id, s.shop_name, j.reason
      FROM etl.raw_orders r
      LEFT JOIN etl.shops s ON s.shop_name = nullif(btrim(r.shop, E' \t\r\n\u3000'), '')
      LEFT JOIN etl.rejects j ON j.import_id = r.import_id AND j.line_no = r.line_no
     WHERE r.import_id = $1
), counted AS (
    SELECT l.shop_id, l.shop_name, l.reason, GROUPING(l.reason) AS every_reason,
           count(*) AS lines, count(l.reason) AS rejected
      FROM lines l
     GROUP BY GROUPING SETS ((l.shop_id, l.shop_name), (l.shop_id, l.shop_name, l.reason))
), groups AS (
    SELECT c.* FROM counted c WHERE c.every_reason = 1 OR c.reason IS NOT NULL
)
SELECT coalesce((SELECT sum(g.lines) FROM groups g WHERE g.every_reason = 1), 0)::bigint,
       coalesce((SELECT sum(g.rejected) FROM groups g WHERE g.every_reason = 1), 0)::bigint,
       top.reason,
       top.lines,
       coalesce((SELECT pg_catalog.jsonb_agg(
                            pg_catalog.jsonb_build_object('shop_id', g.shop_id, 'shop_name', g.shop_name,
                                                          'reason', g.reason, 'lines', g.lines,
                                                          'rejected', g.rejected)
                            ORDER BY g.shop_id NULLS LAST, g.reason NULLS FIRST)
                   FROM groups g), '[]'::jsonb)
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (
        SELECT g.reason, sum(g.rejected)::bigint AS lines
          FROM groups g
         WHERE g.every_reason = 0
         GROUP BY g.reason
         ORDER BY sum(g.rejected) DESC, g.reason
         LIMIT 1) top ON true
