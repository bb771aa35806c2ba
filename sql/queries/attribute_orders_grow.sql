-- The end of attribute_orders.sql and its variants (_redrive, _whole),
-- after lead_sums.sql: the leads grow by the sums of their counted new
-- orders. Returns (orders attributed, leads whose aggregates grew).
--
-- Rules it enforces (contract 3.3, 3.4.3):
-- * Each lead's aggregates grow by exactly its newly attributed counted
--   orders (counted nowhere before): counts and sums added, first/last
--   widened; a lead with no counted new order is not written.
 GROUP BY o.lead_id
), grown AS (
    UPDATE etl.business_leads l
       SET order_count = l.order_count + g.order_count,
           total_amount = l.total_amount + g.total_amount,
           sample_count = l.sample_count + g.sample_count,
           sample_amount = l.sample_amount + g.sample_amount,
           bulk_count = l.bulk_count + g.bulk_count,
           bulk_amount = l.bulk_amount + g.bulk_amount,
           first_order_at = least(l.first_order_at, g.first_at),
           last_order_at = greatest(l.last_order_at, g.last_at),
           updated_at = pg_catalog.now()
      FROM gained g
     WHERE l.lead_id = g.lead_id
    RETURNING 1
)
SELECT (SELECT pg_catalog.count(*) FROM attributed) AS attributed, (SELECT pg_catalog.count(*) FROM grown) AS grown
