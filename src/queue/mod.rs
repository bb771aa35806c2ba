//! The durable queue of the event chain (`etl.jobs`) and the chain itself:
//! one job per import and stage. An import's completion queues its orders
//! stage; a stage's success queues the next; a failure is retried with
//! exponential backoff up to `etl.max_attempts`, then the job is dead until
//! `etl_retry(import_id)`.
//!
//! A job is taken with `FOR UPDATE SKIP LOCKED` and finished in the same
//! transaction as its stage, so the worker and `etl_run_pending()` never run
//! a job twice, and a crash mid-stage rolls back both the stage and the job.
//!
//! Rooms, each using only those listed before it: [`jobs`], the job queue
//! (queue, claim, finish, retry); [`chain`], the event chain (what an event
//! or a stage's end starts); [`runner`], which runs claimed jobs.

pub mod chain;
pub mod jobs;
pub mod runner;
pub mod wake;

use crate::error::Error;

// What the background worker (worker.rs) calls.
pub use runner::run_claimed_job;

/// The worker's results. worker.rs (changed elsewhere, not here) writes
/// `Ok(queue::f()?)` for the three functions below, a conversion when they
/// returned another error type than its own; now that there is one error
/// type, they return it boxed so that the worker's lines stay conversions
/// (and clippy's needless_question_mark quiet) until worker.rs calls
/// `jobs::` and `runner::` directly and these go.
pub type WorkerResult<T> = Result<T, Box<Error>>;

impl From<Box<Error>> for Error {
    fn from(boxed: Box<Error>) -> Self {
        *boxed
    }
}

/// [`jobs::queue_exists`], for the worker.
pub fn queue_exists() -> WorkerResult<bool> {
    Ok(jobs::queue_exists()?)
}

/// [`runner::claim_runnable_job`], for the worker.
pub fn claim_runnable_job() -> WorkerResult<Option<jobs::ClaimedJob>> {
    Ok(runner::claim_runnable_job()?)
}

/// [`jobs::ms_until_next_job`], for the worker.
pub fn ms_until_next_job() -> WorkerResult<Option<i64>> {
    Ok(jobs::ms_until_next_job()?)
}
