//! Waking the background worker at commit. A background worker cannot
//! LISTEN, so a transaction that queues work sets the worker's latch when it
//! commits (and only then: a rolled-back enqueue wakes nobody). The worker
//! publishes its PGPROC number in shared memory; without
//! `shared_preload_libraries = 'etl_ext'` there is no worker and no shared
//! memory, and waking is a no-op (pg_cron or `etl_run_pending()` drain the
//! queue instead).

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::pg_compat;
use crate::services::shared_memory;
use pgrx::{pg_guard, pg_shmem_init, pg_sys, register_xact_callback, PgAtomic, PgXactCallbackEvent};

/// The worker's `pgprocno + 1`, or 0 while no worker runs.
static WORKER_PROCNO: PgAtomic<AtomicU32> = unsafe { PgAtomic::new(c"etl_ext_worker_procno") };

thread_local! {
    /// Whether this transaction already registered its wake-up.
    static WAKE_REGISTERED: Cell<bool> = const { Cell::new(false) };
}

/// Requests the shared memory. Call from `_PG_init` while preloading.
pub fn init_shared_memory() {
    pg_shmem_init!(WORKER_PROCNO = AtomicU32::new(0));
}

/// Called by the worker once it runs: from now on commits wake it.
pub fn register_worker() {
    if shared_memory::is_ready() {
        // SAFETY: a background worker with shared memory access has MyProc.
        let procno = unsafe { pg_compat::my_proc_number() } as u32;
        WORKER_PROCNO.get().store(procno + 1, Ordering::SeqCst);
    }
}

/// Called by the worker when it stops.
pub fn unregister_worker() {
    if shared_memory::is_ready() {
        WORKER_PROCNO.get().store(0, Ordering::SeqCst);
    }
}

/// Wakes the worker when the current transaction commits. Cheap to call
/// many times in one transaction.
pub fn wake_worker_at_commit() {
    if !shared_memory::is_ready() || WAKE_REGISTERED.get() {
        return;
    }
    WAKE_REGISTERED.set(true);
    register_xact_callback(PgXactCallbackEvent::Commit, || {
        WAKE_REGISTERED.set(false);
        wake_worker_now();
    });
    register_xact_callback(PgXactCallbackEvent::Abort, || WAKE_REGISTERED.set(false));
}

fn wake_worker_now() {
    let procno = WORKER_PROCNO.get().load(Ordering::SeqCst);
    if procno == 0 {
        return;
    }
    // SAFETY: ProcGlobal->allProcs is an array in shared memory indexed by
    // pgprocno; SetLatch on another process's latch is how PostgreSQL itself
    // wakes other processes, and it is safe in a commit callback.
    unsafe {
        let proc_ = (*pg_sys::ProcGlobal).allProcs.add((procno - 1) as usize);
        pg_sys::SetLatch(&raw mut (*proc_).procLatch);
    }
}
