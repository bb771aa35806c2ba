//! The event chain: an import's completion publishes its event and queues
//! its orders stage, an application's event is checked, stored and acted
//! on, and a stage's end publishes its event and queues the next stage.

use pgrx::Uuid;

use crate::error::{Error, EventError};
use crate::events::{self, EventType, ValidEvent};
use crate::pipeline::{self, AfterStage, RunStatus, StageReport};
use crate::services::spi::Sql;
use crate::stage::Stage;

use super::gate::{self, OrdersGate};
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
            ))),
            None => Ok(None),
        },
    )?;
    let Some((status, allowed, queued_before)) = found else {
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
    let raw_lines =
        Sql::new().count_now(include_str!("../../sql/queries/import_completion_lines.sql"), &[import_id.into()])?;
    let event_id =
        events::publish(EventType::DataImportCompleted, &events::import_completed_payload(import_id, raw_lines))?;
    enqueue(import_id, Stage::Orders)?;
    Ok(Some(event_id))
}

/// Whether an application event, once accepted, would queue a stage: an
/// import's completion with status `completed`, a stage's success or
/// partial success when a stage follows it. Every other event (a failure,
/// the leads stage's end) is only stored and notified.
fn starts_a_stage(event: &ValidEvent) -> bool {
    match event.event_type {
        EventType::DataImportCompleted => event.status == "completed",
        EventType::StageCompleted(stage) => {
            stage.next().is_some()
                && matches!(RunStatus::from_name(&event.status), Some(RunStatus::Success | RunStatus::PartialSuccess))
        }
        _ => false,
    }
}

/// What an accepted application event starts: an import's completion queues
/// its orders stage, a stage's success queues the next stage, except the
/// customers and leads of an import the quality gate holds (an
/// application's `ORDERS_ETL_COMPLETED` does not get past the gate: the
/// event is stored, and a NOTICE says why nothing was queued).
/// `import_status` is the import's status, read when the event was checked.
pub fn on_accepted_event(event: &ValidEvent, import_status: &str) -> Result<(), Error> {
    if !starts_a_stage(event) {
        return Ok(());
    }
    // A stage of an import that is not completed can only fail (its loader
    // is still writing it, or gave up) and would use up its attempts: its
    // job would then be there, dead, when the loader completes the import,
    // and that completion would queue nothing. The loader's completion
    // queues it; the event is kept, as any valid event is (contract 5).
    if import_status != "completed" {
        pgrx::notice!(
            "etl_ext: import {} is {}, not completed: nothing is queued; its pipeline is queued when its loader completes it",
            event.import_id,
            import_status
        );
        return Ok(());
    }
    match event.event_type {
        EventType::DataImportCompleted => enqueue(event.import_id, Stage::Orders),
        EventType::StageCompleted(stage) => match stage.next() {
            Some(next) if gate::stage_waits(event.import_id, next)? => {
                pgrx::notice!(
                    "etl_ext: import {} is held by the quality gate; its {} stage waits for etl_release(import_id)",
                    event.import_id,
                    next.name()
                );
                Ok(())
            }
            Some(next) => enqueue(event.import_id, next),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Runs `stages` for a direct SQL call, in the caller's transaction: each
/// stage's event is published as it ends, the chain goes on from the last
/// stage the call ran (a stage the same call runs next is not queued as
/// well), and a job waiting for a stage the call ran is settled. A dry run
/// only rehearses the stages (`pipeline::rehearse_stages`).
///
/// The quality gate: any call on a held import is refused (55000, the hint
/// names `etl_release`), `etl_orders` and `etl_run_all` too (nothing of a
/// held import is loaded before its release, which runs its orders again);
/// a call that runs orders (`etl_orders`, `etl_run_all`) of an import the
/// gate then holds keeps nothing of that orders stage and stops after it,
/// and the orders report's `details.quality_gate` says so. A dry run
/// reports what the gate would decide (`would hold`) and records nothing.
pub fn run_for_caller(import_id: Option<Uuid>, stages: &[Stage], dry_run: bool) -> Result<Vec<StageReport>, Error> {
    let import_id = pipeline::check_import(import_id)?;
    if dry_run {
        // A dry run does not take the pipeline's lock here: a lock taken
        // outside the rehearsal would outlive it and be held until the
        // caller's transaction ends (the worker waiting all that time behind
        // a call that keeps nothing); the rehearsal takes it inside and
        // releases it when it rolls back, and a hold that appears meanwhile
        // changes nothing, since the rehearsal keeps nothing either. A
        // rehearsal of a held import's orders says `held`.
        if stages.first().is_some_and(|&first| first != Stage::Orders) {
            gate::refuse_if_held(import_id)?;
        }
        // A rehearsal publishes nothing, queues nothing and settles no job;
        // the gate only says what it would do.
        return pipeline::rehearse_stages(import_id, stages, &mut |report| {
            Ok(gate::rehearse_after_orders(report)?.goes_on())
        });
    }
    // A run decides under the pipeline's lock, which every orders run (and
    // so every new hold) and every release takes: no hold or release can
    // come between the gate's look and the run.
    pipeline::lock_pipeline()?;
    let gate = OrdersGate::for_run(import_id, stages)?;
    run_through_gate(import_id, stages, &gate, &mut |report| {
        let runs_next_here = report.stage.next().is_some_and(|next| stages.contains(&next));
        let goes_on = stage_ended(report, !runs_next_here, &gate)?;
        settle_waiting_job(report)?;
        Ok(goes_on)
    })
}

/// Runs `stages` for real through the quality gate: the orders stage judged
/// inside its subtransaction when the gate judges it, else exactly as
/// without a gate.
pub fn run_through_gate(
    import_id: Uuid,
    stages: &[Stage],
    gate: &OrdersGate,
    after: &mut AfterStage,
) -> Result<Vec<StageReport>, Error> {
    if gate.judges() {
        pipeline::run_stages_judged(import_id, stages, &mut |stage, counts| gate.judge(stage, counts), after)
    } else {
        pipeline::run_stages_until(import_id, stages, after)
    }
}

/// `etl_redrive(import_id)`: refused while the quality gate holds the
/// import, since its customers and leads stages would run the redriven
/// orders past the gate (release it first, or run `etl_orders` again).
pub fn redrive(import_id: Option<Uuid>) -> Result<Vec<StageReport>, Error> {
    let import_id = pipeline::check_import(import_id)?;
    pipeline::lock_pipeline()?;
    gate::refuse_if_held(import_id)?;
    pipeline::redrive(import_id)
}

/// `etl_retry(import_id)`: refused while the quality gate holds the import
/// (only `etl_release` lets its customers and leads run; its orders stage
/// succeeded, or it would not be held).
pub fn retry(import_id: Uuid) -> Result<Vec<String>, Error> {
    gate::refuse_if_held(import_id)?;
    super::jobs::retry(import_id)
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
    let checked =
        events::parse_and_validate(event_type, payload_text).and_then(|event| {
            match pipeline::import_status(event.import_id)? {
                Some(status) => Ok((event, status)),
                None => Err(EventError::UnknownImport(event.import_id.to_string()).into()),
            }
        });
    match checked {
        Ok((event, import_status)) => {
            let id = events::publish_text(event.event_type, payload_text)?;
            on_accepted_event(&event, &import_status)?;
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

/// A stage ran: publish its event, record the hold of an orders stage the
/// quality gate kept nothing of (IMPORT_HELD), and when the import goes on
/// and the caller does not run the next stage itself, queue the next stage.
/// Returns whether the import goes on: it succeeded and the gate did not
/// hold it.
pub fn stage_ended(report: &mut StageReport, queue_next: bool, gate: &OrdersGate) -> Result<bool, Error> {
    events::publish(EventType::StageCompleted(report.stage), &events::stage_payload(report))?;
    let goes_on = report.succeeded() && gate.after_stage(report)?.goes_on();
    if goes_on && queue_next {
        if let Some(next) = report.stage.next() {
            enqueue(report.import_id, next)?;
        }
    }
    Ok(goes_on)
}
