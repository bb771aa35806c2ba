-- Stores an accepted event and notifies it (events/mod.rs, publish_text).
-- $1 = event type, $2 = event version, $3 = payload (JSON text),
-- $4 = the channel. Returns the event's id.
--
-- Rules it enforces (contract 5.1, 5.2):
-- * Every accepted event is stored in etl.events and sent with NOTIFY on
--   the channel, with the stored payload (delivered at commit).
WITH e AS (
    INSERT INTO etl.events (event_type, event_version, payload, accepted)
    VALUES ($1, $2, $3::jsonb, true)
    RETURNING event_id, payload
)
SELECT e.event_id, pg_catalog.pg_notify($4, e.payload::text) FROM e
