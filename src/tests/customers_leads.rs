//! The customers and leads stages (contract 3.2 and 3.3), upserts across
//! imports and re-runs, on hand-made data.

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use crate::tests::*;

    const A: &str = "b0000000-0000-7000-8000-00000000000a";
    const B: &str = "b0000000-0000-7000-8000-00000000000b";
    const C: &str = "b0000000-0000-7000-8000-00000000000c";

    fn utc(column: &str) -> String {
        format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')")
    }

    /// `first|last` order times (UTC) of a customer, with its key.
    fn customer(shop: i64, nick: &str) -> String {
        value(&format!(
            "SELECT format('%s|%s|%s', customer_key, {}, {})
               FROM etl.customers WHERE shop_id = {shop} AND customer_nickname = $n${nick}$n$",
            utc("first_order_at"),
            utc("last_order_at")
        ))
    }

    /// `first|last` order times (UTC) of the customer named `nick`.
    fn times_of(nick: &str) -> String {
        value(&format!(
            "SELECT format('%s|%s', {}, {}) FROM etl.customers WHERE customer_nickname = $n${nick}$n$",
            utc("first_order_at"),
            utc("last_order_at")
        ))
    }

    /// Every lead of a customer (shop 101), oldest first:
    /// `stage|count|total|samples|sample amount|bulks|bulk amount|first|last|orders`.
    fn leads_of(nick: &str) -> String {
        value(&format!(
            "SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', l.current_stage, l.order_count, l.total_amount,
                        l.sample_count, l.sample_amount, l.bulk_count, l.bulk_amount, {}, {},
                        (SELECT string_agg(o.order_id, '+' ORDER BY o.order_id) FROM etl.orders o WHERE o.lead_id = l.lead_id)),
                        ' / ' ORDER BY l.lead_no)
               FROM etl.business_leads l JOIN etl.customers c USING (customer_global_id)
              WHERE c.shop_id = 101 AND c.customer_nickname = $n${nick}$n$",
            utc("l.first_order_at"),
            utc("l.last_order_at")
        ))
    }

    fn run_all(id: &str) -> String {
        stage("etl_run_all", id)
    }

    #[pg_test]
    fn customers_are_created_once_with_md5_keys_and_order_times() {
        fixtures();
        import(
            A,
            r#"(1, 'O1', 'S1', 'alice', 'paid', 'sample', '10', '2026-01-05 00:00:00'),
               (2, 'O2', 'S1', 'alice', 'paid', NULL, '20', '2026-01-03 00:00:00'),
               (3, 'O3', 'Shop "Two"', 'alice', 'paid', NULL, '30', '2026-01-04'),
               (4, 'O4', 'S1', E'O''Brien \\ --', 'paid', NULL, '1', '2026-01-01T00:00:00Z')"#,
        );
        stage("etl_orders", A);
        assert_eq!(value(&format!("SELECT status FROM etl_customers('{A}')")), "success");
        assert_eq!(int("SELECT count(*) FROM etl.customers"), 3);
        assert_eq!(customer(101, "alice"), "a79dc4b87a42d35af69583a82c082101|2026-01-02 16:00:00|2026-01-04 16:00:00");
        assert_eq!(customer(102, "alice"), "d051e647b6347131abbf941a63328995|2026-01-03 16:00:00|2026-01-03 16:00:00");
        assert_eq!(
            customer(101, "O'Brien \\ --"),
            "8f12e8fd4e429fdabdef63832cc7905f|2026-01-01 00:00:00|2026-01-01 00:00:00"
        );
        assert_eq!(int(&format!("SELECT count(*) FROM etl.customers WHERE NOT {}", v7("customer_global_id"))), 0);
        // Every order of the import points at its own customer.
        assert_eq!(
            int("SELECT count(*) FROM etl.orders o JOIN etl.customers c
                   ON c.customer_global_id = o.customer_global_id
                  AND c.shop_id = o.shop_id AND c.customer_nickname = o.customer_nickname"),
            4
        );
        let alice = value(
            "SELECT customer_global_id::text FROM etl.customers WHERE shop_id = 101 AND customer_nickname = 'alice'",
        );

        // A later import: an earlier order and a later time for an existing order.
        import(
            B,
            "(1, 'O5', 'S1', 'alice', 'paid', NULL, '1', '2025-12-31 00:00:00'),
             (2, 'O1', 'S1', 'alice', 'paid', NULL, '1', '2026-02-01 00:00:00')",
        );
        stage("etl_orders", B);
        stage("etl_customers", B);
        assert_eq!(int("SELECT count(*) FROM etl.customers"), 3, "no customer is created twice");
        assert_eq!(customer(101, "alice"), "a79dc4b87a42d35af69583a82c082101|2025-12-30 16:00:00|2026-01-31 16:00:00");
        assert_eq!(
            value("SELECT string_agg(DISTINCT customer_global_id::text, ',') FROM etl.orders WHERE shop_id = 101 AND customer_nickname = 'alice'"),
            alice
        );
    }

    #[pg_test]
    fn upsert_replaces_every_value_column_and_import_id() {
        fixtures();
        import(A, "(1, 'O1', 'S1', 'alice', 'paid', 'sample', '10', '2026-01-01 10:00:00')");
        run_all(A);
        let before = value("SELECT customer_global_id || ' ' || lead_id FROM etl.orders WHERE order_id = 'O1'");
        import(B, "(1, 'O1', 'S1', E'\\u3000alice', ' cancelled ', NULL, '20.004', '2026-02-01T00:00:00Z')");
        assert_eq!(stage("etl_orders", B), "orders success in=1 ok=1 sup=0 rej=0 fail=0");
        let row = value(&format!(
            "SELECT format('%s|%s|%s|%s|%s|%s|%s|%s', customer_nickname, latest_status, order_type, system_order_type,
                           amount, {}, import_id = '{B}', customer_global_id || ' ' || lead_id)
               FROM etl.orders WHERE order_id = 'O1'",
            utc("ordered_at")
        ));
        assert_eq!(row, format!("alice|CANCELLED||BULK|20.00|2026-02-01 00:00:00|t|{before}"));
        stage("etl_customers", B);
        stage("etl_leads", B);
        // The only order is cancelled now: the lead has nothing left.
        assert_eq!(leads_of("alice"), "OPEN|0|0.00|0|0.00|0|0.00|||O1");
        // Customers' times cover every order, cancelled or not.
        assert_eq!(customer(101, "alice"), "a79dc4b87a42d35af69583a82c082101|2026-02-01 00:00:00|2026-02-01 00:00:00");
    }

    #[pg_test]
    fn nickname_change_moves_the_order_and_recomputes_what_it_left() {
        fixtures();
        import(
            A,
            "(1, 'O1', 'S1', 'alice', 'paid', 'sample', '10', '2026-01-01 10:00:00'),
             (2, 'O2', 'S1', 'alice', 'paid', NULL, '20', '2026-01-02 10:00:00'),
             (3, 'O3', 'S1', 'carol', 'paid', 'gift', '5', '2026-01-03 10:00:00')",
        );
        run_all(A);
        assert_eq!(leads_of("alice"), "OPEN|2|30.00|1|10.00|1|20.00|2026-01-01 02:00:00|2026-01-02 02:00:00|O1+O2");
        assert_eq!(leads_of("carol"), "OPEN|1|5.00|0|0.00|0|0.00|2026-01-03 02:00:00|2026-01-03 02:00:00|O3");

        import(
            B,
            "(1, 'O1', 'S1', 'bob', 'paid', 'sample', '10', '2026-01-01 10:00:00'),
             (2, 'O3', 'S1', 'bob', 'paid', 'gift', '5', '2026-01-03 10:00:00')",
        );
        stage("etl_orders", B);
        assert_eq!(
            value("SELECT string_agg(format('%s %s %s %s', order_id, customer_nickname, customer_global_id IS NULL, lead_id IS NULL), ',' ORDER BY order_id) FROM etl.orders"),
            "O1 bob t t,O2 alice f f,O3 bob t t"
        );
        stage("etl_customers", B);
        assert_eq!(customer(101, "alice"), "a79dc4b87a42d35af69583a82c082101|2026-01-02 02:00:00|2026-01-02 02:00:00");
        assert_eq!(customer(101, "bob"), "8ed977185402e4857363fe4e428f59ba|2026-01-01 02:00:00|2026-01-03 02:00:00");
        // carol has no order left.
        assert_eq!(
            value("SELECT format('%s|%s', first_order_at, last_order_at) FROM etl.customers WHERE customer_nickname = 'carol'"),
            "|"
        );
        stage("etl_leads", B);
        assert_eq!(leads_of("alice"), "OPEN|1|20.00|0|0.00|1|20.00|2026-01-02 02:00:00|2026-01-02 02:00:00|O2");
        assert_eq!(leads_of("carol"), "OPEN|0|0.00|0|0.00|0|0.00|||");
        assert_eq!(leads_of("bob"), "OPEN|2|15.00|1|10.00|0|0.00|2026-01-01 02:00:00|2026-01-03 02:00:00|O1+O3");
        assert_eq!(int("SELECT count(*) FROM etl.orders WHERE customer_global_id IS NULL OR lead_id IS NULL"), 0);
    }

    /// A lead whose existing order changed (queued for a recompute) and that
    /// gains a new order in the same import: recomputed once from all its
    /// orders, not grown by the new order as well.
    #[pg_test]
    fn a_lead_that_changed_and_gained_orders_is_recomputed_once() {
        fixtures();
        import(
            A,
            "(1, 'O1', 'S1', 'alice', 'paid', 'sample', '10', '2026-01-02 10:00:00'),
             (2, 'O2', 'S1', 'dave', 'paid', 'sample', '1', '2026-01-02 10:00:00')",
        );
        run_all(A);
        // O1 changes amount and type, O3 is new and earlier, O4 is new and cancelled;
        // dave only gains O5.
        import(
            B,
            "(1, 'O1', 'S1', 'alice', 'paid', 'wholesale', '12.5', '2026-01-02 10:00:00'),
             (2, 'O3', 'S1', 'alice', 'paid', 'sample', '0.25', '2026-01-01 10:00:00'),
             (3, 'O4', 'S1', 'alice', 'cancelled', 'sample', '99', '2026-01-09 10:00:00'),
             (4, 'O5', 'S1', 'dave', 'paid', 'wholesale', '2', '2026-01-03 10:00:00')",
        );
        stage("etl_orders", B);
        assert_eq!(int("SELECT count(*) FROM etl.pending_lead_refresh"), 1, "alice's lead is queued");
        stage("etl_customers", B);
        stage("etl_leads", B);
        assert_eq!(leads_of("alice"), "OPEN|2|12.75|1|0.25|1|12.50|2026-01-01 02:00:00|2026-01-02 02:00:00|O1+O3+O4");
        assert_eq!(leads_of("dave"), "OPEN|2|3.00|1|1.00|1|2.00|2026-01-02 02:00:00|2026-01-03 02:00:00|O2+O5");
        assert_eq!(
            value(
                "SELECT format('grown=%s recomputed=%s attributed=%s', details ->> 'leads_grown',
                               details ->> 'leads_recomputed', details ->> 'orders_attributed')
                   FROM etl.runs WHERE stage = 'leads' ORDER BY run_id DESC LIMIT 1"
            ),
            "grown=1 recomputed=1 attributed=3",
            "dave's lead grows, alice's is only recomputed"
        );
        assert_eq!(int("SELECT count(*) FROM etl.pending_lead_refresh"), 0);
    }

    #[pg_test]
    fn leads_strategy_new_reuse_reopen() {
        fixtures();
        import(
            A,
            "(1, 'O1', 'S1', 'alice', 'paid', 'sample', '1', '2026-01-01'),
             (2, 'O2', 'S1', 'bob', 'paid', 'sample', '1', '2026-01-01'),
             (3, 'O3', 'S1', 'carl', 'paid', 'sample', '1', '2026-01-01'),
             (4, 'O4', 'S1', 'dave', 'paid', 'sample', '1', '2026-01-01')",
        );
        run_all(A);
        assert_eq!(value("SELECT string_agg(DISTINCT current_stage, ',') FROM etl.business_leads"), "OPEN");
        assert_eq!(int("SELECT count(*) FROM etl.business_leads"), 4);
        exec(
            "UPDATE etl.business_leads l SET current_stage = v.stage
               FROM etl.customers c, (VALUES ('alice', 'COLD'), ('bob', 'WON'), ('carl', 'LOST')) v(nick, stage)
              WHERE c.customer_global_id = l.customer_global_id AND c.customer_nickname = v.nick",
        );
        import(
            B,
            "(1, 'O5', 'S1', 'alice', 'paid', NULL, '2', '2026-01-02'),
             (2, 'O6', 'S1', 'bob', 'paid', NULL, '2', '2026-01-02'),
             (3, 'O7', 'S1', 'carl', 'paid', NULL, '2', '2026-01-02'),
             (4, 'O8', 'S1', 'dave', 'paid', NULL, '2', '2026-01-02'),
             (5, 'O9', 'S1', 'erin', 'paid', NULL, '2', '2026-01-02')",
        );
        run_all(B);
        let d1 = "2025-12-31 16:00:00";
        let d2 = "2026-01-01 16:00:00";
        assert_eq!(leads_of("alice"), format!("OPEN|2|3.00|1|1.00|1|2.00|{d1}|{d2}|O1+O5"));
        assert_eq!(
            leads_of("bob"),
            format!("WON|1|1.00|1|1.00|0|0.00|{d1}|{d1}|O2 / OPEN|1|2.00|0|0.00|1|2.00|{d2}|{d2}|O6")
        );
        assert_eq!(
            leads_of("carl"),
            format!("LOST|1|1.00|1|1.00|0|0.00|{d1}|{d1}|O3 / OPEN|1|2.00|0|0.00|1|2.00|{d2}|{d2}|O7")
        );
        assert_eq!(leads_of("dave"), format!("OPEN|2|3.00|1|1.00|1|2.00|{d1}|{d2}|O4+O8"));
        assert_eq!(leads_of("erin"), format!("OPEN|1|2.00|0|0.00|1|2.00|{d2}|{d2}|O9"));
        assert_eq!(int(&format!("SELECT count(*) FROM etl.business_leads WHERE NOT {}", v7("lead_id"))), 0);

        // The current lead is the one with the highest lead_no: bob's new OPEN lead is reused.
        import(C, "(1, 'O10', 'S1', 'bob', 'paid', NULL, '3', '2026-01-03')");
        run_all(C);
        assert_eq!(
            leads_of("bob"),
            format!(
                "WON|1|1.00|1|1.00|0|0.00|{d1}|{d1}|O2 / OPEN|2|5.00|0|0.00|2|5.00|{d2}|2026-01-02 16:00:00|O10+O6"
            )
        );
    }

    #[pg_test]
    fn leads_aggregates_follow_the_contract() {
        fixtures();
        import(
            A,
            "(1, 'O1', 'S1', 'alice', 'paid', 'sample', '10.005', '2026-01-03'),
             (2, 'O2', 'S1', 'alice', 'cancelled', 'wholesale', '100', '2025-01-01'),
             (3, 'O3', 'S1', 'alice', 'Refunded', 'sample', '200', '2027-01-01'),
             (4, 'O4', 'S1', 'alice', 'paid', 'wholesale', '1,000.5', '2026-01-02 12:00:00'),
             (5, 'O5', 'S1', 'alice', 'paid', 'gift', '3', '2026-01-04'),
             (6, 'O6', 'S1', 'alice', NULL, 'retail', '7', '2026-01-01T00:00:00Z'),
             (7, 'O7', 'S1', 'alice', 'CANCELLED ', NULL, '1', '2026-01-05')",
        );
        assert_eq!(
            value(&format!("SELECT string_agg(stage || ' ' || status || ' ' || rows_in, ',') FROM etl_run_all('{A}')")),
            "orders success 7,customers success 1,leads success 1"
        );
        assert_eq!(
            leads_of("alice"),
            "OPEN|4|1020.51|1|10.01|2|1007.50|2026-01-01 00:00:00|2026-01-03 16:00:00|O1+O2+O3+O4+O5+O6+O7"
        );
    }

    #[pg_test]
    fn rerunning_any_stage_changes_no_business_row() {
        fixtures();
        import(
            A,
            "(1, 'O1', 'S1', 'alice', 'paid', 'sample', '10', '2026-01-01 10:00:00'),
             (2, 'O2', 'S1', 'alice', 'cancelled', NULL, '20', '2026-01-02 10:00:00'),
             (3, 'O3', 'S1', 'carol', 'paid', 'gift', '5', '2026-01-03 10:00:00'),
             (4, 'O3', 'S1', 'carol', 'paid', 'gift', '6', '2026-01-03 10:00:00'),
             (5, 'O4', 'Old', 'dan', 'paid', NULL, '1', '2026-01-01')",
        );
        exec("SET LOCAL etl.batch_size = 2");
        run_all(A);
        for import_id in [A, B] {
            if import_id == B {
                import(
                    B,
                    "(1, 'O1', 'S1', 'bob', 'paid', 'sample', '10', '2026-01-01 10:00:00'),
                     (2, 'O5', 'S1', 'carol', 'x', NULL, 'bad', '2026-01-01')",
                );
                run_all(B);
            }
            let before = business_rows();
            for function in ["etl_orders", "etl_customers", "etl_leads", "etl_run_all"] {
                stage(function, import_id);
                assert_eq!(business_rows(), before, "{function}({import_id}) changed a business row");
            }
        }
        assert_eq!(int("SELECT count(*) FROM etl.business_leads"), 3);
    }

    /// An order written by a later import (by completion time) is not undone
    /// by an earlier import, whether that one runs again or runs late.
    #[pg_test]
    fn a_later_import_wins_whatever_the_run_order() {
        fixtures();
        import(A, "(1, 'O1', 'S1', 'alice', 'paid', NULL, '10', '2026-01-05 00:00:00')");
        import(B, "(1, 'O1', 'S1', 'alice', 'shipped', NULL, '20', '2026-01-06 00:00:00')");
        exec(&format!(
            "UPDATE etl.imports SET completed_at = '2026-02-01 10:00+00' WHERE import_id = '{A}';
             UPDATE etl.imports SET completed_at = '2026-02-01 11:00+00' WHERE import_id = '{B}';"
        ));
        run_all(A);
        run_all(B);
        let order =
            "SELECT amount::text || '|' || latest_status || '|' || import_id FROM etl.orders WHERE order_id = 'O1'";
        assert_eq!(value(order), format!("20.00|SHIPPED|{B}"));
        let after_b = business_rows();
        // The earlier import again: its line is superseded by the later import.
        assert_eq!(
            run_all(A),
            "orders success in=1 ok=0 sup=1 rej=0 fail=0\n\
             customers success in=0 ok=0 sup=0 rej=0 fail=0\n\
             leads success in=0 ok=0 sup=0 rej=0 fail=0"
        );
        assert_eq!(business_rows(), after_b);

        // Run order reversed (the later import first): the same orders.
        import(C, "(1, 'O9', 'S1', 'bob', 'paid', NULL, '1', '2026-01-05'), (2, 'O1', 'S1', 'alice', 'lost', NULL, '5', '2026-01-01')");
        exec(&format!("UPDATE etl.imports SET completed_at = '2026-02-01 09:00+00' WHERE import_id = '{C}'"));
        run_all(C);
        assert_eq!(value(order), format!("20.00|SHIPPED|{B}"));
        assert_eq!(int("SELECT count(*) FROM etl.orders WHERE order_id = 'O9'"), 1);
    }

    /// Lead aggregates are the same whatever the batch size: a lead's orders
    /// that straddle two batches are aggregated together.
    #[pg_test]
    fn lead_aggregates_do_not_depend_on_the_batch_size() {
        fixtures();
        import(
            A,
            r#"(1, 'O1', 'S1', 'alice', 'paid', 'sample', '10.005', '2026-01-05 00:00:00'),
               (2, 'O2', 'S1', 'alice', 'paid', NULL, '20', '2026-01-03 00:00:00'),
               (3, 'O3', 'S1', 'alice', 'cancelled', NULL, '30', '2026-01-04'),
               (4, 'O4', 'S1', 'alice', 'paid', 'gift', '1', '2026-01-01T00:00:00Z'),
               (5, 'O5', 'S1', 'bob', 'paid', 'sample', '2', '2026-01-02'),
               (6, 'O6', 'S1', 'bob', 'refunded', NULL, '3', '2026-01-02'),
               (7, 'O7', 'S1', 'carol', 'paid', NULL, '4.5', '2026-01-02')"#,
        );
        stage("etl_orders", A);
        stage("etl_customers", A);
        exec("SET LOCAL etl.batch_size = 2");
        assert_eq!(value(&format!("SELECT status FROM etl_leads('{A}')")), "success");
        let all = "SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s', c.customer_nickname, l.order_count, l.total_amount,
                           l.sample_count, l.sample_amount, l.bulk_count, l.bulk_amount), ' / ' ORDER BY c.customer_nickname)
                     FROM etl.business_leads l JOIN etl.customers c USING (customer_global_id)";
        // alice: O1 sample 10.01, O2 bulk 20, O4 gift 1 (O3 cancelled); bob: O5 sample 2 (O6 refunded); carol: 4.50.
        assert_eq!(value(all), "alice|3|31.01|1|10.01|1|20.00 / bob|1|2.00|1|2.00|0|0.00 / carol|1|4.50|0|0.00|1|4.50");
    }

    #[pg_test]
    fn lead_sums_of_the_largest_amounts_never_overflow() {
        fixtures();
        // 2,000 orders of the largest amount (10^12 - 0.01) for one
        // customer: their sum is beyond numeric(14,2) and beyond an i64 of
        // cents; the lead's sums stay exact.
        exec(&format!(
            "INSERT INTO etl.imports (import_id, status) VALUES ('{A}', 'pending');
             INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
             SELECT '{A}', n, 'BIG-' || n, 'S1', 'whale', 'paid', CASE WHEN n % 2 = 0 THEN 'sample' END,
                    '¥999,999,999,999.99', '2026-01-01 10:00:00'
               FROM generate_series(1, 2000) n;
             UPDATE etl.imports SET status = 'completed' WHERE import_id = '{A}';"
        ));
        assert_eq!(
            run_all(A),
            "orders success in=2000 ok=2000 sup=0 rej=0 fail=0\n\
             customers success in=1 ok=1 sup=0 rej=0 fail=0\n\
             leads success in=1 ok=1 sup=0 rej=0 fail=0"
        );
        assert_eq!(
            value("SELECT format('%s|%s|%s|%s|%s|%s', order_count, total_amount, sample_count, sample_amount, bulk_count, bulk_amount)
                     FROM etl.business_leads"),
            "2000|1999999999999980.00|1000|999999999999990.00|1000|999999999999990.00"
        );
        // A second import adds more: still exact, the stage does not fail.
        exec(&format!(
            "INSERT INTO etl.imports (import_id, status) VALUES ('{B}', 'pending');
             INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
             VALUES ('{B}', 1, 'BIG-x', 'S1', 'whale', 'paid', NULL, '0.02', '2026-01-02 10:00:00');
             UPDATE etl.imports SET status = 'completed' WHERE import_id = '{B}';"
        ));
        run_all(B);
        assert_eq!(value("SELECT total_amount::text FROM etl.business_leads"), "1999999999999980.02");
    }

    #[pg_test]
    fn customer_times_cover_orders_of_an_import_whose_customers_stage_has_not_run() {
        fixtures();
        import(A, "(1, 'E1', 'S1', 'erin', 'paid', NULL, '1', '2026-01-01 00:00:00')");
        import(B, "(1, 'E2', 'S1', 'erin', 'paid', NULL, '2', '2026-02-01 00:00:00')");
        stage("etl_orders", A);
        stage("etl_orders", B);
        // B's customers stage creates erin while A's order is not linked yet:
        // her times still span every order she has.
        stage("etl_customers", B);
        assert_eq!(times_of("erin"), "2025-12-31 16:00:00|2026-01-31 16:00:00");
        stage("etl_customers", A);
        assert_eq!(times_of("erin"), "2025-12-31 16:00:00|2026-01-31 16:00:00");
        // A new order of hers widens the times incrementally.
        import(C, "(1, 'E3', 'S1', 'erin', 'paid', NULL, '3', '2026-03-01 00:00:00')");
        stage("etl_orders", C);
        stage("etl_customers", C);
        assert_eq!(times_of("erin"), "2025-12-31 16:00:00|2026-02-28 16:00:00");
    }

    /// A user's trigger that records, in `etl_test.nestloop`, the
    /// `enable_nestloop` a statement ran with when it set `column` of an
    /// order (from NULL); the session's value is `on`.
    fn record_nestloop_when_set(column: &str) {
        exec(&format!(
            "CREATE FUNCTION public.etl_test_seen_nestloop() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 PERFORM pg_catalog.set_config('etl_test.nestloop', pg_catalog.current_setting('enable_nestloop'), false);
                 RETURN NEW;
             END $$;
             CREATE TRIGGER etl_test_seen_nestloop BEFORE UPDATE OF {column} ON etl.orders FOR EACH ROW
                 WHEN (OLD.{column} IS NULL AND NEW.{column} IS NOT NULL)
                 EXECUTE FUNCTION public.etl_test_seen_nestloop();
             SET LOCAL enable_nestloop = on;"
        ));
    }

    /// A history and an import with every way a customer's times change: an
    /// order moved away (alice loses her earliest, carol her only one), an
    /// order moved in (bob), an earlier order (alice), an order whose time
    /// changed (dave, his only one), a new customer (erin), a customer the
    /// import does not touch (frank), and customers that only gain new orders
    /// (gina: earlier and later ones; hank: within his times). The customers
    /// stage links the orders and runs the order times one way or the other
    /// (`whole`): every
    /// order must be linked to its nickname's customer, and every customer's
    /// times must be the min and max over its orders.
    fn order_times_scenario(whole: bool) {
        fixtures();
        import(
            A,
            "(1, 'O1', 'S1', 'alice', 'paid', NULL, '1', '2026-01-01 10:00:00'),
             (2, 'O2', 'S1', 'alice', 'paid', NULL, '1', '2026-01-02 10:00:00'),
             (3, 'O3', 'S1', 'carol', 'paid', NULL, '1', '2026-01-03 10:00:00'),
             (4, 'O4', 'Shop \"Two\"', 'dave', 'paid', NULL, '1', '2026-01-05 10:00:00'),
             (5, 'O7', 'S1', 'frank', 'paid', NULL, '1', '2026-01-07 10:00:00'),
             (6, 'O8', 'S1', 'gina', 'paid', NULL, '1', '2026-01-04 10:00:00'),
             (7, 'O11', 'S1', 'hank', 'paid', NULL, '1', '2026-01-01 10:00:00'),
             (8, 'O12', 'S1', 'hank', 'paid', NULL, '1', '2026-01-09 10:00:00')",
        );
        run_all(A);
        import(
            B,
            "(1, 'O1', 'S1', 'bob', 'paid', NULL, '1', '2026-01-01 10:00:00'),
             (2, 'O3', 'S1', 'bob', 'paid', NULL, '1', '2026-01-03 10:00:00'),
             (3, 'O5', 'S1', 'alice', 'paid', NULL, '1', '2025-12-31 10:00:00'),
             (4, 'O4', 'Shop \"Two\"', 'dave', 'refunded', NULL, '1', '2026-01-09 10:00:00'),
             (5, 'O6', 'S1', 'erin', 'paid', NULL, '1', '2026-01-08 10:00:00'),
             (6, 'O9', 'S1', 'gina', 'paid', NULL, '1', '2026-01-10 10:00:00'),
             (7, 'O10', 'S1', 'gina', 'paid', NULL, '1', '2025-12-20 10:00:00'),
             (8, 'O13', 'S1', 'hank', 'paid', NULL, '1', '2026-01-05 10:00:00')",
        );
        stage("etl_orders", B);
        // What the link's statement runs with: nested loops off in the whole
        // pass only, and the session's value back after the stage.
        record_nestloop_when_set("customer_global_id");
        crate::stage::FORCE_WHOLE_PASS.set(Some(whole));
        let report = stage("etl_customers", B);
        crate::stage::FORCE_WHOLE_PASS.set(None);
        assert!(report.starts_with("customers success"), "{report}");
        assert_eq!(
            int(&format!(
                "SELECT (details ->> 'order_times_whole_pass')::bigint FROM etl.runs
                  WHERE import_id = '{B}' AND stage = 'customers'"
            )),
            i64::from(whole)
        );
        assert_eq!(
            value("SELECT pg_catalog.current_setting('etl_test.nestloop', true)"),
            if whole { "off" } else { "on" }
        );
        assert_eq!(value("SHOW enable_nestloop"), "on");
        // Every customer's times are those of all its orders.
        assert_eq!(
            value(
                "SELECT coalesce(string_agg(c.customer_nickname, ',' ORDER BY c.customer_nickname), 'none')
                   FROM etl.customers c,
                        LATERAL (SELECT min(o.ordered_at) AS first_at, max(o.ordered_at) AS last_at FROM etl.orders o
                                  WHERE o.shop_id = c.shop_id AND o.customer_nickname = c.customer_nickname) t
                  WHERE (c.first_order_at, c.last_order_at) IS DISTINCT FROM (t.first_at, t.last_at)"
            ),
            "none"
        );
        // Every order is linked to the customer of its nickname (the moved
        // ones too: the orders stage cleared their link).
        assert_eq!(
            value(
                "SELECT coalesce(string_agg(o.order_id, ',' ORDER BY o.order_id), 'none')
                   FROM etl.orders o
                   LEFT JOIN etl.customers c ON c.shop_id = o.shop_id AND c.customer_nickname = o.customer_nickname
                  WHERE o.customer_global_id IS DISTINCT FROM c.customer_global_id OR c.customer_global_id IS NULL"
            ),
            "none"
        );
        assert_eq!(times_of("alice"), "2025-12-31 02:00:00|2026-01-02 02:00:00");
        assert_eq!(times_of("bob"), "2026-01-01 02:00:00|2026-01-03 02:00:00");
        assert_eq!(times_of("carol"), "|");
        assert_eq!(times_of("dave"), "2026-01-09 02:00:00|2026-01-09 02:00:00");
        assert_eq!(times_of("erin"), "2026-01-08 02:00:00|2026-01-08 02:00:00");
        assert_eq!(times_of("frank"), "2026-01-07 02:00:00|2026-01-07 02:00:00");
        // Only gained orders: widened at both ends (gina), or within its times (hank).
        assert_eq!(times_of("gina"), "2025-12-20 02:00:00|2026-01-10 02:00:00");
        assert_eq!(times_of("hank"), "2026-01-01 02:00:00|2026-01-09 02:00:00");
        assert_eq!(int("SELECT count(*) FROM etl.pending_customer_refresh"), 0);
    }

    #[pg_test]
    fn order_times_per_customer_follow_every_change() {
        order_times_scenario(false);
    }

    #[pg_test]
    fn order_times_in_one_pass_follow_every_change() {
        order_times_scenario(true);
    }

    /// An import with every way an order meets its lead: a lead that
    /// changed (alice: O1's amount and type; recomputed) and gains a new
    /// order and a cancelled one, a lead that only grows (dave), a WON lead
    /// replaced by a new one (bob), a COLD lead reopened by a refunded order
    /// (carl: reopened, counted nothing), a new customer (erin). The leads
    /// stage attributes the orders one way or the other (`whole`): the
    /// leads and their aggregates must be the same.
    fn attribution_scenario(whole: bool) {
        fixtures();
        import(
            A,
            "(1, 'O1', 'S1', 'alice', 'paid', 'sample', '10', '2026-01-02 10:00:00'),
             (2, 'O2', 'S1', 'dave', 'paid', 'sample', '1', '2026-01-02 10:00:00'),
             (3, 'O3', 'S1', 'bob', 'paid', 'sample', '1', '2026-01-02 10:00:00'),
             (4, 'O4', 'S1', 'carl', 'paid', 'sample', '1', '2026-01-02 10:00:00')",
        );
        run_all(A);
        exec(
            "UPDATE etl.business_leads l SET current_stage = v.stage
               FROM etl.customers c, (VALUES ('bob', 'WON'), ('carl', 'COLD')) v(nick, stage)
              WHERE c.customer_global_id = l.customer_global_id AND c.customer_nickname = v.nick",
        );
        import(
            B,
            "(1, 'O1', 'S1', 'alice', 'paid', 'wholesale', '12.5', '2026-01-02 10:00:00'),
             (2, 'O5', 'S1', 'alice', 'paid', 'sample', '0.25', '2026-01-01 10:00:00'),
             (3, 'O6', 'S1', 'alice', 'cancelled', 'sample', '99', '2026-01-09 10:00:00'),
             (4, 'O7', 'S1', 'dave', 'paid', 'wholesale', '2', '2026-01-03 10:00:00'),
             (5, 'O8', 'S1', 'bob', 'paid', NULL, '2', '2026-01-03 10:00:00'),
             (6, 'O9', 'S1', 'carl', 'refunded', NULL, '3', '2026-01-03 10:00:00'),
             (7, 'O10', 'S1', 'erin', 'paid', 'sample', '4', '2026-01-04 10:00:00'),
             (8, 'O11', 'S1', 'erin', 'paid', 'wholesale', '5', '2026-01-05 10:00:00')",
        );
        stage("etl_orders", B);
        stage("etl_customers", B);
        // What the attribution runs with: nested loops off in the whole pass
        // only, and the session's value back after the stage.
        record_nestloop_when_set("lead_id");
        crate::stage::FORCE_WHOLE_PASS.set(Some(whole));
        let report = stage("etl_leads", B);
        crate::stage::FORCE_WHOLE_PASS.set(None);
        assert!(report.starts_with("leads success"), "{report}");
        assert_eq!(
            value(
                "SELECT format('whole=%s grown=%s recomputed=%s attributed=%s', details ->> 'attribute_whole_pass',
                               details ->> 'leads_grown', details ->> 'leads_recomputed', details ->> 'orders_attributed')
                   FROM etl.runs WHERE stage = 'leads' ORDER BY run_id DESC LIMIT 1"
            ),
            format!("whole={} grown=3 recomputed=1 attributed=7", i64::from(whole)),
            "dave's, bob's new and erin's leads grow; alice's is recomputed; carl's gains nothing counted"
        );
        assert_eq!(
            value("SELECT pg_catalog.current_setting('etl_test.nestloop', true)"),
            if whole { "off" } else { "on" }
        );
        assert_eq!(value("SHOW enable_nestloop"), "on");
        let (d2, d3) = ("2026-01-02 02:00:00", "2026-01-03 02:00:00");
        assert_eq!(leads_of("alice"), format!("OPEN|2|12.75|1|0.25|1|12.50|2026-01-01 02:00:00|{d2}|O1+O5+O6"));
        assert_eq!(leads_of("dave"), format!("OPEN|2|3.00|1|1.00|1|2.00|{d2}|{d3}|O2+O7"));
        assert_eq!(
            leads_of("bob"),
            format!("WON|1|1.00|1|1.00|0|0.00|{d2}|{d2}|O3 / OPEN|1|2.00|0|0.00|1|2.00|{d3}|{d3}|O8")
        );
        assert_eq!(leads_of("carl"), format!("OPEN|1|1.00|1|1.00|0|0.00|{d2}|{d2}|O4+O9"));
        assert_eq!(leads_of("erin"), "OPEN|2|9.00|1|4.00|1|5.00|2026-01-04 02:00:00|2026-01-05 02:00:00|O10+O11");
        // Every order has its customer's current lead (the highest lead_no).
        assert_eq!(
            value(
                "SELECT coalesce(string_agg(o.order_id, ',' ORDER BY o.order_id), 'none')
                   FROM etl.orders o
                  WHERE o.lead_id IS DISTINCT FROM (SELECT l.lead_id FROM etl.business_leads l
                                                     WHERE l.customer_global_id = o.customer_global_id
                                                     ORDER BY l.lead_no DESC LIMIT 1)
                    AND o.order_id NOT IN ('O3')"
            ),
            "none",
            "every order but bob's first (its WON lead is no longer his current) has its customer's current lead"
        );
        assert_eq!(int("SELECT count(*) FROM etl.pending_lead_refresh"), 0);
    }

    #[pg_test]
    fn orders_are_attributed_per_order_to_their_current_leads() {
        attribution_scenario(false);
    }

    #[pg_test]
    fn orders_are_attributed_in_one_pass_to_their_current_leads() {
        attribution_scenario(true);
    }
}
