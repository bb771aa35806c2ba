-- The benchmark's baseline: the same three stages as plain, set-based SQL,
-- as a PostgreSQL expert would write them with no extension: one pass over
-- the import per step, INSERT ... SELECT ... ON CONFLICT and UPDATE ... FROM,
-- no loops, no per-row function calls beyond the built-ins the rules need.
-- It writes the same tables by the same rules (contract section 3), except
-- that it has no per-line failure isolation (a refused batch would fail the
-- whole statement) and does not guard against an older import run late.
-- The same functions serve a 100-line import and a 1M-line one: statements
-- that touch etl.orders per import join sets materialized and analyzed in
-- temp tables (so a plan cached by plpgsql, or statistics older than the
-- import, cannot make a small import read the whole history), and the leads'
-- aggregates choose their access path by how many leads the import touches.
CREATE SCHEMA IF NOT EXISTS baseline;

CREATE OR REPLACE FUNCTION baseline.run_orders(p_import uuid, p_tz text) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    loaded bigint;
BEGIN
    DELETE FROM etl.rejects WHERE import_id = p_import;

    CREATE TEMP TABLE b_lines ON COMMIT DROP AS
    WITH cleaned AS (
        SELECT r.line_no,
               nullif(btrim(r.order_id, E' \t\r\n\u3000'), '') AS order_id,
               nullif(btrim(r.shop, E' \t\r\n\u3000'), '') AS shop,
               nullif(btrim(r.customer_name, E' \t\r\n\u3000'), '') AS nickname,
               coalesce(translate(nullif(btrim(r.order_status, E' \t\r\n\u3000'), ''),
                                  'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'), 'UNKNOWN') AS status,
               nullif(btrim(r.order_type, E' \t\r\n\u3000'), '') AS order_type,
               translate(nullif(btrim(r.amount, E' \t\r\n\u3000'), ''), '¥￥,', '') AS amount,
               nullif(btrim(r.ordered_at, E' \t\r\n\u3000'), '') AS ts
          FROM etl.raw_orders r
         WHERE r.import_id = p_import
    ), parsed AS (
        SELECT c.*,
               CASE WHEN c.amount ~ '^[0-9]{1,12}(\.[0-9]+)?$' THEN round(c.amount::numeric, 2) END AS amount_value,
               c.ts ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})?)?$' AS ts_shape
          FROM cleaned c
    ), fields AS (
        -- Digits only once the shape matched: the casts cannot fail.
        SELECT p.*,
               CASE WHEN p.ts_shape THEN substr(p.ts, 1, 4)::int END AS y,
               CASE WHEN p.ts_shape THEN substr(p.ts, 6, 2)::int END AS m,
               CASE WHEN p.ts_shape THEN substr(p.ts, 9, 2)::int END AS d,
               CASE WHEN p.ts_shape AND length(p.ts) >= 19 THEN substr(p.ts, 12, 2)::int ELSE 0 END AS hh,
               CASE WHEN p.ts_shape AND length(p.ts) >= 19 THEN substr(p.ts, 15, 2)::int ELSE 0 END AS mi,
               CASE WHEN p.ts_shape AND length(p.ts) >= 19 THEN substr(p.ts, 18, 2)::int ELSE 0 END AS ss,
               CASE WHEN p.ts_shape AND length(p.ts) = 25 THEN substr(p.ts, 21, 2)::int ELSE 0 END AS oh,
               CASE WHEN p.ts_shape AND length(p.ts) = 25 THEN substr(p.ts, 24, 2)::int ELSE 0 END AS om
          FROM parsed p
    ), checked AS (
        SELECT f.*,
               coalesce(f.ts_shape
                        AND f.y >= 1 AND f.m BETWEEN 1 AND 12 AND f.d >= 1
                        AND f.d <= CASE WHEN f.m = 2 THEN CASE WHEN (f.y % 4 = 0 AND f.y % 100 <> 0) OR f.y % 400 = 0 THEN 29 ELSE 28 END
                                        WHEN f.m IN (4, 6, 9, 11) THEN 30 ELSE 31 END
                        AND f.hh <= 23 AND f.mi <= 59 AND f.ss <= 59 AND f.oh <= 15 AND f.om <= 59, false) AS ts_ok
          FROM fields f
    )
    SELECT k.line_no, k.order_id, k.nickname, k.status, k.order_type, s.shop_id,
           coalesce(m.system_order_type, 'BULK') AS system_order_type, k.amount_value,
           CASE WHEN NOT coalesce(k.ts_ok, false) THEN NULL
                WHEN length(k.ts) = 10 THEN k.ts::timestamp AT TIME ZONE p_tz
                WHEN length(k.ts) = 19 THEN replace(k.ts, 'T', ' ')::timestamp AT TIME ZONE p_tz
                ELSE (replace(substr(k.ts, 1, 19), 'T', ' ') || CASE WHEN substr(k.ts, 20) = 'Z' THEN '+00:00' ELSE substr(k.ts, 20) END)::timestamptz
           END AS ordered_at,
           CASE WHEN k.order_id IS NULL THEN 'missing_order_id'
                WHEN k.nickname IS NULL THEN 'missing_customer'
                WHEN s.shop_id IS NULL THEN 'unknown_shop'
                WHEN k.amount_value IS NULL OR k.amount_value >= 1000000000000 THEN 'bad_amount'
                WHEN k.ts IS NULL THEN 'missing_timestamp'
                WHEN NOT coalesce(k.ts_ok, false) THEN 'bad_timestamp'
           END AS reason
      FROM checked k
      LEFT JOIN etl.shops s ON s.shop_name = k.shop AND s.active
      LEFT JOIN etl.order_type_mappings m ON m.raw_order_type = k.order_type;
    ANALYZE b_lines;  -- a temp table has no statistics until analyzed

    INSERT INTO etl.rejects (import_id, line_no, stage, reason, detail, raw)
    SELECT p_import, b.line_no, 'orders', b.reason, NULL,
           jsonb_build_object('order_id', r.order_id, 'shop', r.shop, 'customer_name', r.customer_name,
                              'order_status', r.order_status, 'order_type', r.order_type,
                              'amount', r.amount, 'ordered_at', r.ordered_at)
      FROM b_lines b
      JOIN etl.raw_orders r ON r.import_id = p_import AND r.line_no = b.line_no
     WHERE b.reason IS NOT NULL;

    CREATE TEMP TABLE b_winners ON COMMIT DROP AS
    SELECT DISTINCT ON (b.shop_id, b.order_id) b.*
      FROM b_lines b
     WHERE b.reason IS NULL
     ORDER BY b.shop_id, b.order_id, b.line_no DESC;
    ANALYZE b_winners;  -- a temp table has no statistics until analyzed

    -- Orders that change nickname leave their customer and lead: queue both.
    CREATE TEMP TABLE b_moved ON COMMIT DROP AS
    SELECT o.shop_id, o.customer_nickname, o.lead_id
      FROM b_winners w JOIN etl.orders o ON o.shop_id = w.shop_id AND o.order_id = w.order_id
     WHERE o.customer_nickname <> w.nickname;
    ANALYZE b_moved;  -- a temp table has no statistics until analyzed
    INSERT INTO etl.pending_customer_refresh SELECT DISTINCT shop_id, customer_nickname FROM b_moved ON CONFLICT DO NOTHING;
    INSERT INTO etl.pending_lead_refresh SELECT DISTINCT lead_id FROM b_moved WHERE lead_id IS NOT NULL ON CONFLICT DO NOTHING;

    INSERT INTO etl.orders AS o (shop_id, order_id, customer_nickname, latest_status, order_type, system_order_type,
                                 amount, ordered_at, import_id, source_line_no, loaded_by_run)
    SELECT w.shop_id, w.order_id, w.nickname, w.status, w.order_type, w.system_order_type,
           w.amount_value, w.ordered_at, p_import, w.line_no, 0
      FROM b_winners w
    ON CONFLICT (shop_id, order_id) DO UPDATE SET
           customer_nickname = EXCLUDED.customer_nickname, latest_status = EXCLUDED.latest_status,
           order_type = EXCLUDED.order_type, system_order_type = EXCLUDED.system_order_type,
           amount = EXCLUDED.amount, ordered_at = EXCLUDED.ordered_at, import_id = EXCLUDED.import_id,
           source_line_no = EXCLUDED.source_line_no, loaded_by_run = EXCLUDED.loaded_by_run,
           customer_global_id = CASE WHEN o.customer_nickname = EXCLUDED.customer_nickname THEN o.customer_global_id END,
           lead_id = CASE WHEN o.customer_nickname = EXCLUDED.customer_nickname THEN o.lead_id END,
           updated_at = now();
    GET DIAGNOSTICS loaded = ROW_COUNT;
    RETURN loaded;
END
$fn$;

CREATE OR REPLACE FUNCTION baseline.run_customers(p_import uuid) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    CREATE TEMP TABLE b_keys ON COMMIT DROP AS
    SELECT DISTINCT o.shop_id, o.customer_nickname FROM etl.orders o WHERE o.import_id = p_import;
    ANALYZE b_keys;  -- a temp table has no statistics until analyzed

    INSERT INTO etl.customers (customer_global_id, shop_id, customer_nickname, customer_key)
    SELECT gen_random_uuid(), k.shop_id, k.customer_nickname, md5(k.shop_id::text || ':' || k.customer_nickname)
      FROM b_keys k
    ON CONFLICT (shop_id, customer_nickname) DO NOTHING;

    -- Through b_keys, whose size the planner knows: a plan cached for this
    -- function's parameter (plpgsql's generic plan, made when etl.orders was
    -- small or unanalyzed) otherwise hashes every customer for a 100-line
    -- import, a cost that grows with the history.
    UPDATE etl.orders o
       SET customer_global_id = c.customer_global_id, updated_at = now()
      FROM b_keys k
      JOIN etl.customers c ON c.shop_id = k.shop_id AND c.customer_nickname = k.customer_nickname
     WHERE o.import_id = p_import
       AND o.shop_id = k.shop_id AND o.customer_nickname = k.customer_nickname
       AND o.customer_global_id IS DISTINCT FROM c.customer_global_id;

    INSERT INTO b_keys SELECT p.shop_id, p.customer_nickname FROM etl.pending_customer_refresh p;
    DELETE FROM etl.pending_customer_refresh;

    UPDATE etl.customers c
       SET first_order_at = t.first_at, last_order_at = t.last_at
      FROM (SELECT k.shop_id, k.customer_nickname, min(o.ordered_at) AS first_at, max(o.ordered_at) AS last_at
              FROM (SELECT DISTINCT * FROM b_keys) k
              LEFT JOIN etl.orders o ON o.shop_id = k.shop_id AND o.customer_nickname = k.customer_nickname
             GROUP BY k.shop_id, k.customer_nickname) t
     WHERE c.shop_id = t.shop_id AND c.customer_nickname = t.customer_nickname
       AND (c.first_order_at, c.last_order_at) IS DISTINCT FROM (t.first_at, t.last_at);
END
$fn$;

CREATE OR REPLACE FUNCTION baseline.run_leads(p_import uuid) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    few boolean;
BEGIN
    -- The customers to attribute, materialized and analyzed: the statistics
    -- of etl.orders predate this import (its import_id is estimated at one
    -- row), and a CTE estimated at one row makes the planner nest loops over
    -- the current leads (80 s instead of 0.1 s at 100k lines).
    CREATE TEMP TABLE b_needs ON COMMIT DROP AS
    SELECT DISTINCT o.customer_global_id FROM etl.orders o
     WHERE o.import_id = p_import AND o.lead_id IS NULL AND o.customer_global_id IS NOT NULL;
    ANALYZE b_needs;

    CREATE TEMP TABLE b_plan ON COMMIT DROP AS
    WITH needs AS (
        SELECT customer_global_id FROM b_needs
    ), current_lead AS (
        SELECT DISTINCT ON (l.customer_global_id) l.customer_global_id, l.lead_id, l.current_stage
          FROM etl.business_leads l JOIN needs n USING (customer_global_id)
         ORDER BY l.customer_global_id, l.lead_no DESC
    )
    SELECT n.customer_global_id,
           coalesce(c.current_stage IN ('OPEN', 'COLD'), false) AS reuse,
           coalesce(c.current_stage = 'COLD', false) AS reopen,
           CASE WHEN c.current_stage IN ('OPEN', 'COLD') THEN c.lead_id ELSE gen_random_uuid() END AS lead_id
      FROM needs n LEFT JOIN current_lead c USING (customer_global_id);
    ANALYZE b_plan;  -- a temp table has no statistics until analyzed

    INSERT INTO etl.business_leads (lead_id, customer_global_id, current_stage)
    SELECT p.lead_id, p.customer_global_id, 'OPEN' FROM b_plan p WHERE NOT p.reuse ORDER BY p.customer_global_id;
    UPDATE etl.business_leads l SET current_stage = 'OPEN', updated_at = now()
      FROM b_plan p WHERE p.reopen AND l.lead_id = p.lead_id AND l.current_stage = 'COLD';
    UPDATE etl.orders o SET lead_id = p.lead_id, updated_at = now()
      FROM b_plan p
     WHERE o.import_id = p_import AND o.customer_global_id = p.customer_global_id AND o.lead_id IS NULL;

    -- The leads whose aggregates may change, materialized and analyzed (as
    -- b_needs, for the same reason as b_keys in run_customers).
    CREATE TEMP TABLE b_touched ON COMMIT DROP AS
    SELECT o.lead_id FROM etl.orders o WHERE o.import_id = p_import AND o.lead_id IS NOT NULL
    UNION
    SELECT p.lead_id FROM etl.pending_lead_refresh p;
    ANALYZE b_touched;

    -- Their orders: orders.lead_id has no index (the schema reaches a lead's
    -- orders through its customer's (shop_id, customer_nickname)). When few
    -- leads are touched (a small import), through their customers and that
    -- index: a join on lead_id alone would read every order of the table for
    -- a 100-line import. When many are (at least a tenth of the leads: a big
    -- import), one pass over etl.orders hashed on lead_id, which the planner
    -- does not pick for the indexed form (it nests 35k index probes at 100k
    -- lines, 3x slower). The leads are counted from the table's size, which
    -- is known without statistics (about 40 leads a page).
    SELECT count(*) * 10 < (SELECT greatest(c.reltuples, pg_relation_size(c.oid) / 8192 * 40)
                              FROM pg_class c WHERE c.oid = 'etl.business_leads'::regclass)
      INTO few
      FROM b_touched;
    EXECUTE format($q$
    UPDATE etl.business_leads l
       SET order_count = a.order_count, total_amount = a.total_amount,
           sample_count = a.sample_count, sample_amount = a.sample_amount,
           bulk_count = a.bulk_count, bulk_amount = a.bulk_amount,
           first_order_at = a.first_at, last_order_at = a.last_at, updated_at = now()
      FROM (SELECT t.lead_id,
                   count(o.lead_id)::int AS order_count,
                   coalesce(sum(o.amount), 0) AS total_amount,
                   count(o.lead_id) FILTER (WHERE o.system_order_type = 'SAMPLE')::int AS sample_count,
                   coalesce(sum(o.amount) FILTER (WHERE o.system_order_type = 'SAMPLE'), 0) AS sample_amount,
                   count(o.lead_id) FILTER (WHERE o.system_order_type = 'BULK')::int AS bulk_count,
                   coalesce(sum(o.amount) FILTER (WHERE o.system_order_type = 'BULK'), 0) AS bulk_amount,
                   min(o.ordered_at) AS first_at, max(o.ordered_at) AS last_at
              FROM b_touched t
              %s
             GROUP BY t.lead_id) a
     WHERE l.lead_id = a.lead_id
       AND (l.order_count, l.total_amount, l.sample_count, l.sample_amount, l.bulk_count, l.bulk_amount,
            l.first_order_at, l.last_order_at)
           IS DISTINCT FROM
           (a.order_count, a.total_amount, a.sample_count, a.sample_amount, a.bulk_count, a.bulk_amount,
            a.first_at, a.last_at)$q$,
        CASE WHEN few
             THEN $j$JOIN etl.business_leads tl ON tl.lead_id = t.lead_id
                     JOIN etl.customers c ON c.customer_global_id = tl.customer_global_id
                     LEFT JOIN etl.orders o ON o.shop_id = c.shop_id AND o.customer_nickname = c.customer_nickname
                                           AND o.lead_id = t.lead_id
                                           AND o.latest_status NOT IN ('CANCELLED', 'REFUNDED')$j$
             ELSE $j$LEFT JOIN etl.orders o ON o.lead_id = t.lead_id
                                           AND o.latest_status NOT IN ('CANCELLED', 'REFUNDED')$j$ END);
    DELETE FROM etl.pending_lead_refresh;
END
$fn$;
