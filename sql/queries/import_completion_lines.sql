-- The lines of an import just completed, for its DATA_IMPORT_COMPLETED
-- event (queue/chain.rs, import_completed). $1 = the import.
--
-- Rules it enforces (contract 5; docs/security.md, "Adding lines and
-- completing an import"):
-- * It runs with a snapshot taken after the completion's row lock was
--   granted (Sql::count_now), not the completing transaction's: completing
--   an import waits for every transaction still adding lines to it, and in
--   REPEATABLE READ or SERIALIZABLE the transaction's snapshot, older than
--   that wait, missed the lines they committed (the event said 1 line of 3).
--   No line can be added once the completion holds the row: the count is
--   the import's lines for good.
SELECT pg_catalog.count(*)
  FROM etl.raw_orders r
 WHERE r.import_id OPERATOR(pg_catalog.=) $1
