//! Set-based lookups: one statement per batch, the batch's keys passed as an
//! array parameter, the answer returned as a Polars frame to join against.

use pgrx::{FromDatum, IntoDatum};
use polars::prelude::*;

use crate::error::Error;
use crate::services::spi::{column_ordinals, Sql};

/// Runs `query` with the keys as `$1` and collects its two `columns`,
/// skipping rows with a NULL in either.
fn pairs<A, B>(sql: &mut Sql, query: &str, keys: Vec<String>, columns: [&str; 2]) -> Result<(Vec<A>, Vec<B>), Error>
where
    A: FromDatum + IntoDatum,
    B: FromDatum + IntoDatum,
{
    sql.query(query, &[keys.into()], |rows| {
        let mut first: Vec<A> = Vec::with_capacity(rows.len());
        let mut second: Vec<B> = Vec::with_capacity(rows.len());
        let [a_col, b_col] = column_ordinals(&rows, columns)?;
        for row in rows {
            if let (Some(a), Some(b)) = (row.get::<A>(a_col)?, row.get::<B>(b_col)?) {
                first.push(a);
                second.push(b);
            }
        }
        Ok((first, second))
    })
}

/// Active shops among `names`: frame (`shop_name` str, `shop_id` i64).
pub fn active_shops(sql: &mut Sql, names: Vec<String>) -> Result<DataFrame, Error> {
    let (names, ids) =
        pairs::<String, i64>(sql, include_str!("../../sql/queries/active_shops.sql"), names, ["shop_name", "shop_id"])?;
    Ok(df!("shop_name" => names, "shop_id" => ids)?)
}

/// Mappings of `raw_types`: frame (`raw_order_type` str, `mapped_type` str).
pub fn order_type_mappings(sql: &mut Sql, raw_types: Vec<String>) -> Result<DataFrame, Error> {
    let (raw, mapped) = pairs::<String, String>(
        sql,
        include_str!("../../sql/queries/order_type_mappings.sql"),
        raw_types,
        ["raw_order_type", "system_order_type"],
    )?;
    Ok(df!("raw_order_type" => raw, "mapped_type" => mapped)?)
}
/// The current lead (highest `lead_no`) of each customer in `customers`:
/// (ids as text) frame (`customer_global_id` str, `current_lead_id` str, `current_stage` str).
pub fn current_leads(sql: &mut Sql, customers: Vec<String>) -> Result<DataFrame, Error> {
    let (cust, lead, stage) =
        sql.query(include_str!("../../sql/queries/current_leads.sql"), &[customers.into()], |rows| {
            let mut cust: Vec<String> = Vec::with_capacity(rows.len());
            let mut lead: Vec<String> = Vec::with_capacity(rows.len());
            let mut stage: Vec<String> = Vec::with_capacity(rows.len());
            let [cust_col, lead_col, stage_col] =
                column_ordinals(&rows, ["customer_global_id", "lead_id", "current_stage"])?;
            for row in rows {
                if let (Some(c), Some(l), Some(s)) =
                    (row.get::<String>(cust_col)?, row.get::<String>(lead_col)?, row.get::<String>(stage_col)?)
                {
                    cust.push(c);
                    lead.push(l);
                    stage.push(s);
                }
            }
            Ok((cust, lead, stage))
        })?;
    Ok(df!("customer_global_id" => cust, "current_lead_id" => lead, "current_stage" => stage)?)
}
