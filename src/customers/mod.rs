//! Stage 2: the import's orders -> `etl.customers`, and each order linked to
//! its customer. Per batch of distinct customers: create the missing ones
//! with fresh v7 ids (one statement). Then, over the whole import, one
//! statement links its orders and one recomputes first/last order times: a
//! per-batch join of keys to etl.orders would cost a pass over the table per
//! batch.

pub mod load;
pub mod transform;

use crate::error::Error;
use crate::services::{polars_runtime, statistics};
use crate::stage::{Batch, RunContext, StageCounts};

impl Batch for transform::CustomerKeys {
    fn rows(&self) -> usize {
        self.len()
    }
}

/// About how many customers a page of etl.customers holds (to estimate
/// their number when its statistics lag).
const CUSTOMERS_PER_PAGE: i64 = 50;

pub fn run(ctx: &mut RunContext) -> Result<StageCounts, Error> {
    polars_runtime::prepare();
    let mut counts = StageCounts::default();
    let analysed = counts.timed("analyze", || statistics::refresh_if_grown(&mut ctx.sql))?;
    counts.add_extra("analyzed", i64::from(analysed));
    let cursor = load::open_customer_keys(&mut ctx.sql, ctx.import_id, ctx.scope)?;
    ctx.each_batch(&mut counts, cursor, load::fetch_customer_keys, |ctx, counts, keys| {
        counts.rows_in += keys.len() as i64;
        let candidates = counts.timed("transform", || transform::candidates(keys))?;
        let created = counts.timed("create_customers", || load::create_missing(&mut ctx.sql, &candidates))?;
        counts.add_extra("customers_created", created as i64);
        counts.rows_ok += candidates.height() as i64;
        Ok(())
    })?;
    // Linking orders and their customers' order times: through the
    // customers' key index, per order and per customer, for an import that
    // touches few customers (its cost follows the import); in one pass over
    // the customers and etl.orders (hash joins) for one that touches at least
    // a tenth of them (a first or a big import, where a probe per order and
    // per customer costs more than the pass: 19-20 s against 13-14 s to link
    // a first import of 1M lines, docs/performance.md).
    let whole = ctx.whole_pass(counts.rows_in, "etl.customers", CUSTOMERS_PER_PAGE)?;
    counts.add_extra("order_times_whole_pass", i64::from(whole));
    let linked = counts.timed("link_orders", || {
        if whole {
            load::link_orders_whole(&mut ctx.sql, ctx.import_id)
        } else {
            load::link_orders(&mut ctx.sql, ctx.import_id, ctx.scope)
        }
    })?;
    counts.add_extra("orders_linked", linked as i64);
    let refreshed = counts.timed("order_times", || {
        if whole {
            load::refresh_order_times_whole(&mut ctx.sql, ctx.import_id)
        } else {
            load::refresh_order_times(&mut ctx.sql, ctx.import_id, ctx.scope)
        }
    })?;
    counts.add_extra("customers_times_changed", refreshed as i64);
    Ok(counts)
}
