//! The orders stage's SPI side: read raw lines through a cursor, write
//! rejects and upsert orders, all with array parameters.

use std::ops::Range;

use pgrx::datum::DatumWithOid;
use pgrx::spi::SpiTupleTable;
use pgrx::Uuid;
use polars::prelude::*;

use crate::error::Error;
use crate::orders::transform::{RawLines, RAW_LINE_COLUMNS, TEXT_COLUMNS, TRIM_CHARS};
use crate::services::spi::{column_ordinals, Cursor, Sql};

/// How many raw lines the import has (for its progress).
pub fn count_raw_lines(sql: &mut Sql, import_id: Uuid) -> Result<i64, Error> {
    sql.query_one_partition(
        "SELECT pg_catalog.count(*) FROM etl.raw_orders r WHERE r.import_id = $1",
        &[import_id.into()],
        |rows| Ok(rows.first().get_one::<i64>()?.unwrap_or(0)),
    )
}

/// The order an import's raw lines are read in. Either way every key's
/// lines come newest first: the first valid line seen for a key is the one
/// that wins (later batches find the key written by this run and leave it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineOrder {
    /// Newest line first.
    Newest,
    /// Shop by shop, newest line first within a shop. Each batch then
    /// writes into one narrow range of the orders' key and nickname
    /// indexes, and its rows land together in the heap, where the customers
    /// and leads stages reach them shop by shop; in line order every batch
    /// of a big import reached across the whole of each index. The price
    /// is a sort of the import (bounded by `work_mem`, spilled to a
    /// temporary file beyond), about 1 µs a line: paid for only when the
    /// import spans many batches (docs/performance.md, "Batches by shop").
    ByShop,
}

impl LineOrder {
    /// Imports that span more than this many batches are read by shop.
    pub const BY_SHOP_AFTER_BATCHES: i64 = 4;

    /// `lines`: the import's size, counted or bounded by `line_span`.
    pub fn for_import(lines: i64, batch_size: usize) -> Self {
        let batch_size = i64::try_from(batch_size).unwrap_or(i64::MAX);
        if lines > batch_size.saturating_mul(Self::BY_SHOP_AFTER_BATCHES) {
            LineOrder::ByShop
        } else {
            LineOrder::Newest
        }
    }
}

/// How many line numbers the import's lines span (the greatest minus the
/// least, plus one; 0 for none): the size of an import whose lines are
/// numbered from 1, an upper bound of it otherwise. Two descents of the
/// primary key, where a count reads every line.
pub fn line_span(sql: &mut Sql, import_id: Uuid) -> Result<i64, Error> {
    sql.query_one_partition(include_str!("../../sql/queries/line_span.sql"), &[import_id.into()], |rows| {
        Ok(rows.first().get_one::<i64>()?.unwrap_or(0))
    })
}

/// Opens a cursor over the import's raw lines in `order`. By shop, a
/// line's shop is its trimmed shop name looked up as the transform does
/// (`TRIM_CHARS`), so every line of one `(shop_id, order_id)` sorts under
/// the same shop, whatever white space it was imported with; lines of an
/// unknown shop come last (they are rejected).
pub fn open_raw_lines(sql: &mut Sql, import_id: Uuid, order: LineOrder) -> Result<Cursor, Error> {
    match order {
        LineOrder::Newest => {
            sql.open_cursor_one_partition(include_str!("../../sql/queries/raw_lines.sql"), &[import_id.into()])
        }
        LineOrder::ByShop => sql.open_cursor_one_partition(
            include_str!("../../sql/queries/raw_lines_by_shop.sql"),
            &[import_id.into(), TRIM_CHARS.into()],
        ),
    }
}

pub fn fetch_raw_lines(sql: &mut Sql, cursor: &Cursor, count: usize) -> Result<RawLines, Error> {
    sql.fetch(cursor, count, |rows| read_raw_lines(rows, None))
}

/// A batch of an import's rejected and failed lines, with the reason each
/// was refused for.
pub struct RejectedLines {
    pub lines: RawLines,
    pub former_reason: Vec<String>,
}

impl crate::stage::Batch for RejectedLines {
    fn rows(&self) -> usize {
        self.lines.len()
    }
}

/// How many lines of the import are rejected or failed (a redrive's total).
pub fn count_rejected_lines(sql: &mut Sql, import_id: Uuid) -> Result<i64, Error> {
    sql.query(
        "SELECT pg_catalog.count(*) FROM etl.rejects j WHERE j.import_id = $1 AND j.stage = 'orders'",
        &[import_id.into()],
        |rows| Ok(rows.first().get_one::<i64>()?.unwrap_or(0)),
    )
}

/// Opens a cursor over the import's rejected and failed lines as imported,
/// newest first, each through the primary keys of etl.rejects and
/// etl.raw_orders: the cost follows the rejected lines, not the import.
pub fn open_rejected_lines(sql: &mut Sql, import_id: Uuid) -> Result<Cursor, Error> {
    sql.open_cursor_one_partition(include_str!("../../sql/queries/rejected_lines.sql"), &[import_id.into()])
}

pub fn fetch_rejected_lines(sql: &mut Sql, cursor: &Cursor, count: usize) -> Result<RejectedLines, Error> {
    sql.fetch(cursor, count, |rows| {
        let mut former_reason = Vec::with_capacity(rows.len());
        let lines = read_raw_lines(rows, Some(&mut former_reason))?;
        Ok(RejectedLines { lines, former_reason })
    })
}

/// Reads raw lines by column name; with `former_reason`, also that column.
fn read_raw_lines(rows: SpiTupleTable<'_>, mut former_reason: Option<&mut Vec<String>>) -> Result<RawLines, Error> {
    let n = rows.len();
    let mut b = RawLines {
        line_no: Vec::with_capacity(n),
        order_id: Vec::with_capacity(n),
        shop: Vec::with_capacity(n),
        customer_name: Vec::with_capacity(n),
        order_status: Vec::with_capacity(n),
        order_type: Vec::with_capacity(n),
        amount: Vec::with_capacity(n),
        ordered_at: Vec::with_capacity(n),
    };
    if n == 0 {
        return Ok(b);
    }
    let [line_no, order_id, shop, customer_name, order_status, order_type, amount, ordered_at] =
        column_ordinals(&rows, RAW_LINE_COLUMNS)?;
    let reason = match former_reason {
        Some(_) => Some(column_ordinals(&rows, ["former_reason"])?[0]),
        None => None,
    };
    for row in rows {
        b.line_no
            .push(row.get::<i32>(line_no)?.ok_or_else(|| Error::Unexpected("etl.raw_orders.line_no is NULL".into()))?);
        b.order_id.push(row.get::<String>(order_id)?);
        b.shop.push(row.get::<String>(shop)?);
        b.customer_name.push(row.get::<String>(customer_name)?);
        b.order_status.push(row.get::<String>(order_status)?);
        b.order_type.push(row.get::<String>(order_type)?);
        b.amount.push(row.get::<String>(amount)?);
        b.ordered_at.push(row.get::<String>(ordered_at)?);
        if let (Some(ordinal), Some(reasons)) = (reason, former_reason.as_deref_mut()) {
            reasons.push(row.get::<String>(ordinal)?.unwrap_or_default());
        }
    }
    Ok(b)
}

/// Forgets the rejects of these lines of the import (a redrive retries them).
pub fn clear_rejects_of(sql: &mut Sql, import_id: Uuid, line_no: &[i32]) -> Result<u64, Error> {
    sql.execute(
        "DELETE FROM etl.rejects WHERE import_id = $1 AND line_no = ANY($2::int[])",
        &[import_id.into(), line_no.to_vec().into()],
    )
}

/// Puts the orders of `sent` that this run wrote in etl.redrive_scope (for
/// the customers and leads stages of a redrive); returns their lines.
pub fn record_redriven(
    sql: &mut Sql,
    import_id: Uuid,
    run_id: i64,
    sent: &OrderRows,
) -> Result<std::collections::HashSet<i32>, Error> {
    sql.query(
        include_str!("../../sql/queries/record_redriven.sql"),
        &[import_id.into(), run_id.into(), sent.shop_id.clone().into(), sent.order_id.clone().into()],
        |rows| {
            let mut lines = std::collections::HashSet::with_capacity(rows.len());
            for row in rows {
                if let Some(line) = row.get::<i32>(1)? {
                    lines.insert(line);
                }
            }
            Ok(lines)
        },
    )
}

/// Rejects always describe the latest run of the stage for an import.
pub fn clear_rejects(sql: &mut Sql, import_id: Uuid) -> Result<u64, Error> {
    sql.execute("DELETE FROM etl.rejects WHERE import_id = $1", &[import_id.into()])
}

/// Records rejected lines: `raw`, the lines as imported
/// (`transform::lines_as_imported`: `line_no` and the text columns), kept
/// in `etl.rejects.raw`, with `reason` and `detail` per line, in the same
/// order. The batch holds them already: reading each line again by its key
/// cost a probe per reject, and scattered ones when a big import is read
/// shop by shop.
pub fn write_rejects(
    sql: &mut Sql,
    import_id: Uuid,
    raw: &DataFrame,
    reason: Vec<String>,
    detail: Vec<String>,
) -> Result<u64, Error> {
    if reason.len() != raw.height() || detail.len() != raw.height() {
        return Err(Error::Unexpected(format!(
            "{} rejected lines with {} reasons and {} details",
            raw.height(),
            reason.len(),
            detail.len()
        )));
    }
    let line_no: Vec<Option<i32>> = raw.column("line_no")?.i32()?.into_iter().collect();
    let mut args: Vec<DatumWithOid> = vec![import_id.into(), line_no.into(), reason.into(), detail.into()];
    for column in TEXT_COLUMNS {
        args.push(text_column(raw, column)?.into());
    }
    sql.execute(include_str!("../../sql/queries/write_rejects.sql"), &args)
}

/// Rows to upsert into `etl.orders`, one vector per column.
#[derive(Debug, Default)]
pub struct OrderRows {
    pub line_no: Vec<i32>,
    pub shop_id: Vec<i64>,
    pub order_id: Vec<String>,
    pub customer_nickname: Vec<String>,
    pub latest_status: Vec<String>,
    pub order_type: Vec<Option<String>>,
    pub system_order_type: Vec<String>,
    pub amount_cents: Vec<i64>,
    pub ts_local: Vec<String>,
    pub ts_offset: Vec<Option<String>>,
}

/// A text column of a frame, nulls kept, as the vector an array parameter takes.
fn text_column(frame: &DataFrame, name: &str) -> Result<Vec<Option<String>>, Error> {
    Ok(frame.column(name)?.str()?.into_iter().map(|v| v.map(str::to_owned)).collect())
}

fn required<T>(value: Option<T>, column: &str) -> Result<T, Error> {
    value.ok_or_else(|| Error::Unexpected(format!("a valid order has no {column}")))
}

impl OrderRows {
    /// Copies the winners frame of [`crate::orders::transform::winners`].
    pub fn from_frame(frame: &DataFrame) -> Result<Self, Error> {
        let text = |name: &str| text_column(frame, name);
        let text_required =
            |name: &str| -> Result<Vec<String>, Error> { text(name)?.into_iter().map(|v| required(v, name)).collect() };
        Ok(Self {
            line_no: frame
                .column("line_no")?
                .i32()?
                .into_iter()
                .map(|v| required(v, "line_no"))
                .collect::<Result<_, _>>()?,
            shop_id: frame
                .column("shop_id")?
                .i64()?
                .into_iter()
                .map(|v| required(v, "shop_id"))
                .collect::<Result<_, _>>()?,
            order_id: text_required("order_id")?,
            customer_nickname: text_required("customer_nickname")?,
            latest_status: text_required("latest_status")?,
            order_type: text("order_type")?,
            system_order_type: text_required("system_order_type")?,
            amount_cents: frame
                .column("amount_cents")?
                .i64()?
                .into_iter()
                .map(|v| required(v, "amount_cents"))
                .collect::<Result<_, _>>()?,
            ts_local: text_required("ts_local")?,
            ts_offset: text("ts_offset")?,
        })
    }

    pub fn len(&self) -> usize {
        self.line_no.len()
    }

    fn args(&self, range: Range<usize>) -> Vec<DatumWithOid<'static>> {
        vec![
            self.line_no[range.clone()].to_vec().into(),
            self.shop_id[range.clone()].to_vec().into(),
            self.order_id[range.clone()].to_vec().into(),
            self.customer_nickname[range.clone()].to_vec().into(),
            self.latest_status[range.clone()].to_vec().into(),
            self.order_type[range.clone()].to_vec().into(),
            self.system_order_type[range.clone()].to_vec().into(),
            self.amount_cents[range.clone()].to_vec().into(),
            self.ts_local[range.clone()].to_vec().into(),
            self.ts_offset[range].to_vec().into(),
        ]
    }
}

/// What one upsert statement did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UpsertCounts {
    /// Rows inserted or rewritten.
    pub written: u64,
    /// Of those, the rows that existed before (written by another run).
    pub existed: u64,
    /// Of those, the rows whose values changed.
    pub changed: u64,
}

/// Upserts rows `range` of `rows`.
///
/// A key that this run already wrote (from a greater `line_no` in an
/// earlier batch), or that a later import wrote, is left alone: that line
/// is superseded. With `keep_newer_line` (a redrive), so is a line older
/// than the line of the same import that wrote the order. When an order
/// changes nickname, it leaves its customer and lead, which are queued for
/// a refresh of their aggregates.
pub fn upsert_orders(
    sql: &mut Sql,
    import_id: Uuid,
    run_id: i64,
    source_timezone: &str,
    keep_newer_line: bool,
    rows: &OrderRows,
    range: Range<usize>,
) -> Result<UpsertCounts, Error> {
    let mut args: Vec<DatumWithOid> = vec![import_id.into(), run_id.into(), source_timezone.into()];
    args.extend(rows.args(range));
    args.push(keep_newer_line.into());
    sql.query(UPSERT_ORDERS, &args, |rows| {
        let [written, existed, changed] = column_ordinals(&rows, ["written", "existed", "changed"])?;
        let row = rows.first();
        let count = |ordinal| -> Result<u64, Error> { Ok(row.get::<i64>(ordinal)?.unwrap_or(0) as u64) };
        Ok(UpsertCounts { written: count(written)?, existed: count(existed)?, changed: count(changed)? })
    })
}

const UPSERT_ORDERS: &str = include_str!("../../sql/queries/upsert_orders.sql");
