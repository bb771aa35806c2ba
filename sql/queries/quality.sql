-- The quality of an import, for etl_quality (queue/gate.rs, quality).
-- $1 = the import, $2 = the role whose earlier imports it compares with
-- (NULL: every role's; a loader's call passes its own name). Returns per
-- shop one row over every reason (reason NULL) and one per reject reason:
-- (shop_id, shop_name, reason, lines, rejected, reject_ratio,
-- import_reject_ratio, previous_imports, previous_lines,
-- previous_reject_ratio).
--
-- Rules it enforces (semantics 11):
-- * A line's shop is its shop text cleaned as the orders stage cleans it
--   (trimmed of space, tab, CR, LF and U+3000) and found in etl.shops;
--   lines of no known shop are one group (shop_id NULL). A wrongly mapped
--   file shows up as that group, or as one reason over most lines.
-- * Rejected means a row in etl.rejects: the latest run of each line;
--   except for an import the gate holds (or released, until an orders run
--   after the release is kept, a whole run of the import, not a redrive of
--   its rejected lines): its held orders run was rolled back, so
--   its counts per shop and reason are those the hold recorded
--   (etl.import_holds.rejects_by_shop, gate_rejects_by_shop.sql), and its own lines
--   are not read.
-- * That kept run after the release is proven as orders_ran.sql proves a
--   load, also once etl_purge removed its etl.runs row: the done orders job
--   whose last run came after the held one, or, once the jobs went too,
--   their outcome 'done' recorded after the release. (Proven by its runs
--   alone, a purge of runs made etl_quality of a released import that
--   loaded cleanly report the held run's rejects again.)
-- * Earlier imports are the completed imports completed before this one
--   (or before now, when it is not completed), of the shop's lines only;
--   for a loader, only its own (it sees no other loader's import). An
--   import still held is not one of them (nothing of it was loaded).
-- * previous_reject_ratio is over those earlier lines of the shop: the
--   share rejected (row over every reason) or rejected for this reason;
--   NULL when the shop has no earlier line.
-- * Every division is between two double precision values (exact types).
-- * It reads the earlier imports' raw lines (no index serves a search by
--   shop): a diagnostic, seconds on tens of millions of lines.
WITH this AS (
    SELECT coalesce(i.completed_at, pg_catalog.now()) AS until
      FROM etl.imports i
     WHERE i.import_id = $1
), hold AS (
    -- The hold whose counts stand: held, or released and not loaded since.
    SELECT h.rejects_by_shop
      FROM etl.import_holds h
     WHERE h.import_id = $1
       AND (h.released_at IS NULL
            OR NOT (EXISTS (SELECT 1 FROM etl.runs u
                             WHERE u.import_id = $1 AND u.stage = 'orders'
                               AND u.status IN ('success', 'partial_success') AND u.run_id > h.run_id
                               AND (u.details ->> 'kept') IS DISTINCT FROM 'false'
                               AND (u.details ->> 'scope') IS DISTINCT FROM 'redrive')
                    OR EXISTS (SELECT 1 FROM etl.jobs j
                                WHERE j.import_id = $1 AND j.stage = 'orders' AND j.state = 'done'
                                  AND j.last_run_id > h.run_id)
                    OR EXISTS (SELECT 1 FROM etl.purged_imports p
                                WHERE p.import_id = $1 AND p.jobs_outcome = 'done'
                                  AND p.jobs_purged_at > h.released_at)))
), held AS (
    SELECT x.shop_id, x.shop_name, x.reason, x.lines, x.rejected
      FROM hold
     CROSS JOIN LATERAL pg_catalog.jsonb_to_recordset(hold.rejects_by_shop)
           AS x(shop_id bigint, shop_name text, reason text, lines bigint, rejected bigint)
), lines AS (
    SELECT s.shop_id, s.shop_name, j.reason
      FROM etl.raw_orders r
      LEFT JOIN etl.shops s ON s.shop_name = nullif(btrim(r.shop, E' \t\r\n\u3000'), '')
      LEFT JOIN etl.rejects j ON j.import_id = r.import_id AND j.line_no = r.line_no
     WHERE r.import_id = $1
       AND NOT EXISTS (SELECT 1 FROM hold)
), per_shop AS (
    SELECT l.shop_id, l.shop_name, count(*) AS lines, count(l.reason) AS rejected
      FROM lines l
     GROUP BY l.shop_id, l.shop_name
     UNION ALL
    SELECT x.shop_id, x.shop_name, x.lines, x.rejected
      FROM held x
     WHERE x.reason IS NULL
), per_reason AS (
    SELECT l.shop_id, l.reason, count(*) AS rejected
      FROM lines l
     WHERE l.reason IS NOT NULL
     GROUP BY l.shop_id, l.reason
     UNION ALL
    SELECT x.shop_id, x.reason, x.rejected
      FROM held x
     WHERE x.reason IS NOT NULL
), total AS (
    SELECT CASE WHEN sum(p.lines) > 0::numeric
                THEN sum(p.rejected)::double precision / sum(p.lines)::double precision ELSE 0 END AS ratio
      FROM per_shop p
), earlier AS (
    SELECT s.shop_id, j.reason, GROUPING(j.reason) AS every_reason,
           count(DISTINCT r.import_id) AS imports, count(*) AS lines, count(j.reason) AS rejected
      FROM etl.imports i
      JOIN this ON i.completed_at < this.until
      JOIN etl.raw_orders r ON r.import_id = i.import_id
      JOIN etl.shops s ON s.shop_name = nullif(btrim(r.shop, E' \t\r\n\u3000'), '')
      LEFT JOIN etl.rejects j ON j.import_id = r.import_id AND j.line_no = r.line_no
     WHERE i.status = 'completed'
       AND i.import_id <> $1
       AND NOT EXISTS (SELECT 1 FROM etl.import_holds h
                        WHERE h.import_id = i.import_id AND h.released_at IS NULL)
       AND ($2::name IS NULL OR i.owner_role = $2::name)
       AND s.shop_id IN (SELECT p.shop_id FROM per_shop p)
     GROUP BY GROUPING SETS ((s.shop_id), (s.shop_id, j.reason))
)
SELECT p.shop_id, p.shop_name, x.reason, p.lines, x.rejected,
       x.rejected::double precision / p.lines::double precision,
       total.ratio,
       coalesce(e.imports, 0),
       coalesce(e.lines, 0),
       CASE WHEN e.lines > 0
            THEN (CASE WHEN x.reason IS NULL THEN e.rejected ELSE coalesce(er.lines, 0) END)::double precision
                 / e.lines::double precision END
  FROM per_shop p
 CROSS JOIN LATERAL (
        SELECT NULL::text AS reason, p.rejected
         UNION ALL
        SELECT q.reason, q.rejected FROM per_reason q WHERE q.shop_id IS NOT DISTINCT FROM p.shop_id) x
 CROSS JOIN total
  LEFT JOIN earlier e ON e.shop_id = p.shop_id AND e.every_reason = 1
  LEFT JOIN earlier er ON er.shop_id = p.shop_id AND er.every_reason = 0 AND er.reason = x.reason
 ORDER BY p.shop_id NULLS LAST, x.reason NULLS FIRST
