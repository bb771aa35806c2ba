//! Stage 1: `etl.raw_orders` of one import -> `etl.orders`.
//!
//! Per batch: fetch raw lines (cursor, newest first), clean and validate them
//! in Polars, look up shops and order-type mappings (one statement each),
//! write the rejects (one statement) and upsert the winners (one statement,
//! split and retried only when the database refuses it).

pub mod load;
pub mod transform;

use polars::prelude::*;

use crate::error::StageError;
use crate::services::{batch, lookups, polars_runtime, statistics};
use crate::stage::{Batch, RunContext, StageCounts};

impl Batch for transform::RawLines {
    fn rows(&self) -> usize {
        self.len()
    }
}

pub fn run(ctx: &mut RunContext) -> Result<StageCounts, StageError> {
    polars_runtime::prepare();
    let mut counts = StageCounts::default();
    load::clear_rejects(&mut ctx.sql, ctx.import_id)?;
    // Keys whose winning line failed to load: older lines with the same key
    // are still superseded. Bounded by the number of failed lines.
    let mut failed_keys = transform::no_keys()?;

    if ctx.progress.is_watched() {
        // Only when the progress can be seen (the library preloaded, or
        // notices on): one count by the import's index, so that it shows a
        // total and a time left.
        let lines = load::count_raw_lines(&mut ctx.sql, ctx.import_id)?;
        ctx.progress.set_lines_total(lines);
    }
    let cursor = load::open_raw_lines(&mut ctx.sql, ctx.import_id)?;
    ctx.each_batch(&mut counts, cursor, load::fetch_raw_lines, |ctx, counts, raw| {
        counts.rows_in += raw.len() as i64;
        if counts.batches > 1 {
            // Earlier batches may have grown etl.orders past what its
            // statistics know (a first import): plan this one with fresh ones.
            let analysed = counts.timed("analyze", || statistics::refresh_if_grown(&mut ctx.sql))?;
            counts.add_extra("analyzed", i64::from(analysed));
        }

        let cleaned = counts.timed("transform", || transform::clean(raw.into_frame()?))?;
        let (shops, mappings) = counts.timed("lookup", || -> Result<_, StageError> {
            let shops = lookups::active_shops(&mut ctx.sql, transform::distinct_values(&cleaned, "shop")?)?;
            let mappings =
                lookups::order_type_mappings(&mut ctx.sql, transform::distinct_values(&cleaned, "order_type")?)?;
            Ok((shops, mappings))
        })?;
        let (classified, rejected, (winners, superseded_here)) =
            counts.timed("transform", || -> Result<_, StageError> {
                let classified = transform::classify(cleaned, shops, mappings)?;
                let rejected = transform::rejects(&classified)?;
                let winners = transform::winners(&classified, &failed_keys)?;
                Ok((classified, rejected, winners))
            })?;
        drop(classified);
        counts.rows_rejected += rejected.height() as i64;
        for reason in rejected.column("reason")?.str()?.into_no_null_iter() {
            counts.add_reject(reason);
        }
        counts.timed("write_rejects", || write_rejects(ctx, &rejected))?;

        counts.rows_superseded += superseded_here as i64;
        let rows = load::OrderRows::from_frame(&winners)?;
        let RunContext { sql, import_id, run_id, source_timezone, .. } = ctx;
        let mut landed = load::UpsertCounts::default();
        let outcome = counts.timed("write_orders", || {
            batch::write_isolated(rows.len(), |range| {
                let part = load::upsert_orders(sql, *import_id, *run_id, source_timezone, &rows, range)?;
                landed.existed += part.existed;
                landed.changed += part.changed;
                Ok(part.written)
            })
        })?;
        counts.add_extra("write_attempts", outcome.attempts as i64);
        counts.add_extra("orders_inserted", (outcome.written - landed.existed) as i64);
        counts.add_extra("orders_updated", landed.changed as i64);
        counts.add_extra("orders_unchanged", (landed.existed - landed.changed) as i64);
        counts.rows_ok += outcome.written as i64;
        counts.rows_failed += outcome.failures.len() as i64;
        // Sent but not written: an earlier batch of this run wrote the key.
        let not_written = rows.len() - outcome.failures.len() - outcome.written as usize;
        counts.rows_superseded += not_written as i64;

        if !outcome.failures.is_empty() {
            let idx: Vec<IdxSize> = outcome.failures.iter().map(|f| f.index as IdxSize).collect();
            let failed = winners.take(&IdxCa::from_vec("idx".into(), idx))?;
            failed_keys = failed_keys.vstack(&transform::keys(&failed)?)?;
            for _ in &outcome.failures {
                counts.add_reject(transform::LOAD_ERROR);
            }
            load::write_rejects(
                &mut ctx.sql,
                ctx.import_id,
                outcome.failures.iter().map(|f| rows.line_no[f.index]).collect(),
                vec![transform::LOAD_ERROR.to_string(); outcome.failures.len()],
                outcome.failures.iter().map(|f| f.message.clone()).collect(),
            )?;
        }
        Ok(())
    })?;
    Ok(counts)
}

fn write_rejects(ctx: &mut RunContext, rejected: &DataFrame) -> Result<(), StageError> {
    let line_no: Vec<i32> = rejected.column("line_no")?.i32()?.into_no_null_iter().collect();
    let reasons: Vec<String> = rejected.column("reason")?.str()?.into_no_null_iter().map(str::to_owned).collect();
    let details: Vec<String> = reasons.iter().map(|r| transform::reason_detail(r).to_string()).collect();
    load::write_rejects(&mut ctx.sql, ctx.import_id, line_no, reasons, details)?;
    Ok(())
}
