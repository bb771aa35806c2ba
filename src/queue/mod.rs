//! The durable queue of the event chain (`etl.jobs`): one job per import and
//! stage. An import's completion queues its orders stage; a stage's success
//! queues the next; a failure is retried with exponential backoff up to
//! `etl.max_attempts`, then the job is dead until `etl_retry(import_id)`.
//!
//! A job is taken with `FOR UPDATE SKIP LOCKED` and finished in the same
//! transaction as its stage, so the worker and `etl_run_pending()` never run
//! a job twice, and a crash mid-stage rolls back both the stage and the job.

pub mod wake;

use std::collections::HashSet;

use pgrx::Uuid;

use crate::error::{CallError, EventError, StageError};
use crate::events::{self, EventType, ValidEvent};
use crate::gucs;
use crate::pipeline::{self, RunStatus, StageReport};
use crate::services::spi::Sql;
use crate::stage::Stage;

/// Queues `stage` of an import, unless that job is already queued or
/// running. Wakes the worker at commit.
pub fn enqueue(import_id: Uuid, stage: Stage) -> Result<(), StageError> {
    // A job that is queued or running will run (a running one after the
    // stage that queues it now, behind the pipeline's lock): it is left
    // alone, and its row, which a worker waiting for the pipeline's lock
    // holds, is not waited for.
    Sql::new().execute(
        include_str!("../sql/queries/enqueue_job.sql"),
        &[import_id.into(), stage.name().into()],
    )?;
    wake::wake_worker_at_commit();
    Ok(())
}

/// An import became `completed`: publish `DATA_IMPORT_COMPLETED` and queue
/// its pipeline, in the caller's transaction. `caller` is the role that
/// completed it: the import's owner, an operator or a superuser. Only the
/// first completion queues anything: calling it again (the function is open
/// to loaders, for the completion trigger) neither publishes again nor
/// requeues a job that ran or died; requeuing is `etl_retry`, the operator's.
pub fn import_completed(import_id: Uuid, caller: pgrx::pg_sys::Oid) -> Result<Option<i64>, CallError> {
    let found = Sql::new().query(
        include_str!("../sql/queries/import_completion.sql"),
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
        return Err(CallError::UnknownImport(import_id.to_string()));
    };
    if !allowed {
        return Err(CallError::NotImportOwner(import_id.to_string()));
    }
    if status != "completed" {
        return Err(CallError::ImportNotCompleted { import_id: import_id.to_string(), status });
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
pub fn on_accepted_event(event: &ValidEvent) -> Result<(), StageError> {
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
pub fn run_for_caller(import_id: Option<Uuid>, stages: &[Stage], dry_run: bool) -> Result<Vec<StageReport>, CallError> {
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
pub fn emit_event(event_type: &str, payload_text: &str) -> Result<i64, CallError> {
    if event_type.len() > events::MAX_EVENT_TYPE_BYTES {
        return Err(CallError::EventTypeTooLong { bytes: event_type.len(), max: events::MAX_EVENT_TYPE_BYTES });
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
        Err(events::Refusal::Event(refusal)) => {
            pgrx::warning!(
                "etl_emit_event: {} event refused: {}",
                events::bounded(event_type, 200),
                events::bounded(&refusal.to_string(), 200)
            );
            Ok(events::store_refused(event_type, payload_text, &refusal)?)
        }
        Err(events::Refusal::Stage(e)) => Err(e.into()),
    }
}

/// A stage ran: publish its event and, when it succeeded and the caller does
/// not run the next stage itself, queue the next stage.
pub fn stage_ended(report: &StageReport, queue_next: bool) -> Result<(), StageError> {
    events::publish(EventType::StageCompleted(report.stage), &events::stage_payload(report))?;
    if report.succeeded() && queue_next {
        if let Some(next) = report.stage.next() {
            enqueue(report.import_id, next)?;
        }
    }
    Ok(())
}

/// A stage that a SQL call ran directly settles the same stage's waiting job
/// (without waiting for a job some worker is running right now).
pub fn settle_waiting_job(report: &StageReport) -> Result<(), StageError> {
    if !report.succeeded() {
        return Ok(());
    }
    Sql::new().execute(
        include_str!("../sql/queries/settle_waiting_job.sql"),
        &[report.import_id.into(), report.stage.name().into(), report.run_id.into()],
    )?;
    Ok(())
}

/// A job's state; the SQL `CHECK` constraint on `etl.jobs.state` is the
/// authority, this mirrors it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting to run (first attempt, or requeued).
    Queued,
    /// An attempt was counted and the stage is running, or its backend died
    /// (then the job is due again once `next_run_at`, its lease, passes).
    Running,
    Done,
    /// The last attempt failed; retried at `next_run_at`.
    Failed,
    /// Out of attempts; `etl_retry(import_id)` requeues it.
    Dead,
}

impl JobState {
    pub fn name(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Dead => "dead",
        }
    }

    pub fn from_name(name: &str) -> Option<JobState> {
        [JobState::Queued, JobState::Running, JobState::Done, JobState::Failed, JobState::Dead]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A job taken from the queue and what became of it.
#[derive(Debug)]
pub struct JobOutcome {
    pub job_id: i64,
    pub import_id: Uuid,
    pub stage: Stage,
    pub state: JobState,
}

/// A job whose attempt was counted by [`claim_next_job`].
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub job_id: i64,
    pub import_id: Uuid,
    pub stage: Stage,
    /// The attempt this claim counted (1 for the first).
    pub attempt: i32,
    /// `Dead` when the job was out of attempts: its last attempt never
    /// finished (the backend crashed or was killed), and it is not run again.
    pub state: JobState,
}

/// A job from a row of (`job_id`, `import_id`, `stage`, `state`, `attempts`).
fn read_job(row: &pgrx::spi::SpiHeapTupleData<'_>) -> Result<ClaimedJob, StageError> {
    let stage_name: String = row.get_by_name("stage")?.unwrap_or_default();
    let state_name: String = row.get_by_name("state")?.unwrap_or_default();
    Ok(ClaimedJob {
        job_id: row.get_by_name("job_id")?.unwrap_or_default(),
        import_id: row.get_by_name("import_id")?.ok_or_else(|| StageError::Unexpected("job without import".into()))?,
        stage: Stage::from_name(&stage_name)
            .ok_or_else(|| StageError::Unexpected(format!("unknown stage {stage_name}")))?,
        attempt: row.get_by_name("attempts")?.unwrap_or(1),
        state: JobState::from_name(&state_name)
            .ok_or_else(|| StageError::Unexpected(format!("unknown job state {state_name}")))?,
    })
}

/// Takes the next due job (skipping jobs other sessions hold) and counts an
/// attempt, or marks it dead when its attempts are used up. The caller
/// commits this before running the stage ([`run_claimed_job`]), so that an
/// attempt whose backend crashes still counts: the job stays `running` with
/// `next_run_at` as its lease, and is due again (for its next attempt) once
/// the lease passes.
pub fn claim_next_job() -> Result<Option<ClaimedJob>, StageError> {
    Sql::new().query(
        include_str!("../../sql/queries/claim_job.sql"),
        &[gucs::max_attempts().into(), gucs::retry_base_delay_ms().into()],
        |rows| rows.into_iter().next().map(|row| read_job(&row)).transpose(),
    )
}

/// Runs the stage of a job claimed (and committed) by [`claim_next_job`]
/// and records the result, in the current transaction. None when the job
/// is no longer this claim's (another session took it meanwhile).
pub fn run_claimed_job(job: &ClaimedJob) -> Result<Option<JobOutcome>, CallError> {
    if job.state != JobState::Running {
        return Ok(None);
    }
    // The job's row first, then the pipeline's lock: while this waits for a
    // stage another session runs, the row it holds keeps every claim away
    // from the job (they skip locked rows), so the wait costs no attempt.
    // Whatever waits for a job row while holding the pipeline's lock skips
    // locked rows or leaves running jobs alone (`enqueue`): no deadlock.
    let still_ours = Sql::new().query(
        include_str!("../sql/queries/lock_claimed_job.sql"),
        &[job.job_id.into(), job.attempt.into()],
        |rows| Ok(!rows.is_empty()),
    )?;
    if !still_ours {
        return Ok(None);
    }
    pipeline::lock_pipeline()?;
    let report = pipeline::check_import(Some(job.import_id))
        .and_then(|id| pipeline::run_stages(id, &[job.stage]))
        .map(|mut reports| reports.pop());
    let outcome = match report {
        Ok(Some(report)) => {
            stage_ended(&report, true)?;
            finish_job(job, report.succeeded(), Some(report.run_id), report.error.as_deref())?
        }
        Ok(None) => finish_job(job, false, None, Some("the stage did not run"))?,
        // The import cannot run (deleted, or no longer completed): a failure
        // of the job, retried like any other.
        Err(e) => finish_job(job, false, None, Some(&e.to_string()))?,
    };
    Ok(Some(outcome))
}

/// Claims the next job that can run, marking dead on the way any that is
/// out of attempts. The caller commits before running it.
pub fn claim_runnable_job() -> Result<Option<ClaimedJob>, StageError> {
    while let Some(job) = claim_next_job()? {
        if job.state == JobState::Running {
            return Ok(Some(job));
        }
    }
    Ok(None)
}

/// Runs a job claimed in an earlier (committed) transaction, by its id:
/// `etl.run_job` of the procedure `etl_run_queue`.
pub fn run_job_by_id(job_id: i64) -> Result<Option<JobOutcome>, CallError> {
    let job = Sql::new().query(
        include_str!("../sql/queries/claimed_job.sql"),
        &[job_id.into()],
        |rows| rows.into_iter().next().map(|row| read_job(&row)).transpose(),
    )?;
    match job {
        Some(job) => run_claimed_job(&job),
        None => Ok(None),
    }
}

/// Claims and runs the next due job in the current transaction (for
/// `etl_run_pending()`, which cannot commit between jobs).
pub fn run_next_job() -> Result<Option<JobOutcome>, CallError> {
    pipeline::lock_pipeline()?;
    match claim_runnable_job()? {
        Some(job) => run_claimed_job(&job),
        None => Ok(None),
    }
}

fn finish_job(
    job: &ClaimedJob,
    succeeded: bool,
    run_id: Option<i64>,
    error: Option<&str>,
) -> Result<JobOutcome, StageError> {
    let state = if succeeded {
        JobState::Done
    } else if job.attempt >= gucs::max_attempts() {
        JobState::Dead
    } else {
        JobState::Failed
    };
    // Exponential backoff: base, 2 x base, 4 x base, ... (capped at a day).
    let exponent = (job.attempt - 1).clamp(0, 30) as u32;
    let delay_ms = gucs::retry_base_delay_ms().saturating_mul(1i64 << exponent).min(86_400_000);
    Sql::new().execute(
        include_str!("../sql/queries/finish_job.sql"),
        &[
            job.job_id.into(),
            state.name().into(),
            run_id.into(),
            error.map(str::to_owned).into(),
            (delay_ms as f64).into(),
        ],
    )?;
    Ok(JobOutcome { job_id: job.job_id, import_id: job.import_id, stage: job.stage, state })
}

/// Runs every ready job, including the stages that finishing jobs queue, in
/// the current transaction. Returns how many imports' pipelines it worked on.
pub fn run_pending() -> Result<i64, CallError> {
    let mut imports = HashSet::new();
    while let Some(outcome) = run_next_job()? {
        pgrx::check_for_interrupts!();
        imports.insert(outcome.import_id.to_string());
    }
    Ok(imports.len() as i64)
}

/// Requeues an import's dead or failed jobs; returns the stages requeued.
pub fn retry(import_id: Uuid) -> Result<Vec<String>, CallError> {
    let stages = Sql::new().query(
        include_str!("../sql/queries/retry_jobs.sql"),
        &[import_id.into()],
        |rows| {
            let mut stages = Vec::new();
            for row in rows {
                stages.push(row.get::<String>(1)?.unwrap_or_default());
            }
            Ok(stages)
        },
    )?;
    if stages.is_empty() {
        return Err(CallError::NothingToRetry(import_id.to_string()));
    }
    wake::wake_worker_at_commit();
    Ok(stages)
}

/// Milliseconds until the next job becomes ready (None: nothing waits).
pub fn ms_until_next_job() -> Result<Option<i64>, StageError> {
    Sql::new().query(
        include_str!("../sql/queries/next_job_due.sql"),
        &[],
        |rows| Ok(rows.first().get_one::<i64>()?),
    )
}

/// Whether the extension is installed in the current database: `etl.jobs`
/// exists and is a member of the extension etl_ext (a table someone else
/// created under that name is not run).
pub fn queue_exists() -> Result<bool, StageError> {
    Sql::new().query(
        include_str!("../sql/queries/queue_exists.sql"),
        &[],
        |rows| Ok(rows.first().get_one::<bool>()?.unwrap_or(false)),
    )
}
