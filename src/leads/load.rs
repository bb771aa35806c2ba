//! The leads stage's SPI side.

use pgrx::Uuid;
use polars::prelude::*;

use crate::error::Error;
use crate::services::spi::{column_ordinals, Cursor, Sql};
use crate::services::stage_settings;
use crate::stage::Scope;

/// Customers that have orders of the scope without a lead, in id order.
/// Distinct and sorted as uuids, turned into text only after: sorting the
/// text compares with the database's collation (twice the time at 1M lines
/// under C.UTF-8), and the order is the same (lowercase hex, fixed hyphens).
pub fn open_customers_to_attribute(sql: &mut Sql, import_id: Uuid, scope: Scope) -> Result<Cursor, Error> {
    let query = scope.pick(
        include_str!("../../sql/queries/customers_to_attribute.sql"),
        include_str!("../../sql/queries/customers_to_attribute_redrive.sql"),
    );
    sql.open_cursor(query, &[import_id.into()])
}

/// The leads that lost or changed an order (queued by the orders stage):
/// their aggregates are recomputed in full.
pub fn open_leads_to_recompute(sql: &mut Sql) -> Result<Cursor, Error> {
    sql.open_cursor("SELECT p.lead_id FROM etl.pending_lead_refresh p ORDER BY 1", &[])
}

/// A batch of lead ids from [`open_leads_to_recompute`].
pub struct LeadIds(pub Vec<Uuid>);

impl crate::stage::Batch for LeadIds {
    fn rows(&self) -> usize {
        self.0.len()
    }
}

pub fn fetch_lead_ids(sql: &mut Sql, cursor: &Cursor, count: usize) -> Result<LeadIds, Error> {
    sql.fetch(cursor, count, |rows| {
        let mut ids = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(id) = row.get::<Uuid>(1)? {
                ids.push(id);
            }
        }
        Ok(LeadIds(ids))
    })
}

/// Recomputes the aggregates of a batch of leads in one set-based
/// statement; returns how many leads changed.
pub fn recompute_aggregates(sql: &mut Sql, leads: LeadIds) -> Result<u64, Error> {
    sql.execute(LEAD_AGGREGATES, &[leads.0.into()])
}

/// Fetches a batch of single text ids (as a one-column frame named `column`).
pub fn fetch_ids(sql: &mut Sql, cursor: &Cursor, count: usize, column: &str) -> Result<DataFrame, Error> {
    let ids = sql.fetch(cursor, count, |rows| {
        let mut ids: Vec<String> = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(id) = row.get::<String>(1)? {
                ids.push(id);
            }
        }
        Ok(ids)
    })?;
    Ok(DataFrame::new(ids.len(), vec![Column::new(column.into(), ids)])?)
}

pub fn text_column(frame: &DataFrame, name: &str) -> Result<Vec<String>, Error> {
    Ok(frame.column(name)?.str()?.into_no_null_iter().map(str::to_owned).collect())
}

fn text_column_where(frame: &DataFrame, name: &str, mask: &BooleanChunked) -> Result<Vec<String>, Error> {
    let filtered = frame.filter(mask)?;
    text_column(&filtered, name)
}

/// Creates the leads of the `new` strategy, stage `OPEN`, in customer order.
/// Sent even when there are none (as every per-batch statement of the
/// stages), so the statements a stage runs depend on its batches only.
pub fn create_leads(sql: &mut Sql, plan: &DataFrame) -> Result<u64, Error> {
    let mask = plan.column("strategy")?.str()?.equal(crate::leads::transform::STRATEGY_NEW);
    let leads = text_column_where(plan, "lead_id", &mask)?;
    let customers = text_column_where(plan, "customer_global_id", &mask)?;
    sql.execute(include_str!("../../sql/queries/create_leads.sql"), &[leads.into(), customers.into()])
}

/// Reused `COLD` leads become `OPEN`.
pub fn reopen_leads(sql: &mut Sql, plan: &DataFrame) -> Result<u64, Error> {
    let mask = plan.column("reopen")?.bool()?.clone();
    let leads = text_column_where(plan, "lead_id", &mask)?;
    sql.execute(include_str!("../../sql/queries/reopen_leads.sql"), &[leads.into()])
}

/// Gives every order of the import that has a customer and no lead its
/// customer's current lead, and adds those orders to their leads'
/// aggregates, in one statement over the import (see
/// sql/queries/attribute_orders.sql). Returns (orders attributed, leads
/// whose aggregates grew).
pub fn attribute_orders(sql: &mut Sql, import_id: Uuid, scope: Scope) -> Result<(u64, u64), Error> {
    run_attribute_orders(sql, scope.pick(ATTRIBUTE_ORDERS, ATTRIBUTE_ORDERS_REDRIVE), import_id)
}

/// The same as [`attribute_orders`] for a big import (its customers at
/// least a tenth of the leads): the orders find their current leads in one
/// hash join over the leads instead of a probe of the leads' index per
/// order, and the grown leads are reached the same way; nested loops off,
/// as the import's orders may be estimated at one row (docs/performance.md,
/// "A big import's attribution: one hash join").
pub fn attribute_orders_whole(sql: &mut Sql, import_id: Uuid) -> Result<(u64, u64), Error> {
    stage_settings::without_nested_loops(sql, |sql| run_attribute_orders(sql, ATTRIBUTE_ORDERS_WHOLE, import_id))
}

/// A statement that uses the lead sums: `head` (which ends in a SELECT
/// list's start and defines `lead_orders`), sql/queries/lead_sums.sql (the
/// one definition of a counted order and of the sums) and `tail`, whole
/// files concatenated, no text replaced.
macro_rules! with_lead_sums {
    ($head:literal, $tail:literal) => {
        concat!(include_str!($head), include_str!("../../sql/queries/lead_sums.sql"), include_str!($tail))
    };
}

const LEAD_AGGREGATES: &str =
    with_lead_sums!("../../sql/queries/lead_aggregates.sql", "../../sql/queries/lead_aggregates_end.sql");
const ATTRIBUTE_ORDERS: &str =
    with_lead_sums!("../../sql/queries/attribute_orders.sql", "../../sql/queries/attribute_orders_grow.sql");
const ATTRIBUTE_ORDERS_REDRIVE: &str =
    with_lead_sums!("../../sql/queries/attribute_orders_redrive.sql", "../../sql/queries/attribute_orders_grow.sql");
const ATTRIBUTE_ORDERS_WHOLE: &str =
    with_lead_sums!("../../sql/queries/attribute_orders_whole.sql", "../../sql/queries/attribute_orders_grow.sql");

fn run_attribute_orders(sql: &mut Sql, query: &str, import_id: Uuid) -> Result<(u64, u64), Error> {
    sql.query(query, &[import_id.into()], |rows| {
        let [attributed, grown] = column_ordinals(&rows, ["attributed", "grown"])?;
        let row = rows.first();
        Ok((row.get::<i64>(attributed)?.unwrap_or(0) as u64, row.get::<i64>(grown)?.unwrap_or(0) as u64))
    })
}

/// Empties the queue of leads that lost an order (they were just recomputed).
pub fn clear_pending_refresh(sql: &mut Sql) -> Result<u64, Error> {
    sql.execute("DELETE FROM etl.pending_lead_refresh", &[])
}
