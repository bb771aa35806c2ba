//! The orders stage's pure transforms: cleaning, validation, reject reasons
//! and dedup of one batch, as Polars expressions. No database here: every
//! rule of the contract's section 3.1 is unit-tested below.

use polars::prelude::*;

/// White space trimmed from both ends of every field: space, tab, CR, LF and
/// the ideographic space U+3000.
pub const TRIM_CHARS: &str = " \t\r\n\u{3000}";

/// Reject reasons, in the contract's order of precedence.
pub const MISSING_ORDER_ID: &str = "missing_order_id";
pub const MISSING_CUSTOMER: &str = "missing_customer";
pub const UNKNOWN_SHOP: &str = "unknown_shop";
pub const BAD_AMOUNT: &str = "bad_amount";
pub const MISSING_TIMESTAMP: &str = "missing_timestamp";
pub const BAD_TIMESTAMP: &str = "bad_timestamp";
pub const LOAD_ERROR: &str = "load_error";

/// Largest amount in cents that fits `numeric(14,2)`: below 10^12.
const MAX_CENTS_EXCLUSIVE: i64 = 100_000_000_000_000;

const AMOUNT_SHAPE: &str = r"^[0-9]{1,12}(?:\.[0-9]+)?$";
const TIMESTAMP_SHAPE: &str =
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(?:Z|[+-][0-9]{2}:[0-9]{2})?)?$";

/// One batch of `etl.raw_orders` lines, as imported.
#[derive(Debug, Default, Clone)]
pub struct RawLines {
    pub line_no: Vec<i32>,
    pub order_id: Vec<Option<String>>,
    pub shop: Vec<Option<String>>,
    pub customer_name: Vec<Option<String>>,
    pub order_status: Vec<Option<String>>,
    pub order_type: Vec<Option<String>>,
    pub amount: Vec<Option<String>>,
    pub ordered_at: Vec<Option<String>>,
}

impl RawLines {
    pub fn len(&self) -> usize {
        self.line_no.len()
    }

    pub fn is_empty(&self) -> bool {
        self.line_no.is_empty()
    }

    pub fn into_frame(self) -> PolarsResult<DataFrame> {
        df!(
            "line_no" => self.line_no,
            "order_id" => self.order_id,
            "shop" => self.shop,
            "customer_name" => self.customer_name,
            "order_status" => self.order_status,
            "order_type" => self.order_type,
            "amount" => self.amount,
            "ordered_at" => self.ordered_at,
        )
    }
}

fn null_str() -> Expr {
    lit(NULL).cast(DataType::String)
}

/// Trims a text field; an empty result is NULL.
pub fn clean_text(name: &str) -> Expr {
    let trimmed = col(name).str().strip_chars(lit(TRIM_CHARS));
    when(trimmed.clone().eq(lit(""))).then(null_str()).otherwise(trimmed)
}

/// Upper-cases ASCII letters only; every other character is kept as it is.
fn ascii_upper(e: Expr) -> Expr {
    let lower: Vec<String> = ('a'..='z').map(String::from).collect();
    let upper: Vec<String> = ('A'..='Z').map(String::from).collect();
    e.str().replace_many(
        lit(Series::new("lower".into(), lower)),
        lit(Series::new("upper".into(), upper)),
        false,
        false,
    )
}

fn int_slice(e: &Expr, offset: i64, length: u64) -> Expr {
    e.clone().str().slice(lit(offset), lit(length)).cast(DataType::Int32)
}

/// Amount in cents, rounded half away from zero, or NULL when the cleaned
/// text is not an amount the contract accepts.
fn amount_cents(cleaned: Expr) -> Expr {
    let digits = cleaned.str().replace_all(lit("[¥￥,]"), lit(""), false);
    let shape_ok = digits.clone().str().contains(lit(AMOUNT_SHAPE), true).fill_null(lit(false));
    let whole = digits.clone().str().extract(lit(r"^([0-9]+)"), 1).cast(DataType::Int64);
    let fraction = digits.str().extract(lit(r"\.([0-9]+)$"), 1).fill_null(lit(""));
    let fraction3 = concat_str([fraction, lit("000")], "", false).str().slice(lit(0), lit(3));
    let first_two = fraction3.clone().str().slice(lit(0), lit(2)).cast(DataType::Int64);
    let third = fraction3.str().slice(lit(2), lit(1)).cast(DataType::Int64);
    let cents = whole * lit(100i64)
        + first_two
        + when(third.gt_eq(lit(5i64))).then(lit(1i64)).otherwise(lit(0i64));
    when(shape_ok.and(cents.clone().lt(lit(MAX_CENTS_EXCLUSIVE))))
        .then(cents)
        .otherwise(lit(NULL).cast(DataType::Int64))
}

/// Columns describing `ordered_at`: `ts_ok` (a valid time), `ts_local`
/// (`YYYY-MM-DD HH:MI:SS`, the wall-clock time) and `ts_offset` (`±HH:MM`,
/// NULL when the text had none and the source time zone applies).
fn timestamp_columns(cleaned: Expr) -> [Expr; 3] {
    let t = cleaned;
    let shape_ok = t.clone().str().contains(lit(TIMESTAMP_SHAPE), true).fill_null(lit(false));
    let year = int_slice(&t, 0, 4);
    let month = int_slice(&t, 5, 2);
    let day = int_slice(&t, 8, 2);
    let has_time = t.clone().str().len_chars().gt(lit(10u32));
    let hour = int_slice(&t, 11, 2);
    let minute = int_slice(&t, 14, 2);
    let second = int_slice(&t, 17, 2);
    let zone = t.clone().str().slice(lit(19i64), lit(6u64));
    let zone_hour = int_slice(&zone, 1, 2);
    let zone_minute = int_slice(&zone, 4, 2);

    let leap = (year.clone() % lit(4))
        .eq(lit(0))
        .and((year.clone() % lit(100)).neq(lit(0)))
        .or((year.clone() % lit(400)).eq(lit(0)));
    let days_in_month = when(month.clone().eq(lit(2)))
        .then(when(leap).then(lit(29)).otherwise(lit(28)))
        .when(month.clone().is_in(lit(Series::new("m".into(), [4i32, 6, 9, 11])).implode(), false))
        .then(lit(30))
        .otherwise(lit(31));
    let date_ok = year
        .gt_eq(lit(1))
        .and(month.clone().gt_eq(lit(1)))
        .and(month.lt_eq(lit(12)))
        .and(day.clone().gt_eq(lit(1)))
        .and(day.lt_eq(days_in_month));
    let time_ok = has_time
        .clone()
        .not()
        .or(hour.lt_eq(lit(23)).and(minute.lt_eq(lit(59))).and(second.lt_eq(lit(59))));
    let zone_ok = zone
        .clone()
        .eq(lit(""))
        .or(zone.clone().eq(lit("Z")))
        .or(zone_hour.lt_eq(lit(15)).and(zone_minute.lt_eq(lit(59))));
    let ok = shape_ok.and(date_ok).and(time_ok).and(zone_ok).fill_null(lit(false));

    let wall_time = when(has_time).then(t.clone().str().slice(lit(11i64), lit(8u64))).otherwise(lit("00:00:00"));
    let local = concat_str([t.clone().str().slice(lit(0i64), lit(10u64)), wall_time], " ", false);
    let offset = when(zone.clone().eq(lit("Z")))
        .then(lit("+00:00"))
        .when(zone.clone().eq(lit("")))
        .then(null_str())
        .otherwise(zone);
    [
        ok.clone().alias("ts_ok"),
        when(ok.clone()).then(local).otherwise(null_str()).alias("ts_local"),
        when(ok).then(offset).otherwise(null_str()).alias("ts_offset"),
    ]
}

/// Cleans every field of a raw batch. Output columns: `line_no`,
/// `order_id`, `shop`, `customer_nickname`, `latest_status`, `order_type`,
/// `amount_cents` (NULL when bad), `ts_missing`, `ts_ok`, `ts_local`,
/// `ts_offset`.
pub fn clean(raw: DataFrame) -> PolarsResult<DataFrame> {
    let status = clean_text("order_status");
    let ordered_at = clean_text("ordered_at");
    let [ts_ok, ts_local, ts_offset] = timestamp_columns(ordered_at.clone());
    raw.lazy()
        .select([
            col("line_no"),
            clean_text("order_id").alias("order_id"),
            clean_text("shop").alias("shop"),
            clean_text("customer_name").alias("customer_nickname"),
            ascii_upper(status).fill_null(lit("UNKNOWN")).alias("latest_status"),
            clean_text("order_type").alias("order_type"),
            amount_cents(clean_text("amount")).alias("amount_cents"),
            ordered_at.is_null().alias("ts_missing"),
            ts_ok,
            ts_local,
            ts_offset,
        ])
        .collect()
}

/// Distinct non-NULL values of a cleaned text column, for a lookup.
pub fn distinct_values(cleaned: &DataFrame, column: &str) -> PolarsResult<Vec<String>> {
    let values = cleaned.column(column)?.as_materialized_series().drop_nulls().unique()?;
    Ok(values.str()?.into_no_null_iter().map(str::to_owned).collect())
}

/// Adds `shop_id` and `system_order_type` from the lookups and `reason`:
/// the first rule the line breaks, NULL for a valid line.
pub fn classify(cleaned: DataFrame, shops: DataFrame, mappings: DataFrame) -> PolarsResult<DataFrame> {
    let reason = when(col("order_id").is_null())
        .then(lit(MISSING_ORDER_ID))
        .when(col("customer_nickname").is_null())
        .then(lit(MISSING_CUSTOMER))
        .when(col("shop_id").is_null())
        .then(lit(UNKNOWN_SHOP))
        .when(col("amount_cents").is_null())
        .then(lit(BAD_AMOUNT))
        .when(col("ts_missing"))
        .then(lit(MISSING_TIMESTAMP))
        .when(col("ts_ok").not())
        .then(lit(BAD_TIMESTAMP))
        .otherwise(null_str());
    cleaned
        .lazy()
        .join(shops.lazy(), [col("shop")], [col("shop_name")], JoinArgs::new(JoinType::Left))
        .join(
            mappings.lazy(),
            [col("order_type")],
            [col("raw_order_type")],
            JoinArgs::new(JoinType::Left),
        )
        .with_columns([
            col("mapped_type").fill_null(lit("BULK")).alias("system_order_type"),
            reason.alias("reason"),
        ])
        .sort(["line_no"], SortMultipleOptions::default().with_order_descending(true))
        .collect()
}

/// The valid lines of a classified batch, split into the winners to load and
/// the count of lines superseded by a greater `line_no` with the same
/// `(shop_id, order_id)`, in this batch or among `claimed` keys (keys an
/// earlier batch of this run already decided, given as `shop_id`,
/// `order_id`).
pub fn winners(classified: &DataFrame, claimed: &DataFrame) -> PolarsResult<(DataFrame, usize)> {
    let valid = classified.clone().lazy().filter(col("reason").is_null());
    let newest = valid
        .filter(col("line_no").eq(col("line_no").max().over([col("shop_id"), col("order_id")])))
        .join(
            claimed.clone().lazy(),
            [col("shop_id"), col("order_id")],
            [col("shop_id"), col("order_id")],
            JoinArgs::new(JoinType::Anti),
        )
        .select([
            col("line_no"),
            col("shop_id"),
            col("order_id"),
            col("customer_nickname"),
            col("latest_status"),
            col("order_type"),
            col("system_order_type"),
            col("amount_cents"),
            col("ts_local"),
            col("ts_offset"),
        ])
        .sort(["shop_id", "order_id"], SortMultipleOptions::default())
        .collect()?;
    let valid_count = classified.column("reason")?.null_count();
    let superseded = valid_count - newest.height();
    Ok((newest, superseded))
}

/// Keys of a frame, to remember as claimed: (`shop_id`, `order_id`).
pub fn keys(frame: &DataFrame) -> PolarsResult<DataFrame> {
    frame.select(["shop_id", "order_id"])
}

/// An empty set of claimed keys.
pub fn no_keys() -> PolarsResult<DataFrame> {
    df!("shop_id" => Vec::<i64>::new(), "order_id" => Vec::<String>::new())
}

/// The rejected lines of a classified batch: (`line_no`, `reason`).
pub fn rejects(classified: &DataFrame) -> PolarsResult<DataFrame> {
    classified
        .clone()
        .lazy()
        .filter(col("reason").is_not_null())
        .select([col("line_no"), col("reason")])
        .collect()
}

/// A human description of a reject reason, for `etl.rejects.detail`.
pub fn reason_detail(reason: &str) -> &'static str {
    match reason {
        MISSING_ORDER_ID => "order_id is empty",
        MISSING_CUSTOMER => "customer_name is empty",
        UNKNOWN_SHOP => "shop is not the name of an active shop in etl.shops",
        BAD_AMOUNT => "amount is not a number of at most 12 integer digits below 10^12 (¥, ￥ and , are ignored)",
        MISSING_TIMESTAMP => "ordered_at is empty",
        BAD_TIMESTAMP => "ordered_at is not a real date/time as YYYY-MM-DD[( |T)HH:MI:SS[Z|±HH:MM]]",
        _ => "",
    }
}
