-- Creates the new leads a batch's strategy chose (leads/load.rs,
-- create_leads). $1 = lead ids (text[]), $2 = their customers (text[]).
--
-- Rules it enforces (contract 3.3):
-- * A new lead starts at stage OPEN, for its customer.
-- * Leads are inserted in the batch's customer order, so lead_no follows it.
INSERT INTO etl.business_leads (lead_id, customer_global_id, current_stage)
SELECT u.lead_id::uuid, u.customer_global_id::uuid, 'OPEN'
  FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(lead_id, customer_global_id, n)
 ORDER BY u.n
