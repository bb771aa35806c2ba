//! Polars inside a backend. Polars runs its kernels on a rayon pool; those
//! threads must never call into PostgreSQL, must not exist in the postmaster
//! (they would not survive fork), and must not receive PostgreSQL's signals.
//!
//! So the pool is started lazily, inside a backend, the first time a stage
//! transforms a batch, with every signal blocked while its threads start
//! (threads inherit the mask), and its size comes from `etl.polars_threads`
//! at that moment; it keeps that size for the life of the backend. With
//! `etl.polars_threads = 1` Polars runs on the backend's own thread, but
//! Polars still creates its pool (its no-thread path touches it) and an
//! async runtime on first use, so those are created here too, masked, with
//! one thread.

use std::sync::Once;

use crate::gucs;

static POOL_STARTED: Once = Once::new();

/// Call before any Polars work in a backend.
pub fn prepare() {
    let threads = gucs::polars_threads();
    polars_core::ALLOW_RAYON_THREADS.set(threads > 1);
    POOL_STARTED.call_once(|| start_pool(threads));
}

fn start_pool(threads: usize) {
    // SAFETY: only this (the backend's) thread exists in the process yet as
    // far as Rust is concerned; the environment is read once by the pool.
    unsafe { std::env::set_var("POLARS_MAX_THREADS", threads.to_string()) };
    // SAFETY: plain libc calls on valid, stack-allocated sigset_t values.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        // Forces the lazily built pool (and its threads) into existence now,
        // while every signal is blocked.
        let _ = polars_core::THREAD_POOL.current_num_threads();
        warm_up();
        libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
    }
}

/// Below this many rows a batch is transformed on the backend's own thread:
/// handing a few hundred rows to the pool costs more (thread wake-ups per
/// operation) than it saves. Small imports are the common case.
const PARALLEL_FROM_ROWS: usize = 10_000;

/// Call with each batch's size before transforming it: a pool thread only
/// for batches large enough to gain from one.
pub fn size_for_batch(rows: usize) {
    polars_core::ALLOW_RAYON_THREADS.set(gucs::polars_threads() > 1 && rows >= PARALLEL_FROM_ROWS);
}

/// Runs a query like the stages' so that whatever else Polars starts lazily
/// on first use (its async runtime) starts now, with signals blocked.
fn warm_up() {
    use polars::prelude::*;
    let run = || -> PolarsResult<DataFrame> {
        let left = df!("k" => [1i64, 2], "v" => ["a", "b"])?;
        let right = df!("k" => [1i64], "w" => ["x"])?;
        left.lazy()
            .join(right.lazy(), [col("k")], [col("k")], JoinArgs::new(JoinType::Left))
            .sort(["k"], SortMultipleOptions::default())
            .collect()
    };
    let _ = run();
}

/// Threads in the pool, for tests and diagnostics (0 when not started).
pub fn pool_threads() -> usize {
    if POOL_STARTED.is_completed() {
        polars_core::THREAD_POOL.current_num_threads()
    } else {
        0
    }
}
