//! SQL entry points: thin wrappers that check the call, run the pipeline and
//! publish its events. Errors become PostgreSQL errors with a SQLSTATE.

use pgrx::prelude::*;
use pgrx::{JsonB, Uuid};

use crate::error::CallError;
use crate::events;
use crate::pipeline::stage::Stage;
use crate::pipeline::{self, StageReport};

type ReportRow = (
    name!(stage, String),
    name!(status, String),
    name!(rows_in, i64),
    name!(rows_ok, i64),
    name!(rows_superseded, i64),
    name!(rows_rejected, i64),
    name!(rows_failed, i64),
    name!(duration_ms, f64),
    name!(details, JsonB),
);

fn to_row(r: &StageReport) -> ReportRow {
    (
        r.stage.name().to_string(),
        r.status.to_string(),
        r.counts.rows_in,
        r.counts.rows_ok,
        r.counts.rows_superseded,
        r.counts.rows_rejected,
        r.counts.rows_failed,
        r.duration_ms,
        JsonB(r.details()),
    )
}

/// Runs `stages` for a SQL caller and publishes a completion event per stage.
fn run_for_sql(import_id: Option<Uuid>, stages: &[Stage]) -> TableIterator<'static, ReportRow> {
    let result = pipeline::check_import(import_id).and_then(|id| {
        let reports = pipeline::run_stages(id, stages)?;
        for report in &reports {
            events::stage_completed(report).map_err(CallError::from)?;
        }
        Ok(reports)
    });
    match result {
        Ok(reports) => TableIterator::new(reports.iter().map(to_row).collect::<Vec<_>>()),
        Err(e) => e.raise(),
    }
}

/// Declares a SQL entry point that runs `$stages` and returns their reports.
/// (pgrx needs the returned columns spelled out in each signature.)
macro_rules! stage_entry_point {
    ($(#[$doc:meta])* $name:ident => $stages:expr) => {
        $(#[$doc])*
        #[pg_extern(volatile, parallel_unsafe)]
        #[search_path(pg_catalog, pg_temp)]
        fn $name(
            import_id: Option<Uuid>,
        ) -> TableIterator<
            'static,
            (
                name!(stage, String),
                name!(status, String),
                name!(rows_in, i64),
                name!(rows_ok, i64),
                name!(rows_superseded, i64),
                name!(rows_rejected, i64),
                name!(rows_failed, i64),
                name!(duration_ms, f64),
                name!(details, JsonB),
            ),
        > {
            run_for_sql(import_id, $stages)
        }
    };
}

stage_entry_point!(
    /// Stage 1: cleans, validates and upserts the import's raw lines into etl.orders.
    etl_orders => &[Stage::Orders]
);
stage_entry_point!(
    /// Stage 2: creates the import's customers and links its orders to them.
    etl_customers => &[Stage::Customers]
);
stage_entry_point!(
    /// Stage 3: attributes the import's orders to leads and recomputes their aggregates.
    etl_leads => &[Stage::Leads]
);
stage_entry_point!(
    /// The three stages in order, in the caller's transaction; stops at a failed stage.
    etl_run_all => &Stage::ALL
);

/// A new version 7 (time-ordered) UUID.
#[pg_extern(volatile, parallel_safe)]
fn etl_uuid_v7() -> Uuid {
    Uuid::from_bytes(*uuid::Uuid::now_v7().as_bytes())
}

/// Threads in this backend's Polars pool (0 until a stage has run with
/// `etl.polars_threads` > 1).
#[pg_extern(volatile, parallel_safe)]
fn etl_polars_pool_threads() -> i32 {
    crate::services::polars_runtime::pool_threads() as i32
}
