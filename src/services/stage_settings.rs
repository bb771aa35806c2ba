//! The settings a stage's statements run with. The runner applies them
//! around each stage, local to the transaction (`set_config(..., true)`
//! inside the stage's subtransaction: a stage that fails gets the old
//! values back by its rollback), and puts the old values back after it.
//!
//! * `work_mem` lowered to `etl.stage_work_mem` when the session's is
//!   higher: a stage's statements over a whole import (a first import, a
//!   5M-line one) hold several hash tables and sorts at once, each up to
//!   `work_mem`; this keeps a stage's memory bounded whatever the import's
//!   size (docs/performance.md, "Memory on a huge import").
//! * `jit` off: PostgreSQL compiles a statement when its estimated cost
//!   passes `jit_above_cost`, and an estimate taken from a queue table's
//!   leftover pages (hundreds of empty pages after a backlog) made a
//!   100-line import's order-times statement pay 30 ms of compilation for
//!   1 ms of work: the worker's drain ran customers stages at 33 ms instead
//!   of 5. The stages' statements are index probes and writes, which JIT
//!   does not speed up.

use pgrx::pg_sys;

use crate::error::Error;
use crate::gucs;
use crate::services::spi::Sql;

/// The session's values of what [`apply`] changed (`work_mem`, `jit`).
pub struct Saved(Option<(String, String)>);

pub fn apply(sql: &mut Sql) -> Result<Saved, Error> {
    // SAFETY: GUC variables (work_mem in kB), read on the backend's own thread.
    let (session_kb, jit) = unsafe { (pg_sys::work_mem, pg_sys::jit_enabled) };
    let capped_kb = gucs::stage_work_mem_kb().filter(|cap_kb| session_kb > *cap_kb);
    if capped_kb.is_none() && !jit {
        return Ok(Saved(None));
    }
    sql.execute(
        "SELECT pg_catalog.set_config('work_mem', $1, true), pg_catalog.set_config('jit', 'off', true)",
        &[format!("{}kB", capped_kb.unwrap_or(session_kb)).into()],
    )?;
    let jit = if jit { "on" } else { "off" };
    Ok(Saved(Some((format!("{session_kb}kB"), jit.to_owned()))))
}

/// Runs `statement` with nested loops off, and puts the session's value
/// back after it (a failure leaves it to the stage's rollback). For the
/// statements over a whole big import, which the stage chose because the
/// import is big, while the statistics of etl.orders may not know the
/// import yet and estimate its orders at one row: a nested loop with a
/// probe per order is then the plan, about a sixth slower than the hash
/// join at 1M lines (docs/performance.md, "Full-page images").
pub fn without_nested_loops<T>(
    sql: &mut Sql,
    statement: impl FnOnce(&mut Sql) -> Result<T, Error>,
) -> Result<T, Error> {
    // SAFETY: a GUC variable, read on the backend's own thread.
    let session = if unsafe { pg_sys::enable_nestloop } { "on" } else { "off" };
    sql.execute("SELECT pg_catalog.set_config('enable_nestloop', 'off', true)", &[])?;
    let result = statement(sql)?;
    sql.execute("SELECT pg_catalog.set_config('enable_nestloop', $1, true)", &[session.into()])?;
    Ok(result)
}

/// Puts back what [`apply`] changed.
pub fn restore(sql: &mut Sql, saved: Saved) -> Result<(), Error> {
    if let Some((work_mem, jit)) = saved.0 {
        sql.execute(
            "SELECT pg_catalog.set_config('work_mem', $1, true), pg_catalog.set_config('jit', $2, true)",
            &[work_mem.into(), jit.into()],
        )?;
    }
    Ok(())
}
