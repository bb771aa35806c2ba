//! The orders stage against the contract's section 3.1, on hand-made data.

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use crate::orders::load;
    use crate::tests::*;

    const IMPORT: &str = "a0000000-0000-7000-8000-000000000001";

    /// Eleven nasty lines; see each comment for what the contract makes of it.
    const LINES: &str = r#"
        (1, 'O1', 'S1', 'alice', 'paid', 'sample', '¥1,234.565', '2026-01-02 03:04:05'),      -- superseded by 9
        (2, E'\u3000O2\t', E' Shop "Two"\u3000', E'O''Brien \\ --', NULL, NULL, '12.345', '2026-01-02T03:04:05Z'),
        (3, 'O3', 'Old', 'bob', 'paid', 'sample', '1', '2026-01-01'),                        -- inactive shop
        (4, 'O4', 'S1', 'carl', 'Shipped', '样品', '0.995', '2024-02-29 23:59:59+15:59'),
        (5, '', 'S1', 'x', 'paid', NULL, '1', '2026-01-01'),                                 -- missing_order_id
        (6, 'O6', 'S1', 'dan', 'paid', 'gift', '1.', '2026-02-30'),                          -- bad_amount first
        (7, 'O7', 'S1', 'eve', 'paid', 'retail', '5', '2026-02-30'),                         -- bad_timestamp
        (8, 'O8', 'S1', 'fay', 'paid', NULL, '5', NULL),                                     -- missing_timestamp
        (9, 'O1', 'S1', 'alice', E' délivré\r\n', 'sample', '99', '2026-01-01'),             -- wins O1
        (10, 'O2', 'Shop "Two"', E'zed\u3000', E'\tpaid', NULL, '¥ bad', '2026-01-01'),      -- invalid, O2 stays line 2
        (11, 'O11', 'S1', E' \u3000', 'paid', 'x', '1', '2026-01-01')                        -- missing_customer
    "#;

    const EXPECTED_ORDERS: &str = "101|O1|alice|DéLIVRé|sample|SAMPLE|99.00|2025-12-31 16:00:00|t||\n\
                                   101|O4|carl|SHIPPED|样品|SAMPLE|1.00|2024-02-29 08:00:59|t||\n\
                                   102|O2|O'Brien \\ --|UNKNOWN||BULK|12.35|2026-01-02 03:04:05|t||";

    const EXPECTED_REJECTS: &str = "3|orders|unknown_shop\n5|orders|missing_order_id\n6|orders|bad_amount\n\
                                    7|orders|bad_timestamp\n8|orders|missing_timestamp\n10|orders|bad_amount\n\
                                    11|orders|missing_customer";

    fn orders_table() -> String {
        value(&format!(
            "SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', shop_id, order_id, customer_nickname,
                        latest_status, order_type, system_order_type, amount,
                        to_char(ordered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                        import_id = '{IMPORT}', customer_global_id, lead_id), E'\n' ORDER BY shop_id, order_id)
               FROM etl.orders"
        ))
    }

    fn rejects_table(import: &str) -> String {
        value(&format!(
            "SELECT string_agg(format('%s|%s|%s', line_no, stage, reason), E'\n' ORDER BY line_no)
               FROM etl.rejects WHERE import_id = '{import}'"
        ))
    }

    fn load_nasty_lines_with_batch_size(batch_size: i32) {
        fixtures();
        import(IMPORT, LINES);
        exec(&format!("SET LOCAL etl.batch_size = {batch_size}"));
        assert_eq!(stage("etl_orders", IMPORT), "orders partial_success in=11 ok=3 sup=1 rej=7 fail=0");
        assert_eq!(orders_table(), EXPECTED_ORDERS);
        assert_eq!(rejects_table(IMPORT), EXPECTED_REJECTS);
        let batches = int(&format!("SELECT batches FROM etl.runs WHERE import_id = '{IMPORT}' AND stage = 'orders'"));
        assert_eq!(batches, (11 + batch_size as i64 - 1) / batch_size as i64, "batches of {batch_size}");
    }

    #[pg_test]
    fn orders_nasty_lines_one_batch() {
        load_nasty_lines_with_batch_size(10_000);
    }

    #[pg_test]
    fn orders_nasty_lines_batches_of_1() {
        load_nasty_lines_with_batch_size(1);
    }

    #[pg_test]
    fn orders_nasty_lines_batches_of_2() {
        load_nasty_lines_with_batch_size(2);
    }

    #[pg_test]
    fn orders_nasty_lines_batches_of_3() {
        load_nasty_lines_with_batch_size(3);
    }

    #[pg_test]
    fn orders_rejects_keep_the_raw_line_as_imported() {
        fixtures();
        import(IMPORT, LINES);
        stage("etl_orders", IMPORT);
        // Keyed by the 7 text column names, values exactly as imported.
        let keys = value(&format!(
            "SELECT string_agg(DISTINCT k, ',' ORDER BY k)
               FROM etl.rejects r, jsonb_object_keys(r.raw) k WHERE r.import_id = '{IMPORT}'"
        ));
        assert_eq!(keys, "amount,customer_name,order_id,order_status,order_type,ordered_at,shop");
        let exact = boolean(&format!(
            r#"SELECT raw = jsonb_build_object('order_id', 'O2', 'shop', 'Shop "Two"', 'customer_name', E'zed\u3000',
                                      'order_status', E'\tpaid', 'order_type', NULL::text, 'amount', '¥ bad',
                                      'ordered_at', '2026-01-01')
                 FROM etl.rejects WHERE import_id = '{IMPORT}' AND line_no = 10"#
        ));
        assert!(exact, "raw of line 10");
        let exact = boolean(&format!(
            r#"SELECT raw = '{{"order_id": "", "shop": "S1", "customer_name": "x", "order_status": "paid",
                              "order_type": null, "amount": "1", "ordered_at": "2026-01-01"}}'::jsonb
                 FROM etl.rejects WHERE import_id = '{IMPORT}' AND line_no = 5"#
        ));
        assert!(exact, "raw of line 5");
        let null_time = boolean(&format!(
            "SELECT raw -> 'ordered_at' = 'null'::jsonb AND raw ->> 'customer_name' = 'fay'
               FROM etl.rejects WHERE import_id = '{IMPORT}' AND line_no = 8"
        ));
        assert!(null_time, "line 8 keeps its NULL ordered_at");
        // Every reject has a detail.
        assert_eq!(
            int(&format!(
                "SELECT count(*) FROM etl.rejects WHERE import_id = '{IMPORT}' AND coalesce(detail, '') = ''"
            )),
            0
        );
    }

    #[pg_test]
    fn orders_rerun_replaces_the_rejects() {
        fixtures();
        import(IMPORT, LINES);
        stage("etl_orders", IMPORT);
        // Another import's rejects are not touched by this import's re-run.
        let other = "a0000000-0000-7000-8000-0000000000ff";
        import(other, "(1, 'Z1', 'nope', 'a', 'paid', NULL, '1', '2026-01-01')");
        assert_eq!(stage("etl_orders", other), "orders partial_success in=1 ok=0 sup=0 rej=1 fail=0");

        exec("UPDATE etl.shops SET active = true WHERE shop_name = 'Old'");
        assert_eq!(stage("etl_orders", IMPORT), "orders partial_success in=11 ok=4 sup=1 rej=6 fail=0");
        assert_eq!(
            rejects_table(IMPORT),
            "5|orders|missing_order_id\n6|orders|bad_amount\n7|orders|bad_timestamp\n\
             8|orders|missing_timestamp\n10|orders|bad_amount\n11|orders|missing_customer"
        );
        assert_eq!(rejects_table(other), "1|orders|unknown_shop");
        assert_eq!(int("SELECT count(*) FROM etl.orders WHERE order_id = 'O3' AND shop_id = 103"), 1);
    }

    #[pg_test]
    fn orders_runs_row_counts_every_line_once() {
        fixtures();
        import(IMPORT, LINES);
        exec("SET LOCAL etl.batch_size = 4");
        stage("etl_orders", IMPORT);
        let row = value(&format!(
            "SELECT format('%s %s %s %s %s %s %s %s', status, rows_in, rows_ok, rows_superseded, rows_rejected,
                           rows_failed, batches, rows_in = rows_ok + rows_superseded + rows_rejected + rows_failed)
               FROM etl.runs WHERE import_id = '{IMPORT}' AND stage = 'orders'"
        ));
        assert_eq!(row, "partial_success 11 3 1 7 0 3 t");
    }

    #[pg_test]
    fn orders_local_times_follow_source_timezone_and_dst() {
        fixtures();
        exec("SET LOCAL etl.source_timezone = 'America/New_York'");
        import(
            IMPORT,
            "(1, 'D1', 'S1', 'a', NULL, NULL, '1', '2026-03-08 02:30:00'),
             (2, 'D2', 'S1', 'a', NULL, NULL, '1', '2026-11-01T01:30:00'),
             (3, 'D3', 'S1', 'a', NULL, NULL, '1', '2026-07-01'),
             (4, 'D4', 'S1', 'a', NULL, NULL, '1', '2026-03-08T02:30:00+08:00'),
             (5, 'D5', 'S1', 'a', NULL, NULL, '1', '2026-01-15 12:00:00'),
             (6, 'D6', 'S1', 'a', NULL, NULL, '1', '2026-11-01 01:30:00Z'),
             (7, 'D7', 'S1', 'a', NULL, NULL, '1', '0001-01-01 00:00:00-15:59'),
             (8, 'D8', 'S1', 'a', NULL, NULL, '1', '9999-12-31 23:59:59')",
        );
        assert_eq!(stage("etl_orders", IMPORT), "orders success in=8 ok=8 sup=0 rej=0 fail=0");
        // PostgreSQL's own reading of each local time, and the same as UTC.
        let got = value(
            "SELECT string_agg(format('%s %s %s', order_id,
                        ordered_at = CASE order_id
                            WHEN 'D1' THEN '2026-03-08 02:30:00'::timestamp AT TIME ZONE 'America/New_York'
                            WHEN 'D2' THEN '2026-11-01 01:30:00'::timestamp AT TIME ZONE 'America/New_York'
                            WHEN 'D3' THEN '2026-07-01 00:00:00'::timestamp AT TIME ZONE 'America/New_York'
                            WHEN 'D4' THEN '2026-03-08 02:30:00+08:00'::timestamptz
                            WHEN 'D5' THEN '2026-01-15 12:00:00'::timestamp AT TIME ZONE 'America/New_York'
                            WHEN 'D6' THEN '2026-11-01 01:30:00+00'::timestamptz
                            WHEN 'D7' THEN '0001-01-01 00:00:00-15:59'::timestamptz
                            WHEN 'D8' THEN '9999-12-31 23:59:59'::timestamp AT TIME ZONE 'America/New_York'
                        END,
                        to_char(ordered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')), E'\n' ORDER BY order_id)
               FROM etl.orders",
        );
        assert_eq!(
            got,
            "D1 t 2026-03-08 07:30:00\n\
             D2 t 2026-11-01 06:30:00\n\
             D3 t 2026-07-01 04:00:00\n\
             D4 t 2026-03-07 18:30:00\n\
             D5 t 2026-01-15 17:00:00\n\
             D6 t 2026-11-01 01:30:00\n\
             D7 t 0001-01-01 15:59:00\n\
             D8 t 10000-01-01 04:59:59"
        );
    }

    #[pg_test]
    fn orders_default_source_timezone_is_shanghai() {
        fixtures();
        import(IMPORT, "(1, 'T1', 'S1', 'a', NULL, NULL, '1', '2026-06-01 08:00:00')");
        stage("etl_orders", IMPORT);
        assert!(boolean("SELECT ordered_at = '2026-06-01 00:00:00+00' FROM etl.orders WHERE order_id = 'T1'"));
    }

    /// Ten lines, batches of 4 (lines 10..7, 6..3, 2..1): the winner of O03
    /// (line 4) and O07 (line 7) are refused by a user's trigger.
    const ISOLATION_LINES: &str = "
        (1, 'O03', 'S1', 'good', 'paid', NULL, '1', '2026-01-01'),
        (2, 'O02', 'S1', 'c2', 'paid', NULL, '2', '2026-01-01'),
        (3, 'O01', 'S1', 'c1', 'paid', NULL, '3', '2026-01-01'),
        (4, 'O03', 'S1', 'evil one', 'paid', NULL, '4', '2026-01-01'),
        (5, 'O05', 'S1', 'c5', 'paid', NULL, '5', '2026-01-01'),
        (6, 'O06', 'S1', 'c6', 'paid', NULL, '6', '2026-01-01'),
        (7, 'O07', 'S1', 'evil two', 'paid', NULL, '7', '2026-01-01'),
        (8, 'O08', 'S1', 'c8', 'paid', NULL, '8', '2026-01-01'),
        (9, 'O09', 'Old', 'c9', 'paid', NULL, '9', '2026-01-01'),
        (10, 'O10', 'S1', 'c10', 'paid', NULL, '10', '2026-01-01')";

    #[pg_test]
    fn orders_a_refused_line_fails_alone() {
        fixtures();
        exec(
            "CREATE FUNCTION public.etl_test_refuse_evil() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.customer_nickname LIKE 'evil%' THEN
                     RAISE EXCEPTION 'no evil customers: %', NEW.order_id;
                 END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER etl_test_refuse_evil BEFORE INSERT OR UPDATE ON etl.orders
                 FOR EACH ROW EXECUTE FUNCTION public.etl_test_refuse_evil();",
        );
        import(IMPORT, ISOLATION_LINES);
        exec("SET LOCAL etl.batch_size = 4");
        assert_eq!(stage("etl_orders", IMPORT), "orders partial_success in=10 ok=6 sup=1 rej=1 fail=2");
        assert_eq!(
            value("SELECT string_agg(order_id || ':' || amount, ',' ORDER BY order_id) FROM etl.orders"),
            "O01:3.00,O02:2.00,O05:5.00,O06:6.00,O08:8.00,O10:10.00"
        );
        assert_eq!(
            value(&format!(
                "SELECT string_agg(format('%s|%s|%s', line_no, reason, detail LIKE '%no evil customers: ' || (raw->>'order_id') || '%'),
                                   E'\n' ORDER BY line_no)
                   FROM etl.rejects WHERE import_id = '{IMPORT}'"
            )),
            "4|load_error|t\n7|load_error|t\n9|unknown_shop|f"
        );
        let run = value(&format!(
            "SELECT format('%s %s %s', status, rows_failed, rows_in = rows_ok + rows_superseded + rows_rejected + rows_failed)
               FROM etl.runs WHERE import_id = '{IMPORT}' AND stage = 'orders'"
        ));
        assert_eq!(run, "partial_success 2 t");
    }

    #[pg_test]
    fn orders_a_constraint_violation_fails_only_its_line() {
        fixtures();
        exec("ALTER TABLE etl.orders ADD CONSTRAINT etl_test_small_amount CHECK (amount < 1000)");
        import(
            IMPORT,
            "(1, 'A', 'S1', 'a', 'paid', NULL, '999.99', '2026-01-01'),
             (2, 'B', 'S1', 'b', 'paid', NULL, '1,000', '2026-01-01'),
             (3, 'C', 'S1', 'c', 'paid', NULL, '1', '2026-01-01')",
        );
        assert_eq!(stage("etl_orders", IMPORT), "orders partial_success in=3 ok=2 sup=0 rej=0 fail=1");
        assert_eq!(value("SELECT string_agg(order_id, ',' ORDER BY order_id) FROM etl.orders"), "A,C");
        assert_eq!(
            value(&format!("SELECT reason || ' ' || (detail LIKE '%etl_test_small_amount%') FROM etl.rejects WHERE import_id = '{IMPORT}' AND line_no = 2")),
            "load_error true"
        );
    }

    #[pg_test]
    fn orders_keys_straddling_batches_keep_the_greatest_valid_line() {
        fixtures();
        // K: lines 1, 4, 6 valid, 7 invalid; batches of 2 are (7,6) (5,4) (3,2) (1).
        import(
            IMPORT,
            "(1, 'K', 'S1', 'a', 'paid', NULL, '1', '2026-01-01'),
             (2, 'M', 'S1', 'm', 'paid', NULL, '2', '2026-01-01'),
             (3, 'M', 'S1', 'm', 'paid', NULL, '3', '2026-01-01'),
             (4, 'K', 'S1', 'a', 'paid', NULL, '4', '2026-01-01'),
             (5, 'N', 'S1', 'n', 'paid', NULL, '5', 'bad'),
             (6, 'K', 'S1', 'a', 'paid', NULL, '6', '2026-01-01'),
             (7, 'K', 'S1', 'a', 'paid', NULL, '-7', '2026-01-01')",
        );
        exec("SET LOCAL etl.batch_size = 2");
        assert_eq!(stage("etl_orders", IMPORT), "orders partial_success in=7 ok=2 sup=3 rej=2 fail=0");
        assert_eq!(
            value("SELECT string_agg(order_id || ':' || amount, ',' ORDER BY order_id) FROM etl.orders"),
            "K:6.00,M:3.00"
        );
    }

    #[pg_test]
    fn orders_read_by_shop_the_newest_valid_line_wins_whatever_its_white_space() {
        fixtures();
        // Batches of 1 over 9 lines: read shop by shop (more than 4 batches).
        // The sort looks up each line's trimmed shop: line 3 (' S1', 'K ')
        // sorts with line 1 ('S1', 'K') and, being newer, is read first.
        import(
            IMPORT,
            r#"(1, 'K', 'S1', 'alice', 'paid', NULL, '1', '2026-01-01'),
               (2, 'K', 'Shop "Two"', 'xavier', 'paid', NULL, '2', '2026-01-01'),
               (3, E'K\u3000', E' S1\u3000', 'carol', 'paid', NULL, '3', '2026-01-01'),
               (4, 'L', E'\tShop "Two"', 'yves', 'paid', NULL, '4', '2026-01-01'),
               (5, 'K', 'S1 ', 'dave', 'paid', NULL, '5', '2026-02-30'),
               (6, 'L', 'Shop "Two"', 'zoe', 'paid', NULL, '6', '2026-01-01'),
               (7, 'K', 'Old', 'olga', 'paid', NULL, '7', '2026-01-01'),
               (8, 'M', E'S1\r\n', 'mia', 'paid', NULL, '8', '2026-01-01'),
               (9, 'K', 'Nowhere', 'nina', 'paid', NULL, '9', '2026-01-01')"#,
        );

        // The order itself: shop by shop (the inactive one too: it only
        // sorts), newest first within each, unknown shops last.
        let id = Spi::get_one::<pgrx::Uuid>(&format!("SELECT '{IMPORT}'::uuid")).unwrap().unwrap();
        let mut sql = crate::services::spi::Sql::new();
        let cursor = load::open_raw_lines(&mut sql, id, load::LineOrder::ByShop).unwrap();
        let lines = load::fetch_raw_lines(&mut sql, &cursor, 100).unwrap();
        assert_eq!(lines.line_no, vec![8, 5, 3, 1, 6, 4, 2, 7, 9]);

        exec("SET LOCAL etl.batch_size = 1");
        assert_eq!(stage("etl_orders", IMPORT), "orders partial_success in=9 ok=4 sup=2 rej=3 fail=0");
        assert_eq!(
            value(
                "SELECT string_agg(format('%s|%s|%s|%s', shop_id, order_id, customer_nickname, amount), ',' \
                        ORDER BY shop_id, order_id) FROM etl.orders"
            ),
            "101|K|carol|3.00,101|M|mia|8.00,102|K|xavier|2.00,102|L|zoe|6.00"
        );
        assert_eq!(rejects_table(IMPORT), "5|orders|bad_timestamp\n7|orders|unknown_shop\n9|orders|unknown_shop");
        assert_eq!(
            value(&format!(
                "SELECT details ->> 'lines_by_shop' FROM etl.runs WHERE import_id = '{IMPORT}' AND stage = 'orders'"
            )),
            "1"
        );
    }

    /// Contract 3.1, class 54: a value too long for an index (a nickname and
    /// an order id of 1,500 random CJK characters, about 4,500 bytes that do
    /// not compress, over btree's 2,704) fails only its own line, as
    /// load_error with the database's message; the 100 good lines around it
    /// load, in one batch or in several.
    #[pg_test]
    fn orders_a_value_too_long_for_an_index_fails_only_its_line() {
        fixtures();
        let random_text = "(SELECT string_agg(chr(19968 + (random() * 20000)::int), '') FROM generate_series(1, 1500))";
        exec("SELECT setseed(0.54)");
        exec(&format!("INSERT INTO etl.imports (import_id, source, status) VALUES ('{IMPORT}', 'pg_test', 'pending')"));
        exec(&format!(
            "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
             SELECT '{IMPORT}', n, 'G' || n, 'S1', 'buyer ' || (n % 7), 'paid', NULL, '10', '2026-01-01'
               FROM generate_series(1, 100) n;
             INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
             VALUES ('{IMPORT}', 101, 'LONG-NICK', 'S1', {random_text}, 'paid', NULL, '10', '2026-01-01'),
                    ('{IMPORT}', 102, {random_text}, 'S1', 'zed', 'paid', NULL, '10', '2026-01-01');
             UPDATE etl.imports SET status = 'completed' WHERE import_id = '{IMPORT}'"
        ));
        for batch_size in [1000, 7] {
            exec(&format!("SET LOCAL etl.batch_size = {batch_size}"));
            assert_eq!(stage("etl_orders", IMPORT), "orders partial_success in=102 ok=100 sup=0 rej=0 fail=2");
            assert_eq!(int("SELECT count(*) FROM etl.orders"), 100, "batches of {batch_size}");
            assert_eq!(
                value(&format!(
                    "SELECT string_agg(line_no || ':' || reason || ':' || (detail LIKE '%index row%'), ',' ORDER BY line_no)
                       FROM etl.rejects WHERE import_id = '{IMPORT}'"
                )),
                "101:load_error:true,102:load_error:true",
                "batches of {batch_size}"
            );
        }
    }
}
