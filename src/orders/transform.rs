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

/// The columns of a raw line (`etl.raw_orders` but its import_id), in the
/// order the statements that read raw lines select them (a test checks
/// sql/queries/raw_lines*.sql and rejected_lines.sql): the one list of them.
pub const RAW_LINE_COLUMNS: [&str; 8] =
    ["line_no", "order_id", "shop", "customer_name", "order_status", "order_type", "amount", "ordered_at"];

/// The raw text columns (all but `line_no`), all cleaned the same way.
pub const TEXT_COLUMNS: [&str; 7] = [
    RAW_LINE_COLUMNS[1],
    RAW_LINE_COLUMNS[2],
    RAW_LINE_COLUMNS[3],
    RAW_LINE_COLUMNS[4],
    RAW_LINE_COLUMNS[5],
    RAW_LINE_COLUMNS[6],
    RAW_LINE_COLUMNS[7],
];

/// Upper-cases ASCII letters only; every other character is kept as it is.
fn ascii_upper(e: Expr) -> Expr {
    let lower: Vec<String> = ('a'..='z').map(String::from).collect();
    let upper: Vec<String> = ('A'..='Z').map(String::from).collect();
    e.str().replace_many(
        lit(Series::new("lower".into(), lower)).implode(),
        lit(Series::new("upper".into(), upper)).implode(),
        false,
        false,
    )
}

fn int_slice(name: &str, offset: i64, length: u64) -> Expr {
    col(name).str().slice(lit(offset), lit(length)).cast(DataType::Int32)
}

/// Cleans every field of a raw batch. Output columns: `line_no`,
/// `order_id`, `shop`, `customer_nickname`, `latest_status`, `order_type`,
/// `amount_cents` (NULL when bad), `ts_missing`, `ts_ok`, `ts_local`
/// (`YYYY-MM-DD HH:MI:SS`, the wall-clock time) and `ts_offset` (`±HH:MM`,
/// NULL when the text had none and the source time zone applies).
///
/// The work is a chain of projections, each computing its columns once
/// from the previous ones (this build has no common-subexpression pass).
pub fn clean(raw: DataFrame) -> PolarsResult<DataFrame> {
    let (trimmed, nulled) = trimmed_and_nulled();
    raw.lazy()
        .select(trimmed)
        .with_columns(nulled)
        .with_columns(field_parts())
        .with_columns(amount_and_zone_parts())
        .with_columns(validity_checks())
        .select(cleaned_columns())
        .collect()
}

/// Step 1: every text column trimmed (`TRIM_CHARS`), then an empty result
/// made NULL.
fn trimmed_and_nulled() -> (Vec<Expr>, Vec<Expr>) {
    let trimmed: Vec<Expr> = std::iter::once(col("line_no"))
        .chain(TEXT_COLUMNS.iter().map(|c| col(*c).str().strip_chars(lit(TRIM_CHARS))))
        .collect();
    // An empty result is NULL.
    let nulled: Vec<Expr> =
        TEXT_COLUMNS.iter().map(|c| when(col(*c).eq(lit(""))).then(null_str()).otherwise(col(*c)).alias(*c)).collect();
    (trimmed, nulled)
}

/// Step 2: the amount without currency signs and separators, and the
/// timestamp cut into its fields.
fn field_parts() -> [Expr; 10] {
    let amount_digits = col("amount").str().replace_all(lit("[¥￥,]"), lit(""), false);
    [
        amount_digits.alias("amount_digits"),
        col("ordered_at").str().contains(lit(TIMESTAMP_SHAPE), true).fill_null(lit(false)).alias("ts_shape"),
        int_slice("ordered_at", 0, 4).alias("year"),
        int_slice("ordered_at", 5, 2).alias("month"),
        int_slice("ordered_at", 8, 2).alias("day"),
        col("ordered_at").str().len_chars().gt(lit(10u32)).alias("has_time"),
        int_slice("ordered_at", 11, 2).alias("hour"),
        int_slice("ordered_at", 14, 2).alias("minute"),
        int_slice("ordered_at", 17, 2).alias("second"),
        col("ordered_at").str().slice(lit(19i64), lit(6u64)).alias("zone"),
    ]
}

/// Step 3: the amount's shape and digits, the zone's hours and minutes, and
/// whether the year is a leap year.
fn amount_and_zone_parts() -> [Expr; 6] {
    [
        col("amount_digits").str().contains(lit(AMOUNT_SHAPE), true).fill_null(lit(false)).alias("amount_shape"),
        col("amount_digits").str().extract(lit(r"^([0-9]+)"), 1).cast(DataType::Int64).alias("whole"),
        concat_str(
            [col("amount_digits").str().extract(lit(r"\.([0-9]+)$"), 1).fill_null(lit("")), lit("000")],
            "",
            false,
        )
        .str()
        .slice(lit(0), lit(3))
        .alias("fraction3"),
        int_slice("zone", 1, 2).alias("zone_hour"),
        int_slice("zone", 4, 2).alias("zone_minute"),
        ((col("year") % lit(4)).eq(lit(0)).and((col("year") % lit(100)).neq(lit(0))))
            .or((col("year") % lit(400)).eq(lit(0)))
            .alias("leap"),
    ]
}

/// Step 4: the amount in cents (NULL when bad) and whether the timestamp is
/// a real date and time.
fn validity_checks() -> [Expr; 2] {
    // Cents rounded half away from zero: the third decimal decides.
    let cents = col("whole") * lit(100i64)
        + col("fraction3").str().slice(lit(0), lit(2)).cast(DataType::Int64)
        + when(col("fraction3").str().slice(lit(2), lit(1)).cast(DataType::Int64).gt_eq(lit(5i64)))
            .then(lit(1i64))
            .otherwise(lit(0i64));
    let days_in_month = when(col("month").eq(lit(2)))
        .then(when(col("leap")).then(lit(29)).otherwise(lit(28)))
        .when(col("month").is_in(lit(Series::new("m".into(), [4i32, 6, 9, 11])).implode(), false))
        .then(lit(30))
        .otherwise(lit(31));
    let date_ok = col("year")
        .gt_eq(lit(1))
        .and(col("month").gt_eq(lit(1)))
        .and(col("month").lt_eq(lit(12)))
        .and(col("day").gt_eq(lit(1)))
        .and(col("day").lt_eq(days_in_month));
    let time_ok = col("has_time")
        .not()
        .or(col("hour").lt_eq(lit(23)).and(col("minute").lt_eq(lit(59))).and(col("second").lt_eq(lit(59))));
    let zone_ok = col("zone")
        .eq(lit(""))
        .or(col("zone").eq(lit("Z")))
        .or(col("zone_hour").lt_eq(lit(15)).and(col("zone_minute").lt_eq(lit(59))));
    [
        when(col("amount_shape").and(cents.clone().lt(lit(MAX_CENTS_EXCLUSIVE))))
            .then(cents)
            .otherwise(lit(NULL).cast(DataType::Int64))
            .alias("amount_cents"),
        col("ts_shape").and(date_ok).and(time_ok).and(zone_ok).fill_null(lit(false)).alias("ts_ok"),
    ]
}

/// Step 5: the cleaned columns (see [`clean`]).
fn cleaned_columns() -> [Expr; 11] {
    let wall_time =
        when(col("has_time")).then(col("ordered_at").str().slice(lit(11i64), lit(8u64))).otherwise(lit("00:00:00"));
    let local = concat_str([col("ordered_at").str().slice(lit(0i64), lit(10u64)), wall_time], " ", false);
    let offset = when(col("zone").eq(lit("Z")))
        .then(lit("+00:00"))
        .when(col("zone").eq(lit("")))
        .then(null_str())
        .otherwise(col("zone"));
    [
        col("line_no"),
        col("order_id"),
        col("shop"),
        col("customer_name").alias("customer_nickname"),
        ascii_upper(col("order_status")).fill_null(lit("UNKNOWN")).alias("latest_status"),
        col("order_type"),
        col("amount_cents"),
        col("ordered_at").is_null().alias("ts_missing"),
        col("ts_ok"),
        when(col("ts_ok")).then(local).otherwise(null_str()).alias("ts_local"),
        when(col("ts_ok")).then(offset).otherwise(null_str()).alias("ts_offset"),
    ]
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
        .join(mappings.lazy(), [col("order_type")], [col("raw_order_type")], JoinArgs::new(JoinType::Left))
        .with_columns([col("mapped_type").fill_null(lit("BULK")).alias("system_order_type"), reason.alias("reason")])
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
    classified.clone().lazy().filter(col("reason").is_not_null()).select([col("line_no"), col("reason")]).collect()
}

/// The raw lines (`RawLines::into_frame`) of these line numbers, as
/// imported, in the order given: what `etl.rejects.raw` keeps of each
/// refused line, taken from the batch instead of read again from
/// etl.raw_orders. Every line asked for must be in `raw`: a reject without
/// its raw line would be a line lost, so a missing one is an error.
pub fn lines_as_imported(raw: &DataFrame, line_no: &[i32]) -> PolarsResult<DataFrame> {
    let at: Vec<u32> = (0..line_no.len() as u32).collect();
    let wanted = df!("line_no" => line_no, "at" => at)?;
    let mut columns = vec![col("line_no")];
    columns.extend(TEXT_COLUMNS.iter().map(|c| col(*c)));
    let found = wanted
        .lazy()
        .join(raw.clone().lazy(), [col("line_no")], [col("line_no")], JoinArgs::new(JoinType::Inner))
        .sort(["at"], SortMultipleOptions::default())
        .select(columns)
        .collect()?;
    if found.height() != line_no.len() {
        polars_bail!(
            ComputeError: "the batch holds {} of the {} refused lines asked for", found.height(), line_no.len()
        );
    }
    Ok(found)
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

#[cfg(test)]
mod tests {
    //! One test per rule of the contract's section 3.1 table, with nasty
    //! inputs. Expected values come from the contract, not from the code.
    use super::*;

    /// A raw line: order_id, shop, customer_name, order_status, order_type,
    /// amount, ordered_at (as imported, `None` is SQL NULL).
    #[derive(Clone)]
    struct L {
        line_no: i32,
        f: [Option<String>; 7],
    }

    const ORDER_ID: usize = 0;
    const SHOP: usize = 1;
    const CUSTOMER: usize = 2;
    const STATUS: usize = 3;
    const TYPE: usize = 4;
    const AMOUNT: usize = 5;
    const ORDERED_AT: usize = 6;

    /// A valid line: shop `S1` (id 1), amount 10, a local time.
    fn line(line_no: i32, order_id: &str) -> L {
        L {
            line_no,
            f: [
                Some(order_id.to_string()),
                Some("S1".into()),
                Some("alice".into()),
                Some("paid".into()),
                Some("sample".into()),
                Some("10".into()),
                Some("2026-01-02 03:04:05".into()),
            ],
        }
    }

    impl L {
        fn set(mut self, field: usize, value: Option<&str>) -> L {
            self.f[field] = value.map(str::to_string);
            self
        }
    }

    fn frame(lines: &[L]) -> DataFrame {
        let mut raw = RawLines::default();
        for l in lines {
            raw.line_no.push(l.line_no);
            raw.order_id.push(l.f[ORDER_ID].clone());
            raw.shop.push(l.f[SHOP].clone());
            raw.customer_name.push(l.f[CUSTOMER].clone());
            raw.order_status.push(l.f[STATUS].clone());
            raw.order_type.push(l.f[TYPE].clone());
            raw.amount.push(l.f[AMOUNT].clone());
            raw.ordered_at.push(l.f[ORDERED_AT].clone());
        }
        raw.into_frame().unwrap()
    }

    /// Active shops as the lookup would return them.
    fn shops() -> DataFrame {
        df!("shop_name" => ["S1", "Shop \"Two\" 'quoted'", "店铺"], "shop_id" => [1i64, 2, 3]).unwrap()
    }

    fn mappings() -> DataFrame {
        df!(
            "raw_order_type" => ["sample", "样品", "wholesale", "gift"],
            "mapped_type" => ["SAMPLE", "SAMPLE", "BULK", "GIFT"]
        )
        .unwrap()
    }

    fn classified(lines: &[L]) -> DataFrame {
        let cleaned = clean(frame(lines)).unwrap();
        classify(cleaned, shops(), mappings()).unwrap()
    }

    /// The value of a string column for a line.
    fn text(df: &DataFrame, column: &str, line_no: i32) -> Option<String> {
        let idx = row_of(df, line_no);
        df.column(column).unwrap().str().unwrap().get(idx).map(str::to_owned)
    }

    fn int64(df: &DataFrame, column: &str, line_no: i32) -> Option<i64> {
        let idx = row_of(df, line_no);
        df.column(column).unwrap().i64().unwrap().get(idx)
    }

    fn boolean(df: &DataFrame, column: &str, line_no: i32) -> Option<bool> {
        let idx = row_of(df, line_no);
        df.column(column).unwrap().bool().unwrap().get(idx)
    }

    fn row_of(df: &DataFrame, line_no: i32) -> usize {
        df.column("line_no")
            .unwrap()
            .i32()
            .unwrap()
            .into_iter()
            .position(|v| v == Some(line_no))
            .unwrap_or_else(|| panic!("line {line_no} not in frame"))
    }

    fn reason(df: &DataFrame, line_no: i32) -> Option<String> {
        text(df, "reason", line_no)
    }

    // ---- cleaning -------------------------------------------------------

    #[test]
    fn trims_space_tab_cr_lf_and_ideographic_space_from_every_field() {
        let l = L {
            line_no: 1,
            f: [
                Some("\u{3000} SO-1\t".into()),
                Some("\r\nS1\u{3000}".into()),
                Some(" \u{3000}O'Brien \"Bob\" back\\slash -- x; DROP TABLE t;\u{3000}\n".into()),
                Some("\tpaid\u{3000}".into()),
                Some(" wholesale\r".into()),
                Some("\u{3000}12.5 ".into()),
                Some("\n2026-01-02 03:04:05\u{3000}\u{3000}".into()),
            ],
        };
        let c = classified(&[l]);
        assert_eq!(reason(&c, 1), None);
        assert_eq!(text(&c, "order_id", 1).as_deref(), Some("SO-1"));
        assert_eq!(int64(&c, "shop_id", 1), Some(1));
        assert_eq!(
            text(&c, "customer_nickname", 1).as_deref(),
            Some("O'Brien \"Bob\" back\\slash -- x; DROP TABLE t;")
        );
        assert_eq!(text(&c, "latest_status", 1).as_deref(), Some("PAID"));
        assert_eq!(text(&c, "order_type", 1).as_deref(), Some("wholesale"));
        assert_eq!(text(&c, "system_order_type", 1).as_deref(), Some("BULK"));
        assert_eq!(int64(&c, "amount_cents", 1), Some(1250));
        assert_eq!(text(&c, "ts_local", 1).as_deref(), Some("2026-01-02 03:04:05"));
    }

    #[test]
    fn inner_white_space_is_kept() {
        let c = classified(&[line(1, "SO 1").set(CUSTOMER, Some("张\u{3000}伟 \t x"))]);
        assert_eq!(text(&c, "order_id", 1).as_deref(), Some("SO 1"));
        assert_eq!(text(&c, "customer_nickname", 1).as_deref(), Some("张\u{3000}伟 \t x"));
    }

    #[test]
    fn empty_after_trim_is_null_for_every_text_field() {
        let c = clean(frame(&[L { line_no: 1, f: std::array::from_fn(|_| Some(" \t\r\n\u{3000}".into())) }])).unwrap();
        for column in ["order_id", "shop", "customer_nickname", "order_type"] {
            assert_eq!(text(&c, column, 1), None, "{column}");
        }
        assert_eq!(boolean(&c, "ts_missing", 1), Some(true));
        assert_eq!(int64(&c, "amount_cents", 1), None);
        // An empty status is NULL, and NULL becomes UNKNOWN.
        assert_eq!(text(&c, "latest_status", 1).as_deref(), Some("UNKNOWN"));
    }

    // ---- order_id ------------------------------------------------------

    #[test]
    fn order_id_is_required() {
        let c = classified(&[
            line(1, "x").set(ORDER_ID, None),
            line(2, "x").set(ORDER_ID, Some("")),
            line(3, "x").set(ORDER_ID, Some("\u{3000}\t \r\n")),
            line(4, "'; --"),
        ]);
        assert_eq!(reason(&c, 1).as_deref(), Some(MISSING_ORDER_ID));
        assert_eq!(reason(&c, 2).as_deref(), Some(MISSING_ORDER_ID));
        assert_eq!(reason(&c, 3).as_deref(), Some(MISSING_ORDER_ID));
        assert_eq!(reason(&c, 4), None);
        assert_eq!(text(&c, "order_id", 4).as_deref(), Some("'; --"));
    }

    // ---- customer_name -------------------------------------------------

    #[test]
    fn customer_name_is_required_and_becomes_the_nickname() {
        let c = classified(&[
            line(1, "a").set(CUSTOMER, None),
            line(2, "b").set(CUSTOMER, Some("")),
            line(3, "c").set(CUSTOMER, Some("\u{3000}")),
            line(4, "d").set(CUSTOMER, Some("\\\"")),
        ]);
        assert_eq!(reason(&c, 1).as_deref(), Some(MISSING_CUSTOMER));
        assert_eq!(reason(&c, 2).as_deref(), Some(MISSING_CUSTOMER));
        assert_eq!(reason(&c, 3).as_deref(), Some(MISSING_CUSTOMER));
        assert_eq!(reason(&c, 4), None);
        assert_eq!(text(&c, "customer_nickname", 4).as_deref(), Some("\\\""));
    }

    // ---- shop ----------------------------------------------------------

    #[test]
    fn shop_must_be_an_active_shop_name_exactly() {
        let c = classified(&[
            line(1, "a").set(SHOP, Some("s1")),
            line(2, "b").set(SHOP, Some("S 1")),
            line(3, "c").set(SHOP, None),
            line(4, "d").set(SHOP, Some("Shop \"Two\" 'quoted'")),
            line(5, "e").set(SHOP, Some("\u{3000}店铺\t")),
            line(6, "f").set(SHOP, Some("ＳＨ１")),
            line(7, "g").set(SHOP, Some("")),
        ]);
        assert_eq!(reason(&c, 1).as_deref(), Some(UNKNOWN_SHOP));
        assert_eq!(reason(&c, 2).as_deref(), Some(UNKNOWN_SHOP));
        assert_eq!(reason(&c, 3).as_deref(), Some(UNKNOWN_SHOP));
        assert_eq!(reason(&c, 4), None);
        assert_eq!(int64(&c, "shop_id", 4), Some(2));
        assert_eq!(reason(&c, 5), None);
        assert_eq!(int64(&c, "shop_id", 5), Some(3));
        assert_eq!(reason(&c, 6).as_deref(), Some(UNKNOWN_SHOP));
        assert_eq!(reason(&c, 7).as_deref(), Some(UNKNOWN_SHOP));
    }

    #[test]
    fn distinct_values_are_the_cleaned_non_null_values() {
        let c = clean(frame(&[
            line(1, "a").set(SHOP, Some(" S1 ")),
            line(2, "b").set(SHOP, Some("S1")),
            line(3, "c").set(SHOP, None),
            line(4, "d").set(SHOP, Some("x'y")),
        ]))
        .unwrap();
        let mut v = distinct_values(&c, "shop").unwrap();
        v.sort();
        assert_eq!(v, vec!["S1".to_string(), "x'y".to_string()]);
    }

    // ---- amount --------------------------------------------------------

    /// Cents the contract gives for an amount text, or None for bad_amount.
    fn cents_of(inputs: &[(&str, Option<i64>)]) {
        let lines: Vec<L> = inputs
            .iter()
            .enumerate()
            .map(|(i, (a, _))| line(i as i32 + 1, &format!("o{i}")).set(AMOUNT, Some(a)))
            .collect();
        let c = classified(&lines);
        for (i, (input, expected)) in inputs.iter().enumerate() {
            let n = i as i32 + 1;
            assert_eq!(int64(&c, "amount_cents", n), *expected, "amount {input:?}");
            let want_reason = if expected.is_some() { None } else { Some(BAD_AMOUNT.to_string()) };
            assert_eq!(reason(&c, n), want_reason, "reason for amount {input:?}");
        }
    }

    #[test]
    fn amount_currency_signs_and_commas_are_removed_anywhere() {
        cents_of(&[
            ("¥1,234.565", Some(123_457)),
            ("￥1,234", Some(123_400)),
            ("1,2,3,4", Some(123_400)),
            ("12¥34", Some(123_400)),
            ("1234¥", Some(123_400)),
            ("1234.5,0", Some(123_450)),
            ("¥￥,,7", Some(700)),
            ("\u{3000}¥ 12", None),
            ("$12", None),
            ("¥", None),
            (",", None),
        ]);
    }

    #[test]
    fn amount_rounds_half_away_from_zero_to_cents() {
        cents_of(&[
            ("12.345", Some(1235)),
            ("12.344", Some(1234)),
            ("12.3449999", Some(1234)),
            ("0.995", Some(100)),
            ("0.994", Some(99)),
            ("0.005", Some(1)),
            ("0.004", Some(0)),
            ("0", Some(0)),
            ("0.00", Some(0)),
            ("007.10", Some(710)),
            ("12.3", Some(1230)),
            ("1.999999999999999999999", Some(200)),
        ]);
    }

    #[test]
    fn amount_must_be_below_ten_to_the_twelve_after_rounding() {
        cents_of(&[
            ("999999999999.994", Some(99_999_999_999_999)),
            ("999,999,999,999.99", Some(99_999_999_999_999)),
            ("999999999999.995", None),
            ("999999999999.999", None),
            ("1000000000000", None),
            ("1234567890123.00", None),
            ("000000000001", Some(100)),
            ("0000000000001", None),
        ]);
    }

    #[test]
    fn amount_shape_is_ascii_digits_and_one_optional_fraction() {
        cents_of(&[
            ("１２３", None),
            ("-5", None),
            ("+5", None),
            ("1.", None),
            (".5", None),
            ("1e3", None),
            ("1.2.3", None),
            ("1 000", None),
            ("12.34\u{3000}5", None),
            ("NaN", None),
            ("٣", None),
        ]);
    }

    #[test]
    fn amount_missing_is_bad_amount() {
        let c = classified(&[line(1, "a").set(AMOUNT, None), line(2, "b").set(AMOUNT, Some("\t"))]);
        assert_eq!(reason(&c, 1).as_deref(), Some(BAD_AMOUNT));
        assert_eq!(reason(&c, 2).as_deref(), Some(BAD_AMOUNT));
    }

    // ---- ordered_at ----------------------------------------------------

    /// (input, Some((wall-clock local time, offset))) or None for bad_timestamp.
    type TsCase<'a> = (&'a str, Option<(&'a str, Option<&'a str>)>);

    fn timestamps(cases: &[TsCase]) {
        let lines: Vec<L> = cases
            .iter()
            .enumerate()
            .map(|(i, (t, _))| line(i as i32 + 1, &format!("o{i}")).set(ORDERED_AT, Some(t)))
            .collect();
        let c = classified(&lines);
        for (i, (input, expected)) in cases.iter().enumerate() {
            let n = i as i32 + 1;
            match expected {
                Some((local, offset)) => {
                    assert_eq!(reason(&c, n), None, "reason for {input:?}");
                    assert_eq!(text(&c, "ts_local", n).as_deref(), Some(*local), "local of {input:?}");
                    assert_eq!(text(&c, "ts_offset", n).as_deref(), *offset, "offset of {input:?}");
                }
                None => {
                    assert_eq!(reason(&c, n).as_deref(), Some(BAD_TIMESTAMP), "reason for {input:?}");
                }
            }
        }
    }

    #[test]
    fn timestamp_formats_and_offsets() {
        timestamps(&[
            ("2026-01-02 03:04:05", Some(("2026-01-02 03:04:05", None))),
            ("2026-01-02T03:04:05", Some(("2026-01-02 03:04:05", None))),
            ("2026-01-02", Some(("2026-01-02 00:00:00", None))),
            ("2026-01-02 03:04:05Z", Some(("2026-01-02 03:04:05", Some("+00:00")))),
            ("2026-01-02T03:04:05Z", Some(("2026-01-02 03:04:05", Some("+00:00")))),
            ("2026-01-02T03:04:05+08:00", Some(("2026-01-02 03:04:05", Some("+08:00")))),
            ("2026-01-02 03:04:05-05:00", Some(("2026-01-02 03:04:05", Some("-05:00")))),
            ("2026-01-02 03:04:05+15:59", Some(("2026-01-02 03:04:05", Some("+15:59")))),
            ("2026-01-02 03:04:05-15:59", Some(("2026-01-02 03:04:05", Some("-15:59")))),
            ("2026-01-02 03:04:05+00:00", Some(("2026-01-02 03:04:05", Some("+00:00")))),
            ("2026-01-02 03:04:05+16:00", None),
            ("2026-01-02 03:04:05+08:60", None),
            ("2026-01-02 03:04:05+0800", None),
            ("2026-01-02 03:04:05+8:00", None),
            ("2026-01-02 03:04:05 +08:00", None),
            ("2026-01-02 03:04:05z", None),
            ("2026-01-02Z", None),
            ("2026-01-02+08:00", None),
            ("2026-01-02t03:04:05", None),
            ("2026-01-02  03:04:05", None),
            ("2026-01-02 03:04", None),
            ("2026-01-02 03:04:05.123", None),
            ("2026-1-2", None),
            ("26-01-02", None),
            ("2026/01/02", None),
            ("20260102", None),
            ("not a date", None),
        ]);
    }

    #[test]
    fn timestamp_must_be_a_real_calendar_date() {
        timestamps(&[
            ("2026-02-30", None),
            ("2026-02-29", None),
            ("2024-02-29", Some(("2024-02-29 00:00:00", None))),
            ("2023-02-29 12:00:00", None),
            ("1900-02-29", None),
            ("2000-02-29 23:59:59", Some(("2000-02-29 23:59:59", None))),
            ("2100-02-29", None),
            ("0000-01-01", None),
            ("0001-01-01 00:00:00", Some(("0001-01-01 00:00:00", None))),
            ("9999-12-31 23:59:59", Some(("9999-12-31 23:59:59", None))),
            ("2026-00-10", None),
            ("2026-13-01", None),
            ("2026-01-00", None),
            ("2026-01-32", None),
            ("2026-04-31", None),
            ("2026-06-30", Some(("2026-06-30 00:00:00", None))),
            ("2026-09-31", None),
            ("2026-11-31", None),
            ("2026-12-31", Some(("2026-12-31 00:00:00", None))),
        ]);
    }

    #[test]
    fn timestamp_must_be_a_real_time_without_leap_seconds() {
        timestamps(&[
            ("2026-01-01 25:00:00", None),
            ("2026-01-01 24:00:00", None),
            ("2026-01-01 23:60:00", None),
            ("2026-01-01 23:59:60", None),
            ("2026-12-31T23:59:60Z", None),
            ("2026-01-01 00:00:00", Some(("2026-01-01 00:00:00", None))),
            ("2026-01-01 23:59:59", Some(("2026-01-01 23:59:59", None))),
        ]);
    }

    #[test]
    fn timestamp_digits_must_be_ascii() {
        timestamps(&[
            ("２０２６-01-01", None),
            ("2026-01-01 1０:00:00", None),
            ("2026-01-01 10:00:00+０8:00", None),
            ("٢٠٢٦-01-01", None),
        ]);
    }

    #[test]
    fn timestamp_missing_and_bad_are_told_apart() {
        let c = classified(&[
            line(1, "a").set(ORDERED_AT, None),
            line(2, "b").set(ORDERED_AT, Some("")),
            line(3, "c").set(ORDERED_AT, Some("\u{3000}\r\n")),
            line(4, "d").set(ORDERED_AT, Some("\u{3000}2024-02-29T00:00:00+08:00\n")),
            line(5, "e").set(ORDERED_AT, Some("yesterday")),
        ]);
        assert_eq!(reason(&c, 1).as_deref(), Some(MISSING_TIMESTAMP));
        assert_eq!(reason(&c, 2).as_deref(), Some(MISSING_TIMESTAMP));
        assert_eq!(reason(&c, 3).as_deref(), Some(MISSING_TIMESTAMP));
        assert_eq!(reason(&c, 4), None);
        assert_eq!(text(&c, "ts_local", 4).as_deref(), Some("2024-02-29 00:00:00"));
        assert_eq!(text(&c, "ts_offset", 4).as_deref(), Some("+08:00"));
        assert_eq!(reason(&c, 5).as_deref(), Some(BAD_TIMESTAMP));
    }

    // ---- order_status --------------------------------------------------

    #[test]
    fn status_upper_cases_ascii_letters_only() {
        let c = classified(&[
            line(1, "a").set(STATUS, Some(" délivré ")),
            line(2, "b").set(STATUS, Some("straße")),
            line(3, "c").set(STATUS, None),
            line(4, "d").set(STATUS, Some("\u{3000}")),
            line(5, "e").set(STATUS, Some("paid_2x-ok'")),
            line(6, "f").set(STATUS, Some("已发货 shipped")),
            line(7, "g").set(STATUS, Some("ÿ ı i")),
            line(8, "h").set(STATUS, Some("Cancelled")),
        ]);
        assert_eq!(text(&c, "latest_status", 1).as_deref(), Some("DéLIVRé"));
        assert_eq!(text(&c, "latest_status", 2).as_deref(), Some("STRAßE"));
        assert_eq!(text(&c, "latest_status", 3).as_deref(), Some("UNKNOWN"));
        assert_eq!(text(&c, "latest_status", 4).as_deref(), Some("UNKNOWN"));
        assert_eq!(text(&c, "latest_status", 5).as_deref(), Some("PAID_2X-OK'"));
        assert_eq!(text(&c, "latest_status", 6).as_deref(), Some("已发货 SHIPPED"));
        assert_eq!(text(&c, "latest_status", 7).as_deref(), Some("ÿ ı I"));
        assert_eq!(text(&c, "latest_status", 8).as_deref(), Some("CANCELLED"));
        for n in 1..=8 {
            assert_eq!(reason(&c, n), None, "status never rejects (line {n})");
        }
    }

    // ---- order_type ----------------------------------------------------

    #[test]
    fn order_type_is_kept_and_mapped_or_bulk() {
        let c = classified(&[
            line(1, "a").set(TYPE, Some("\u{3000}样品 ")),
            line(2, "b").set(TYPE, Some("gift")),
            line(3, "c").set(TYPE, Some("retail")),
            line(4, "d").set(TYPE, None),
            line(5, "e").set(TYPE, Some("Sample")),
            line(6, "f").set(TYPE, Some(" ")),
            line(7, "g").set(TYPE, Some("wholesale")),
        ]);
        let expect = [
            (1, Some("样品"), "SAMPLE"),
            (2, Some("gift"), "GIFT"),
            (3, Some("retail"), "BULK"),
            (4, None, "BULK"),
            (5, Some("Sample"), "BULK"),
            (6, None, "BULK"),
            (7, Some("wholesale"), "BULK"),
        ];
        for (n, raw_type, system) in expect {
            assert_eq!(text(&c, "order_type", n).as_deref(), raw_type, "line {n}");
            assert_eq!(text(&c, "system_order_type", n).as_deref(), Some(system), "line {n}");
            assert_eq!(reason(&c, n), None, "order_type never rejects (line {n})");
        }
    }

    // ---- precedence ----------------------------------------------------

    #[test]
    fn a_line_that_breaks_several_rules_gets_the_first_reason() {
        let everything_bad = line(1, "x")
            .set(ORDER_ID, Some(" "))
            .set(CUSTOMER, None)
            .set(SHOP, Some("nope"))
            .set(AMOUNT, Some("abc"))
            .set(ORDERED_AT, None);
        let c = classified(&[
            everything_bad.clone(),
            everything_bad.clone().line_no_set(2).set(ORDER_ID, Some("o2")),
            everything_bad.clone().line_no_set(3).set(ORDER_ID, Some("o3")).set(CUSTOMER, Some("c")),
            everything_bad
                .clone()
                .line_no_set(4)
                .set(ORDER_ID, Some("o4"))
                .set(CUSTOMER, Some("c"))
                .set(SHOP, Some("S1")),
            everything_bad
                .clone()
                .line_no_set(5)
                .set(ORDER_ID, Some("o5"))
                .set(CUSTOMER, Some("c"))
                .set(SHOP, Some("S1"))
                .set(AMOUNT, Some("1")),
            line(6, "o6").set(AMOUNT, Some("1.")).set(ORDERED_AT, Some("2026-02-30")),
            line(7, "o7").set(ORDERED_AT, Some("2026-02-30")).set(STATUS, None).set(TYPE, None),
        ]);
        assert_eq!(reason(&c, 1).as_deref(), Some(MISSING_ORDER_ID));
        assert_eq!(reason(&c, 2).as_deref(), Some(MISSING_CUSTOMER));
        assert_eq!(reason(&c, 3).as_deref(), Some(UNKNOWN_SHOP));
        assert_eq!(reason(&c, 4).as_deref(), Some(BAD_AMOUNT));
        assert_eq!(reason(&c, 5).as_deref(), Some(MISSING_TIMESTAMP));
        assert_eq!(reason(&c, 6).as_deref(), Some(BAD_AMOUNT));
        assert_eq!(reason(&c, 7).as_deref(), Some(BAD_TIMESTAMP));

        let r = rejects(&c).unwrap();
        assert_eq!(r.height(), 7, "one reject per rejected line");
        let mut lines: Vec<i32> = r.column("line_no").unwrap().i32().unwrap().into_no_null_iter().collect();
        lines.sort();
        assert_eq!(lines, vec![1, 2, 3, 4, 5, 6, 7]);
    }

    impl L {
        fn line_no_set(mut self, n: i32) -> L {
            self.line_no = n;
            self
        }
    }

    #[test]
    fn every_reason_has_a_detail() {
        for r in [MISSING_ORDER_ID, MISSING_CUSTOMER, UNKNOWN_SHOP, BAD_AMOUNT, MISSING_TIMESTAMP, BAD_TIMESTAMP] {
            assert!(!reason_detail(r).is_empty(), "{r}");
        }
    }

    // ---- dedup ---------------------------------------------------------

    fn winner_lines(w: &DataFrame) -> Vec<i32> {
        let mut v: Vec<i32> = w.column("line_no").unwrap().i32().unwrap().into_no_null_iter().collect();
        v.sort();
        v
    }

    #[test]
    fn greatest_line_no_wins_per_shop_and_order_id() {
        let c = classified(&[
            line(1, "K").set(AMOUNT, Some("1")),
            line(5, "K").set(AMOUNT, Some("5")),
            line(3, "K").set(AMOUNT, Some("3")),
            // Same order_id in another shop is another key.
            line(2, "K").set(SHOP, Some("店铺")),
            // Same key after trimming.
            line(4, " J\u{3000}"),
            line(6, "J"),
            line(7, "only"),
        ]);
        let (w, superseded) = winners(&c, &no_keys().unwrap()).unwrap();
        assert_eq!(winner_lines(&w), vec![2, 5, 6, 7]);
        assert_eq!(superseded, 3);
        let idx = row_of(&w, 5);
        assert_eq!(w.column("amount_cents").unwrap().i64().unwrap().get(idx), Some(500));
    }

    #[test]
    fn an_invalid_later_line_does_not_supersede_a_valid_earlier_one() {
        let c = classified(&[
            line(1, "K").set(AMOUNT, Some("1")),
            line(2, "K").set(AMOUNT, Some("1e3")),
            line(3, "K").set(ORDERED_AT, Some("2026-02-30")),
            line(4, "M"),
            line(5, "M").set(CUSTOMER, None),
        ]);
        let (w, superseded) = winners(&c, &no_keys().unwrap()).unwrap();
        assert_eq!(winner_lines(&w), vec![1, 4]);
        assert_eq!(superseded, 0);
        assert_eq!(rejects(&c).unwrap().height(), 3);
    }

    #[test]
    fn claimed_keys_supersede_every_line_of_the_key() {
        let c = classified(&[line(1, "K"), line(2, "K"), line(3, "K").set(SHOP, Some("店铺")), line(4, "L")]);
        let claimed = df!("shop_id" => [1i64, 9], "order_id" => ["K", "L"]).unwrap();
        let (w, superseded) = winners(&c, &claimed).unwrap();
        // (1, K) is claimed: lines 1 and 2 superseded; (3, K) and (1, L) are other keys.
        assert_eq!(winner_lines(&w), vec![3, 4]);
        assert_eq!(superseded, 2);
    }

    #[test]
    fn keys_of_winners_can_be_claimed() {
        let c = classified(&[line(1, "K"), line(2, "Z")]);
        let (w, _) = winners(&c, &no_keys().unwrap()).unwrap();
        let claimed = keys(&w).unwrap();
        assert_eq!(claimed.height(), 2);
        let (again, superseded) = winners(&c, &claimed).unwrap();
        assert_eq!(again.height(), 0);
        assert_eq!(superseded, 2);
    }

    #[test]
    fn winners_carry_every_column_the_load_needs() {
        let c = classified(&[line(1, "K")
            .set(CUSTOMER, Some(" bob "))
            .set(STATUS, Some("shipped"))
            .set(TYPE, Some("样品"))
            .set(AMOUNT, Some("￥1,000.005"))
            .set(ORDERED_AT, Some("2026-03-08T02:30:00-05:00"))]);
        let (w, superseded) = winners(&c, &no_keys().unwrap()).unwrap();
        assert_eq!(superseded, 0);
        assert_eq!(w.height(), 1);
        assert_eq!(int64(&w, "shop_id", 1), Some(1));
        assert_eq!(text(&w, "order_id", 1).as_deref(), Some("K"));
        assert_eq!(text(&w, "customer_nickname", 1).as_deref(), Some("bob"));
        assert_eq!(text(&w, "latest_status", 1).as_deref(), Some("SHIPPED"));
        assert_eq!(text(&w, "order_type", 1).as_deref(), Some("样品"));
        assert_eq!(text(&w, "system_order_type", 1).as_deref(), Some("SAMPLE"));
        assert_eq!(int64(&w, "amount_cents", 1), Some(100_001));
        assert_eq!(text(&w, "ts_local", 1).as_deref(), Some("2026-03-08 02:30:00"));
        assert_eq!(text(&w, "ts_offset", 1).as_deref(), Some("-05:00"));
    }

    #[test]
    fn an_empty_batch_has_no_winners_and_no_rejects() {
        let c = classified(&[]);
        let (w, superseded) = winners(&c, &no_keys().unwrap()).unwrap();
        assert_eq!((w.height(), superseded), (0, 0));
        assert_eq!(rejects(&c).unwrap().height(), 0);
    }

    #[test]
    fn lines_as_imported_are_the_asked_lines_untouched_in_the_order_asked() {
        let raw = frame(&[
            line(7, "A").set(SHOP, Some(" S1\u{3000}")).set(AMOUNT, Some("¥1,0")),
            line(3, "B").set(TYPE, None),
            line(5, "C"),
        ]);
        let got = lines_as_imported(&raw, &[5, 7, 3]).unwrap();
        let line_no: Vec<i32> = got.column("line_no").unwrap().i32().unwrap().into_no_null_iter().collect();
        assert_eq!(line_no, vec![5, 7, 3]);
        let column = |name: &str| -> Vec<Option<String>> {
            got.column(name).unwrap().str().unwrap().into_iter().map(|v| v.map(str::to_owned)).collect()
        };
        assert_eq!(column("order_id"), [Some("C"), Some("A"), Some("B")].map(|v| v.map(String::from)));
        assert_eq!(column("shop")[1].as_deref(), Some(" S1\u{3000}"), "white space as imported");
        assert_eq!(column("amount")[1].as_deref(), Some("¥1,0"));
        assert_eq!(column("order_type")[2], None);
        assert_eq!(lines_as_imported(&raw, &[]).unwrap().height(), 0);
    }

    #[test]
    fn a_refused_line_missing_from_its_batch_is_an_error_not_a_reject_without_its_line() {
        let raw = frame(&[line(7, "A"), line(3, "B")]);
        let err = lines_as_imported(&raw, &[7, 4, 3]).unwrap_err().to_string();
        assert!(err.contains("the batch holds 2 of the 3 refused lines asked for"), "{err}");
        // A line asked twice whose batch holds it once is still complete.
        assert_eq!(lines_as_imported(&raw, &[3, 3]).unwrap().height(), 2);
    }
}
