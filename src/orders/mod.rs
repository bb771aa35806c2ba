//! Stage 1: `etl.raw_orders` of one import -> `etl.orders`.
//!
//! Per batch: fetch raw lines (cursor, newest first; a big import shop by
//! shop, newest first within a shop), clean and validate them in Polars,
//! look up shops and order-type mappings (one statement each), write the
//! rejects (one statement) and upsert the winners (one statement, split
//! and retried only when the database refuses it).

pub mod load;
pub mod transform;

use std::collections::{BTreeMap, HashMap, HashSet};

use polars::prelude::*;

use crate::error::Error;
use crate::services::{batch, lookups, polars_runtime, statistics};
use crate::stage::{Batch, RunContext, Scope, StageCounts};

impl Batch for transform::RawLines {
    fn rows(&self) -> usize {
        self.len()
    }
}

pub fn run(ctx: &mut RunContext) -> Result<StageCounts, Error> {
    match ctx.scope {
        Scope::Import => load_import(ctx),
        Scope::Redrive => redrive(ctx),
    }
}

/// Every raw line of the import (in the order `LineOrder::for_import` picks).
fn load_import(ctx: &mut RunContext) -> Result<StageCounts, Error> {
    polars_runtime::prepare();
    let mut counts = StageCounts::default();
    load::clear_rejects(&mut ctx.sql, ctx.import_id)?;
    let mut loader = LineLoader::new()?;

    // The size that picks the read order: a count when the progress can be
    // seen (the library preloaded, or notices on), so that it shows a total
    // and a time left; otherwise the span of line numbers, which costs two
    // index descents where a count reads every line.
    let size = if ctx.progress.is_watched() {
        let lines = load::count_raw_lines(&mut ctx.sql, ctx.import_id)?;
        ctx.progress.set_lines_total(lines);
        lines
    } else {
        load::line_span(&mut ctx.sql, ctx.import_id)?
    };
    let order = load::LineOrder::for_import(size, ctx.batch_size);
    counts.add_extra("lines_by_shop", i64::from(order == load::LineOrder::ByShop));
    let cursor = load::open_raw_lines(&mut ctx.sql, ctx.import_id, order)?;
    ctx.each_batch(&mut counts, cursor, load::fetch_raw_lines, |ctx, counts, raw| {
        loader.load_batch(ctx, counts, raw)?;
        Ok(())
    })?;
    Ok(counts)
}

/// Only the import's rejected and failed lines (etl.rejects), newest
/// first, with every rule of a whole run: within the import the newest
/// valid line of an order wins, so a line older than the one that wrote
/// the order stays superseded; a later import still wins. Each loaded
/// order is put in etl.redrive_scope for the customers and leads stages.
/// `details.redrive_fates` counts each line's new fate by its former reason.
fn redrive(ctx: &mut RunContext) -> Result<StageCounts, Error> {
    polars_runtime::prepare();
    let mut counts = StageCounts::default();
    let mut loader = LineLoader::new()?;
    let mut fates = RedriveFates::default();
    if ctx.progress.is_watched() {
        let lines = load::count_rejected_lines(&mut ctx.sql, ctx.import_id)?;
        ctx.progress.set_lines_total(lines);
    }
    let cursor = load::open_rejected_lines(&mut ctx.sql, ctx.import_id)?;
    ctx.each_batch(&mut counts, cursor, load::fetch_rejected_lines, |ctx, counts, batch| {
        let load::RejectedLines { lines, former_reason } = batch;
        let line_no = lines.line_no.clone();
        // They are retried: what is still refused is written again below.
        load::clear_rejects_of(&mut ctx.sql, ctx.import_id, &line_no)?;
        let outcome = loader.load_batch(ctx, counts, lines)?;
        let loaded = load::record_redriven(&mut ctx.sql, ctx.import_id, ctx.run_id, &outcome.sent)?;
        fates.add(&line_no, &former_reason, &outcome, &loaded);
        Ok(())
    })?;
    counts.extra.insert("redrive_fates".into(), fates.into_json()?);
    Ok(counts)
}

/// What became of a batch's lines.
struct BatchOutcome {
    /// Line number and new reason of each line rejected or failed now: kept
    /// in a redrive only (its tally is the one reader), `None` otherwise.
    refused: Option<HashMap<i32, String>>,
    /// The winners sent to etl.orders (some may not have been written).
    sent: load::OrderRows,
}

/// Loads batches of raw lines into etl.orders, remembering across batches
/// the keys whose winning line failed to load: older lines with the same
/// key are still superseded (bounded by the number of failed lines).
struct LineLoader {
    failed_keys: DataFrame,
}

impl LineLoader {
    fn new() -> Result<Self, Error> {
        Ok(Self { failed_keys: transform::no_keys()? })
    }

    /// Loads one batch: cleans and classifies its lines, writes its rejects,
    /// upserts its winners and records the lines the database refused.
    fn load_batch(
        &mut self,
        ctx: &mut RunContext,
        counts: &mut StageCounts,
        raw: transform::RawLines,
    ) -> Result<BatchOutcome, Error> {
        counts.rows_in += raw.len() as i64;
        refresh_statistics(ctx, counts)?;
        let raw = counts.timed("transform", || raw.into_frame())?;
        let (rejected, winners) = self.classify(ctx, counts, &raw)?;
        let mut refused = (ctx.scope == Scope::Redrive).then(HashMap::new);
        count_rejects(counts, &rejected, refused.as_mut())?;
        counts.timed("write_rejects", || write_rejects(ctx, &rejected, &raw))?;
        let rows = load::OrderRows::from_frame(&winners)?;
        let failures = write_winners(ctx, counts, &rows)?;
        if !failures.is_empty() {
            self.record_failures(ctx, counts, &raw, &winners, &rows, &failures, refused.as_mut())?;
        }
        Ok(BatchOutcome { refused, sent: rows })
    }

    /// Cleans the batch's lines, looks up their shops and order types, and
    /// splits them into rejects (`line_no`, `reason`) and the winners to
    /// upsert; counts the lines superseded within the batch.
    fn classify(
        &self,
        ctx: &mut RunContext,
        counts: &mut StageCounts,
        raw: &DataFrame,
    ) -> Result<(DataFrame, DataFrame), Error> {
        let cleaned = counts.timed("transform", || transform::clean(raw.clone()))?;
        let (shops, mappings) = counts.timed("lookup", || -> Result<_, Error> {
            let shops = lookups::active_shops(&mut ctx.sql, transform::distinct_values(&cleaned, "shop")?)?;
            let mappings =
                lookups::order_type_mappings(&mut ctx.sql, transform::distinct_values(&cleaned, "order_type")?)?;
            Ok((shops, mappings))
        })?;
        let failed_keys = &self.failed_keys;
        let (rejected, (winners, superseded_here)) = counts.timed("transform", || -> Result<_, Error> {
            let classified = transform::classify(cleaned, shops, mappings)?;
            let rejected = transform::rejects(&classified)?;
            let winners = transform::winners(&classified, failed_keys)?;
            Ok((rejected, winners))
        })?;
        counts.rows_rejected += rejected.height() as i64;
        counts.rows_superseded += superseded_here as i64;
        Ok((rejected, winners))
    }

    /// The winners the database refused (`failures`, by position in
    /// `rows`): their keys stay claimed for the rest of the run, and their
    /// lines are rejects with reason `load_error`.
    #[allow(clippy::too_many_arguments)]
    fn record_failures(
        &mut self,
        ctx: &mut RunContext,
        counts: &mut StageCounts,
        raw: &DataFrame,
        winners: &DataFrame,
        rows: &load::OrderRows,
        failures: &[batch::RowFailure],
        mut refused: Option<&mut HashMap<i32, String>>,
    ) -> Result<(), Error> {
        let idx: Vec<IdxSize> = failures.iter().map(|f| f.index as IdxSize).collect();
        let failed = winners.take(&IdxCa::from_vec("idx".into(), idx))?;
        self.failed_keys = self.failed_keys.vstack(&transform::keys(&failed)?)?;
        for failure in failures {
            counts.add_reject(transform::LOAD_ERROR);
            if let Some(refused) = refused.as_deref_mut() {
                refused.insert(rows.line_no[failure.index], transform::LOAD_ERROR.to_string());
            }
        }
        let failed_lines: Vec<i32> = failures.iter().map(|f| rows.line_no[f.index]).collect();
        let failed_raw = transform::lines_as_imported(raw, &failed_lines)?;
        load::write_rejects(
            &mut ctx.sql,
            ctx.import_id,
            &failed_raw,
            vec![transform::LOAD_ERROR.to_string(); failures.len()],
            failures.iter().map(|f| f.message.clone()).collect(),
        )?;
        Ok(())
    }
}

/// Earlier batches may have grown etl.orders past what its statistics know
/// (a first import): plan this one with fresh ones.
fn refresh_statistics(ctx: &mut RunContext, counts: &mut StageCounts) -> Result<(), Error> {
    if counts.batches > 1 {
        let analysed = counts.timed("analyze", || statistics::refresh_if_grown(&mut ctx.sql))?;
        counts.add_extra("analyzed", i64::from(analysed));
    }
    Ok(())
}

/// Counts each rejected line under its reason (and, in a redrive, keeps it
/// in `refused`).
fn count_rejects(
    counts: &mut StageCounts,
    rejected: &DataFrame,
    mut refused: Option<&mut HashMap<i32, String>>,
) -> Result<(), Error> {
    for (line, reason) in rejected
        .column("line_no")?
        .i32()?
        .into_no_null_iter()
        .zip(rejected.column("reason")?.str()?.into_no_null_iter())
    {
        counts.add_reject(reason);
        if let Some(refused) = refused.as_deref_mut() {
            refused.insert(line, reason.to_string());
        }
    }
    Ok(())
}

/// Upserts the winners, each part the database refuses split until the
/// refused lines are found; counts what landed and returns the refusals.
fn write_winners(
    ctx: &mut RunContext,
    counts: &mut StageCounts,
    rows: &load::OrderRows,
) -> Result<Vec<batch::RowFailure>, Error> {
    // A redrive keeps the newer line of the import that wrote an order.
    let keep_newer_line = ctx.scope == Scope::Redrive;
    let RunContext { sql, import_id, run_id, source_timezone, .. } = ctx;
    let mut landed = load::UpsertCounts::default();
    let outcome = counts.timed("write_orders", || {
        batch::write_isolated(rows.len(), |range| {
            let part = load::upsert_orders(sql, *import_id, *run_id, source_timezone, keep_newer_line, rows, range)?;
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
    // Sent but not written: an earlier batch of this run (or, in a
    // redrive, a newer line of the import or a later import) wrote the key.
    let not_written = rows.len() - outcome.failures.len() - outcome.written as usize;
    counts.rows_superseded += not_written as i64;
    Ok(outcome.failures)
}

/// What became of a redriven line.
#[derive(Clone, Copy)]
enum RedriveFate {
    Loaded,
    Superseded,
    StillRejected,
    Failed,
}

/// How many lines of one former reason were retried, and their fates.
/// Travels in the orders run's `details.redrive_fates` (keyed by former
/// reason), which `etl_redrive` reads back into this type.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct RedriveTally {
    pub retried: i64,
    pub loaded: i64,
    pub superseded: i64,
    pub still_rejected: i64,
    pub failed: i64,
}

impl RedriveTally {
    fn count(&mut self, fate: RedriveFate) {
        self.retried += 1;
        *match fate {
            RedriveFate::Loaded => &mut self.loaded,
            RedriveFate::Superseded => &mut self.superseded,
            RedriveFate::StillRejected => &mut self.still_rejected,
            RedriveFate::Failed => &mut self.failed,
        } += 1;
    }
}

/// A redrive's tally by former reason. A handful of reasons: bounded.
#[derive(Default)]
struct RedriveFates {
    by_reason: BTreeMap<String, RedriveTally>,
}

impl RedriveFates {
    fn add(&mut self, line_no: &[i32], former_reason: &[String], outcome: &BatchOutcome, loaded: &HashSet<i32>) {
        for (line, former) in line_no.iter().zip(former_reason) {
            let fate = match outcome.refused.as_ref().and_then(|refused| refused.get(line)) {
                Some(reason) if reason == transform::LOAD_ERROR => RedriveFate::Failed,
                Some(_) => RedriveFate::StillRejected,
                None if loaded.contains(line) => RedriveFate::Loaded,
                None => RedriveFate::Superseded,
            };
            self.by_reason.entry(former.clone()).or_default().count(fate);
        }
    }

    fn into_json(self) -> Result<serde_json::Value, Error> {
        serde_json::to_value(self.by_reason).map_err(|e| Error::Unexpected(format!("redrive tally: {e}")))
    }
}

/// Reads back what [`RedriveFates`] wrote in `details.redrive_fates`.
pub fn redrive_tallies(details: Option<&serde_json::Value>) -> BTreeMap<String, RedriveTally> {
    details.and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
}

fn write_rejects(ctx: &mut RunContext, rejected: &DataFrame, raw: &DataFrame) -> Result<(), Error> {
    let line_no: Vec<i32> = rejected.column("line_no")?.i32()?.into_no_null_iter().collect();
    let reasons: Vec<String> = rejected.column("reason")?.str()?.into_no_null_iter().map(str::to_owned).collect();
    let details: Vec<String> = reasons.iter().map(|r| transform::reason_detail(r).to_string()).collect();
    let raw = transform::lines_as_imported(raw, &line_no)?;
    load::write_rejects(&mut ctx.sql, ctx.import_id, &raw, reasons, details)?;
    Ok(())
}
