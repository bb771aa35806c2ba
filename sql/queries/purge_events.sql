-- Removes up to $2 events stored before $1, among the events after event
-- $3 (pipeline/retention.rs, purge). Returns how many, and the last event
-- removed (the next batch starts after it).
--
-- Rules it enforces (docs/semantics.md 13.1, 13.3):
-- * An event is a record of what happened: it has started what it starts
--   (its job was queued in its own transaction), so an old one goes by age.
-- * Each batch starts after the last event the previous one removed.
WITH picked AS (
    SELECT e.event_id FROM etl.events e
     WHERE e.event_id > $3 AND e.created_at < $1
     ORDER BY e.event_id
     LIMIT $2
), gone AS (
    DELETE FROM etl.events e USING picked WHERE e.event_id = picked.event_id RETURNING e.event_id
)
SELECT count(*), max(event_id) FROM gone
