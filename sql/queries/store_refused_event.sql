-- Stores a refused event with its reason (events/mod.rs, store_refused).
-- $1 = event type, $2 = the reason, $3 = payload (JSON text). Returns the
-- event's id.
--
-- Rules it enforces (contract 5.1, 5.2):
-- * A refused event is stored with accepted = false and its reason; it is
--   neither notified nor acted on.
-- * Its version is kept when the payload is an object that has one.
WITH p AS (SELECT $3::jsonb AS payload)
INSERT INTO etl.events (event_type, event_version, payload, accepted, error)
SELECT $1,
       CASE WHEN pg_catalog.jsonb_typeof(p.payload) OPERATOR(pg_catalog.=) 'object'
            THEN p.payload OPERATOR(pg_catalog.->>) 'event_version' END,
       p.payload, false, $2
  FROM p
RETURNING event_id
