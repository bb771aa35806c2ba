//! The SQL functions (contract section 4) and settings (section 7): bad
//! calls, the run log, statement counts, search_path safety, Polars threads.

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use crate::tests::*;

    const A: &str = "c0000000-0000-7000-8000-00000000000a";
    const PENDING: &str = "c0000000-0000-7000-8000-0000000000aa";
    const UNKNOWN: &str = "c0000000-0000-7000-8000-0000000000ee";

    const FUNCTIONS: [&str; 4] = ["etl_orders", "etl_customers", "etl_leads", "etl_run_all"];

    /// `etl.stage_work_mem` lowers work_mem while a stage runs and puts the
    /// session's back afterwards, also after a failed stage; a lower
    /// session value is kept, and -1 leaves it alone. JIT is off while a
    /// stage runs, and the session's setting is back after it. A user's
    /// trigger shows the values the stage's statements run with (its error
    /// lands in the line's reject detail).
    #[pg_test]
    fn api_stages_run_with_work_mem_capped_and_jit_off() {
        fixtures();
        exec(
            "CREATE FUNCTION public.etl_test_show_settings() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.customer_nickname = 'fatal' THEN
                     RAISE EXCEPTION 'not data' USING ERRCODE = 'feature_not_supported';
                 END IF;
                 RAISE EXCEPTION 'work_mem=% jit=%', pg_catalog.current_setting('work_mem'),
                     pg_catalog.current_setting('jit');
             END $$;
             CREATE TRIGGER etl_test_show_settings BEFORE INSERT ON etl.orders
                 FOR EACH ROW EXECUTE FUNCTION public.etl_test_show_settings();",
        );
        import(A, "(1, 'W1', 'S1', 'a', 'paid', NULL, '1', '2026-01-01')");
        let seen = |session: &str, cap: &str, jit: &str| {
            exec(&format!(
                "SET LOCAL work_mem = '{session}'; SET LOCAL etl.stage_work_mem = '{cap}'; SET LOCAL jit = {jit}"
            ));
            assert_eq!(stage("etl_orders", A), "orders partial_success in=1 ok=0 sup=0 rej=0 fail=1");
            assert_eq!(value("SHOW work_mem"), session, "work_mem after the stage (cap {cap}, jit {jit})");
            assert_eq!(value("SHOW jit"), jit, "jit after the stage (cap {cap})");
            value(&format!(
                "SELECT substring(detail FROM 'work_mem=[0-9a-zA-Z]+ jit=[a-z]+') FROM etl.rejects
                  WHERE import_id = '{A}'"
            ))
        };
        assert_eq!(seen("64MB", "8MB", "on"), "work_mem=8MB jit=off");
        assert_eq!(seen("2MB", "8MB", "on"), "work_mem=2MB jit=off");
        assert_eq!(seen("2MB", "8MB", "off"), "work_mem=2MB jit=off");
        assert_eq!(seen("64MB", "-1", "on"), "work_mem=64MB jit=off");
        assert_eq!(seen("64MB", "32MB", "off"), "work_mem=32MB jit=off");
        assert_eq!(seen("64MB", "0", "on"), "work_mem=64MB jit=off");
        assert_eq!(seen("64MB", "1kB", "on"), "work_mem=64kB jit=off");

        // A stage that fails as a whole: its subtransaction's rollback restores the values.
        let fatal = "d0000000-0000-7000-8000-00000000000f";
        import(fatal, "(1, 'W2', 'S1', 'fatal', 'paid', NULL, '1', '2026-01-01')");
        exec("SET LOCAL work_mem = '64MB'; SET LOCAL etl.stage_work_mem = '8MB'; SET LOCAL jit = on");
        assert!(stage("etl_orders", fatal).starts_with("orders failed"), "a non-data error fails the stage");
        assert_eq!(value("SHOW work_mem"), "64MB");
        assert_eq!(value("SHOW jit"), "on");
    }

    #[pg_test]
    fn api_bad_calls_get_sqlstates() {
        fixtures();
        exec(&format!(
            "INSERT INTO etl.imports (import_id, status) VALUES ('{PENDING}', 'pending');
             INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, amount, ordered_at)
             VALUES ('{PENDING}', 1, 'O1', 'S1', 'a', '1', '2026-01-01')"
        ));
        for f in FUNCTIONS {
            let e = error_of(&format!("SELECT * FROM {f}(NULL)")).unwrap_or_else(|| panic!("{f}(NULL) raised nothing"));
            assert!(e.starts_with("22004: "), "{f}(NULL): {e}");
            let e = error_of(&format!("SELECT * FROM {f}('{UNKNOWN}')"))
                .unwrap_or_else(|| panic!("{f}(unknown) raised nothing"));
            assert!(e.starts_with("42704: ") && e.contains(UNKNOWN), "{f}(unknown): {e}");
            let e = error_of(&format!("SELECT * FROM {f}('{PENDING}')"))
                .unwrap_or_else(|| panic!("{f}(pending) raised nothing"));
            assert!(e.starts_with("55000: ") && e.contains("pending"), "{f}(pending): {e}");
        }
        exec(&format!("UPDATE etl.imports SET status = 'failed' WHERE import_id = '{PENDING}'"));
        let e = error_of(&format!("SELECT * FROM etl_run_all('{PENDING}')")).unwrap_or_default();
        assert!(e.starts_with("55000: "), "failed import: {e}");
    }

    #[pg_test(error = "etl_ext: import_id must not be NULL")]
    fn api_null_import_is_an_error() {
        Spi::run("SELECT * FROM etl_orders(NULL)").unwrap();
    }

    #[pg_test]
    fn api_empty_import_runs_every_stage() {
        import(A, "");
        assert_eq!(
            stage("etl_run_all", A),
            "orders success in=0 ok=0 sup=0 rej=0 fail=0\n\
             customers success in=0 ok=0 sup=0 rej=0 fail=0\n\
             leads success in=0 ok=0 sup=0 rej=0 fail=0"
        );
        assert_eq!(
            value(&format!(
                "SELECT string_agg(stage || ' ' || status, ',' ORDER BY run_id) FROM etl.runs WHERE import_id = '{A}'"
            )),
            "orders success,customers success,leads success"
        );
    }

    #[pg_test]
    fn api_settings_are_shown_and_settable() {
        assert_eq!(text("SHOW etl.batch_size").as_deref(), Some("50000"));
        assert_eq!(text("SHOW etl.source_timezone").as_deref(), Some("Asia/Shanghai"));
        assert_eq!(text("SHOW etl.polars_threads").as_deref(), Some("2"));
        assert_eq!(text("SHOW etl.max_attempts").as_deref(), Some("5"));
        assert_eq!(text("SHOW etl.stage_work_mem").as_deref(), Some("32MB"));
        assert!(text("SHOW etl.database").is_some());
        exec("SET LOCAL etl.batch_size = 7");
        exec("SET LOCAL etl.source_timezone = 'America/New_York'");
        exec("SET LOCAL etl.polars_threads = 3");
        assert_eq!(text("SHOW etl.batch_size").as_deref(), Some("7"));
        assert_eq!(text("SHOW etl.source_timezone").as_deref(), Some("America/New_York"));
        assert_eq!(text("SHOW etl.polars_threads").as_deref(), Some("3"));
        assert_eq!(text("SELECT current_setting('etl.batch_size')").as_deref(), Some("7"));
        let e = error_of("SET LOCAL etl.batch_size = 0").unwrap_or_default();
        assert!(e.starts_with("22023: "), "batch_size 0: {e}");
    }

    #[pg_test]
    fn api_bad_source_timezone_is_a_clear_error() {
        fixtures();
        import(A, "(1, 'O1', 'S1', 'a', 'paid', NULL, '1', '2026-01-01')");
        exec("SET LOCAL etl.source_timezone = 'Mars/Olympus'");
        for f in ["etl_orders", "etl_run_all"] {
            let e = error_of(&format!("SELECT * FROM {f}('{A}')")).unwrap_or_else(|| panic!("{f} raised nothing"));
            assert!(e.starts_with("22023: ") && e.contains("Mars/Olympus"), "{f}: {e}");
        }
        assert_eq!(int("SELECT count(*) FROM etl.orders"), 0);
        exec("SET LOCAL etl.source_timezone = 'UTC'");
        assert_eq!(stage("etl_orders", A), "orders success in=1 ok=1 sup=0 rej=0 fail=0");
        assert!(boolean("SELECT ordered_at = '2026-01-01 00:00:00+00' FROM etl.orders"));
    }

    #[pg_test]
    fn api_is_safe_from_a_users_objects_in_public() {
        fixtures();
        import(
            A,
            "(1, 'O1', 'S1', 'alice', 'paid', 'sample', '1', '2026-01-01'),
             (2, 'O2', 'S1', 'alice', 'paid', NULL, '2', '2026-01-02')",
        );
        exec(
            "CREATE FUNCTION public.md5(text) RETURNS text LANGUAGE sql AS $$ SELECT 'not md5' $$;
             CREATE FUNCTION public.etl_test_never(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT false $$;
             CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.etl_test_never);
             CREATE FUNCTION public.etl_test_never_uuid(uuid, uuid) RETURNS boolean LANGUAGE sql AS $$ SELECT false $$;
             CREATE OPERATOR public.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = public.etl_test_never_uuid);
             CREATE FUNCTION public.etl_test_never_bigint(bigint, bigint) RETURNS boolean LANGUAGE sql AS $$ SELECT false $$;
             CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.etl_test_never_bigint);
             SET LOCAL search_path = public, pg_catalog;",
        );
        // The user's objects do win in the user's own queries...
        assert_eq!(text("SELECT md5('x')").as_deref(), Some("not md5"));
        let report = stage("etl_run_all", A);
        exec("SET LOCAL search_path = pg_catalog, public");
        // ... but not inside the pipeline.
        assert_eq!(
            report,
            "orders success in=2 ok=2 sup=0 rej=0 fail=0\n\
             customers success in=1 ok=1 sup=0 rej=0 fail=0\n\
             leads success in=1 ok=1 sup=0 rej=0 fail=0"
        );
        assert_eq!(
            value("SELECT string_agg(customer_key, ',') FROM etl.customers"),
            "a79dc4b87a42d35af69583a82c082101"
        );
        assert_eq!(
            int("SELECT count(*) FROM etl.orders WHERE customer_global_id IS NOT NULL AND lead_id IS NOT NULL"),
            2
        );
        assert_eq!(value("SELECT order_count || ' ' || total_amount FROM etl.business_leads"), "2 3.00");
    }

    #[pg_test]
    fn api_runs_log_every_stage_with_batches_and_queries() {
        fixtures();
        import(
            A,
            "(1, 'O1', 'S1', 'a', 'paid', NULL, '1', '2026-01-01'),
             (2, 'O2', 'S1', 'b', 'paid', NULL, '1', '2026-01-01'),
             (3, 'O3', 'S1', 'c', 'paid', NULL, 'x', '2026-01-01'),
             (4, 'O1', 'S1', 'a', 'paid', NULL, '2', '2026-01-01'),
             (5, 'O5', 'S1', 'd', 'paid', NULL, '1', '2026-01-01')",
        );
        exec("SET LOCAL etl.batch_size = 2");
        // The run log is read by the next statement (one statement sees its own start's snapshot).
        exec(&format!("CREATE TEMP TABLE r ON COMMIT DROP AS SELECT * FROM etl_run_all('{A}')"));
        let got = value(&format!(
            "SELECT string_agg(format('%s %s %s %s %s %s %s %s', r.stage, r.status,
                        (r.details ->> 'batches') = runs.batches::text,
                        (r.details ->> 'queries') = runs.queries::text,
                        (runs.status, runs.rows_in, runs.rows_ok, runs.rows_superseded, runs.rows_rejected, runs.rows_failed)
                          = (r.status, r.rows_in, r.rows_ok, r.rows_superseded, r.rows_rejected, r.rows_failed),
                        runs.queries > runs.batches AND runs.finished_at >= runs.started_at AND runs.duration_ms >= 0,
                        r.details ? 'batches' AND r.details ? 'queries',
                        runs.error IS NULL), ',' ORDER BY runs.run_id)
               FROM r JOIN etl.runs runs ON runs.import_id = '{A}' AND runs.stage = r.stage"
        ));
        assert_eq!(got, "orders partial_success t t t t t t,customers success t t t t t t,leads success t t t t t t");
        assert_eq!(
            value(&format!("SELECT format('%s %s %s %s %s %s', rows_in, rows_ok, rows_superseded, rows_rejected, rows_failed, batches) FROM etl.runs WHERE import_id = '{A}' AND stage = 'orders'")),
            "5 3 1 1 0 3"
        );
    }

    /// Makes an import of `rows` lines, one customer each.
    fn generated_import(id: &str, rows: i32) {
        exec(&format!(
            "INSERT INTO etl.imports (import_id, status) VALUES ('{id}', 'pending');
             INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at)
             SELECT '{id}', n, '{id}-' || n, 'S1', 'customer ' || '{id}' || n, 'paid', 'sample', n || '.5', '2026-01-01 10:00:00'
               FROM generate_series(1, {rows}) n;
             UPDATE etl.imports SET status = 'completed' WHERE import_id = '{id}';"
        ));
    }

    /// Batches and statements per stage; an ANALYZE (run only when a stage
    /// has grown etl.orders past its statistics) is left out of the count.
    fn batches_and_queries(id: &str) -> String {
        value(&format!(
            "SELECT string_agg(format('%s %s b=%s q=%s', stage, status, details ->> 'batches',
                                      (details ->> 'queries')::int - coalesce((details ->> 'analyzed')::int, 0)), ',')
               FROM etl_run_all('{id}')"
        ))
    }

    #[pg_test]
    fn api_statements_depend_on_batches_not_rows() {
        fixtures();
        let small = "c0000000-0000-7000-8000-000000000010";
        let large = "c0000000-0000-7000-8000-000000001000";
        generated_import(small, 10);
        generated_import(large, 1000);
        exec("SET LOCAL etl.batch_size = 5");
        let s = batches_and_queries(small);
        exec("SET LOCAL etl.batch_size = 500");
        let l = batches_and_queries(large);
        assert_eq!(s, l, "same batches, same statements");
        assert!(s.starts_with("orders success b=2 q="), "{s}");
        assert_eq!(int("SELECT count(*) FROM etl.orders"), 1010);
        assert_eq!(int("SELECT count(*) FROM etl.business_leads WHERE order_count = 1"), 1010);
    }

    /// Threads of this backend other than its main one, as (name, whether it
    /// blocks every signal PostgreSQL handles).
    fn other_threads() -> Vec<(String, bool)> {
        let main = std::process::id().to_string();
        // SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM, SIGCHLD, SIGURG.
        let handled: u64 = [1u32, 2, 3, 10, 12, 14, 15, 17, 23].iter().map(|s| 1u64 << (s - 1)).sum();
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .map(|t| t.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_str() != Some(main.as_str()))
            .map(|p| {
                let name = std::fs::read_to_string(p.join("comm")).unwrap_or_default().trim().to_string();
                let status = std::fs::read_to_string(p.join("status")).unwrap_or_default();
                let blocked = status
                    .lines()
                    .find_map(|l| l.strip_prefix("SigBlk:"))
                    .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
                    .unwrap_or(0);
                (name, blocked & handled == handled)
            })
            .collect()
    }

    fn polars_threads_and_unmasked() -> (usize, Vec<String>) {
        let threads = other_threads();
        let pool = threads.iter().filter(|(n, _)| n.starts_with("polars-")).count();
        let unmasked = threads.into_iter().filter(|(_, masked)| !masked).map(|(n, _)| n).collect();
        (pool, unmasked)
    }

    fn two_imports() -> (&'static str, &'static str) {
        fixtures();
        let first = "c0000000-0000-7000-8000-000000000001";
        let second = "c0000000-0000-7000-8000-000000000002";
        import(first, "(1, 'P1', 'S1', 'a', 'paid', NULL, '1', '2026-01-01')");
        import(second, "(1, 'P2', 'S1', 'b', 'paid', NULL, '2', '2026-01-01')");
        (first, second)
    }

    #[pg_test]
    fn api_polars_threads_1_runs_on_one_masked_thread() {
        let (first, second) = two_imports();
        assert_eq!(other_threads().len(), 0, "a fresh backend has one thread");
        exec("SET LOCAL etl.polars_threads = 1");
        assert_eq!(stage("etl_run_all", first).lines().next(), Some("orders success in=1 ok=1 sup=0 rej=0 fail=0"));
        assert_eq!(int("SELECT etl_polars_pool_threads()::bigint"), 1);
        assert_eq!(polars_threads_and_unmasked(), (1, vec![]), "{:?}", other_threads());
        // The pool keeps its size for the life of the backend.
        exec("SET LOCAL etl.polars_threads = 2");
        assert_eq!(stage("etl_run_all", second).lines().next(), Some("orders success in=1 ok=1 sup=0 rej=0 fail=0"));
        assert_eq!(int("SELECT etl_polars_pool_threads()::bigint"), 1);
        assert_eq!(polars_threads_and_unmasked(), (1, vec![]), "{:?}", other_threads());
        assert_eq!(
            value("SELECT string_agg(order_id || ':' || amount, ',' ORDER BY order_id) FROM etl.orders"),
            "P1:1.00,P2:2.00"
        );
    }

    #[pg_test]
    fn api_polars_threads_2_starts_a_masked_pool_of_2() {
        let (first, second) = two_imports();
        exec("SET LOCAL etl.polars_threads = 2");
        assert_eq!(stage("etl_run_all", first).lines().next(), Some("orders success in=1 ok=1 sup=0 rej=0 fail=0"));
        assert_eq!(int("SELECT etl_polars_pool_threads()::bigint"), 2);
        assert_eq!(stage("etl_run_all", second).lines().next(), Some("orders success in=1 ok=1 sup=0 rej=0 fail=0"));
        assert_eq!(polars_threads_and_unmasked(), (2, vec![]), "{:?}", other_threads());
    }

    #[pg_test]
    fn api_emit_event_stores_what_it_cannot_carry_as_refused() {
        // Through the SQL function a user calls: never an error, never XX000;
        // each payload is stored with accepted = false and the reason.
        let payloads = [
            (
                "format('{\"event_version\": \"1.0\", \"status\": \"completed\", \"note\": \"%s\"}', repeat('x', 9000))::jsonb",
                "payload is % bytes; NOTIFY carries at most 7999%",
            ),
            ("('{\"deep\": ' || repeat('[', 300) || '1' || repeat(']', 300) || '}')::jsonb", "payload cannot be read as an event: %"),
            (
                "'{\"event_version\": \"1.0\", \"import_id\": \"0190b4c2-6f1e-7cc0-8a3e-1f2d3c4b5a69\", \"status\": \"completed\", \"success_count\": 1e400}'::jsonb",
                "payload cannot be read as an event: %",
            ),
        ];
        for (payload, reason) in payloads {
            let id = int(&format!("SELECT etl_emit_event('DATA_IMPORT_COMPLETED', {payload})"));
            assert!(
                boolean(&format!(
                    "SELECT NOT accepted AND error LIKE '{reason}' FROM etl.events WHERE event_id = {id}"
                )),
                "event {id}: {:?}",
                text(&format!("SELECT error FROM etl.events WHERE event_id = {id}"))
            );
        }
        assert_eq!(int("SELECT count(*) FROM etl.jobs"), 0, "a refused event queues nothing");
    }

    #[pg_test]
    fn api_emit_event_of_an_import_not_completed_queues_nothing() {
        // An event of a pending or failed import that would queue a stage is
        // stored as accepted (a valid event, contract 5) but queues nothing:
        // the stage could only fail and use up its attempts, and its dead job
        // would then keep the loader's completion from queueing anything.
        fixtures();
        let pending = "c0000000-0000-7000-8000-0000000000e1";
        let failed = "c0000000-0000-7000-8000-0000000000e2";
        exec(&format!(
            "INSERT INTO etl.imports (import_id, source, status) VALUES ('{pending}', 'pg_test', 'pending'),
                                                                        ('{failed}', 'pg_test', 'failed');
             INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name, order_status, order_type,
                                         amount, ordered_at)
             VALUES ('{pending}', 1, 'E1', 'S1', 'a', 'paid', NULL, '1', '2026-01-01')"
        ));
        // Events that would queue a stage, then events that queue nothing (a
        // failure reported, the last stage's end): all accepted, none queues.
        for (event_type, id, event_status) in [
            ("DATA_IMPORT_COMPLETED", pending, "completed"),
            ("ORDERS_ETL_COMPLETED", pending, "success"),
            ("CUSTOMERS_ETL_COMPLETED", pending, "partial_success"),
            ("DATA_IMPORT_COMPLETED", failed, "completed"),
            ("DATA_IMPORT_COMPLETED", failed, "failed"),
            ("ORDERS_ETL_COMPLETED", pending, "failed"),
            ("LEADS_ETL_COMPLETED", pending, "success"),
        ] {
            let event = int(&format!(
                "SELECT etl_emit_event('{event_type}', jsonb_build_object('event_type', '{event_type}',
                    'event_version', '1.0', 'import_id', '{id}', 'status', '{event_status}'))"
            ));
            assert_eq!(
                text(&format!("SELECT accepted::text FROM etl.events WHERE event_id = {event}")),
                Some("true".to_string()),
                "{event_type} {event_status} of an import not completed: accepted"
            );
            assert_eq!(
                int(&format!("SELECT count(*) FROM etl.jobs WHERE import_id = '{id}'")),
                0,
                "{event_type} {event_status} of an import not completed queues nothing"
            );
        }
        assert_eq!(int("SELECT count(*) FROM etl.jobs"), 0, "no event of an import not completed queued anything");
        // The loader completes it: its pipeline is queued as for any import.
        exec(&format!("UPDATE etl.imports SET status = 'completed' WHERE import_id = '{pending}'"));
        assert_eq!(
            value(&format!(
                "SELECT string_agg(stage || ':' || state, ',') FROM etl.jobs WHERE import_id = '{pending}'"
            )),
            "orders:queued"
        );
    }
}
