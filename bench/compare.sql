-- Fingerprint of the result tables by natural keys, to compare the extension's
-- database with the baseline's: one "table:rows:md5" per table. Generated ids
-- and creation/update times are left out; an order's customer is its
-- customer_key and its lead is (customer_key, rank of lead_no within the
-- customer), so both sides can create their own uuids.
SET TimeZone = 'UTC';
WITH lead_rank AS (
    SELECT l.*, c.customer_key,
           row_number() OVER (PARTITION BY l.customer_global_id ORDER BY l.lead_no) AS nth
      FROM etl.business_leads l LEFT JOIN etl.customers c USING (customer_global_id)
), t(name, n, fp) AS (
    SELECT 'orders', count(*), md5(string_agg(concat_ws('|', o.shop_id, o.order_id, o.customer_nickname, o.latest_status,
                o.order_type, o.system_order_type, o.amount, o.ordered_at, o.import_id, o.source_line_no,
                c.customer_key, lr.customer_key, lr.nth), E'\n' ORDER BY o.shop_id, o.order_id))
      FROM etl.orders o
      LEFT JOIN etl.customers c ON c.customer_global_id = o.customer_global_id
      LEFT JOIN lead_rank lr ON lr.lead_id = o.lead_id
    UNION ALL
    SELECT 'customers', count(*), md5(string_agg(concat_ws('|', c.customer_key, c.shop_id, c.customer_nickname,
                c.first_order_at, c.last_order_at), E'\n' ORDER BY c.customer_key))
      FROM etl.customers c
    UNION ALL
    SELECT 'leads', count(*), md5(string_agg(concat_ws('|', lr.customer_key, lr.nth, lr.current_stage, lr.order_count,
                lr.total_amount, lr.sample_count, lr.sample_amount, lr.bulk_count, lr.bulk_amount,
                lr.first_order_at, lr.last_order_at), E'\n' ORDER BY lr.customer_key, lr.nth))
      FROM lead_rank lr
    UNION ALL
    SELECT 'rejects', count(*), md5(string_agg(concat_ws('|', r.import_id, r.line_no, r.stage, r.reason, r.raw::text),
                E'\n' ORDER BY r.import_id, r.line_no))
      FROM etl.rejects r
)
SELECT string_agg(name || ':' || n || ':' || coalesce(fp, '-'), ' ' ORDER BY name) FROM t;
