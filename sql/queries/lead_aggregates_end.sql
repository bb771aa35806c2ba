-- The end of lead_aggregates.sql, after lead_sums.sql: which leads are
-- rewritten.
--
-- Rules it enforces (contract 3.3):
-- * The batch's leads are reached by their primary key (= ANY, no join the
--   planner could turn into a scan); each is rewritten (it lost or changed
--   an order: its values change).
       ),
       updated_at = pg_catalog.now()
 WHERE l.lead_id = ANY ($1::uuid[])
