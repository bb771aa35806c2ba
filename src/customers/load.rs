//! The customers stage's SPI side.

use pgrx::Uuid;
use polars::prelude::*;

use crate::customers::transform::CustomerKeys;
use crate::error::StageError;
use crate::services::spi::{Cursor, Sql};

/// The distinct customers of the import's orders, in key order.
pub fn open_customer_keys(sql: &mut Sql, import_id: Uuid) -> Result<Cursor, StageError> {
    sql.open_cursor(
        "SELECT DISTINCT o.shop_id, o.customer_nickname
           FROM etl.orders o
          WHERE o.import_id = $1
          ORDER BY 1, 2",
        &[import_id.into()],
    )
}

pub fn fetch_customer_keys(sql: &mut Sql, cursor: &Cursor, count: usize) -> Result<CustomerKeys, StageError> {
    sql.fetch(cursor, count, |rows| {
        let mut keys = CustomerKeys {
            shop_id: Vec::with_capacity(rows.len()),
            customer_nickname: Vec::with_capacity(rows.len()),
        };
        for row in rows {
            match (row.get::<i64>(1)?, row.get::<String>(2)?) {
                (Some(shop), Some(nick)) => {
                    keys.shop_id.push(shop);
                    keys.customer_nickname.push(nick);
                }
                _ => return Err(StageError::Unexpected("an order without shop_id or nickname".into())),
            }
        }
        Ok(keys)
    })
}

fn key_args(frame: &DataFrame) -> Result<(Vec<i64>, Vec<String>), StageError> {
    Ok((
        frame.column("shop_id")?.i64()?.into_no_null_iter().collect(),
        frame.column("customer_nickname")?.str()?.into_no_null_iter().map(str::to_owned).collect(),
    ))
}

/// Creates the customers that do not exist yet; returns how many were created.
pub fn create_missing(sql: &mut Sql, candidates: &DataFrame) -> Result<u64, StageError> {
    let (shops, nicks) = key_args(candidates)?;
    let ids: Vec<String> =
        candidates.column("candidate_id")?.str()?.into_no_null_iter().map(str::to_owned).collect();
    sql.execute(
        "INSERT INTO etl.customers (customer_global_id, shop_id, customer_nickname, customer_key)
         SELECT u.id::uuid, u.shop_id, u.nickname, md5(u.shop_id::text || ':' || u.nickname)
           FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(id, shop_id, nickname)
          ORDER BY u.shop_id, u.nickname
         ON CONFLICT (shop_id, customer_nickname) DO NOTHING",
        &[ids.into(), shops.into(), nicks.into()],
    )
}

/// Sets `customer_global_id` on every order of the import, in one statement
/// over the import (one pass, whatever the number of batches).
pub fn link_orders(sql: &mut Sql, import_id: Uuid) -> Result<u64, StageError> {
    sql.execute(
        "UPDATE etl.orders o
            SET customer_global_id = c.customer_global_id, updated_at = now()
           FROM etl.customers c
          WHERE o.import_id = $1
            AND c.shop_id = o.shop_id AND c.customer_nickname = o.customer_nickname
            AND o.customer_global_id IS DISTINCT FROM c.customer_global_id",
        &[import_id.into()],
    )
}

/// Recomputes first/last order times, over all their orders, of the
/// import's customers and of the customers that lost an order to a
/// nickname change (queued by the orders stage; the queue is emptied), in
/// one statement over the import. A customer left with no order gets NULLs.
pub fn refresh_order_times(sql: &mut Sql, import_id: Uuid) -> Result<u64, StageError> {
    sql.execute(
        "WITH stale AS (
             DELETE FROM etl.pending_customer_refresh RETURNING shop_id, customer_nickname
         ), touched AS (
             SELECT i.shop_id, i.customer_nickname FROM etl.orders i WHERE i.import_id = $1
             UNION
             SELECT s.shop_id, s.customer_nickname FROM stale s
         ), t AS (
             SELECT k.shop_id, k.customer_nickname, min(o.ordered_at) AS first_at, max(o.ordered_at) AS last_at
               FROM touched k
               LEFT JOIN etl.orders o ON o.shop_id = k.shop_id AND o.customer_nickname = k.customer_nickname
              GROUP BY k.shop_id, k.customer_nickname
         )
         UPDATE etl.customers c
            SET first_order_at = t.first_at, last_order_at = t.last_at
           FROM t
          WHERE c.shop_id = t.shop_id AND c.customer_nickname = t.customer_nickname
            AND (c.first_order_at, c.last_order_at) IS DISTINCT FROM (t.first_at, t.last_at)",
        &[import_id.into()],
    )
}

/// Fresh statistics of etl.orders before the whole-import statements below:
/// run right after the orders stage (in etl_run_all's transaction, or before
/// autovacuum got to it), the table has none for the rows just written, and
/// the planner, expecting a handful, nests loops that are quadratic in the
/// import (2 s instead of 60 ms for 10k lines; no end in sight at 1M).
pub fn analyze_orders(sql: &mut Sql) -> Result<u64, StageError> {
    sql.execute("ANALYZE etl.orders", &[])
}
