-- Puts the orders a redrive's batch wrote in etl.redrive_scope
-- (orders/load.rs, record_redriven). $1 = the import, $2 = the run,
-- $3/$4 = the keys sent (shop_id bigint[], order_id text[]). Returns the
-- source line of each order recorded now.
--
-- Rules it enforces (contract 4.5):
-- * Only the orders this run wrote (loaded_by_run = $2) are in the
--   redrive's scope, so the customers and leads stages of the redrive work
--   on them and nothing else.
-- * A key an earlier batch of the run recorded is there already (ON
--   CONFLICT DO NOTHING) and not returned again.
-- * Each order is reached by its primary key.
WITH written AS (
    SELECT o.shop_id, o.order_id, o.source_line_no
      FROM unnest($3::bigint[], $4::text[]) AS u(shop_id, order_id)
     CROSS JOIN LATERAL (
           SELECT o.shop_id, o.order_id, o.source_line_no FROM etl.orders o
            WHERE o.shop_id = u.shop_id AND o.order_id = u.order_id AND o.loaded_by_run = $2
            LIMIT 1) o
), recorded AS (
    -- A key an earlier batch of the run wrote is there already.
    INSERT INTO etl.redrive_scope (import_id, shop_id, order_id)
    SELECT $1, w.shop_id, w.order_id FROM written w
    ON CONFLICT DO NOTHING
    RETURNING shop_id, order_id
)
SELECT w.source_line_no FROM written w JOIN recorded r ON r.shop_id = w.shop_id AND r.order_id = w.order_id
