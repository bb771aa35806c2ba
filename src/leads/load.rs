//! The leads stage's SPI side.

use pgrx::Uuid;
use polars::prelude::*;

use crate::error::StageError;
use crate::services::spi::{Cursor, Sql};

/// Customers that have orders of this import without a lead, in id order.
pub fn open_customers_to_attribute(sql: &mut Sql, import_id: Uuid) -> Result<Cursor, StageError> {
    sql.open_cursor(
        "SELECT DISTINCT o.customer_global_id::text
           FROM etl.orders o
          WHERE o.import_id = $1 AND o.lead_id IS NULL AND o.customer_global_id IS NOT NULL
          ORDER BY 1",
        &[import_id.into()],
    )
}

/// The orders of every lead whose aggregates this import may have changed
/// (the leads of its orders, and the leads that lost an order to a nickname
/// change), one lead's orders together, amounts in cents and times in
/// microseconds since the Unix epoch (both exact). A lead left with no order
/// comes as one row of NULLs. One pass over etl.orders, read in batches.
pub fn open_orders_of_touched_leads(sql: &mut Sql, import_id: Uuid) -> Result<Cursor, StageError> {
    sql.open_cursor(
        "WITH touched AS (
             SELECT o.lead_id FROM etl.orders o WHERE o.import_id = $1 AND o.lead_id IS NOT NULL
             UNION
             SELECT p.lead_id FROM etl.pending_lead_refresh p
         )
         SELECT t.lead_id::text, o.latest_status, o.system_order_type,
                (o.amount * 100)::bigint,
                (extract(epoch FROM o.ordered_at) * 1000000)::bigint
           FROM touched t
           LEFT JOIN etl.orders o ON o.lead_id = t.lead_id
          ORDER BY t.lead_id",
        &[import_id.into()],
    )
}

/// Fetches a batch of the cursor above: frame (`lead_id`, `latest_status`,
/// `system_order_type`, `amount_cents`, `ordered_at_us`).
pub fn fetch_lead_orders(sql: &mut Sql, cursor: &Cursor, count: usize) -> Result<DataFrame, StageError> {
    let (lead, status, kind, cents, at) = sql.fetch(cursor, count, |rows| {
        let n = rows.len();
        let (mut lead, mut status, mut kind, mut cents, mut at) = (
            Vec::<Option<String>>::with_capacity(n),
            Vec::<Option<String>>::with_capacity(n),
            Vec::<Option<String>>::with_capacity(n),
            Vec::<Option<i64>>::with_capacity(n),
            Vec::<Option<i64>>::with_capacity(n),
        );
        for row in rows {
            lead.push(row.get::<String>(1)?);
            status.push(row.get::<String>(2)?);
            kind.push(row.get::<String>(3)?);
            cents.push(row.get::<i64>(4)?);
            at.push(row.get::<i64>(5)?);
        }
        Ok((lead, status, kind, cents, at))
    })?;
    Ok(df!(
        "lead_id" => lead,
        "latest_status" => status,
        "system_order_type" => kind,
        "amount_cents" => cents,
        "ordered_at_us" => at,
    )?)
}

/// Fetches a batch of single text ids (as a one-column frame named `column`).
pub fn fetch_ids(sql: &mut Sql, cursor: &Cursor, count: usize, column: &str) -> Result<DataFrame, StageError> {
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

pub fn text_column(frame: &DataFrame, name: &str) -> Result<Vec<String>, StageError> {
    Ok(frame.column(name)?.str()?.into_no_null_iter().map(str::to_owned).collect())
}

fn text_column_where(frame: &DataFrame, name: &str, mask: &BooleanChunked) -> Result<Vec<String>, StageError> {
    let filtered = frame.filter(mask)?;
    text_column(&filtered, name)
}

/// Creates the leads of the `new` strategy, stage `OPEN`, in customer order.
/// Sent even when there are none (as every per-batch statement of the
/// stages), so the statements a stage runs depend on its batches only.
pub fn create_leads(sql: &mut Sql, plan: &DataFrame) -> Result<u64, StageError> {
    let mask = plan.column("strategy")?.str()?.equal(crate::leads::transform::STRATEGY_NEW);
    let leads = text_column_where(plan, "lead_id", &mask)?;
    let customers = text_column_where(plan, "customer_global_id", &mask)?;
    sql.execute(
        "INSERT INTO etl.business_leads (lead_id, customer_global_id, current_stage)
         SELECT u.lead_id::uuid, u.customer_global_id::uuid, 'OPEN'
           FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(lead_id, customer_global_id, n)
          ORDER BY u.n",
        &[leads.into(), customers.into()],
    )
}

/// Reused `COLD` leads become `OPEN`.
pub fn reopen_leads(sql: &mut Sql, plan: &DataFrame) -> Result<u64, StageError> {
    let mask = plan.column("reopen")?.bool()?.clone();
    let leads = text_column_where(plan, "lead_id", &mask)?;
    sql.execute(
        "UPDATE etl.business_leads
            SET current_stage = 'OPEN', updated_at = now()
          WHERE lead_id = ANY($1::uuid[]) AND current_stage = 'COLD'",
        &[leads.into()],
    )
}

/// Gives every order of the import that has a customer and no lead the
/// lead the strategy chose: its customer's current lead (highest `lead_no`)
/// once this stage created and reopened leads. One statement over the
/// import: a per-batch join of keys to etl.orders would cost a pass over
/// the import's orders per batch.
pub fn attribute_orders(sql: &mut Sql, import_id: Uuid) -> Result<u64, StageError> {
    sql.execute(
        "UPDATE etl.orders o
            SET lead_id = cur.lead_id, updated_at = now()
           FROM (SELECT DISTINCT ON (l.customer_global_id) l.customer_global_id, l.lead_id
                   FROM etl.business_leads l
                  WHERE l.customer_global_id IN
                        (SELECT i.customer_global_id FROM etl.orders i
                          WHERE i.import_id = $1 AND i.lead_id IS NULL AND i.customer_global_id IS NOT NULL)
                  ORDER BY l.customer_global_id, l.lead_no DESC) cur
          WHERE o.import_id = $1 AND o.lead_id IS NULL
            AND o.customer_global_id = cur.customer_global_id",
        &[import_id.into()],
    )
}

/// Writes recomputed aggregates; rows whose values did not change are left alone.
pub fn write_aggregates(sql: &mut Sql, aggregates: &DataFrame) -> Result<u64, StageError> {
    let int = |name: &str| -> Result<Vec<i32>, StageError> {
        Ok(aggregates.column(name)?.i32()?.into_no_null_iter().collect())
    };
    let big = |name: &str| -> Result<Vec<i64>, StageError> {
        Ok(aggregates.column(name)?.i64()?.into_no_null_iter().collect())
    };
    let time = |name: &str| -> Result<Vec<Option<i64>>, StageError> {
        Ok(aggregates.column(name)?.i64()?.into_iter().collect())
    };
    sql.execute(
        "UPDATE etl.business_leads l
            SET order_count = v.order_count, total_amount = v.total_amount,
                sample_count = v.sample_count, sample_amount = v.sample_amount,
                bulk_count = v.bulk_count, bulk_amount = v.bulk_amount,
                first_order_at = v.first_at, last_order_at = v.last_at,
                updated_at = now()
           FROM (SELECT u.lead_id::uuid AS lead_id, u.order_count,
                        (u.total_cents::numeric / 100)::numeric(14,2) AS total_amount,
                        u.sample_count, (u.sample_cents::numeric / 100)::numeric(14,2) AS sample_amount,
                        u.bulk_count, (u.bulk_cents::numeric / 100)::numeric(14,2) AS bulk_amount,
                        'epoch'::timestamptz + u.first_us * interval '1 microsecond' AS first_at,
                        'epoch'::timestamptz + u.last_us * interval '1 microsecond' AS last_at
                   FROM unnest($1::text[], $2::int[], $3::bigint[], $4::int[], $5::bigint[],
                               $6::int[], $7::bigint[], $8::bigint[], $9::bigint[])
                        AS u(lead_id, order_count, total_cents, sample_count, sample_cents,
                             bulk_count, bulk_cents, first_us, last_us)) v
          WHERE l.lead_id = v.lead_id
            AND (l.order_count, l.total_amount, l.sample_count, l.sample_amount,
                 l.bulk_count, l.bulk_amount, l.first_order_at, l.last_order_at)
                IS DISTINCT FROM
                (v.order_count, v.total_amount, v.sample_count, v.sample_amount,
                 v.bulk_count, v.bulk_amount, v.first_at, v.last_at)",
        &[
            text_column(aggregates, "lead_id")?.into(),
            int("order_count")?.into(),
            big("total_cents")?.into(),
            int("sample_count")?.into(),
            big("sample_cents")?.into(),
            int("bulk_count")?.into(),
            big("bulk_cents")?.into(),
            time("first_us")?.into(),
            time("last_us")?.into(),
        ],
    )
}

/// Empties the queue of leads that lost an order (they were just recomputed).
pub fn clear_pending_refresh(sql: &mut Sql) -> Result<u64, StageError> {
    sql.execute("DELETE FROM etl.pending_lead_refresh", &[])
}
