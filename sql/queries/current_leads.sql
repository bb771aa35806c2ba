-- The current lead of each customer of a batch (services/lookups.rs,
-- current_leads). $1 = the customers' ids as text (text[]).
--
-- Rules it enforces (contract 3.3):
-- * A customer's current lead is its lead with the highest lead_no.
-- * One statement per batch; ids returned as text for the transform.
SELECT DISTINCT ON (l.customer_global_id)
       l.customer_global_id::text AS customer_global_id, l.lead_id::text AS lead_id, l.current_stage
  FROM etl.business_leads l
 WHERE l.customer_global_id = ANY($1::text[]::uuid[])
 ORDER BY l.customer_global_id, l.lead_no DESC
