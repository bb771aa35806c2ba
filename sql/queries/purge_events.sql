-- Removes up to $2 events stored before $1 (pipeline/retention.rs,
-- purge_events). Returns how many.
--
-- Rules it enforces (docs/semantics.md 11.1, 11.3):
-- * An event is a record of what happened: it has started what it starts
--   (its job was queued in its own transaction), so an old one goes by age.
WITH picked AS (
    SELECT e.event_id FROM etl.events e
     WHERE e.created_at < $1
     ORDER BY e.event_id
     LIMIT $2
), gone AS (
    DELETE FROM etl.events e USING picked WHERE e.event_id = picked.event_id RETURNING 1
)
SELECT count(*) FROM gone
