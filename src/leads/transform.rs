//! The leads stage's pure transform: the new/reuse strategy per customer,
//! as Polars expressions. (The aggregates are set-based SQL over each
//! batch of leads: exact `numeric` sums, see sql/queries/lead_aggregates.sql.)

use polars::prelude::*;

pub const STRATEGY_NEW: &str = "new";
pub const STRATEGY_REUSE: &str = "reuse";

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
        .join(current.lazy(), [col("customer_global_id")], [col("customer_global_id")], JoinArgs::new(JoinType::Left))
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
}
