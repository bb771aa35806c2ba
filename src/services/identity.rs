//! Who the extension's work runs as. Every entry point (a SQL call, the
//! worker, pg_cron) does its work as the role named by `etl.runner_role`,
//! never as its caller and never as a superuser: like a SECURITY DEFINER
//! function, with `SET ROLE` refused inside (a trigger a user attached to
//! `etl.orders` cannot climb back to the worker's superuser session).

use std::ffi::CString;

use pgrx::pg_sys;

use crate::error::Error;
use crate::gucs;
use crate::services::spi::Sql;

/// The search_path every transaction of the extension runs with.
pub const PINNED_SEARCH_PATH: &str = "pg_catalog, pg_temp";

/// Restores the identity that was current before a switch, also when the
/// work unwinds with an error (transaction abort would restore it too).
struct RestoreIdentity {
    user: pg_sys::Oid,
    security_context: i32,
}

impl Drop for RestoreIdentity {
    fn drop(&mut self) {
        // SAFETY: plain assignments of two backend globals.
        unsafe { pg_sys::SetUserIdAndSecContext(self.user, self.security_context) };
    }
}

/// Runs `work` as `role` with `SECURITY_LOCAL_USERID_CHANGE` (no `SET
/// ROLE` / `SET SESSION AUTHORIZATION` inside) and
/// `SECURITY_RESTRICTED_OPERATION` (no temporary objects or cursors that
/// outlive the work), then restores the previous identity.
fn run_as<R>(role: pg_sys::Oid, work: impl FnOnce() -> R) -> R {
    let mut user = pg_sys::InvalidOid;
    let mut security_context = 0;
    // SAFETY: reads and sets backend globals, as fmgr_security_definer does.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut user, &mut security_context);
        pg_sys::SetUserIdAndSecContext(
            role,
            security_context
                | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
        );
    }
    let _restore = RestoreIdentity { user, security_context };
    work()
}

/// The runner role, checked: it must exist and must not be a superuser.
pub fn runner_role() -> Result<pg_sys::Oid, Error> {
    let name = gucs::runner_role();
    let c_name = CString::new(name.clone()).map_err(|_| Error::NoSuchRunner(name.clone()))?;
    // SAFETY: a syscache lookup inside a transaction.
    let oid = unsafe { pg_sys::get_role_oid(c_name.as_ptr(), true) };
    if oid == pg_sys::InvalidOid {
        return Err(Error::NoSuchRunner(name));
    }
    // SAFETY: as above.
    if unsafe { pg_sys::superuser_arg(oid) } {
        return Err(Error::RunnerIsSuperuser(name));
    }
    Ok(oid)
}

/// Runs `work` as the runner role (see the module's comment).
pub fn as_runner<R>(work: impl FnOnce() -> Result<R, Error>) -> Result<R, Error> {
    let role = runner_role()?;
    run_as(role, work)
}

/// Runs `work` as `owner`, the owner of one of the extension's tables, the
/// way autovacuum runs ANALYZE: PostgreSQL 15 lets only a table's owner
/// analyse it, and the runner role owns none.
pub fn as_table_owner<R>(owner: pg_sys::Oid, work: impl FnOnce() -> R) -> R {
    run_as(owner, work)
}

/// Pins `search_path` for the rest of the current transaction: the worker's
/// transactions do not get the one SQL entry points pin in their definition.
pub fn pin_search_path(sql: &mut Sql) -> Result<(), Error> {
    sql.execute("SELECT pg_catalog.set_config('search_path', $1, true)", &[PINNED_SEARCH_PATH.into()])
        .map(|_| ())
        .map_err(|e| Error::IdentityLookup(e.to_string()))
}
