//! The customers stage's pure transform: the distinct customers of a batch,
//! each with a fresh (version 7) id to use if it does not exist yet.

use polars::prelude::*;

/// One batch of `(shop_id, customer_nickname)` keys.
#[derive(Debug, Default, Clone)]
pub struct CustomerKeys {
    pub shop_id: Vec<i64>,
    pub customer_nickname: Vec<String>,
}

impl CustomerKeys {
    pub fn len(&self) -> usize {
        self.shop_id.len()
    }
}

/// Distinct keys, sorted (a stable lock order), each with a candidate
/// `customer_global_id`: columns `shop_id`, `customer_nickname`, `candidate_id`.
pub fn candidates(keys: CustomerKeys) -> PolarsResult<DataFrame> {
    let distinct = df!("shop_id" => keys.shop_id, "customer_nickname" => keys.customer_nickname)?
        .lazy()
        .unique(None, UniqueKeepStrategy::First)
        .sort(["shop_id", "customer_nickname"], SortMultipleOptions::default())
        .collect()?;
    let ids: Vec<String> = (0..distinct.height()).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let mut out = distinct;
    out.with_column(Column::new("candidate_id".into(), ids))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_deduplicated_sorted_and_get_v7_ids() {
        let keys = CustomerKeys {
            shop_id: vec![2, 1, 2, 1],
            customer_nickname: vec!["b".into(), "z".into(), "b".into(), "a\"'\\".into()],
        };
        let out = candidates(keys).unwrap();
        assert_eq!(out.height(), 3);
        let shops: Vec<i64> = out.column("shop_id").unwrap().i64().unwrap().into_no_null_iter().collect();
        assert_eq!(shops, vec![1, 1, 2]);
        let nick: Vec<&str> = out.column("customer_nickname").unwrap().str().unwrap().into_no_null_iter().collect();
        assert_eq!(nick, vec!["a\"'\\", "z", "b"]);
        for id in out.column("candidate_id").unwrap().str().unwrap().into_no_null_iter() {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version_num(), 7);
        }
    }
}
