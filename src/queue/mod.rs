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

use crate::error::{CallError, StageError};
use crate::events::{self, EventType, ValidEvent};
use crate::gucs;
use crate::pipeline::stage::Stage;
use crate::pipeline::{self, StageReport};
use crate::services::spi::Sql;

/// Queues `stage` of an import, unless that job is already queued or
/// running. Wakes the worker at commit.
pub fn enqueue(import_id: Uuid, stage: Stage) -> Result<(), StageError> {
    Sql::new().execute(
        "INSERT INTO etl.jobs AS j (import_id, stage) VALUES ($1, $2)
         ON CONFLICT (import_id, stage) DO UPDATE
            SET state = 'queued', attempts = 0, next_run_at = now(), last_error = NULL,
                updated_at = now(), finished_at = NULL
          WHERE j.state IN ('done', 'failed', 'dead')",
        &[import_id.into(), stage.name().into()],
    )?;
    wake::wake_worker_at_commit();
    Ok(())
}

/// An import became `completed`: publish `DATA_IMPORT_COMPLETED` and queue
/// its pipeline, in the caller's transaction.
pub fn import_completed(import_id: Uuid) -> Result<i64, StageError> {
    let raw_lines = Sql::new().query(
        "SELECT count(*) FROM etl.raw_orders WHERE import_id = $1",
        &[import_id.into()],
        |rows| Ok(rows.first().get_one::<i64>()?.unwrap_or(0)),
    )?;
    let event_id = events::publish(EventType::DataImportCompleted, &events::import_completed_payload(import_id, raw_lines))?;
    enqueue(import_id, Stage::Orders)?;
    Ok(event_id)
}

/// What an accepted application event starts: an import's completion queues
/// its orders stage, a stage's success queues the next stage.
pub fn on_accepted_event(event: &ValidEvent) -> Result<(), StageError> {
    match event.event_type {
        EventType::DataImportCompleted if event.status == "completed" => enqueue(event.import_id, Stage::Orders),
        EventType::StageCompleted(stage) if event.status == pipeline::STATUS_SUCCESS || event.status == pipeline::STATUS_PARTIAL => {
            match stage.next() {
                Some(next) => enqueue(event.import_id, next),
                None => Ok(()),
            }
        }
        _ => Ok(()),
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
        "UPDATE etl.jobs
            SET state = 'done', last_run_id = $3, last_error = NULL, updated_at = now(),
                finished_at = clock_timestamp()
          WHERE job_id IN (SELECT job_id FROM etl.jobs
                            WHERE import_id = $1 AND stage = $2 AND state IN ('queued', 'failed')
                              FOR UPDATE SKIP LOCKED)",
        &[report.import_id.into(), report.stage.name().into(), report.run_id.into()],
    )?;
    Ok(())
}

/// A job taken from the queue and what became of it.
#[derive(Debug)]
pub struct JobOutcome {
    pub job_id: i64,
    pub import_id: Uuid,
    pub stage: Stage,
    pub state: &'static str,
}

struct Job {
    job_id: i64,
    import_id: Uuid,
    stage: Stage,
    attempts: i32,
}

/// Takes the next ready job (skipping jobs other sessions hold), runs its
/// stage and records the result, all in the current transaction.
pub fn run_next_job() -> Result<Option<JobOutcome>, CallError> {
    let Some(job) = take_next_job()? else { return Ok(None) };
    let report = pipeline::check_import(Some(job.import_id))
        .and_then(|id| pipeline::run_stages(id, &[job.stage]))
        .map(|mut reports| reports.pop());
    let outcome = match report {
        Ok(Some(report)) => {
            stage_ended(&report, true)?;
            finish_job(&job, report.succeeded(), Some(report.run_id), report.error.as_deref())?
        }
        Ok(None) => finish_job(&job, false, None, Some("the stage did not run"))?,
        // The import cannot run (deleted, or no longer completed): a failure
        // of the job, retried like any other.
        Err(e) => finish_job(&job, false, None, Some(&e.to_string()))?,
    };
    Ok(Some(outcome))
}

fn take_next_job() -> Result<Option<Job>, StageError> {
    Sql::new().query(
        "WITH next AS (
             SELECT job_id FROM etl.jobs
              WHERE state IN ('queued', 'failed') AND next_run_at <= clock_timestamp()
              ORDER BY next_run_at, job_id
              LIMIT 1
                FOR UPDATE SKIP LOCKED
         )
         UPDATE etl.jobs j
            SET state = 'running', attempts = j.attempts + 1, updated_at = now()
           FROM next
          WHERE j.job_id = next.job_id
         RETURNING j.job_id, j.import_id, j.stage, j.attempts",
        &[],
        |rows| {
            let Some(row) = rows.into_iter().next() else { return Ok(None) };
            let stage_name: String = row.get(3)?.unwrap_or_default();
            Ok(Some(Job {
                job_id: row.get(1)?.unwrap_or_default(),
                import_id: row.get(2)?.ok_or_else(|| StageError::Unexpected("job without import".into()))?,
                stage: Stage::from_name(&stage_name)
                    .ok_or_else(|| StageError::Unexpected(format!("unknown stage {stage_name}")))?,
                attempts: row.get(4)?.unwrap_or(1),
            }))
        },
    )
}

fn finish_job(job: &Job, succeeded: bool, run_id: Option<i64>, error: Option<&str>) -> Result<JobOutcome, StageError> {
    let state = if succeeded {
        "done"
    } else if job.attempts >= gucs::max_attempts() {
        "dead"
    } else {
        "failed"
    };
    // Exponential backoff: base, 2 x base, 4 x base, ... (capped at a day).
    let exponent = (job.attempts - 1).clamp(0, 30) as u32;
    let delay_ms = gucs::retry_base_delay_ms().saturating_mul(1i64 << exponent).min(86_400_000);
    Sql::new().execute(
        "UPDATE etl.jobs
            SET state = $2, last_run_id = coalesce($3, last_run_id), last_error = $4,
                next_run_at = CASE WHEN $2 = 'failed'
                                   THEN clock_timestamp() + $5 * interval '1 millisecond'
                                   ELSE next_run_at END,
                finished_at = CASE WHEN $2 IN ('done', 'dead') THEN clock_timestamp() END,
                updated_at = now()
          WHERE job_id = $1",
        &[
            job.job_id.into(),
            state.into(),
            run_id.into(),
            error.map(str::to_owned).into(),
            delay_ms.into(),
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
        "UPDATE etl.jobs
            SET state = 'queued', attempts = 0, next_run_at = now(), updated_at = now(), finished_at = NULL
          WHERE import_id = $1 AND state IN ('dead', 'failed')
         RETURNING stage",
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
        "SELECT greatest(0, ceil(extract(epoch FROM min(next_run_at) - clock_timestamp()) * 1000))::bigint
           FROM etl.jobs WHERE state IN ('queued', 'failed')",
        &[],
        |rows| Ok(rows.first().get_one::<i64>()?),
    )
}

/// Whether the extension is installed in the current database.
pub fn queue_exists() -> Result<bool, StageError> {
    Sql::new().query("SELECT to_regclass('etl.jobs') IS NOT NULL", &[], |rows| {
        Ok(rows.first().get_one::<bool>()?.unwrap_or(false))
    })
}
