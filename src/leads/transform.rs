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
/// `customers`: (`customer_global_id`, any other columns); `current`: (`customer_global_id`,
/// `current_lead_id`, `current_stage`), the customer's lead with the highest
/// `lead_no`. Output per customer: `strategy` (`new` or `reuse`), `lead_id`
/// (a fresh v7 id for `new`), `reopen` (a reused `COLD` lead).
pub fn plan(customers: DataFrame, current: DataFrame) -> PolarsResult<DataFrame> {
    // Columns of `customers` besides the id (its shop and nickname, say) are
    // carried through.
    let mut output: Vec<Expr> = customers.get_column_names().iter().map(|name| col(name.as_str())).collect();
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
        .select({
            output.extend([
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
            ]);
            output
        })
        .sort(["customer_global_id"], SortMultipleOptions::default())
        .collect()
}

/// How many customers of a plan keep their current lead.
pub fn reused(plan: &DataFrame) -> PolarsResult<usize> {
    Ok(plan.column("strategy")?.str()?.equal(STRATEGY_REUSE).sum().unwrap_or(0) as usize)
}

/// Splits a batch of lead-ordered order rows into the leads it holds whole
/// and the rows of its last lead, whose orders may go on in the next batch.
/// Returns (the complete rows, the last lead's rows).
pub fn split_last_lead(rows: DataFrame) -> PolarsResult<(DataFrame, DataFrame)> {
    let last = match rows.column("lead_id")?.str()?.last() {
        Some(id) => id.to_string(),
        None => return Ok((rows.clone(), rows)),
    };
    let is_last = rows.column("lead_id")?.str()?.equal(last.as_str());
    Ok((rows.filter(&!&is_last)?, rows.filter(&is_last)?))
}

/// The distinct leads of a frame of order rows: (`lead_id`).
pub fn leads_of(rows: &DataFrame) -> PolarsResult<DataFrame> {
    rows.select(["lead_id"])?.unique_stable(None, UniqueKeepStrategy::First, None)
}

/// Aggregates of each lead in `leads` (`lead_id`) over `orders` (`lead_id`,
/// `latest_status`, `system_order_type`, `amount_cents`, `ordered_at_us`),
/// leaving out cancelled and refunded orders. A lead with nothing left has
/// counts 0, sums 0 and NULL times.
pub fn aggregate(leads: DataFrame, orders: DataFrame) -> PolarsResult<DataFrame> {
    let counted = col("latest_status").is_in(lit(str_series("x", &EXCLUDED_STATUSES)).implode(), false).not();
    let is_sample = col("system_order_type").eq(lit("SAMPLE"));
    let is_bulk = col("system_order_type").eq(lit("BULK"));
    // Filtered aggregations keep this group_by on Polars' in-memory engine:
    // a plain one (only sums, counts, min/max) is "partitionable" and needs
    // the streaming engine, which this build leaves out on purpose (it
    // starts threads of its own). The unit tests run this exact plan.
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

#[cfg(test)]
mod tests {
    //! The contract's section 3.3: the new/reuse strategy and the aggregates.
    use super::*;

    fn plan_of(customers: &[&str], current: &[(&str, &str, &str)]) -> DataFrame {
        let customers = df!("customer_global_id" => customers.to_vec()).unwrap();
        let current = df!(
            "customer_global_id" => current.iter().map(|c| c.0).collect::<Vec<_>>(),
            "current_lead_id" => current.iter().map(|c| c.1).collect::<Vec<_>>(),
            "current_stage" => current.iter().map(|c| c.2).collect::<Vec<_>>()
        )
        .unwrap();
        plan(customers, current).unwrap()
    }

    struct Planned {
        strategy: String,
        lead_id: String,
        reopen: bool,
    }

    fn planned(plan: &DataFrame, customer: &str) -> Planned {
        let idx = plan
            .column("customer_global_id")
            .unwrap()
            .str()
            .unwrap()
            .into_iter()
            .position(|c| c == Some(customer))
            .unwrap_or_else(|| panic!("{customer} not planned"));
        Planned {
            strategy: plan.column("strategy").unwrap().str().unwrap().get(idx).unwrap().to_string(),
            lead_id: plan.column("lead_id").unwrap().str().unwrap().get(idx).unwrap().to_string(),
            reopen: plan.column("reopen").unwrap().bool().unwrap().get(idx).unwrap(),
        }
    }

    fn is_v7(id: &str) -> bool {
        uuid::Uuid::parse_str(id).map(|u| u.get_version_num() == 7).unwrap_or(false)
    }

    #[test]
    fn strategy_per_current_lead_stage() {
        let p = plan_of(
            &["c-none", "c-open", "c-cold", "c-won", "c-lost"],
            &[
                ("c-open", "lead-open", "OPEN"),
                ("c-cold", "lead-cold", "COLD"),
                ("c-won", "lead-won", "WON"),
                ("c-lost", "lead-lost", "LOST"),
                // A customer of another batch: not planned.
                ("c-other", "lead-other", "OPEN"),
            ],
        );
        assert_eq!(p.height(), 5, "one row per customer");

        let none = planned(&p, "c-none");
        assert_eq!(none.strategy, STRATEGY_NEW);
        assert!(is_v7(&none.lead_id), "a new lead gets a v7 id, got {}", none.lead_id);
        assert!(!none.reopen);

        let open = planned(&p, "c-open");
        assert_eq!((open.strategy.as_str(), open.lead_id.as_str(), open.reopen), (STRATEGY_REUSE, "lead-open", false));

        let cold = planned(&p, "c-cold");
        assert_eq!((cold.strategy.as_str(), cold.lead_id.as_str(), cold.reopen), (STRATEGY_REUSE, "lead-cold", true));

        for (c, old) in [("c-won", "lead-won"), ("c-lost", "lead-lost")] {
            let x = planned(&p, c);
            assert_eq!(x.strategy, STRATEGY_NEW, "{c}");
            assert_ne!(x.lead_id, old, "{c} must not keep its closed lead");
            assert!(is_v7(&x.lead_id), "{c}: {}", x.lead_id);
            assert!(!x.reopen, "{c}");
        }
        assert_eq!(reused(&p).unwrap(), 2);
    }

    #[test]
    fn new_leads_get_distinct_ids() {
        let p = plan_of(&["a", "b", "c"], &[]);
        let mut ids: Vec<String> = ["a", "b", "c"].iter().map(|c| planned(&p, c).lead_id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 3);
        assert_eq!(reused(&p).unwrap(), 0);
    }

    #[test]
    fn an_empty_batch_plans_nothing() {
        let p = plan_of(&[], &[]);
        assert_eq!(p.height(), 0);
    }

    type Order<'a> = (&'a str, &'a str, &'a str, i64, i64);

    fn aggregate_of(leads: &[&str], orders: &[Order]) -> DataFrame {
        let leads = df!("lead_id" => leads.to_vec()).unwrap();
        let orders = df!(
            "lead_id" => orders.iter().map(|o| o.0).collect::<Vec<_>>(),
            "latest_status" => orders.iter().map(|o| o.1).collect::<Vec<_>>(),
            "system_order_type" => orders.iter().map(|o| o.2).collect::<Vec<_>>(),
            "amount_cents" => orders.iter().map(|o| o.3).collect::<Vec<_>>(),
            "ordered_at_us" => orders.iter().map(|o| o.4).collect::<Vec<_>>()
        )
        .unwrap();
        aggregate(leads, orders).unwrap()
    }

    #[derive(Debug, PartialEq)]
    struct Agg {
        order_count: i32,
        total_cents: i64,
        sample_count: i32,
        sample_cents: i64,
        bulk_count: i32,
        bulk_cents: i64,
        first_us: Option<i64>,
        last_us: Option<i64>,
    }

    fn agg(a: &DataFrame, lead: &str) -> Agg {
        let idx = a
            .column("lead_id")
            .unwrap()
            .str()
            .unwrap()
            .into_iter()
            .position(|l| l == Some(lead))
            .unwrap_or_else(|| panic!("{lead} not aggregated"));
        let i32_at = |c: &str| a.column(c).unwrap().i32().unwrap().get(idx).unwrap();
        let i64_at = |c: &str| a.column(c).unwrap().i64().unwrap().get(idx);
        Agg {
            order_count: i32_at("order_count"),
            total_cents: i64_at("total_cents").unwrap(),
            sample_count: i32_at("sample_count"),
            sample_cents: i64_at("sample_cents").unwrap(),
            bulk_count: i32_at("bulk_count"),
            bulk_cents: i64_at("bulk_cents").unwrap(),
            first_us: i64_at("first_us"),
            last_us: i64_at("last_us"),
        }
    }

    #[test]
    fn aggregates_leave_out_cancelled_and_refunded_and_split_sample_and_bulk() {
        let a = aggregate_of(
            &["L1", "L2"],
            &[
                ("L1", "PAID", "SAMPLE", 100, 5_000),
                ("L1", "SHIPPED", "SAMPLE", 250, 1_000),
                ("L1", "UNKNOWN", "BULK", 1_000, 9_000),
                ("L1", "DéLIVRé", "GIFT", 7, 3_000),
                ("L1", "CANCELLED", "BULK", 100_000, -50),
                ("L1", "REFUNDED", "SAMPLE", 200_000, 99_999),
                // Not exactly CANCELLED: counted.
                ("L1", "CANCELED", "BULK", 3, 4_000),
                ("L2", "PAID", "BULK", 1, 10),
            ],
        );
        assert_eq!(a.height(), 2);
        assert_eq!(
            agg(&a, "L1"),
            Agg {
                order_count: 5,
                total_cents: 100 + 250 + 1_000 + 7 + 3,
                sample_count: 2,
                sample_cents: 350,
                bulk_count: 2,
                bulk_cents: 1_003,
                first_us: Some(1_000),
                last_us: Some(9_000),
            }
        );
        assert_eq!(
            agg(&a, "L2"),
            Agg {
                order_count: 1,
                total_cents: 1,
                sample_count: 0,
                sample_cents: 0,
                bulk_count: 1,
                bulk_cents: 1,
                first_us: Some(10),
                last_us: Some(10),
            }
        );
    }

    #[test]
    fn a_lead_with_nothing_left_has_zeros_and_null_times() {
        let a = aggregate_of(
            &["empty", "all-cancelled", "gift-only"],
            &[
                ("all-cancelled", "CANCELLED", "SAMPLE", 500, 1),
                ("all-cancelled", "REFUNDED", "BULK", 600, 2),
                ("gift-only", "PAID", "GIFT", 700, 3),
            ],
        );
        let zero = Agg {
            order_count: 0,
            total_cents: 0,
            sample_count: 0,
            sample_cents: 0,
            bulk_count: 0,
            bulk_cents: 0,
            first_us: None,
            last_us: None,
        };
        assert_eq!(agg(&a, "empty"), zero);
        assert_eq!(agg(&a, "all-cancelled"), zero);
        assert_eq!(
            agg(&a, "gift-only"),
            Agg { order_count: 1, total_cents: 700, first_us: Some(3), last_us: Some(3), ..zero }
        );
    }

    #[test]
    fn aggregates_are_exact_for_large_amounts_and_extreme_times() {
        // Two orders of 999999999999.99 each, and times at year 1 and 9999.
        let max = 99_999_999_999_999i64;
        let first = -62_135_596_800_000_000i64; // 0001-01-01 00:00:00 UTC
        let last = 253_402_300_799_000_000i64; // 9999-12-31 23:59:59 UTC
        let a = aggregate_of(&["L"], &[("L", "PAID", "BULK", max, last), ("L", "PAID", "BULK", max, first)]);
        let x = agg(&a, "L");
        assert_eq!(x.total_cents, 2 * max);
        assert_eq!(x.bulk_cents, 2 * max);
        assert_eq!((x.first_us, x.last_us), (Some(first), Some(last)));
    }

    #[test]
    fn a_batch_keeps_its_last_lead_for_the_next_one() {
        let rows = df!(
            "lead_id" => ["a", "a", "b", "c", "c"],
            "latest_status" => ["PAID", "PAID", "PAID", "PAID", "PAID"],
        )
        .unwrap();
        let (complete, last) = split_last_lead(rows).unwrap();
        let ids = |f: &DataFrame| -> Vec<String> {
            f.column("lead_id").unwrap().str().unwrap().into_no_null_iter().map(str::to_owned).collect()
        };
        assert_eq!(ids(&complete), vec!["a", "a", "b"]);
        assert_eq!(ids(&last), vec!["c", "c"]);
        assert_eq!(ids(&leads_of(&complete).unwrap()), vec!["a", "b"]);
        let (complete, last) = split_last_lead(last).unwrap();
        assert_eq!(complete.height(), 0);
        assert_eq!(ids(&last), vec!["c", "c"]);
    }
}
