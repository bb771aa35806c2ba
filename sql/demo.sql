-- etl_demo_import(rows, seed): a realistic, reproducible demo import.
--
-- Creates a few shops and order-type mappings (if missing), then one import
-- of `rows` raw lines: mostly clean orders, some updating earlier order ids,
-- and about 5% dirty lines (missing fields, unknown shops, bad amounts such
-- as '¥1,2x4', impossible dates such as 2026-02-30, full-width spaces and
-- quotes in names). The same seed gives the same lines. The import is left
-- 'completed', ready for etl_run_all().
CREATE FUNCTION etl_demo_import(rows integer DEFAULT 1000, seed double precision DEFAULT 0.42)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_import uuid := pg_catalog.etl_uuid_v7();
BEGIN
    IF rows IS NULL OR rows < 0 THEN
        RAISE EXCEPTION 'etl_demo_import: rows must be a non-negative number, not %', rows
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF seed IS NULL OR seed < -1 OR seed > 1 THEN
        RAISE EXCEPTION 'etl_demo_import: seed must be between -1 and 1, not %', seed
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    INSERT INTO etl.shops (shop_name, platform, active)
    VALUES ('Tmall Flagship', 'tmall', true),
           ('JD Outlet', 'jd', true),
           ('Douyin Live', 'douyin', true),
           ('Pinduoduo "Deals"', 'pdd', true),
           ('Old Taobao Store', 'taobao', false)
    ON CONFLICT (shop_name) DO NOTHING;

    INSERT INTO etl.order_type_mappings (raw_order_type, system_order_type)
    VALUES ('样品', 'SAMPLE'), ('sample', 'SAMPLE'), ('Sample', 'SAMPLE'),
           ('批发', 'BULK'), ('wholesale', 'BULK'), ('gift', 'GIFT')
    ON CONFLICT (raw_order_type) DO NOTHING;

    INSERT INTO etl.imports (import_id, source, status)
    VALUES (new_import, format('etl_demo_import(%s, %s)', rows, seed), 'pending');

    PERFORM setseed(seed);
    INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name,
                                order_status, order_type, amount, ordered_at)
    SELECT new_import, g.n,
           CASE WHEN g.dirt = 1 THEN '   '
                -- About 10% reuse an earlier order id of this import (dedup) or
                -- of an earlier demo import (an update).
                WHEN g.r1 < 0.10 THEN 'SO-' || lpad((1 + floor(g.r2 * greatest(g.n, 1)))::int::text, 7, '0')
                ELSE 'SO-' || lpad(g.n::text, 7, '0') END,
           CASE WHEN g.dirt = 2 THEN 'No Such Shop'
                WHEN g.dirt = 3 THEN 'Old Taobao Store'
                ELSE (ARRAY['Tmall Flagship', ' JD Outlet', 'Douyin Live',
                            'Pinduoduo "Deals"', E'Tmall Flagship\u3000'])[1 + floor(g.r3 * 5)::int] END,
           CASE WHEN g.dirt = 4 THEN E'\u3000 \t'
                ELSE (ARRAY['王小明', 'Li Lei', 'O''Brien', E'back\\slash', '张 伟',
                            E'\u3000小红\u3000', 'alice--bob', 'Zoë'])[1 + floor(g.r4 * 8)::int]
                     || CASE WHEN g.r5 < 0.7 THEN '' ELSE ' #' || floor(g.r5 * 40)::int END END,
           (ARRAY['paid', 'Shipped', 'completed', 'cancelled', 'REFUNDED', NULL, ' délivré '])[1 + floor(g.r6 * 7)::int],
           (ARRAY['样品', 'sample', '批发', 'wholesale', NULL, 'gift', 'retail'])[1 + floor(g.r2 * 7)::int],
           CASE WHEN g.dirt = 5 THEN '¥1,2x4'
                WHEN g.dirt = 6 THEN '1234567890123.00'
                WHEN g.r6 < 0.3 THEN '¥' || to_char(round((g.r3 * 20000)::numeric, 3), 'FM999,990.000')
                ELSE round((g.r3 * 5000)::numeric, 2)::text END,
           CASE WHEN g.dirt = 7 THEN '2026-02-30 10:00:00'
                WHEN g.dirt = 8 THEN NULL
                WHEN g.r1 < 0.5 THEN to_char(timestamp '2026-01-01' + g.r4 * interval '300 days', 'YYYY-MM-DD HH24:MI:SS')
                WHEN g.r1 < 0.8 THEN to_char(timestamp '2026-01-01' + g.r5 * interval '300 days', 'YYYY-MM-DD"T"HH24:MI:SS') || '+08:00'
                ELSE to_char(timestamp '2026-01-01' + g.r2 * interval '300 days', 'YYYY-MM-DD') END
      FROM (SELECT n,
                   -- One line in twenty is dirty, in one of eight ways.
                   CASE WHEN random() < 0.05 THEN 1 + floor(random() * 8)::int ELSE 0 END AS dirt,
                   random() AS r1, random() AS r2, random() AS r3, random() AS r4,
                   random() AS r5, random() AS r6
              FROM generate_series(1, rows) AS n) AS g;

    UPDATE etl.imports SET status = 'completed', completed_at = now() WHERE import_id = new_import;
    RETURN new_import;
END
$$;
COMMENT ON FUNCTION etl_demo_import(integer, double precision) IS
    'Creates a reproducible demo import of `rows` raw order lines (about 5% dirty) and marks it completed.';
