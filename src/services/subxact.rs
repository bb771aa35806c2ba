//! Subtransactions, as PL/Python runs them: `BeginInternalSubTransaction`,
//! then release on success or roll back on error. pgrx has no API for them.

use std::panic::AssertUnwindSafe;

use pgrx::pg_sys;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::pg_sys::PgTryBuilder;
use pgrx::PgSqlErrorCode;

use crate::error::Error;

/// Runs `work` in a subtransaction. On an ERROR raised by PostgreSQL (or a
/// Rust panic, or `work` returning `Err`) everything `work` did is rolled
/// back and the error is returned, so the caller's transaction goes on.
///
/// Errors that must end the statement are re-raised after the rollback:
/// query cancel and `statement_timeout`, shutdown, out of memory,
/// serialization failure and deadlock.
pub fn run<R>(work: impl FnOnce() -> Result<R, Error>) -> Result<R, Error> {
    run_deciding(|| work().map(|value| (value, true))).map(|(value, _)| value)
}

/// [`run`], where `work` also says whether what it did is kept: `(value,
/// true)` releases the subtransaction into the caller's transaction, as
/// [`run`] does; `(value, false)` rolls it back (everything `work` wrote,
/// queued or locked is discarded) and still returns the value, which `work`
/// computed before the rollback (counts it measured of what it wrote).
pub fn run_deciding<R>(work: impl FnOnce() -> Result<(R, bool), Error>) -> Result<(R, bool), Error> {
    let (old_context, old_owner) = begin();
    let restore = move || unsafe {
        pg_sys::MemoryContextSwitchTo(old_context);
        pg_sys::CurrentResourceOwner = old_owner;
    };

    let outcome = PgTryBuilder::new(AssertUnwindSafe(|| match work() {
        Ok((value, true)) => {
            unsafe { pg_sys::ReleaseCurrentSubTransaction() };
            restore();
            Ok((value, true))
        }
        Ok((value, false)) => {
            unsafe { pg_sys::RollbackAndReleaseCurrentSubTransaction() };
            restore();
            Ok((value, false))
        }
        Err(error) => {
            unsafe { pg_sys::RollbackAndReleaseCurrentSubTransaction() };
            restore();
            Err(error)
        }
    }))
    .catch_others(|caught| {
        unsafe {
            pg_sys::MemoryContextSwitchTo(old_context);
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
        }
        restore();
        let (sqlstate, message) = describe(&caught);
        if must_propagate(sqlstate) {
            caught.rethrow();
        }
        Err(Error::Database { sqlstate, message })
    })
    .execute();
    outcome
}

/// Runs `work` in a subtransaction that is always rolled back: whatever it
/// wrote, queued or notified is discarded, and the locks it took are
/// released. An ERROR raised by PostgreSQL is re-raised after the rollback.
pub fn run_and_roll_back<R>(work: impl FnOnce() -> R) -> R {
    let (old_context, old_owner) = begin();
    let roll_back = move || unsafe {
        pg_sys::MemoryContextSwitchTo(old_context);
        pg_sys::RollbackAndReleaseCurrentSubTransaction();
        pg_sys::MemoryContextSwitchTo(old_context);
        pg_sys::CurrentResourceOwner = old_owner;
    };
    PgTryBuilder::new(AssertUnwindSafe(|| {
        let value = work();
        roll_back();
        value
    }))
    .catch_others(|caught| {
        roll_back();
        caught.rethrow()
    })
    .execute()
}

/// Starts a subtransaction, staying in the caller's memory context; returns
/// that context and the resource owner to restore when it ends.
fn begin() -> (pg_sys::MemoryContext, pg_sys::ResourceOwner) {
    // SAFETY: plain reads of backend globals on the backend's thread.
    let (old_context, old_owner) = unsafe { (pg_sys::CurrentMemoryContext, pg_sys::CurrentResourceOwner) };
    // SAFETY: we are inside a transaction (called from a SQL function or the worker).
    unsafe {
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(old_context);
    }
    (old_context, old_owner)
}

fn describe(caught: &CaughtError) -> (PgSqlErrorCode, String) {
    let report = match caught {
        CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r,
        CaughtError::RustPanic { ereport, .. } => ereport,
    };
    let mut message = report.message().to_string();
    if let Some(detail) = report.detail() {
        message.push_str(" (");
        message.push_str(detail);
        message.push(')');
    }
    (report.sql_error_code(), message)
}

/// Errors that a subtransaction must not swallow.
fn must_propagate(code: PgSqlErrorCode) -> bool {
    use PgSqlErrorCode::*;
    matches!(
        code,
        ERRCODE_QUERY_CANCELED
            | ERRCODE_ADMIN_SHUTDOWN
            | ERRCODE_CRASH_SHUTDOWN
            | ERRCODE_CANNOT_CONNECT_NOW
            | ERRCODE_OUT_OF_MEMORY
            | ERRCODE_T_R_SERIALIZATION_FAILURE
            | ERRCODE_T_R_DEADLOCK_DETECTED
            | ERRCODE_DISK_FULL
            | ERRCODE_INSUFFICIENT_RESOURCES
    )
}
