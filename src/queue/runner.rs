//! Runs the queue's jobs: claim, run the stage behind the pipeline's lock,
//! continue the chain and record the job's end, in the caller's
//! transaction (the worker, `etl.run_job`, `etl_run_pending()`).

use std::collections::HashSet;

use crate::error::Error;
use crate::pipeline;

use super::chain::{run_through_gate, stage_ended};
use super::gate;
use super::jobs::{self, claim_next_job, finish_job, ClaimedJob, JobOutcome, JobState};

/// Runs the stage of a job claimed (and committed) by [`claim_next_job`]
/// and records the result, in the current transaction. None when the job
/// is no longer this claim's (another session took it meanwhile).
pub fn run_claimed_job(job: &ClaimedJob) -> Result<Option<JobOutcome>, Error> {
    if job.state != JobState::Running {
        return Ok(None);
    }
    // The job's row first, then the pipeline's lock: while this waits for a
    // stage another session runs, the row it holds keeps every claim away
    // from the job (they skip locked rows), so the wait costs no attempt.
    // Whatever waits for a job row while holding the pipeline's lock skips
    // locked rows or leaves running jobs alone (`enqueue`): no deadlock.
    if !jobs::lock_if_still_claimed(job)? {
        return Ok(None);
    }
    pipeline::lock_pipeline()?;
    // A job of an import the quality gate holds (a customers or leads job
    // queued before the hold, an orders job queued again by an
    // application's event) does not run: it is dead, with the reason, until
    // `etl_release` queues the orders stage again. Retrying it could only
    // fail again.
    if gate::stage_waits(job.import_id, job.stage)? {
        let why = format!(
            "import {} is held by the quality gate; its {} stage waits for etl_release(import_id)",
            job.import_id,
            job.stage.name()
        );
        return Ok(Some(jobs::bury_job(job, &why)?));
    }
    let gate = gate::OrdersGate::for_run(job.import_id, &[job.stage])?;
    let checked = match pipeline::check_import(Some(job.import_id)) {
        // `etl_run_pending()` in the REPEATABLE READ or SERIALIZABLE
        // transaction that completed the import: refused as a direct call
        // is (the completion with it), rather than an attempt spent on a
        // run that cannot see the import's last lines.
        Err(refused @ Error::CompletedAfterSnapshot(..)) => return Err(refused),
        checked => checked,
    };
    let report = checked
        .and_then(|id| run_through_gate(id, &[job.stage], &gate, &mut |_| Ok(true)))
        .map(|mut reports| reports.pop());
    let outcome = match report {
        Ok(Some(mut report)) => {
            stage_ended(&mut report, true, &gate)?;
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
pub fn claim_runnable_job() -> Result<Option<ClaimedJob>, Error> {
    while let Some(job) = claim_next_job()? {
        if job.state == JobState::Running {
            return Ok(Some(job));
        }
    }
    Ok(None)
}

/// Runs a job claimed in an earlier (committed) transaction, by its id:
/// `etl.run_job` of the procedure `etl_run_queue`.
pub fn run_job_by_id(job_id: i64) -> Result<Option<JobOutcome>, Error> {
    match jobs::claimed_job(job_id)? {
        Some(job) => run_claimed_job(&job),
        None => Ok(None),
    }
}

/// Claims and runs the next due job in the current transaction (for
/// `etl_run_pending()`, which cannot commit between jobs).
pub fn run_next_job() -> Result<Option<JobOutcome>, Error> {
    pipeline::lock_pipeline()?;
    match claim_runnable_job()? {
        Some(job) => run_claimed_job(&job),
        None => Ok(None),
    }
}

/// Runs every ready job, including the stages that finishing jobs queue, in
/// the current transaction. Returns how many imports' pipelines it worked on.
pub fn run_pending() -> Result<i64, Error> {
    let mut imports = HashSet::new();
    while let Some(outcome) = run_next_job()? {
        pgrx::check_for_interrupts!();
        imports.insert(outcome.import_id.to_string());
    }
    Ok(imports.len() as i64)
}
