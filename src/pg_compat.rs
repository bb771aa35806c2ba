//! The few server APIs that differ between the PostgreSQL majors etl_ext
//! supports (15, 16 and 18). Everything else is the same on all three; keep
//! version `cfg`s here and nowhere else.

use pgrx::pg_sys;

/// Installs a signal handler the way PostgreSQL does (`pqsignal`). In 18
/// `pqsignal` is a macro over `pqsignal_be`, so bindgen sees only the latter
/// (15 and 16 have the function `pqsignal`).
///
/// # Safety
/// `handler` must be async-signal-safe, as PostgreSQL's own handlers are.
pub unsafe fn install_signal_handler(signal: libc::c_int, handler: unsafe extern "C-unwind" fn(libc::c_int)) {
    #[cfg(any(feature = "pg15", feature = "pg16"))]
    // SAFETY: the caller's promise; pqsignal only installs the handler.
    unsafe {
        pg_sys::pqsignal(signal, Some(handler));
    }
    #[cfg(feature = "pg18")]
    // SAFETY: as above.
    unsafe {
        pg_sys::pqsignal_be(signal, Some(handler));
    }
}

/// This process's index in `ProcGlobal->allProcs` (PGPROC's `pgprocno` in
/// 15 and 16; `GetNumberFromPGProc` in 17 and later, where the field is gone).
/// Computed from the array itself, which is the same on every major.
///
/// # Safety
/// Call only in a process attached to shared memory (`MyProc` set).
pub unsafe fn my_proc_number() -> usize {
    // SAFETY: MyProc points into ProcGlobal->allProcs in such a process.
    unsafe { pg_sys::MyProc.offset_from((*pg_sys::ProcGlobal).allProcs) as usize }
}
