//! Memory bounded by the batch, not by the import: everything PostgreSQL
//! allocates for one batch (array parameters, plans, subtransactions'
//! leftovers) goes into a memory context that is deleted after the batch.

use pgrx::PgMemoryContexts;

/// Runs one batch's work in a fresh memory context, deleted afterwards.
pub fn in_batch_context<R>(work: impl FnOnce() -> R) -> R {
    let mut context = PgMemoryContexts::new("etl_ext batch");
    // SAFETY: the context was just created under the current one and is
    // deleted when `context` drops, after `work` returned (or unwound).
    unsafe { context.switch_to(|_| work()) }
}
