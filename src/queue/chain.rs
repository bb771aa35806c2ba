//! The event chain: an import's completion publishes its event and queues
//! its orders stage, an application's event is checked, stored and acted
//! on, and a stage's end publishes its event and queues the next stage.

use pgrx::Uuid;

use crate::error::{Error, EventError};
use crate::events::{self, EventType, ValidEvent};
use crate::pipeline::{self, RunStatus, StageReport};
use crate::services::spi::Sql;
use crate::stage::Stage;

use super::jobs::{enqueue, settle_waiting_job};

/// An import became `completed`: publish `DATA_IMPORT_COMPLETED` and queue
/// its pipeline, in the caller's transaction. `caller` is the role that
/// completed it: the import's owner, an operator or a superuser. Only the
/// first completion queues anything: calling it again (the function is open
/// to loaders, for the completion trigger) neither publishes again nor
/// requeues a job that ran or died; requeuing is `etl_retry`, the operator's.
pub fn import_completed(import_id: Uuid, caller: pgrx::pg_sys::Oid) -> Result<Option<i64>, Error> {
    let found = Sql::new().query(
        include_str!("../../sql/queries/import_completion.sql"),
        &[import_id.into(), caller.into()],
        |rows| match rows.into_iter().next() {
            Some(row) => Ok(Some((
                row.get::<String>(1)?.unwrap_or_default(),
                row.get::<bool>(2)?.unwrap_or(false),
                row.get::<bool>(3)?.unwrap_or(false),
                row.get::<i64>(4)?.unwrap_or(0),
            ))),
            None => Ok(None),
        },
    )?;
    let Some((status, allowed, queued_before, raw_lines)) = found else {
        return Err(Error::UnknownImport(import_id.to_string()));
    };
    if !allowed {
        return Err(Error::NotImportOwner(import_id.to_string()));
    }
    if status != "completed" {
        return Err(Error::ImportNotCompleted { import_id: import_id.to_string(), status });
    }
    if queued_before {
        return Ok(None);
    }
    let event_id =
        events::publish(EventType::DataImportCompleted, &events::import_completed_payload(import_id, raw_lines))?;
    enqueue(import_id, Stage::Orders)?;
    Ok(Some(event_id))
}

/// What an accepted application event starts: an import's completion queues
/// its orders stage, a stage's success queues the next stage.
pub fn on_accepted_event(event: &ValidEvent) -> Result<(), Error> {
    match event.event_type {
        EventType::DataImportCompleted if event.status == "completed" => enqueue(event.import_id, Stage::Orders),
        EventType::StageCompleted(stage)
            if matches!(RunStatus::from_name(&event.status), Some(RunStatus::Success | RunStatus::PartialSuccess)) =>
        {
            match stage.next() {
                Some(next) => enqueue(event.import_id, next),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// Runs `stages` for a direct SQL call, in the caller's transaction: each
/// stage's event is published, the chain goes on from the last stage the
/// call ran (a stage the same call runs next is not queued as well), and a
/// job waiting for a stage the call ran is settled. A dry run only
/// rehearses the stages (`pipeline::rehearse_stages`).
pub fn run_for_caller(import_id: Option<Uuid>, stages: &[Stage], dry_run: bool) -> Result<Vec<StageReport>, Error> {
    let import_id = pipeline::check_import(import_id)?;
    if dry_run {
        // A rehearsal publishes nothing, queues nothing and settles no job.
        return pipeline::rehearse_stages(import_id, stages);
    }
    let reports = pipeline::run_stages(import_id, stages)?;
    for report in &reports {
        let runs_next_here = report.stage.next().is_some_and(|next| stages.contains(&next));
        stage_ended(report, !runs_next_here)?;
        settle_waiting_job(report)?;
    }
    Ok(reports)
}

/// An application's event (`etl_emit_event`): a valid one is stored,
/// notified and acted on (an import's completion queues its pipeline, a
/// stage's success the next stage); one that cannot be accepted is stored
/// with `accepted = false` and its reason, with a WARNING, and starts
/// nothing. Returns the event's id.
pub fn emit_event(event_type: &str, payload_text: &str) -> Result<i64, Error> {
    if event_type.len() > events::MAX_EVENT_TYPE_BYTES {
        return Err(Error::EventTypeTooLong { bytes: event_type.len(), max: events::MAX_EVENT_TYPE_BYTES });
    }
    let checked = events::parse_and_validate(event_type, payload_text).and_then(|event| {
        if pipeline::import_exists(event.import_id)? {
            Ok(event)
        } else {
            Err(EventError::UnknownImport(event.import_id.to_string()).into())
        }
    });
    match checked {
        Ok(event) => {
            let id = events::publish_text(event.event_type, payload_text)?;
            on_accepted_event(&event)?;
            Ok(id)
        }
        Err(Error::Refused(refusal)) => {
            pgrx::warning!(
                "etl_emit_event: {} event refused: {}",
                events::bounded(event_type, 200),
                events::bounded(&refusal.to_string(), 200)
            );
            Ok(events::store_refused(event_type, payload_text, &refusal)?)
        }
        Err(e) => Err(e),
    }
}

/// A stage ran: publish its event and, when it succeeded and the caller does
/// not run the next stage itself, queue the next stage.
pub fn stage_ended(report: &StageReport, queue_next: bool) -> Result<(), Error> {
    events::publish(EventType::StageCompleted(report.stage), &events::stage_payload(report))?;
    if report.succeeded() && queue_next {
        if let Some(next) = report.stage.next() {
            enqueue(report.import_id, next)?;
        }
    }
    Ok(())
}
