//! The background worker: runs the queue of the database named by
//! `etl.database`, one stage per transaction. It is woken at the commit of
//! any transaction that queues work (see `queue::wake`) and polls every
//! `etl.poll_interval` as a fallback; a job waiting for a retry wakes it
//! when due. SIGTERM stops it between jobs; after a crash the postmaster
//! restarts it and the interrupted stage, rolled back, runs again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;

use crate::gucs;
use crate::queue::{self, wake};

/// pgrx's `sigterm_received()` clears the flag it reports, so a SIGTERM seen
/// by one check would be lost to the next: remember it.
static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

fn stop_requested() -> bool {
    if BackgroundWorker::sigterm_received() {
        STOP_REQUESTED.store(true, Ordering::SeqCst);
    }
    STOP_REQUESTED.load(Ordering::SeqCst)
}

/// Registers the worker. Call from `_PG_init` while preloading.
pub fn register() {
    BackgroundWorkerBuilder::new("etl_ext queue worker")
        .set_type("etl_ext worker")
        .set_function("etl_worker_main")
        .set_library("etl_ext")
        .enable_spi_access()
        .set_restart_time(Some(Duration::from_secs(2)))
        .load();
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn etl_worker_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let database = gucs::database().unwrap_or_else(|| "postgres".to_string());
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    wake::register_worker();
    log!("etl_ext worker: running the queue of database \"{database}\"");

    let mut told_missing = false;
    loop {
        if BackgroundWorker::sighup_received() {
            // SAFETY: the documented way for a worker to reload its settings.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        let installed = BackgroundWorker::transaction(|| queue::queue_exists().unwrap_or(false));
        if installed {
            told_missing = false;
            drain_queue();
        } else if !told_missing {
            log!("etl_ext worker: extension etl_ext is not installed in database \"{database}\"; waiting");
            told_missing = true;
        }
        if stop_requested() {
            break;
        }
        let wait = if installed { next_wait() } else { poll_interval() };
        if !BackgroundWorker::wait_latch(Some(wait)) {
            break;
        }
    }
    wake::unregister_worker();
    log!("etl_ext worker: stopped");
}

/// Runs ready jobs, each in its own transaction, until none is ready.
fn drain_queue() {
    loop {
        if stop_requested() {
            return;
        }
        let outcome = BackgroundWorker::transaction(|| match queue::run_next_job() {
            Ok(outcome) => outcome,
            Err(e) => e.raise(),
        });
        match outcome {
            Some(o) => log!("etl_ext worker: job {} (import {}, stage {}): {}", o.job_id, o.import_id, o.stage.name(), o.state),
            None => return,
        }
    }
}

fn poll_interval() -> Duration {
    Duration::from_millis(gucs::poll_interval_ms().max(10) as u64)
}

/// Sleep until the poll interval, or sooner when a retry falls due.
fn next_wait() -> Duration {
    let poll = poll_interval();
    let due = BackgroundWorker::transaction(|| queue::ms_until_next_job().ok().flatten());
    match due {
        Some(ms) => poll.min(Duration::from_millis(ms.max(1) as u64)),
        None => poll,
    }
}
