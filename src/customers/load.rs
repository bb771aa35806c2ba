//! The customers stage's SPI side.

use pgrx::Uuid;
use polars::prelude::*;

use crate::customers::transform::CustomerKeys;
use crate::error::Error;
use crate::services::spi::{column_ordinals, Cursor, Sql};
use crate::services::stage_settings;
use crate::stage::Scope;

/// The distinct customers of the scope's orders, in key order.
pub fn open_customer_keys(sql: &mut Sql, import_id: Uuid, scope: Scope) -> Result<Cursor, Error> {
    sql.open_cursor(customer_keys_query(scope), &[import_id.into()])
}

/// The statement of [`open_customer_keys`] (`$1` = the import). `DISTINCT
/// ON` with the same `ORDER BY` is always a `Unique` over rows in key order
/// (a sort, or the orders' (shop_id, customer_nickname) index when it reads
/// less), never a hash aggregate sorted again afterwards: with a plain
/// `DISTINCT`, a big import's hundreds of thousands of customers were hashed
/// and then sorted, 680-800 ms against 330 ms at 1M lines on a first import
/// and 870-1,210 against 720-810 ms at steady state (docs/performance.md,
/// "The customers' read"); the same plan as before for a small import.
pub fn customer_keys_query(scope: Scope) -> &'static str {
    scope.pick(
        include_str!("../../sql/queries/customer_keys.sql"),
        include_str!("../../sql/queries/customer_keys_redrive.sql"),
    )
}

pub fn fetch_customer_keys(sql: &mut Sql, cursor: &Cursor, count: usize) -> Result<CustomerKeys, Error> {
    sql.fetch(cursor, count, |rows| {
        let mut keys =
            CustomerKeys { shop_id: Vec::with_capacity(rows.len()), customer_nickname: Vec::with_capacity(rows.len()) };
        let [shop_id, customer_nickname] = column_ordinals(&rows, ["shop_id", "customer_nickname"])?;
        for row in rows {
            match (row.get::<i64>(shop_id)?, row.get::<String>(customer_nickname)?) {
                (Some(shop), Some(nick)) => {
                    keys.shop_id.push(shop);
                    keys.customer_nickname.push(nick);
                }
                _ => return Err(Error::Unexpected("an order without shop_id or nickname".into())),
            }
        }
        Ok(keys)
    })
}

fn key_args(frame: &DataFrame) -> Result<(Vec<i64>, Vec<String>), Error> {
    Ok((
        frame.column("shop_id")?.i64()?.into_no_null_iter().collect(),
        frame.column("customer_nickname")?.str()?.into_no_null_iter().map(str::to_owned).collect(),
    ))
}

/// Creates the customers that do not exist yet; returns how many were created.
pub fn create_missing(sql: &mut Sql, candidates: &DataFrame) -> Result<u64, Error> {
    let (shops, nicks) = key_args(candidates)?;
    let ids: Vec<String> = candidates.column("candidate_id")?.str()?.into_no_null_iter().map(str::to_owned).collect();
    sql.execute(include_str!("../../sql/queries/create_customers.sql"), &[ids.into(), shops.into(), nicks.into()])
}

/// Sets `customer_global_id` on every order of the scope that has none
/// (new orders, and orders whose nickname changed), in one statement. Each
/// order probes its customer by the unique key: the plan cannot turn into a
/// scan of etl.customers, whatever the statistics say.
pub fn link_orders(sql: &mut Sql, import_id: Uuid, scope: Scope) -> Result<u64, Error> {
    let query = scope.pick(
        include_str!("../../sql/queries/link_orders.sql"),
        include_str!("../../sql/queries/link_orders_redrive.sql"),
    );
    sql.execute(query, &[import_id.into()])
}

/// The same as [`link_orders`] for a big import: the import's orders join
/// etl.customers in one hash join (one pass over the customers) instead of
/// a probe of the key index per order. Only chosen when the import's
/// customers are at least a tenth of all customers, so the pass is paid for
/// by the import's size; a small import never runs it. Nested loops are
/// off for it: at steady state the statistics may not know the import yet
/// (its orders estimated at one row), which plans the probe per order again.
pub fn link_orders_whole(sql: &mut Sql, import_id: Uuid) -> Result<u64, Error> {
    stage_settings::without_nested_loops(sql, |sql| {
        sql.execute(include_str!("../../sql/queries/link_orders_whole.sql"), &[import_id.into()])
    })
}

/// Recomputes first/last order times, over all their orders, of the
/// import's customers and of the customers that lost an order to a
/// nickname change (queued by the orders stage; the queue is emptied), in
/// one statement over the import. A customer left with no order gets NULLs.
/// Each customer's orders are reached through the (shop_id,
/// customer_nickname) index, so the cost follows the import's customers and
/// their orders, never the size of etl.orders.
pub fn refresh_order_times(sql: &mut Sql, import_id: Uuid, scope: Scope) -> Result<u64, Error> {
    let query = scope.pick(
        include_str!("../../sql/queries/customer_order_times.sql"),
        include_str!("../../sql/queries/customer_order_times_redrive.sql"),
    );
    sql.execute(query, &[import_id.into()])
}

/// The same as [`refresh_order_times`] for a big import: every touched
/// customer recomputed from all its orders in one hash join over etl.orders
/// (see sql/queries/customer_order_times_whole.sql).
pub fn refresh_order_times_whole(sql: &mut Sql, import_id: Uuid) -> Result<u64, Error> {
    sql.execute(include_str!("../../sql/queries/customer_order_times_whole.sql"), &[import_id.into()])
}
