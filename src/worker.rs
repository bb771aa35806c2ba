//! The background workers (with `shared_preload_libraries = 'etl_ext'`).
//!
//! - The **launcher** (static, restarted by the postmaster) connects to no
//!   database. It starts the queue worker for the database named by
//!   `etl.database` once that database exists (logging clearly, and checking
//!   again with backoff, while it does not), starts it again whenever it
//!   exits (`pg_terminate_backend`, a crash), and moves it to another
//!   database when a reload changes `etl.database`.
//! - The **queue worker** (dynamic) runs the queue of that database, one
//!   claim and one stage per transaction, each with `search_path` pinned and
//!   as the runner role (`services::identity`): it connects as the bootstrap
//!   superuser, since PostgreSQL 15 cannot start a worker as a role without
//!   LOGIN, but nothing it runs has superuser rights. It is woken at the
//!   commit of any transaction that queues work (`queue::wake`) and polls
//!   every `etl.poll_interval`. SIGTERM is handled as in any backend: a
//!   running stage stops at its next check between batches and rolls back.

use std::time::{Duration, Instant};

use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BackgroundWorkerStatus, DynamicBackgroundWorker, SignalWakeFlags,
};
use pgrx::prelude::*;

use crate::error::CallError;
use crate::gucs;
use crate::pg_compat;
use crate::queue::{self, wake};
use crate::services::spi::Sql;
use crate::services::{identity, subxact, worker_settings};

/// The backend_type of the queue worker in pg_stat_activity.
const WORKER_TYPE: &str = "etl_ext worker";
/// A queue worker that exits sooner than this after its start counts as
/// failing to start: the launcher waits longer before the next start.
const HEALTHY_RUN: Duration = Duration::from_secs(10);
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

unsafe extern "C-unwind" {
    /// PostgreSQL's SIGTERM handler for backends (tcop/postgres.c). pgrx's
    /// `pg_sys::die` is a Rust wrapper, not a signal handler.
    #[link_name = "die"]
    fn postgres_die(signal: libc::c_int);
}

/// Registers the launcher. Call from `_PG_init` while preloading.
pub fn register() {
    BackgroundWorkerBuilder::new("etl_ext launcher")
        .set_type("etl_ext launcher")
        .set_function("etl_launcher_main")
        .set_library("etl_ext")
        .enable_spi_access()
        .set_restart_time(Some(Duration::from_secs(5)))
        .load();
}

/// The queue worker the launcher started, and for which database.
struct RunningWorker {
    handle: DynamicBackgroundWorker,
    database: String,
    started: Instant,
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn etl_launcher_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    // No database: the launcher reads only the shared catalog pg_database.
    BackgroundWorker::connect_worker_to_spi(None, None);

    let mut launcher = Launcher::new();
    loop {
        if BackgroundWorker::sighup_received() {
            // SAFETY: the documented way for a worker to reload its settings.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        let database = gucs::database();
        launcher.follow_running_worker(database.as_deref());
        launcher.start_worker_when_due(database.as_deref());
        // The postmaster sets our latch when the queue worker starts or
        // stops (we are its notify pid), and a SIGHUP sets it too.
        if !BackgroundWorker::wait_latch(Some(launcher.wait())) {
            break;
        }
    }
    launcher.stop();
    // SAFETY: ends the process as PostgreSQL's own workers do.
    unsafe { pg_sys::proc_exit(1) };
}

/// What the launcher keeps between two wake-ups: the queue worker it
/// started, when it may start one next, and what it last said about the
/// database, so that each thing is logged once.
struct Launcher {
    worker: Option<RunningWorker>,
    backoff: Duration,
    next_start: Instant,
    reported_missing: Option<String>,
}

impl Launcher {
    fn new() -> Self {
        Self { worker: None, backoff: MIN_BACKOFF, next_start: Instant::now(), reported_missing: None }
    }

    /// Stops the worker of a database `etl.database` no longer names, and
    /// notices a worker that exited: started again at once after a healthy
    /// run, after a growing backoff when it keeps exiting within seconds.
    fn follow_running_worker(&mut self, database: Option<&str>) {
        let Some(running) = &self.worker else { return };
        let (status, running_db, started) = (running.handle.pid(), running.database.clone(), running.started);
        match status {
            Ok(_) | Err(BackgroundWorkerStatus::NotYetStarted) => {
                if database != Some(running_db.as_str()) {
                    log!("etl_ext launcher: etl.database changed; stopping the worker of \"{running_db}\"");
                    if let Some(running) = self.worker.take() {
                        let _ = running.handle.terminate().wait_for_shutdown();
                    }
                    self.next_start = Instant::now();
                }
            }
            Err(_) => {
                let ran = started.elapsed();
                let healthy = ran >= HEALTHY_RUN;
                self.backoff = if healthy { MIN_BACKOFF } else { (self.backoff * 2).min(MAX_BACKOFF) };
                let delay = if healthy { Duration::ZERO } else { self.backoff };
                self.next_start = Instant::now() + delay;
                log!(
                    "etl_ext launcher: the queue worker of \"{running_db}\" exited after {:.1} s; starting it again in {:.0} s",
                    ran.as_secs_f64(),
                    delay.as_secs_f64()
                );
                self.worker = None;
            }
        }
    }

    /// Starts the queue worker of `database` when none runs and the
    /// backoff has passed; says once, clearly, why it cannot (no database
    /// named, or none of that name yet), and looks again later.
    fn start_worker_when_due(&mut self, database: Option<&str>) {
        if self.worker.is_some() || Instant::now() < self.next_start {
            return;
        }
        let Some(name) = database else {
            if self.reported_missing.as_deref() != Some("") {
                log!("etl_ext launcher: etl.database is empty; no queue worker runs");
                self.reported_missing = Some(String::new());
            }
            self.next_start = Instant::now() + MAX_BACKOFF;
            return;
        };
        match database_oid(name) {
            Some(oid) => {
                self.reported_missing = None;
                self.worker = start_queue_worker(name, oid);
                if self.worker.is_none() {
                    self.back_off();
                }
            }
            None => {
                if self.reported_missing.as_deref() != Some(name) {
                    log!(
                        "etl_ext launcher: database \"{name}\" named by etl.database does not exist; \
                         the queue worker starts once it does (checked again every {} s at most)",
                        MAX_BACKOFF.as_secs()
                    );
                    self.reported_missing = Some(name.to_string());
                }
                self.back_off();
            }
        }
    }

    fn back_off(&mut self) {
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.next_start = Instant::now() + self.backoff;
    }

    /// How long to sleep: until the next start is due, or a while when a
    /// worker runs (its exit wakes us).
    fn wait(&self) -> Duration {
        match self.worker {
            Some(_) => MAX_BACKOFF,
            None => self.next_start.saturating_duration_since(Instant::now()).max(Duration::from_millis(10)),
        }
    }

    /// SIGTERM (or the postmaster died): take the queue worker along. The
    /// caller exits with code 1, so that the postmaster starts the launcher
    /// again after a pg_terminate_backend (it never does during a shutdown).
    fn stop(mut self) {
        if let Some(running) = self.worker.take() {
            let _ = running.handle.terminate();
        }
        log!("etl_ext launcher: stopped");
    }
}

/// The oid of the database of that name, if it exists. The launcher is
/// connected to no database, so it reads pg_database with a plain catalog
/// scan (its indexes are not open to a backend without a database).
fn database_oid(name: &str) -> Option<pg_sys::Oid> {
    BackgroundWorker::transaction(|| {
        let mut found = None;
        // SAFETY: a heap scan of a shared catalog inside a transaction, as
        // PostgreSQL's logical replication launcher does for pg_subscription.
        unsafe {
            let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
            let relation = pg_sys::table_open(pg_sys::DatabaseRelationId, lock);
            let scan = pg_sys::table_beginscan_catalog(relation, 0, std::ptr::null_mut());
            loop {
                let tuple = pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection);
                if tuple.is_null() {
                    break;
                }
                let database = pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_database>(tuple);
                let datname = std::ffi::CStr::from_ptr((*database).datname.data.as_ptr());
                if datname.to_bytes() == name.as_bytes() {
                    found = Some((*database).oid);
                    break;
                }
            }
            pg_sys::heap_endscan(scan);
            pg_sys::table_close(relation, lock);
        }
        found
    })
}

/// Starts the queue worker of `database`; it gets the database's oid and
/// name as its extra: "<oid> <name>".
fn start_queue_worker(database: &str, oid: pg_sys::Oid) -> Option<RunningWorker> {
    // SAFETY: reading our own pid.
    let launcher_pid = unsafe { pg_sys::MyProcPid };
    let started = BackgroundWorkerBuilder::new(&format!("etl_ext worker for {database}"))
        .set_type(WORKER_TYPE)
        .set_function("etl_worker_main")
        .set_library("etl_ext")
        .enable_spi_access()
        .set_extra(&format!("{} {database}", u32::from(oid)))
        .set_notify_pid(launcher_pid)
        .set_restart_time(None)
        .load_dynamic();
    match started {
        Ok(handle) => Some(RunningWorker { handle, database: database.to_string(), started: Instant::now() }),
        Err(e) => {
            log!("etl_ext launcher: could not start the queue worker of \"{database}\": {e:?} (max_worker_processes?)");
            None
        }
    }
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn etl_worker_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP);
    // SIGTERM as in a regular backend: sets the pending die that
    // check_for_interrupts!() (between batches) turns into a clean exit,
    // rolling the stage back. (pgrx's handler only sets a flag.)
    // SAFETY: installs PostgreSQL's own handler.
    unsafe { pg_compat::install_signal_handler(libc::SIGTERM, postgres_die) };
    let extra = BackgroundWorker::get_extra().to_string();
    let (oid, database) = extra.split_once(' ').unwrap_or(("0", extra.as_str()));
    let database = database.to_string();
    // Connected by oid, as the bootstrap superuser named by its oid: a
    // worker that names no user takes the database's own settings even
    // for session_authorization, which the database owner could set to any
    // role (it would then run as that role and fail); naming the user fixes
    // the session's identity as a client's login does.
    BackgroundWorker::connect_worker_to_spi_by_oid(
        Some(pg_sys::Oid::from(oid.parse::<u32>().unwrap_or(0))),
        Some(pg_sys::Oid::from(pg_sys::BOOTSTRAP_SUPERUSERID)),
    );
    use_server_settings(&database);
    wake::register_worker();
    log!("etl_ext worker: running the queue of database \"{database}\"");

    // What was last logged about why the queue cannot run, so that it is
    // logged once, not every poll.
    let mut told: Option<String> = None;
    loop {
        pgrx::check_for_interrupts!();
        if BackgroundWorker::sighup_received() {
            // SAFETY: the documented way for a worker to reload its settings.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            use_server_settings(&database);
        }
        let installed = BackgroundWorker::transaction(|| {
            in_worker_transaction(|| {
                // Nothing runs on another version's tables (before ALTER
                // EXTENSION etl_ext UPDATE): logged once, then waited for.
                if queue::jobs::queue_exists()? {
                    crate::pipeline::check_installed_version()?;
                    Ok(true)
                } else {
                    Ok(false)
                }
            })
        });
        let why_not = match installed {
            Ok(true) => None,
            Ok(false) => Some(format!("extension etl_ext is not installed in database \"{database}\"; waiting")),
            Err(e) => Some(format!("{e}; waiting")),
        };
        match why_not {
            None => {
                told = None;
                drain_queue(&database);
            }
            Some(why) if told.as_deref() != Some(why.as_str()) => {
                log!("etl_ext worker: {why}");
                told = Some(why);
            }
            Some(_) => {}
        }
        let installed = told.is_none();
        let wait = if installed { next_wait() } else { poll_interval() };
        if !BackgroundWorker::wait_latch(Some(wait)) {
            break;
        }
    }
    wake::unregister_worker();
    log!("etl_ext worker: stopped");
    // SAFETY: see the launcher.
    unsafe { pg_sys::proc_exit(1) };
}

/// Puts back the parameters the database's own settings changed, which its
/// owner may set (`services::worker_settings`), and says which.
fn use_server_settings(database: &str) {
    // In a subtransaction: a failure is logged, and the worker goes on.
    match BackgroundWorker::transaction(|| subxact::run(worker_settings::ignore_database_settings)) {
        Ok((reset, refused)) => {
            if !reset.is_empty() {
                log!(
                    "etl_ext worker: ignoring the settings of database \"{database}\" for {} (the server's configuration applies)",
                    reset.join(", ")
                );
            }
            if !refused.is_empty() {
                log!("etl_ext worker: could not put back {}", refused.join("; "));
            }
        }
        Err(e) => log!("etl_ext worker: could not read the settings of database \"{database}\": {e}"),
    }
}

/// A worker transaction: `search_path` pinned, the work done as the runner.
fn in_worker_transaction<R>(work: impl FnOnce() -> Result<R, CallError>) -> Result<R, CallError> {
    identity::pin_search_path(&mut Sql::new())?;
    identity::as_runner(work)
}

/// Claims and runs ready jobs until none is ready. The first claim (which
/// counts the attempt) commits on its own; after that, each job's
/// transaction also claims the next job, so the next attempt is counted in
/// the same commit, before that job runs: one commit per job, not two. A
/// crash mid-stage rolls back that job's work and the claim of the next
/// (which never started), and leaves this job's attempt counted.
fn drain_queue(database: &str) {
    pgrx::check_for_interrupts!();
    let claimed = BackgroundWorker::transaction(|| in_worker_transaction(queue::runner::claim_runnable_job));
    let mut next = match claimed {
        Ok(job) => job,
        Err(e) => {
            log!("etl_ext worker: cannot run the queue of \"{database}\": {e}");
            return;
        }
    };
    while let Some(job) = next.take() {
        pgrx::check_for_interrupts!();
        let (outcome, claimed) = BackgroundWorker::transaction(|| {
            let ran = in_worker_transaction(|| {
                let outcome = queue::runner::run_claimed_job(&job)?;
                // Stop between jobs on SIGTERM without claiming another.
                // SAFETY: reading a flag PostgreSQL's signal handler sets.
                let stopping = unsafe { pg_sys::ProcDiePending != 0 };
                let claimed = if stopping { None } else { queue::runner::claim_runnable_job()? };
                Ok((outcome, claimed))
            });
            match ran {
                Ok(done) => done,
                // Roll the transaction back; the attempt stays counted.
                Err(e) => e.raise(),
            }
        });
        if let Some(o) = outcome {
            log!("etl_ext worker: job {} (import {}, stage {}): {}", o.job_id, o.import_id, o.stage.name(), o.state);
        }
        next = claimed;
    }
}

fn poll_interval() -> Duration {
    Duration::from_millis(gucs::poll_interval_ms().max(10) as u64)
}

/// Sleep until the poll interval, or sooner when a retry falls due (at
/// least 100 ms: a job another session runs past its lease is due but
/// cannot be taken).
fn next_wait() -> Duration {
    let poll = poll_interval();
    let due = BackgroundWorker::transaction(|| in_worker_transaction(queue::jobs::ms_until_next_job));
    match due {
        Ok(Some(ms)) => poll.min(Duration::from_millis(ms.max(100) as u64)),
        _ => poll,
    }
}
