-- Fingerprint of the business tables by natural keys (no generated ids or
-- timestamps of creation), to compare two databases' results.
SELECT md5(coalesce((SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', o.shop_id, o.order_id, o.customer_nickname,
                  o.latest_status, o.order_type, o.system_order_type, o.amount, o.ordered_at,
                  o.customer_global_id IS NOT NULL, o.lead_id IS NOT NULL), E'\n' ORDER BY o.shop_id, o.order_id)
             FROM etl.orders o), ''))
    || ' ' ||
       md5(coalesce((SELECT string_agg(format('%s|%s|%s|%s|%s', c.shop_id, c.customer_nickname, c.customer_key,
                  c.first_order_at, c.last_order_at), E'\n' ORDER BY c.shop_id, c.customer_nickname)
             FROM etl.customers c), ''))
    || ' ' ||
       md5(coalesce((SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', c.customer_key, l.current_stage,
                  l.order_count, l.total_amount, l.sample_count, l.sample_amount, l.bulk_count, l.bulk_amount,
                  l.first_order_at, l.last_order_at), E'\n' ORDER BY c.customer_key, l.first_order_at, l.order_count)
             FROM etl.business_leads l JOIN etl.customers c USING (customer_global_id)), ''))
    || ' ' ||
       (SELECT count(*) FROM etl.orders) || '/' || (SELECT count(*) FROM etl.customers) || '/' ||
       (SELECT count(*) FROM etl.business_leads) || '/' || (SELECT count(*) FROM etl.rejects);
