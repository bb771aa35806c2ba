-- bench/small.sql: the loader of the benchmark's small imports (bench/run.py,
-- shapes `small` and `worker`): bench.write_import(k, lines, offset,
-- history_rows) writes import number k, `lines` raw lines, as a shop's
-- upload would, and leaves it pending; the caller completes it
-- (UPDATE etl.imports SET status = 'completed') in the same transaction.
--
--   psql -f bench/small.sql          (after CREATE EXTENSION etl_ext and
--                                     bench/generate.sql -v part=setup)
--   SELECT bench.write_import(1, 100, 0, 0);
--
-- The lines follow bench/generate.sql's rules and spellings (same shops,
-- same customer names, same dirt, amounts, statuses and time formats), but
-- every random number is a hash of the line's global number, so import k
-- has the same bytes whichever session writes it and whatever ran before:
-- the extension's and the baseline's databases receive the same imports.
-- Global line g = (k - 1) * lines + i; order numbers continue after the
-- history's (`offset`: 0 on an empty install; 2 x rows after generate.sql's
-- two imports of `rows` lines, `history_rows`). Of the lines:
--   ~15%  update a recent order (one of the last 20,000 order numbers, the
--         history's included): a status change, a new amount or time; one
--         in ten of these moves the order to another customer of its shop
--   ~3%   repeat an earlier line of the same import (superseded)
--   ~5%   are dirty, spread over every reject reason (as generate.sql)
--   the rest are new orders.
-- An order's shop and customer are hashes of its order number, as in
-- generate.sql: customers buy again, and the number of customer slots per
-- shop grows with the orders (at least 10 a shop, then about 0.4 customers
-- per order; the history's orders keep generate.sql's count), so a new order
-- often goes to a customer who bought before.
-- New orders are later than older ones (15 s apart on average).

CREATE SCHEMA IF NOT EXISTS bench;

-- A uniform number in [0, 1) from (x, seed).
CREATE OR REPLACE FUNCTION bench.u(x bigint, seed bigint) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ((hashint8extended(x, seed) & 2147483647) / 2147483648.0)::float8 $$;

CREATE OR REPLACE FUNCTION bench.write_import(k bigint, lines integer, order_offset bigint, history_rows bigint)
RETURNS uuid
LANGUAGE plpgsql AS $fn$
DECLARE
    id uuid := md5('bench small ' || k)::uuid;
BEGIN
    INSERT INTO etl.imports (import_id, source, status) VALUES (id, 'bench small ' || k, 'pending');

    INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name,
                                order_status, order_type, amount, ordered_at)
    SELECT id, g.i,
           CASE WHEN g.dirt = 1 THEN '  ' ELSE 'SO-' || lpad(g.n::text, 8, '0') END,
           CASE WHEN g.dirt = 3 THEN 'No Such Shop'
                WHEN g.dirt = 4 THEN 'Closed shop ' || (1 + g.i % 40)
                ELSE CASE WHEN g.r5 < 0.02 THEN E'\u3000' ELSE '' END
                     || CASE WHEN g.s % 7 = 0 THEN '旗舰店 ' || lpad(g.s::text, 4, '0')
                             WHEN g.s % 11 = 0 THEN 'Shop "' || lpad(g.s::text, 4, '0') || '"'
                             ELSE 'Shop ' || lpad(g.s::text, 4, '0') END
                     || CASE WHEN g.r5 > 0.97 THEN ' ' ELSE '' END END,
           CASE WHEN g.dirt = 2 THEN E'\u3000\t '
                ELSE CASE WHEN g.r6 < 0.03 THEN E'\u3000' ELSE '' END
                     || CASE g.j % 10 WHEN 0 THEN '王小明' || g.j
                                      WHEN 1 THEN 'Zoë O''Brien ' || g.j
                                      WHEN 2 THEN E'back\\slash ' || g.j
                                      ELSE 'cust-' || g.j END
                     || CASE WHEN g.r6 > 0.98 THEN E'\t' ELSE '' END END,
           (ARRAY['paid', 'Shipped', 'completed', 'completed', 'cancelled', 'REFUNDED', NULL,
                  ' délivré ', 'paid'])[1 + floor(g.r3 * 9)::int],
           (ARRAY['样品', 'sample', '批发', 'wholesale', NULL, 'gift', 'retail', ' Sample '])[1 + floor(g.r4 * 8)::int],
           CASE WHEN g.dirt = 5 THEN '¥1,2x4'
                WHEN g.dirt = 6 THEN '1234567890123.00'
                WHEN g.r4 < 0.3 THEN '¥' || to_char(round((g.r2 * 20000)::numeric, 3), 'FM999,990.000')
                WHEN g.r4 < 0.35 THEN round((g.r2 * 100)::numeric, 1)::text || '05'
                ELSE round((g.r2 * 5000)::numeric, 2)::text END,
           CASE WHEN g.dirt = 7 THEN CASE WHEN g.i % 2 = 0 THEN NULL ELSE '   ' END
                WHEN g.dirt = 8 THEN '2026-02-30 10:00:00'
                WHEN g.dirt = 9 THEN '2026-01-15 24:00:00'
                WHEN g.dirt = 10 THEN '2026-01-15T10:00:00+16:00'
                WHEN g.r1 < 0.50 THEN to_char(g.at, 'YYYY-MM-DD HH24:MI:SS')
                WHEN g.r1 < 0.75 THEN to_char(g.at, 'YYYY-MM-DD"T"HH24:MI:SS') || '+08:00'
                WHEN g.r1 < 0.85 THEN to_char(g.at, 'YYYY-MM-DD"T"HH24:MI:SS') || 'Z'
                ELSE to_char(g.at, 'YYYY-MM-DD') END
      FROM (SELECT o.*,
                   -- shop and customer slot of the order number, as generate.sql
                   1 + floor(3000 * power(bench.u(o.n, 11), 1.6))::int AS s,
                   (floor(bench.u(o.n, 17) * o.slots)::int + o.moved) % o.slots AS j,
                   timestamp '2025-01-01' + o.n * interval '15 seconds' + o.r2 * interval '1 hour' AS at
              FROM (SELECT l.*,
                           -- customer slots per shop: generate.sql's for the
                           -- history's orders (so they keep their customers);
                           -- after it at least 10, growing with the orders
                           CASE WHEN l.n <= order_offset
                                THEN greatest(2, ceil(history_rows * 0.4 / 3000))
                                ELSE greatest(10, ceil((history_rows + l.n - order_offset) * 0.4 / 3000)) END::int AS slots
                      FROM (SELECT c.*,
                                   CASE WHEN c.r0 < 0.15 AND order_offset + c.g > 1
                                             THEN order_offset + c.g - 1
                                                  - floor(c.r7 * least(order_offset + c.g - 1, 20000))::bigint
                                        WHEN c.r0 < 0.18 AND c.i > 1
                                             THEN order_offset + (k - 1) * lines + 1 + floor(c.r7 * (c.i - 1))::bigint
                                        ELSE order_offset + c.g END AS n,
                                   CASE WHEN c.r0 < 0.015 THEN 1 ELSE 0 END AS moved
                              FROM (SELECT i, (k - 1) * lines + i AS g,
                                           bench.u((k - 1) * lines + i, 100) AS r0,
                                           bench.u((k - 1) * lines + i, 101) AS r1,
                                           bench.u((k - 1) * lines + i, 102) AS r2,
                                           bench.u((k - 1) * lines + i, 103) AS r3,
                                           bench.u((k - 1) * lines + i, 104) AS r4,
                                           bench.u((k - 1) * lines + i, 105) AS r5,
                                           bench.u((k - 1) * lines + i, 106) AS r6,
                                           bench.u((k - 1) * lines + i, 107) AS r7,
                                           CASE WHEN bench.u((k - 1) * lines + i, 108) < 0.05
                                                THEN 1 + floor(bench.u((k - 1) * lines + i, 109) * 10)::int
                                                ELSE 0 END AS dirt
                                      FROM generate_series(1, lines) AS i) AS c) AS l) AS o) AS g;
    RETURN id;
END
$fn$;
