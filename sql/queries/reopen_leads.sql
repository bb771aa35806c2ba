-- Reopens the COLD leads a batch's strategy reused (leads/load.rs,
-- reopen_leads). $1 = the leads (uuid[]).
--
-- Rules it enforces (contract 3.3):
-- * A reused COLD lead becomes OPEN; a lead at any other stage keeps it.
UPDATE etl.business_leads
   SET current_stage = 'OPEN', updated_at = now()
 WHERE lead_id = ANY($1::uuid[]) AND current_stage = 'COLD'
