-- Benchmark data: shops, mappings, and two imports of :rows raw lines each.
-- The first (:'warm_id') is loaded and run before the clock starts, so the
-- timed import (:'import_id') meets a table of earlier orders:
--   about 20% of its order ids update orders of the warm-up import (some of
--   them with another nickname), about 5% of its lines are dirty (every
--   reject reason), about 3% repeat an order id inside the import, and its
--   customers spread over a few thousand shops.
-- psql variables: rows, seed, warm_id, import_id.
SELECT setseed(:seed);

INSERT INTO etl.shops (shop_name, platform, active)
SELECT 'shop ' || s, (ARRAY['tmall', 'jd', 'douyin', 'pdd'])[1 + s % 4], s % 500 <> 0
  FROM generate_series(1, 3000) AS s
ON CONFLICT (shop_name) DO NOTHING;
INSERT INTO etl.order_type_mappings (raw_order_type, system_order_type)
VALUES ('样品', 'SAMPLE'), ('sample', 'SAMPLE'), ('批发', 'BULK'), ('wholesale', 'BULK'), ('gift', 'GIFT')
ON CONFLICT (raw_order_type) DO NOTHING;

INSERT INTO etl.imports (import_id, source, status, completed_at)
VALUES (:'warm_id', 'bench warm-up', 'pending', now() - interval '1 hour'),
       (:'import_id', 'bench', 'pending', now());

-- The warm-up import: clean lines, order ids W-<n>.
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
SELECT :'warm_id', n,
       'W-' || n,
       'shop ' || (1 + (n * 7919) % 2999),
       'customer ' || ((n * 104729) % greatest(:rows / 5, 1)),
       (ARRAY['paid', 'shipped', 'completed', 'cancelled'])[1 + n % 4],
       (ARRAY['样品', 'sample', '批发', 'wholesale', 'gift', NULL, 'retail'])[1 + n % 7],
       ((n * 7) % 100000)::text || '.' || lpad(((n * 13) % 1000)::text, 3, '0'),
       to_char(timestamp '2025-06-01' + (n % 200000) * interval '97 seconds', 'YYYY-MM-DD HH24:MI:SS')
  FROM generate_series(1, :rows) AS n;

-- The timed import.
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
SELECT :'import_id', g.n,
       CASE WHEN g.dirt = 1 THEN ' '
            WHEN g.r1 < 0.20 THEN 'W-' || (1 + floor(g.r2 * :rows)::int)           -- updates an earlier order
            WHEN g.r1 < 0.23 THEN 'T-' || (1 + floor(g.r2 * greatest(g.n - 1, 1))::int) -- repeats an id of this import
            ELSE 'T-' || g.n END,
       CASE WHEN g.dirt = 2 THEN 'no such shop'
            WHEN g.dirt = 3 THEN 'shop 500'                                      -- inactive
            WHEN g.r1 < 0.20 THEN 'shop ' || (1 + ((1 + floor(g.r2 * :rows)::int) * 7919) % 2999)
            ELSE 'shop ' || (1 + floor(g.r3 * 2999)::int) END,
       CASE WHEN g.dirt = 4 THEN E'\u3000'
            -- An update keeps its order's customer, except 1 in 10 (a nickname change).
            WHEN g.r1 < 0.20 AND g.r4 > 0.1 THEN 'customer ' || (((1 + floor(g.r2 * :rows)::int) * 104729) % greatest(:rows / 5, 1))
            WHEN g.r5 < 0.02 THEN E'O''Brien \\ ' || floor(g.r4 * 50)::int
            ELSE 'customer ' || floor(g.r4 * greatest(:rows / 5, 1))::int END,
       (ARRAY['paid', 'Shipped', ' completed ', 'cancelled', 'REFUNDED', NULL])[1 + floor(g.r5 * 6)::int],
       (ARRAY['样品', 'sample', '批发', 'wholesale', 'gift', NULL, 'retail'])[1 + floor(g.r3 * 7)::int],
       CASE WHEN g.dirt = 5 THEN '¥12,3x5'
            WHEN g.dirt = 6 THEN '9999999999999'
            WHEN g.r5 < 0.3 THEN '¥' || to_char(round((g.r3 * 20000)::numeric, 3), 'FM999,990.000')
            ELSE round((g.r3 * 5000)::numeric, 3)::text END,
       CASE WHEN g.dirt = 7 THEN '2026-02-30 10:00:00'
            WHEN g.dirt = 8 THEN NULL
            WHEN g.r2 < 0.6 THEN to_char(timestamp '2026-01-01' + g.r4 * interval '300 days', 'YYYY-MM-DD HH24:MI:SS')
            WHEN g.r2 < 0.9 THEN to_char(timestamp '2026-01-01' + g.r4 * interval '300 days', 'YYYY-MM-DD"T"HH24:MI:SS') || '+08:00'
            ELSE to_char(timestamp '2026-01-01' + g.r4 * interval '300 days', 'YYYY-MM-DD') END
  FROM (SELECT n,
               CASE WHEN random() < 0.05 THEN 1 + floor(random() * 8)::int ELSE 0 END AS dirt,
               random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5
          FROM generate_series(1, :rows) AS n) AS g;

UPDATE etl.imports SET status = 'completed' WHERE import_id IN (:'warm_id', :'import_id');
ANALYZE etl.raw_orders;
