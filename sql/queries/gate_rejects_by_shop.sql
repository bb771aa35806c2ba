-- The counts per shop and reason of an import the quality gate holds
-- (queue/gate.rs, rejects_by_shop): run inside the orders stage's
-- subtransaction, after gate_measure.sql found the share above the
-- threshold and before the stage's writes are rolled back. $1 = the
-- import. Returns one jsonb array, kept with the hold
-- (etl.import_holds.rejects_by_shop) for etl_quality.
--
-- Rules it enforces (semantics 11):
-- * A line's shop is found as etl_quality finds it (quality.sql): its shop
--   text trimmed of space, tab, CR, LF and U+3000, in etl.shops; lines of
--   no known shop are one group (shop_id NULL).
-- * One object {shop_id, shop_name, reason, lines, rejected} per shop with
--   reason null (all its lines, all its rejects), and one per shop and
--   reject reason (its rejected lines): what quality.sql reads back.
-- * Rejected means a row in etl.rejects, as the held run left it.
-- * One statement, grouped in SQL: it reads the import's lines once, and
--   memory is bounded by the number of shops and reasons, never by lines.
--   Only a held run pays for it; a run the gate passes measures with
--   gate_measure.sql's index scans alone.
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
SELECT coalesce(pg_catalog.jsonb_agg(
                    pg_catalog.jsonb_build_object('shop_id', g.shop_id, 'shop_name', g.shop_name,
                                                  'reason', g.reason, 'lines', g.lines, 'rejected', g.rejected)
                    ORDER BY g.shop_id NULLS LAST, g.reason NULLS FIRST), '[]'::jsonb)
  FROM groups g
