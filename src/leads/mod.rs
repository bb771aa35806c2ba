//! Stage 3: the import's orders -> `etl.business_leads`.
//!
//! First, per batch of customers with unattributed orders: look up their
//! current leads (one statement), decide new/reuse in Polars, create and
//! reopen leads. One statement over the import then attributes its orders
//! to the chosen leads. Then one lead-ordered cursor streams the orders of
//! every touched lead; per batch, the leads it holds whole are aggregated
//! in Polars and written back (one statement).

pub mod load;
pub mod transform;

use polars::prelude::DataFrame;

use crate::error::StageError;
use crate::pipeline::stage::{RunContext, StageCounts};
use crate::services::{lookups, polars_runtime};

pub fn run(ctx: &mut RunContext) -> Result<StageCounts, StageError> {
    polars_runtime::prepare();
    let mut counts = StageCounts::default();

    let cursor = load::open_customers_to_attribute(&mut ctx.sql, ctx.import_id)?;
    let fetch_customers = |sql: &mut _, cursor: &_, n| load::fetch_ids(sql, cursor, n, "customer_global_id");
    ctx.each_batch(&mut counts, cursor, fetch_customers, |ctx, counts, customers| {
        counts.rows_in += customers.height() as i64;
        let ids = load::text_column(&customers, "customer_global_id")?;
        let current = counts.timed("lookup", || lookups::current_leads(&mut ctx.sql, ids))?;
        let plan = counts.timed("transform", || transform::plan(customers, current))?;
        counts.add_extra("leads_reused", transform::reused(&plan)? as i64);
        let created = counts.timed("write_leads", || load::create_leads(&mut ctx.sql, &plan))?;
        counts.add_extra("leads_created", created as i64);
        let reopened = counts.timed("write_leads", || load::reopen_leads(&mut ctx.sql, &plan))?;
        counts.add_extra("leads_reopened", reopened as i64);
        counts.rows_ok += plan.height() as i64;
        Ok(())
    })?;
    let attributed = counts.timed("attribute_orders", || load::attribute_orders(&mut ctx.sql, ctx.import_id))?;
    counts.add_extra("orders_attributed", attributed as i64);

    // Each batch holds whole leads but its last, whose rows wait for the
    // next batch: memory follows the batch, and no lead is written twice.
    let cursor = load::open_orders_of_touched_leads(&mut ctx.sql, ctx.import_id)?;
    let mut carried: Option<DataFrame> = None;
    ctx.each_batch(&mut counts, cursor, load::fetch_lead_orders, |ctx, counts, batch| {
        let rows = match carried.take() {
            Some(previous) => previous.vstack(&batch)?,
            None => batch,
        };
        let (complete, last_lead) = transform::split_last_lead(rows)?;
        carried = Some(last_lead);
        recompute(ctx, counts, complete)
    })?;
    if let Some(last_lead) = carried.take() {
        recompute(ctx, &mut counts, last_lead)?;
    }
    load::clear_pending_refresh(&mut ctx.sql)?;
    Ok(counts)
}

/// Aggregates the order rows of whole leads in Polars and writes the leads.
fn recompute(ctx: &mut RunContext, counts: &mut StageCounts, rows: DataFrame) -> Result<(), StageError> {
    let leads = transform::leads_of(&rows)?;
    counts.add_extra("leads_recomputed", leads.height() as i64);
    let aggregates = counts.timed("transform", || transform::aggregate(leads, rows))?;
    counts.timed("write_aggregates", || load::write_aggregates(&mut ctx.sql, &aggregates))?;
    Ok(())
}
