//! Whether the library was preloaded, so that its shared memory (the
//! worker's wake-up, the stages' progress) exists. Set once in the
//! postmaster by `_PG_init`; every backend inherits it by fork.

use std::sync::atomic::{AtomicBool, Ordering};

static READY: AtomicBool = AtomicBool::new(false);

/// Called by `_PG_init` once every piece of shared memory is requested.
pub fn mark_ready() {
    READY.store(true, Ordering::SeqCst);
}

pub fn is_ready() -> bool {
    READY.load(Ordering::SeqCst)
}
