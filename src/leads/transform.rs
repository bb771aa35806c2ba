//! The leads stage's pure transforms: the new/reuse strategy per customer
//! and the aggregates of each lead, as Polars expressions.

use polars::prelude::*;

pub const STRATEGY_NEW: &str = "new";
pub const STRATEGY_REUSE: &str = "reuse";

/// Statuses whose orders do not count in a lead's aggregates.
pub const EXCLUDED_STATUSES: [&str; 2] = ["CANCELLED", "REFUNDED"];

fn str_series(name: &str, values: &[&str]) -> Series {
    Series::new(name.into(), values)
}

/// Decides, per customer, which lead its unattributed orders go to.
///
/// `customers`: (`customer_global_id`); `current`: (`customer_global_id`,
/// `current_lead_id`, `current_stage`), the customer's lead with the highest
/// `lead_no`. Output per customer: `strategy` (`new` or `reuse`), `lead_id`
/// (a fresh v7 id for `new`), `reopen` (a reused `COLD` lead).
pub fn plan(customers: DataFrame, current: DataFrame) -> PolarsResult<DataFrame> {
    let fresh: Vec<String> = (0..customers.height()).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let mut customers = customers;
    customers.with_column(Column::new("fresh_id".into(), fresh))?;
    let reusable = col("current_stage").is_in(lit(str_series("s", &["OPEN", "COLD"])).implode(), false);
    let strategy = when(col("current_lead_id").is_null())
        .then(lit(STRATEGY_NEW))
        .when(reusable)
        .then(lit(STRATEGY_REUSE))
        .otherwise(lit(STRATEGY_NEW));
    customers
        .lazy()
        .join(
            current.lazy(),
            [col("customer_global_id")],
            [col("customer_global_id")],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(strategy.alias("strategy"))
        .select([
            col("customer_global_id"),
            col("strategy"),
            when(col("strategy").eq(lit(STRATEGY_NEW)))
                .then(col("fresh_id"))
                .otherwise(col("current_lead_id"))
                .alias("lead_id"),
            col("strategy")
                .eq(lit(STRATEGY_REUSE))
                .and(col("current_stage").eq(lit("COLD")))
                .fill_null(lit(false))
                .alias("reopen"),
        ])
        .sort(["customer_global_id"], SortMultipleOptions::default())
        .collect()
}

/// How many customers of a plan keep their current lead.
pub fn reused(plan: &DataFrame) -> PolarsResult<usize> {
    Ok(plan.column("strategy")?.str()?.equal(STRATEGY_REUSE).sum().unwrap_or(0) as usize)
}

/// Aggregates of each lead in `leads` (`lead_id`) over `orders` (`lead_id`,
/// `latest_status`, `system_order_type`, `amount_cents`, `ordered_at_us`),
/// leaving out cancelled and refunded orders. A lead with nothing left has
/// counts 0, sums 0 and NULL times.
pub fn aggregate(leads: DataFrame, orders: DataFrame) -> PolarsResult<DataFrame> {
    let counted = col("latest_status").is_in(lit(str_series("x", &EXCLUDED_STATUSES)).implode(), false).not();
    let is_sample = col("system_order_type").eq(lit("SAMPLE"));
    let is_bulk = col("system_order_type").eq(lit("BULK"));
    let per_lead = orders
        .lazy()
        .filter(counted)
        .group_by([col("lead_id")])
        .agg([
            len().cast(DataType::Int32).alias("order_count"),
            col("amount_cents").sum().alias("total_cents"),
            is_sample.clone().cast(DataType::Int32).sum().alias("sample_count"),
            col("amount_cents").filter(is_sample).sum().alias("sample_cents"),
            is_bulk.clone().cast(DataType::Int32).sum().alias("bulk_count"),
            col("amount_cents").filter(is_bulk).sum().alias("bulk_cents"),
            col("ordered_at_us").min().alias("first_us"),
            col("ordered_at_us").max().alias("last_us"),
        ]);
    leads
        .lazy()
        .join(per_lead, [col("lead_id")], [col("lead_id")], JoinArgs::new(JoinType::Left))
        .select([
            col("lead_id"),
            col("order_count").fill_null(lit(0i32)),
            col("total_cents").fill_null(lit(0i64)),
            col("sample_count").fill_null(lit(0i32)),
            col("sample_cents").fill_null(lit(0i64)),
            col("bulk_count").fill_null(lit(0i32)),
            col("bulk_cents").fill_null(lit(0i64)),
            col("first_us"),
            col("last_us"),
        ])
        .sort(["lead_id"], SortMultipleOptions::default())
        .collect()
}
