//! Memory bounded by the batch, not by the import: everything PostgreSQL
//! allocates for one batch (array parameters, plans, subtransactions'
//! leftovers) goes into a memory context that is deleted after the batch.

use pgrx::{pg_sys, PgMemoryContexts};

use crate::error::StageError;
use crate::gucs;
use crate::services::spi::{column_ordinals, Sql};

/// Runs one batch's work in a fresh memory context, deleted afterwards.
pub fn in_batch_context<R>(work: impl FnOnce() -> R) -> R {
    let mut context = PgMemoryContexts::new("etl_ext batch");
    // SAFETY: the context was just created under the current one and is
    // deleted when `context` drops, after `work` returned (or unwound).
    unsafe { context.switch_to(|_| work()) }
}

/// Lowers `work_mem` to `etl.stage_work_mem` for the running stage, when
/// the session's is higher; returns the value [`restore_work_mem`] puts
/// back. A stage's statements over a whole import (a first import, a 5M-line
/// one) hold several hash tables and sorts at once, each up to `work_mem`:
/// this keeps a stage's memory bounded whatever the import's size. The
/// change is local to the transaction: a stage that fails (its
/// subtransaction rolled back) gets the old value back by itself.
pub fn cap_work_mem(sql: &mut Sql) -> Result<Option<String>, StageError> {
    let Some(cap_kb) = gucs::stage_work_mem_kb() else { return Ok(None) };
    // SAFETY: a GUC variable, read on the backend's own thread.
    if unsafe { pg_sys::work_mem } <= cap_kb {
        return Ok(None);
    }
    let previous = sql.query(
        "SELECT pg_catalog.current_setting('work_mem') AS previous, pg_catalog.set_config('work_mem', $1, true)",
        &[format!("{cap_kb}kB").into()],
        |rows| {
            let [previous] = column_ordinals(&rows, ["previous"])?;
            Ok(rows.first().get::<String>(previous)?)
        },
    )?;
    Ok(previous)
}

/// Puts back the `work_mem` that [`cap_work_mem`] lowered.
pub fn restore_work_mem(sql: &mut Sql, previous: Option<String>) -> Result<(), StageError> {
    if let Some(previous) = previous {
        sql.execute("SELECT pg_catalog.set_config('work_mem', $1, true)", &[previous.into()])?;
    }
    Ok(())
}
