//! `#[pg_test]`s: behaviour inside PostgreSQL, each in a rolled-back transaction.
//!
//! Each file holds a `#[pg_schema] mod tests` (pgrx calls every test as
//! `tests.<name>()`), so test names are unique across files. The helpers
//! below run SQL through SPI and read results back as text, so a failing
//! assertion shows the whole expected and actual rows.

#[cfg(test)]
mod architecture;
mod customers_leads;
mod orders_stage;
mod performance_guards;
mod pipeline_api;

use pgrx::prelude::*;

/// Runs SQL (one or more statements) and panics on error.
pub fn exec(sql: &str) {
    Spi::run(sql).unwrap_or_else(|e| panic!("{e}\nSQL: {sql}"));
}

/// The first column of the first row, as text (NULL is `None`).
pub fn text(sql: &str) -> Option<String> {
    Spi::get_one::<String>(sql).unwrap_or_else(|e| panic!("{e}\nSQL: {sql}"))
}

/// Like [`text`], for a query that must return a non-NULL value.
pub fn value(sql: &str) -> String {
    text(sql).unwrap_or_else(|| panic!("NULL from {sql}"))
}

pub fn int(sql: &str) -> i64 {
    Spi::get_one::<i64>(sql).unwrap_or_else(|e| panic!("{e}\nSQL: {sql}")).unwrap_or_else(|| panic!("NULL from {sql}"))
}

pub fn boolean(sql: &str) -> bool {
    Spi::get_one::<bool>(sql).unwrap_or_else(|e| panic!("{e}\nSQL: {sql}")).unwrap_or_else(|| panic!("NULL from {sql}"))
}

/// Shops 101 `S1`, 102 `Shop "Two"` (active) and 103 `Old` (inactive), and
/// order-type mappings.
pub fn fixtures() {
    exec(
        r#"INSERT INTO etl.shops (shop_id, shop_name, platform, active) VALUES
               (101, 'S1', 'tmall', true), (102, 'Shop "Two"', 'jd', true), (103, 'Old', 'taobao', false);
           INSERT INTO etl.order_type_mappings (raw_order_type, system_order_type) VALUES
               ('sample', 'SAMPLE'), ('样品', 'SAMPLE'), ('gift', 'GIFT'), ('wholesale', 'BULK');"#,
    );
}

/// Creates import `id` with `values` (a VALUES list of `(line_no, order_id,
/// shop, customer_name, order_status, order_type, amount, ordered_at)`),
/// then marks it completed, as a loader would.
pub fn import(id: &str, values: &str) {
    exec(&format!("INSERT INTO etl.imports (import_id, source, status) VALUES ('{id}', 'pg_test', 'pending');"));
    if !values.trim().is_empty() {
        exec(&format!(
            "INSERT INTO etl.raw_orders (import_id, line_no, order_id, shop, customer_name,
                                         order_status, order_type, amount, ordered_at)
             SELECT '{id}'::uuid, v.* FROM (VALUES {values}) AS v"
        ));
    }
    exec(&format!("UPDATE etl.imports SET status = 'completed', completed_at = now() WHERE import_id = '{id}'"));
}

/// Runs `function(import_id)` and returns its rows as
/// `stage status in=.. ok=.. sup=.. rej=.. fail=..`, one line per stage.
pub fn stage(function: &str, id: &str) -> String {
    value(&format!(
        "SELECT string_agg(format('%s %s in=%s ok=%s sup=%s rej=%s fail=%s', stage, status, rows_in,
                                  rows_ok, rows_superseded, rows_rejected, rows_failed)
                           || coalesce(' error: ' || (details ->> 'error'), ''), E'\n')
           FROM {function}('{id}')"
    ))
}

/// The SQLSTATE and message of the error `sql` raises, or `None`. The
/// statement runs in a subtransaction, which is rolled back.
pub fn error_of(sql: &str) -> Option<String> {
    exec(
        "CREATE OR REPLACE FUNCTION pg_temp.etl_test_error_of(q text) RETURNS text
         LANGUAGE plpgsql AS $$
         BEGIN
             EXECUTE q;
             RETURN NULL;
         EXCEPTION WHEN OTHERS THEN
             RETURN SQLSTATE || ': ' || SQLERRM;
         END $$",
    );
    Spi::get_one_with_args::<String>("SELECT pg_temp.etl_test_error_of($1)", &[sql.into()]).unwrap()
}

/// The result tables as one text, to compare the database before and after
/// a re-run: the project's one result fingerprint (by natural keys, shared
/// with the integration tests and the benchmark), and the generated ids, so
/// that a re-run that recreated a customer or lead under a new id shows too.
pub fn business_rows() -> String {
    const RESULT_FINGERPRINT: &str = include_str!("../../tests/result_fingerprint.sql");
    let identities = value(
        "SELECT md5(concat_ws(E'\n--\n',
            (SELECT string_agg(format('%s|%s|%s|%s', shop_id, order_id, customer_global_id, lead_id),
                     E'\n' ORDER BY shop_id, order_id) FROM etl.orders),
            (SELECT string_agg(format('%s|%s', customer_key, customer_global_id), E'\n' ORDER BY customer_key)
               FROM etl.customers),
            (SELECT string_agg(format('%s|%s|%s', lead_no, lead_id, customer_global_id), E'\n' ORDER BY lead_no)
               FROM etl.business_leads),
            'end'))",
    );
    format!("{}\nids:{identities}", value(RESULT_FINGERPRINT))
}

/// Whether a uuid (as text) is version 7 with the RFC 4122 variant.
pub const IS_V7: &str = "(substr(%s::text, 15, 1) = '7' AND substr(%s::text, 20, 1) IN ('8', '9', 'a', 'b'))";

pub fn v7(expr: &str) -> String {
    IS_V7.replace("%s", expr)
}
