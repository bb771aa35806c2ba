-- bench/generate.sql: set-based, reproducible benchmark data for etl_ext.
--
--   psql -v rows=100000 -v seed=0.42 -f bench/generate.sql   (in a database
--   where CREATE EXTENSION etl_ext has been run)
--   psql ... -v part=first -f bench/generate.sql   the first import only
--   psql ... -v part=setup -f bench/generate.sql   shops and mappings only
--
-- part (default all): `all` writes everything below and analyzes the raw
-- lines and lookup tables; `first` writes the shops, the mappings and the
-- warm-up import only (the same lines as with `all`), completes it and runs
-- no VACUUM or ANALYZE: the state of a fresh install that just received its
-- first import; `setup` writes the shops and mappings only (no import).
-- Creates 3000 active shops (plus 40 inactive ones), the order-type mappings
-- and two completed imports of :rows raw lines each:
--   'bench warm-up'  order numbers 1..rows (about 5% repeat an earlier line
--                    of the same import: superseded lines)
--   'bench timed'    about 20% of the lines update an order of the warm-up
--                    import (same shop and order id; one in ten of them with
--                    another customer nickname), about 5% repeat an earlier
--                    line of the same import, the rest are new orders.
-- In both, about 5% of the lines are dirty, spread over the contract's
-- reject reasons. Customers: shop s(k) and customer j(k) of order number k
-- are hashes of k, so an order keeps its customer across imports; there are
-- about rows*0.4 customer slots, shops have a skewed size distribution.
-- Everything is deterministic for a given :rows and :seed.

\set ON_ERROR_STOP 1
\if :{?part}
\else
\set part all
\endif
SELECT :'part' IN ('all', 'first', 'setup') AS part_known,
       :'part' = 'all' AS part_all, :'part' <> 'setup' AS part_lines \gset
\if :part_known
\else
\warn 'generate.sql: part must be all, first or setup'
\quit
\endif
SET max_parallel_workers_per_gather = 0;   -- random() must stay in one process to be seeded
SET client_min_messages = warning;

BEGIN;

INSERT INTO etl.shops (shop_name, platform, active)
SELECT CASE WHEN s % 7 = 0 THEN '旗舰店 ' || lpad(s::text, 4, '0')
            WHEN s % 11 = 0 THEN 'Shop "' || lpad(s::text, 4, '0') || '"'
            ELSE 'Shop ' || lpad(s::text, 4, '0') END,
       (ARRAY['tmall', 'jd', 'douyin', 'pdd', 'taobao'])[1 + s % 5],
       true
  FROM generate_series(1, 3000) AS s
ON CONFLICT (shop_name) DO NOTHING;
INSERT INTO etl.shops (shop_name, platform, active)
SELECT 'Closed shop ' || s, 'taobao', false FROM generate_series(1, 40) AS s
ON CONFLICT (shop_name) DO NOTHING;

INSERT INTO etl.order_type_mappings (raw_order_type, system_order_type)
VALUES ('样品', 'SAMPLE'), ('sample', 'SAMPLE'), ('Sample', 'SAMPLE'),
       ('批发', 'BULK'), ('wholesale', 'BULK'), ('gift', 'GIFT')
ON CONFLICT (raw_order_type) DO NOTHING;

\if :part_lines
-- Deterministic import ids (so every database made from this template
-- agrees on them).
-- The warm-up import is an hour older: the extension lets the later import
-- (by completion time) win an order, so equal times would be a tie.
INSERT INTO etl.imports (import_id, source, status, created_at)
SELECT i.*
  FROM (VALUES (md5('bench warm-up ' || :rows || ' ' || :seed)::uuid, 'bench warm-up', 'pending', now() - interval '1 hour'),
               (md5('bench timed '   || :rows || ' ' || :seed)::uuid, 'bench timed',   'pending', now()))
       AS i(import_id, source, status, created_at)
 WHERE :'part_all'::boolean OR i.source = 'bench warm-up';

SELECT setseed(:seed);

-- One statement per import; `phase` 0 = warm-up, 1 = timed.
INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name,
                            order_status, order_type, amount, ordered_at)
SELECT g.import_id, g.i,
       -- order id
       CASE WHEN g.dirt = 1 THEN '  ' ELSE 'SO-' || lpad(g.k::text, 8, '0') END,
       -- shop
       CASE WHEN g.dirt = 3 THEN 'No Such Shop'
            WHEN g.dirt = 4 THEN 'Closed shop ' || (1 + g.i % 40)
            ELSE CASE WHEN g.r5 < 0.02 THEN E'\u3000' ELSE '' END
                 || CASE WHEN g.s % 7 = 0 THEN '旗舰店 ' || lpad(g.s::text, 4, '0')
                         WHEN g.s % 11 = 0 THEN 'Shop "' || lpad(g.s::text, 4, '0') || '"'
                         ELSE 'Shop ' || lpad(g.s::text, 4, '0') END
                 || CASE WHEN g.r5 > 0.97 THEN ' ' ELSE '' END END,
       -- customer
       CASE WHEN g.dirt = 2 THEN E'\u3000\t '
            ELSE CASE WHEN g.r6 < 0.03 THEN E'\u3000' ELSE '' END
                 || CASE g.j % 10 WHEN 0 THEN '王小明' || g.j
                                  WHEN 1 THEN 'Zoë O''Brien ' || g.j
                                  WHEN 2 THEN E'back\\slash ' || g.j
                                  ELSE 'cust-' || g.j END
                 || CASE WHEN g.r6 > 0.98 THEN E'\t' ELSE '' END END,
       -- status
       (ARRAY['paid', 'Shipped', 'completed', 'completed', 'cancelled', 'REFUNDED', NULL,
              ' délivré ', 'paid'])[1 + floor(g.r3 * 9)::int],
       -- order type
       (ARRAY['样品', 'sample', '批发', 'wholesale', NULL, 'gift', 'retail', ' Sample '])[1 + floor(g.r4 * 8)::int],
       -- amount
       CASE WHEN g.dirt = 5 THEN '¥1,2x4'
            WHEN g.dirt = 6 THEN '1234567890123.00'
            WHEN g.r4 < 0.3 THEN '¥' || to_char(round((g.r2 * 20000)::numeric, 3), 'FM999,990.000')
            WHEN g.r4 < 0.35 THEN round((g.r2 * 100)::numeric, 1)::text || '05'
            ELSE round((g.r2 * 5000)::numeric, 2)::text END,
       -- ordered_at
       CASE WHEN g.dirt = 7 THEN CASE WHEN g.i % 2 = 0 THEN NULL ELSE '   ' END
            WHEN g.dirt = 8 THEN '2026-02-30 10:00:00'
            WHEN g.dirt = 9 THEN '2026-01-15 24:00:00'
            WHEN g.dirt = 10 THEN '2026-01-15T10:00:00+16:00'
            WHEN g.r1 < 0.50 THEN to_char(g.at, 'YYYY-MM-DD HH24:MI:SS')
            WHEN g.r1 < 0.75 THEN to_char(g.at, 'YYYY-MM-DD"T"HH24:MI:SS') || '+08:00'
            WHEN g.r1 < 0.85 THEN to_char(g.at, 'YYYY-MM-DD"T"HH24:MI:SS') || 'Z'
            ELSE to_char(g.at, 'YYYY-MM-DD') END
  FROM (SELECT l.*,
               1 + floor(3000 * power(((hashint8extended(l.k, 11) & 2147483647) / 2147483648.0)::float8, 1.6))::int AS s,
               -- the customer slot of the order; a nickname change moves it to the next slot
               (floor(((hashint8extended(l.k, 17) & 2147483647) / 2147483648.0)::float8
                      * greatest(2, ceil(:rows * 0.4 / 3000)))::int + l.moved)
                 % greatest(2, ceil(:rows * 0.4 / 3000))::int AS j,
               timestamp '2025-01-01' + l.r2 * interval '400 days' AS at
          FROM (SELECT p.import_id, p.phase, n.i, n.r0, n.r1, n.r2, n.r3, n.r4, n.r5, n.r6, n.dirt,
                       CASE WHEN p.phase = 1 AND n.r0 < 0.20
                                 THEN 1 + floor(n.r7 * :rows)::bigint               -- an order of the warm-up import
                            WHEN p.phase = 1 AND n.r0 < 0.25 AND n.i > 1
                                 THEN :rows + 1 + floor(n.r7 * (n.i - 1))::bigint   -- an earlier line of this import
                            WHEN p.phase = 0 AND n.r0 < 0.05 AND n.i > 1
                                 THEN 1 + floor(n.r7 * (n.i - 1))::bigint
                            ELSE p.phase::bigint * :rows + n.i END AS k,
                       CASE WHEN p.phase = 1 AND n.r0 < 0.02 THEN 1 ELSE 0 END AS moved
                  FROM (VALUES (0, md5('bench warm-up ' || :rows || ' ' || :seed)::uuid),
                               (1, md5('bench timed '   || :rows || ' ' || :seed)::uuid)) AS p(phase, import_id)
                 CROSS JOIN LATERAL (
                       SELECT i, random() AS r0, random() AS r1, random() AS r2, random() AS r3,
                              random() AS r4, random() AS r5, random() AS r6, random() AS r7,
                              -- one line in twenty is dirty, in one of ten ways
                              CASE WHEN random() < 0.05 THEN 1 + floor(random() * 10)::int ELSE 0 END AS dirt
                         FROM generate_series(1, :rows) AS i
                         WHERE p.phase >= 0) AS n
                 -- part=first: the warm-up import alone (phase 0 draws its
                 -- random numbers first, so its lines are the same)
                 WHERE :'part_all'::boolean OR p.phase = 0) AS l) AS g;

UPDATE etl.imports SET status = 'completed', completed_at = created_at + interval '1 minute' WHERE source LIKE 'bench %';
\endif
COMMIT;

-- A fresh install that just received its first import has no statistics.
\if :part_all

VACUUM ANALYZE etl.raw_orders;
VACUUM ANALYZE etl.shops;
VACUUM ANALYZE etl.order_type_mappings;
VACUUM ANALYZE etl.imports;
\endif
