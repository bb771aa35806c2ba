//! SQL entry points: thin wrappers that check the call, run the pipeline and
//! publish its events. Errors become PostgreSQL errors with a SQLSTATE.

use pgrx::prelude::*;
use pgrx::{JsonB, Uuid};

use crate::error::CallError;
use crate::events;
use crate::pipeline::stage::Stage;
use crate::pipeline::{self, StageReport};
use crate::queue;

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
            // The chain goes on from the last stage this call ran; a stage
            // this call runs next is not queued as well.
            let runs_next_here = report.stage.next().is_some_and(|next| stages.contains(&next));
            queue::stage_ended(report, !runs_next_here)?;
            queue::settle_waiting_job(report)?;
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

/// Threads in this backend's Polars pool: 0 until a stage has transformed a
/// batch, then the `etl.polars_threads` value of that first use.
#[pg_extern(volatile, parallel_safe)]
fn etl_polars_pool_threads() -> i32 {
    crate::services::polars_runtime::pool_threads() as i32
}

/// Runs every queued pipeline job that is due (for pg_cron, or a database
/// without the background worker) and returns how many imports it worked on.
/// Safe while the worker runs: jobs are taken with FOR UPDATE SKIP LOCKED.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn etl_run_pending() -> i64 {
    queue::run_pending().unwrap_or_else(|e| e.raise())
}

/// Requeues the dead or failed stage jobs of an import; returns their stages.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn etl_retry(import_id: Option<Uuid>) -> Vec<String> {
    let result = import_id.ok_or(CallError::NullImportId).and_then(queue::retry);
    result.unwrap_or_else(|e| e.raise())
}

/// Publishes an application's event. A valid event is stored, notified on
/// `etl_events` and acted on (an import's completion queues its pipeline, a
/// stage's success the next stage); an invalid one is stored with
/// `accepted = false` and its error, with a WARNING, and starts nothing.
/// Returns the event's `event_id`.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn etl_emit_event(event_type: Option<String>, payload: Option<JsonB>) -> i64 {
    let result = (|| -> Result<i64, CallError> {
        let event_type = event_type.ok_or(CallError::NullArgument("event_type"))?;
        let payload = payload.ok_or(CallError::NullArgument("payload"))?.0;
        let checked = match events::validate(&event_type, &payload) {
            Ok(event) if !pipeline::import_exists(event.import_id)? => {
                Err(crate::error::EventError::UnknownImport(event.import_id.to_string()))
            }
            other => other,
        };
        match checked {
            Ok(event) => {
                let id = events::publish(event.event_type, &payload)?;
                queue::on_accepted_event(&event)?;
                Ok(id)
            }
            Err(refusal) => {
                pgrx::warning!("etl_emit_event: {event_type} event refused: {refusal}");
                Ok(events::store_refused(&event_type, &payload, &refusal)?)
            }
        }
    })();
    result.unwrap_or_else(|e| e.raise())
}

/// Functions for the extension's own SQL (triggers), in schema `etl`.
#[pg_schema]
mod etl {
    use pgrx::prelude::*;
    use pgrx::Uuid;

    use crate::error::CallError;
    use crate::queue;

    /// Called by the trigger on etl.imports when an import becomes completed:
    /// publishes DATA_IMPORT_COMPLETED and queues the pipeline.
    #[pg_extern(volatile, parallel_unsafe)]
    #[search_path(pg_catalog, pg_temp)]
    fn import_completed(import_id: Uuid) -> i64 {
        queue::import_completed(import_id).unwrap_or_else(|e| CallError::from(e).raise())
    }
}
