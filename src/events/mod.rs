//! Events: every stage end (and an import's completion) is stored in
//! `etl.events` and sent with `NOTIFY etl_events`, delivered at commit.

use serde_json::json;

use crate::error::StageError;
use crate::pipeline::stage::Stage;
use crate::pipeline::StageReport;
use crate::services::spi::Sql;

pub const EVENT_VERSION: &str = "1.0";
pub const CHANNEL: &str = "etl_events";

pub const DATA_IMPORT_COMPLETED: &str = "DATA_IMPORT_COMPLETED";
pub const ORDERS_ETL_COMPLETED: &str = "ORDERS_ETL_COMPLETED";
pub const CUSTOMERS_ETL_COMPLETED: &str = "CUSTOMERS_ETL_COMPLETED";
pub const LEADS_ETL_COMPLETED: &str = "LEADS_ETL_COMPLETED";

pub fn stage_event_type(stage: Stage) -> &'static str {
    match stage {
        Stage::Orders => ORDERS_ETL_COMPLETED,
        Stage::Customers => CUSTOMERS_ETL_COMPLETED,
        Stage::Leads => LEADS_ETL_COMPLETED,
    }
}

/// The contract's payload of a stage's completion event.
pub fn stage_payload(report: &StageReport) -> serde_json::Value {
    json!({
        "event_type": stage_event_type(report.stage),
        "event_version": EVENT_VERSION,
        "import_id": report.import_id.to_string(),
        "status": report.status,
        "success_count": report.counts.rows_ok,
        "error_count": report.counts.rows_rejected + report.counts.rows_failed,
        "duration_ms": report.duration_ms,
    })
}

/// Stores and notifies an accepted event; returns its `event_id`.
pub fn publish(event_type: &str, payload: &serde_json::Value) -> Result<i64, StageError> {
    Sql::new().query(
        "WITH e AS (
             INSERT INTO etl.events (event_type, event_version, payload, accepted)
             VALUES ($1, $2, $3, true)
             RETURNING event_id
         )
         SELECT e.event_id, pg_notify($4, $3::text) FROM e",
        &[
            event_type.into(),
            EVENT_VERSION.into(),
            pgrx::JsonB(payload.clone()).into(),
            CHANNEL.into(),
        ],
        |rows| rows.first().get_one::<i64>()?.ok_or_else(|| StageError::Unexpected("no event_id".into())),
    )
}

/// Publishes the completion event of a stage run.
pub fn stage_completed(report: &StageReport) -> Result<i64, StageError> {
    publish(stage_event_type(report.stage), &stage_payload(report))
}
