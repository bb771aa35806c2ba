//! Stage 3: the import's orders -> `etl.business_leads`.
//!
//! First, per batch of customers with unattributed orders: look up their
//! current leads (one statement), decide new/reuse in Polars, create and
//! reopen leads. One statement over the import then attributes its orders
//! to the chosen leads and adds them to those leads' aggregates (a new order
//! counted nowhere before). Then, per batch of the leads that lost or
//! changed an order, one set-based statement recomputes their aggregates
//! from their orders.

pub mod load;
pub mod transform;

use crate::error::Error;
use crate::services::{lookups, polars_runtime};
use crate::stage::{RunContext, StageCounts};

/// About how many leads a page of etl.business_leads holds (to estimate
/// their number when its statistics lag).
const LEADS_PER_PAGE: i64 = 32;

pub fn run(ctx: &mut RunContext) -> Result<StageCounts, Error> {
    polars_runtime::prepare();
    let mut counts = StageCounts::default();

    let cursor = load::open_customers_to_attribute(&mut ctx.sql, ctx.import_id, ctx.scope)?;
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
    // The import's orders to their leads: a probe of the leads' index per
    // order for an import that touches few customers, one pass over the
    // leads (hash joins) for one whose customers are at least a tenth of
    // the leads (as the customers stage decides for its link).
    let whole = ctx.whole_pass(counts.rows_in, "etl.business_leads", LEADS_PER_PAGE)?;
    counts.add_extra("attribute_whole_pass", i64::from(whole));
    let (attributed, grown) = counts.timed("attribute_orders", || {
        if whole {
            load::attribute_orders_whole(&mut ctx.sql, ctx.import_id)
        } else {
            load::attribute_orders(&mut ctx.sql, ctx.import_id, ctx.scope)
        }
    })?;
    counts.add_extra("orders_attributed", attributed as i64);
    counts.add_extra("leads_grown", grown as i64);

    // Then, a batch of leads per statement, the leads that lost or changed
    // an order are recomputed from their orders (exact numeric sums).
    let cursor = load::open_leads_to_recompute(&mut ctx.sql)?;
    ctx.each_batch(&mut counts, cursor, load::fetch_lead_ids, |ctx, counts, leads| {
        counts.add_extra("leads_recomputed", leads.0.len() as i64);
        let changed = counts.timed("write_aggregates", || load::recompute_aggregates(&mut ctx.sql, leads))?;
        counts.add_extra("leads_changed", changed as i64);
        Ok(())
    })?;
    load::clear_pending_refresh(&mut ctx.sql)?;
    Ok(counts)
}
