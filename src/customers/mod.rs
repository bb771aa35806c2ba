//! Stage 2: the import's orders -> `etl.customers`, and each order linked to
//! its customer. Per batch of distinct customers: create the missing ones,
//! link the import's orders, recompute first/last order times (three
//! statements).

pub mod load;
pub mod transform;

use crate::error::StageError;
use crate::pipeline::stage::{RunContext, StageCounts};
use crate::services::polars_runtime;

pub fn run(ctx: &mut RunContext) -> Result<StageCounts, StageError> {
    polars_runtime::prepare();
    let mut counts = StageCounts::default();
    let cursor = load::open_customer_keys(&mut ctx.sql, ctx.import_id)?;
    loop {
        pgrx::check_for_interrupts!();
        let keys = load::fetch_customer_keys(&mut ctx.sql, &cursor, ctx.batch_size)?;
        if keys.is_empty() {
            break;
        }
        counts.batches += 1;
        counts.rows_in += keys.len() as i64;
        let candidates = transform::candidates(keys)?;
        counts.add_extra("customers_created", load::create_missing(&mut ctx.sql, &candidates)? as i64);
        counts.add_extra("orders_linked", load::link_orders(&mut ctx.sql, ctx.import_id, &candidates)? as i64);
        load::refresh_order_times(&mut ctx.sql, &candidates)?;
        counts.rows_ok += candidates.height() as i64;
    }
    ctx.sql.close(cursor)?;
    counts.add_extra(
        "customers_refreshed_after_moves",
        load::refresh_customers_that_lost_orders(&mut ctx.sql)? as i64,
    );
    Ok(counts)
}
