//! Guards that fail if a performance problem returns (not timed tests): the
//! cost of a small import follows the import, not the history. (A first
//! import's plans need a truly fresh install: tests/integration/fresh_install.sh.)
//! And a big import's new orders are linked in place: the link's new versions
//! fit on their pages (HOT updates), so it adds no index entry per order.
//! And a big import is written shop by shop, so each batch works in one
//! range of the orders' indexes. And the customers stage reads a big
//! import's customers without hashing them first.

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use crate::tests::*;

    /// Rows read by scans of the three result tables in this transaction
    /// so far: sequential (`seq`) and through indexes (`idx`).
    fn rows_read() -> (i64, i64) {
        let seq = int("SELECT coalesce(sum(seq_tup_read), 0)::bigint FROM pg_stat_xact_user_tables
                        WHERE schemaname = 'etl' AND relname IN ('orders', 'customers', 'business_leads', 'imports')");
        let idx = int("SELECT coalesce(sum(idx_tup_fetch), 0)::bigint FROM pg_stat_xact_user_tables
                        WHERE schemaname = 'etl' AND relname IN ('orders', 'customers', 'business_leads', 'imports')");
        (seq, idx)
    }

    /// A new import, completed, whose raw lines are the rows of `lines`: a
    /// SELECT of (import_id, line_no, order_id, shop, customer_name,
    /// order_status, order_type, amount, ordered_at) in which `$id` stands
    /// for the import's id. Returns the id.
    fn completed_import(lines: &str) -> String {
        let id = value("SELECT etl_uuid_v7()::text");
        let lines = lines.replace("$id", &format!("'{id}'::uuid"));
        exec(&format!(
            "INSERT INTO etl.imports (import_id, status) VALUES ('{id}', 'pending');
             INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
             {lines};
             UPDATE etl.imports SET status = 'completed', completed_at = clock_timestamp() WHERE import_id = '{id}';"
        ));
        id
    }

    /// Adds a history of `orders` orders, `per_customer` orders per
    /// customer (customers named `{tag}-n`), in imports of 5,000 lines, all run.
    fn history(tag: &str, orders: i32, per_customer: i32) {
        for chunk in 0..(orders / 5_000).max(1) {
            let id = completed_import(&format!(
                "SELECT $id, n, '{tag}-{chunk}-' || n, 'S1', '{tag}-' || (({chunk} * 5000 + n) % ({orders} / {per_customer})),
                        CASE WHEN n % 7 = 0 THEN 'cancelled' ELSE 'paid' END, CASE WHEN n % 3 = 0 THEN 'sample' END,
                        (n % 1000) || '.25', '2026-01-01'::date + (n % 300)
                   FROM generate_series(1, least(5000, {orders})) n"
            ));
            exec(&format!("SELECT count(*) FROM etl_run_all('{id}')"));
        }
    }

    /// A 50-line import on the history of `tag`: 25 new orders of existing
    /// customers and 25 changes of existing orders. Returns the rows it read
    /// (sequential, through indexes).
    fn small_import(tag: &str, round: i32) -> (i64, i64) {
        let id = completed_import(&format!(
            "SELECT $id, n, '{tag}-new-{round}-' || n, 'S1', '{tag}-' || (n * 7), 'paid', NULL, '12.34', '2026-06-01'
               FROM generate_series(1, 25) n
             UNION ALL
             SELECT $id, (25 + n)::int, o.order_id, 'S1', o.customer_nickname, 'refunded', NULL, '1.00', '2026-06-02'
               FROM (SELECT order_id, customer_nickname, row_number() OVER (ORDER BY order_id) AS n
                       FROM etl.orders WHERE order_id LIKE '{tag}-0-%' ORDER BY order_id OFFSET {round} * 25 LIMIT 25) o"
        ));
        let (seq_before, idx_before) = rows_read();
        exec(&format!("SELECT count(*) FROM etl_run_all('{id}')"));
        let (seq_after, idx_after) = rows_read();
        (seq_after - seq_before, idx_after - idx_before)
    }

    #[pg_test]
    fn guard_small_import_reads_a_bounded_number_of_rows_whatever_the_history_holds() {
        fixtures();
        // The same small import on a history of 5,000 orders, then of
        // 45,000 (10 orders per customer either way): it reads what it
        // touches (its customers' and leads' orders), never the history.
        history("h", 5_000, 10);
        let (seq_small, idx_small) = small_import("h", 0);
        history("g", 40_000, 10);
        let orders = int("SELECT count(*) FROM etl.orders");
        assert!(orders >= 45_000, "history of {orders} orders");
        let (seq_large, idx_large) = small_import("h", 1);
        assert!(
            seq_large < 2_000,
            "a 50-line import read {seq_large} rows by sequential scans of {orders} orders of history"
        );
        assert!(idx_large < 3_000, "a 50-line import fetched {idx_large} rows through indexes");
        assert_eq!(
            int("SELECT (details ->> 'order_times_whole_pass')::bigint FROM etl.runs
                  WHERE stage = 'customers' ORDER BY run_id DESC LIMIT 1"),
            0,
            "a 50-line import on {orders} orders computed its customers' times in a pass over every order"
        );
        assert!(
            idx_large <= idx_small * 3 / 2 + 200 && seq_large <= seq_small * 3 / 2 + 200,
            "the same import read {seq_small}+{idx_small} rows on 5,000 orders but {seq_large}+{idx_large} on {orders}"
        );
    }

    /// Updates of etl.orders in this transaction so far: all, and HOT ones.
    fn order_updates() -> (i64, i64) {
        let all = int("SELECT coalesce(sum(n_tup_upd), 0)::bigint FROM pg_stat_xact_user_tables
                        WHERE schemaname = 'etl' AND relname = 'orders'");
        let hot = int("SELECT coalesce(sum(n_tup_hot_upd), 0)::bigint FROM pg_stat_xact_user_tables
                        WHERE schemaname = 'etl' AND relname = 'orders'");
        (all, hot)
    }

    #[pg_test]
    fn guard_a_first_import_links_its_orders_in_place() {
        fixtures();
        // 20,000 new orders (hundreds of pages) into an empty etl.orders, then
        // the customers stage links every one. Nothing is prunable during the
        // link (the inserted versions are its own or just committed), so each
        // linked version fits on its order's page only if the insert left room
        // for it (the table's fillfactor): otherwise it moves to another page
        // and adds an entry to each of the three indexes of etl.orders.
        let id = completed_import(
            "SELECT $id, n, 'hot-' || n, 'S1', '买家 ' || (n % 4000), 'paid', NULL, (n % 1000) || '.25',
                    '2026-01-01'::date + (n % 300)
               FROM generate_series(1, 20000) n",
        );
        exec(&format!("SELECT count(*) FROM etl_orders('{id}')"));
        let (all_before, hot_before) = order_updates();
        exec(&format!("SELECT count(*) FROM etl_customers('{id}')"));
        let (all_after, hot_after) = order_updates();
        let (linked, hot) = (all_after - all_before, hot_after - hot_before);
        assert_eq!(
            int(&format!(
                "SELECT count(*) FROM etl.orders WHERE import_id = '{id}' AND customer_global_id IS NOT NULL"
            )),
            20_000
        );
        assert!(linked >= 20_000, "the customers stage updated {linked} orders to link 20,000");
        // Measured: 17,933 of 20,000 HOT at fillfactor 50, 1,925 at 90.
        assert!(
            hot * 4 >= linked * 3,
            "only {hot} of the {linked} updates that linked a first import's orders were HOT \
             (etl.orders' fillfactor leaves no room on the page for the linked version)"
        );
    }

    /// Shop ids of etl.orders in the order of their rows in the heap, with
    /// each run of one shop shown once: `101,102` means all of 101 first.
    fn shops_in_heap_order() -> String {
        value(
            "SELECT coalesce(string_agg(shop_id::text, ',' ORDER BY tid), '')
               FROM (SELECT ctid AS tid, shop_id, lag(shop_id) OVER (ORDER BY ctid) AS before FROM etl.orders) o
              WHERE before IS DISTINCT FROM shop_id",
        )
    }

    #[pg_test]
    fn guard_a_big_import_is_written_shop_by_shop() {
        fixtures();
        // 600 lines alternating two shops, in batches of 100: six batches, so
        // read shop by shop. Each batch then writes one shop's range of the
        // orders' indexes, and the rows land in the heap shop after shop (an
        // empty table takes them in the order written). In line order each
        // batch held both shops: 101,102,101,102,... in the heap.
        let lines = "SELECT $id, n, 'big-' || n, CASE WHEN n % 2 = 0 THEN 'S1' ELSE ' Shop \"Two\"' END,
                            'buyer ' || (n % 50), 'paid', NULL, '1.00', '2026-01-01'
                       FROM generate_series(1, 600) n";
        exec("SET LOCAL etl.batch_size = 100");
        let id = completed_import(lines);
        exec(&format!("SELECT count(*) FROM etl_orders('{id}')"));
        let by_shop = |id: &str| {
            value(&format!(
                "SELECT details ->> 'lines_by_shop' FROM etl.runs WHERE import_id = '{id}' AND stage = 'orders'"
            ))
        };
        assert_eq!(by_shop(&id), "1");
        assert_eq!(int("SELECT count(*) FROM etl.orders"), 600);
        assert_eq!(shops_in_heap_order(), "101,102", "a big import's orders lie in the heap shop after shop");

        // The same lines in batches of 150 span only four batches: read in
        // line order (the sort would cost more than it saves).
        exec("DELETE FROM etl.orders");
        exec("SET LOCAL etl.batch_size = 150");
        let id = completed_import(lines);
        exec(&format!("SELECT count(*) FROM etl_orders('{id}')"));
        assert_eq!(by_shop(&id), "0");

        // The size that decides is the span of line numbers (two index
        // descents), unless the progress is watched and the lines are
        // counted anyway: then the count. 600 lines numbered 10, 20, ...,
        // 6000 in batches of 200 span 30 batches but hold only three.
        let sparse = "SELECT $id, n * 10, 'sparse-' || n, 'S1', 'buyer ' || (n % 50), 'paid', NULL, '1.00',
                             '2026-01-01'
                        FROM generate_series(1, 600) n";
        exec("SET LOCAL etl.batch_size = 200");
        exec("DELETE FROM etl.orders");
        let id = completed_import(sparse);
        exec(&format!("SELECT count(*) FROM etl_orders('{id}')"));
        assert_eq!(by_shop(&id), "1", "not watched: the span decides");
        exec("DELETE FROM etl.orders");
        exec("SET LOCAL etl.progress_notices = on");
        let id = completed_import(sparse);
        exec(&format!("SELECT count(*) FROM etl_orders('{id}')"));
        assert_eq!(by_shop(&id), "0", "watched: the count decides");
        assert_eq!(int("SELECT count(*) FROM etl.orders"), 600);
    }

    /// The plan of `query` with `arg` for its `$1` (costs off), one node a line.
    fn plan_of(query: &str, arg: &str) -> String {
        exec(
            "CREATE OR REPLACE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $f$
             DECLARE line text; plan text := '';
             BEGIN
                 FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP plan := plan || line || E'\\n'; END LOOP;
                 RETURN plan;
             END $f$",
        );
        value(&format!("SELECT pg_temp.plan_of($q${}$q$)", query.replace("$1", arg)))
    }

    #[pg_test]
    fn guard_the_customers_read_never_hashes_a_big_import() {
        fixtures();
        // 20,000 orders of 2,000 customers, with current statistics: many
        // orders per customer is where a plain DISTINCT hashed the orders
        // into their customers and then sorted those again (1M lines: 680-800
        // ms against 330 ms). The read must be a Unique over rows in key order.
        let id = completed_import(
            "SELECT $id, n, 'read-' || n, 'S1', 'buyer ' || (n % 2000), 'paid', NULL, '1.00', '2026-01-01'
               FROM generate_series(1, 20000) n",
        );
        exec(&format!("SELECT count(*) FROM etl_orders('{id}')"));
        exec("ANALYZE etl.orders");
        let query = crate::customers::load::customer_keys_query(crate::stage::Scope::Import);
        let plan = plan_of(query, &format!("'{id}'::uuid"));
        assert!(plan.contains("Unique") && !plan.contains("HashAggregate"), "the customers' read:\n{plan}");
    }
}
