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
//! (queue, claim, finish, retry); [`gate`], the quality gate between the
//! orders stage and the rest (holds and releases); [`chain`], the event
//! chain (what an event or a stage's end starts); [`runner`], which runs
//! claimed jobs.

pub mod chain;
pub mod gate;
pub mod jobs;
pub mod runner;
pub mod wake;
