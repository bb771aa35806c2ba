//! Planner statistics that keep up with a run. PostgreSQL plans each
//! statement with the statistics of that moment; a table that was empty, or
//! never analysed, when a big first import started would be planned as
//! empty for every batch of it. A full `ANALYZE` per small import, though,
//! costs more than the import on a large history. So, in the spirit of
//! autovacuum's threshold: analyse only when the table has grown by a
//! fraction of what its statistics know since they were taken.

use crate::error::Error;
use crate::services::identity;
use crate::services::spi::{column_ordinals, Sql};

/// Growth (as a fraction of the pages the statistics saw) that makes them
/// stale: estimates within a factor of 1.5 still give the same plan shapes,
/// and a first import of n batches analyses about log1.5(n) times.
const GROWTH_FRACTION: f64 = 0.5;
/// ... plus this many pages, so that small tables are not analysed for nothing.
const GROWTH_PAGES: f64 = 16.0;

/// Whether statistics taken at `analysed_pages` (0 when never taken) are
/// stale for a table of `pages` now.
pub fn stale(analysed_pages: f64, pages: f64) -> bool {
    pages > analysed_pages * (1.0 + GROWTH_FRACTION) + GROWTH_PAGES
}

/// Analyses `table` (a fixed name of the extension's) when it has grown
/// past the threshold since its statistics were taken; returns whether it
/// did. One cheap catalog read otherwise.
pub fn refresh_table_if_grown(sql: &mut Sql, table: &str) -> Result<bool, Error> {
    let (analysed_pages, pages, owner) =
        sql.query(include_str!("../../sql/queries/table_growth.sql"), &[table.into()], |rows| {
            let [analysed_pages, pages, owner] = column_ordinals(&rows, ["analysed_pages", "pages", "owner"])?;
            let row = rows.first();
            Ok((
                row.get::<f64>(analysed_pages)?.unwrap_or(0.0),
                row.get::<f64>(pages)?.unwrap_or(0.0),
                row.get::<pgrx::pg_sys::Oid>(owner)?,
            ))
        })?;
    let Some(owner) = owner else {
        return Err(Error::Unexpected(format!("table {table} does not exist")));
    };
    if !stale(analysed_pages, pages) {
        return Ok(false);
    }
    let statement = format!("ANALYZE {table}");
    identity::as_table_owner(owner, || sql.execute(&statement, &[]))?;
    Ok(true)
}

/// Before the customers and leads stages' whole-import statements: the
/// orders stage may have grown etl.orders a lot (a first import).
pub fn refresh_if_grown(sql: &mut Sql) -> Result<bool, Error> {
    refresh_table_if_grown(sql, "etl.orders")
}

/// About how many rows `table` (a fixed name of the extension's) holds, from
/// the catalog (no scan): the analysed row count, or, for a table never
/// analysed or grown since, its size at `rows_per_page`, whichever is larger.
pub fn estimated_rows(sql: &mut Sql, table: &str, rows_per_page: i64) -> Result<i64, Error> {
    sql.query(include_str!("../../sql/queries/estimated_rows.sql"), &[table.into(), rows_per_page.into()], |rows| {
        let [estimated_rows] = column_ordinals(&rows, ["estimated_rows"])?;
        Ok(rows.first().get::<i64>(estimated_rows)?.unwrap_or(0))
    })
}

#[cfg(test)]
mod tests {
    use super::stale;

    #[test]
    fn a_never_analysed_table_with_rows_is_stale() {
        assert!(stale(0.0, 100.0));
        assert!(!stale(0.0, 10.0), "a few pages are not worth an ANALYZE");
    }

    #[test]
    fn small_growth_of_a_large_table_is_not_stale() {
        // 100 lines on a history of 10,000 pages: no ANALYZE.
        assert!(!stale(10_000.0, 10_003.0));
        assert!(!stale(10_000.0, 15_000.0));
        assert!(stale(10_000.0, 15_100.0));
    }
}
