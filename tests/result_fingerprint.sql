-- The result fingerprint: one "table:rows:md5" per result table (customers,
-- leads, orders, rejects), by natural keys, so that two databases that ran
-- the same imports can be compared: the extension's and the benchmark's
-- plain-SQL baseline (bench/run.py), one run against another
-- (tests/integration), a re-run against the first run (src/tests).
-- Left out: generated ids (an order's customer is its customer_key, its lead
-- is (customer_key, rank of lead_no within the customer)), import ids (an
-- import is its source), times of creation or update, and reject details
-- (the baseline words them differently). Times are rendered in UTC, so the
-- session's TimeZone does not matter. One statement, no settings.
WITH lead_rank AS (
    SELECT l.*, c.customer_key,
           row_number() OVER (PARTITION BY l.customer_global_id ORDER BY l.lead_no) AS nth
      FROM etl.business_leads l LEFT JOIN etl.customers c USING (customer_global_id)
), t(name, n, fp) AS (
    SELECT 'orders', count(*), md5(string_agg(concat_ws('|', o.shop_id, o.order_id, o.customer_nickname, o.latest_status,
                o.order_type, o.system_order_type, o.amount, o.ordered_at AT TIME ZONE 'UTC', i.source, o.source_line_no,
                c.customer_key, lr.customer_key, lr.nth), E'\n' ORDER BY o.shop_id, o.order_id))
      FROM etl.orders o
      LEFT JOIN etl.imports i ON i.import_id = o.import_id
      LEFT JOIN etl.customers c ON c.customer_global_id = o.customer_global_id
      LEFT JOIN lead_rank lr ON lr.lead_id = o.lead_id
    UNION ALL
    SELECT 'customers', count(*), md5(string_agg(concat_ws('|', c.customer_key, c.shop_id, c.customer_nickname,
                c.first_order_at AT TIME ZONE 'UTC', c.last_order_at AT TIME ZONE 'UTC'), E'\n' ORDER BY c.customer_key))
      FROM etl.customers c
    UNION ALL
    SELECT 'leads', count(*), md5(string_agg(concat_ws('|', lr.customer_key, lr.nth, lr.current_stage, lr.order_count,
                lr.total_amount, lr.sample_count, lr.sample_amount, lr.bulk_count, lr.bulk_amount,
                lr.first_order_at AT TIME ZONE 'UTC', lr.last_order_at AT TIME ZONE 'UTC'),
                E'\n' ORDER BY lr.customer_key, lr.nth))
      FROM lead_rank lr
    UNION ALL
    SELECT 'rejects', count(*), md5(string_agg(concat_ws('|', i.source, r.line_no, r.stage, r.reason, r.raw::text),
                E'\n' ORDER BY i.source, r.line_no, r.stage))
      FROM etl.rejects r LEFT JOIN etl.imports i ON i.import_id = r.import_id
)
SELECT string_agg(name || ':' || n || ':' || coalesce(fp, '-'), ' ' ORDER BY name) FROM t
