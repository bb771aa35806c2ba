-- Creates the customers of a batch that do not exist yet
-- (customers/load.rs, create_missing). $1 = candidate ids (text[]),
-- $2 = shop ids (bigint[]), $3 = nicknames (text[]).
--
-- Rules it enforces (contract 3.2):
-- * One customer per (shop_id, customer_nickname): an existing one keeps
--   its id (ON CONFLICT DO NOTHING); a new one gets its fresh v7 id and
--   customer_key = md5(shop_id:nickname).
-- * Rows are inserted in key order, a stable lock order across sessions.
INSERT INTO etl.customers (customer_global_id, shop_id, customer_nickname, customer_key)
SELECT u.id::uuid, u.shop_id, u.nickname, md5(u.shop_id::text || ':' || u.nickname)
  FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(id, shop_id, nickname)
 ORDER BY u.shop_id, u.nickname
ON CONFLICT (shop_id, customer_nickname) DO NOTHING
