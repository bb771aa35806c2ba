//! The stage kit: what every stage gets (its run context, the batch loop)
//! and gives back (its counts). Below the pipeline runner, which calls the
//! stages, so that the stages depend on it and never on the runner.

use pgrx::Uuid;
use polars::prelude::DataFrame;

use crate::error::Error;
use crate::services::progress::StageProgress;
use crate::services::spi::{Cursor, Sql};
use crate::services::{memory, polars_runtime, statistics};

/// The three stages, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Orders,
    Customers,
    Leads,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Orders, Stage::Customers, Stage::Leads];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Orders => "orders",
            Stage::Customers => "customers",
            Stage::Leads => "leads",
        }
    }

    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn next(self) -> Option<Stage> {
        match self {
            Stage::Orders => Some(Stage::Customers),
            Stage::Customers => Some(Stage::Leads),
            Stage::Leads => None,
        }
    }
}

/// Which of the import's lines and orders a stage works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// All of them: the import's raw lines, then the orders it wrote.
    Import,
    /// A redrive: only the lines rejected or failed, then the orders they
    /// wrote (listed in etl.redrive_scope by the orders stage).
    Redrive,
}

impl Scope {
    /// The statement of this scope: `import` for a whole import, `redrive`
    /// for a redrive. Each is a whole statement of its own (a file of
    /// sql/queries and its `_redrive` variant), so that neither plan carries
    /// the other's scope.
    pub fn pick(self, import: &'static str, redrive: &'static str) -> &'static str {
        match self {
            Scope::Import => import,
            Scope::Redrive => redrive,
        }
    }
}

/// The run a stage works for: its import and scope, its `etl.runs` row, its
/// settings, its statement counter and its live progress.
pub struct RunContext {
    pub import_id: Uuid,
    pub scope: Scope,
    pub run_id: i64,
    pub batch_size: usize,
    pub source_timezone: String,
    pub sql: Sql,
    pub progress: StageProgress,
}

/// A batch read from a cursor; an empty one means the cursor is exhausted.
pub trait Batch {
    fn rows(&self) -> usize;
}

impl Batch for DataFrame {
    fn rows(&self) -> usize {
        self.height()
    }
}

/// An import whose keys are at least 1/WHOLE_PASS_SHARE of the table they
/// are matched against is worked in one pass over that table (hash joins)
/// rather than a probe by index per order: a first or a big import, where
/// the probes cost more than the pass (docs/performance.md). A small import
/// always probes, so its cost follows the import, not the history.
const WHOLE_PASS_SHARE: i64 = 10;

#[cfg(any(test, feature = "pg_test"))]
thread_local! {
    /// Tests run both ways of a stage's whole-import statements on the same data.
    pub static FORCE_WHOLE_PASS: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

impl RunContext {
    /// Whether the statements over this import take the whole pass: `keys`
    /// (the import's customers, say) against `table`'s rows, estimated from
    /// the catalog at `rows_per_page` when its statistics lag. A redrive's
    /// scope is its rejected lines: always the probes.
    pub fn whole_pass(&mut self, keys: i64, table: &str, rows_per_page: i64) -> Result<bool, Error> {
        if self.scope != Scope::Import {
            return Ok(false);
        }
        #[cfg(any(test, feature = "pg_test"))]
        if let Some(forced) = FORCE_WHOLE_PASS.get() {
            return Ok(forced);
        }
        Ok(keys.saturating_mul(WHOLE_PASS_SHARE) >= statistics::estimated_rows(&mut self.sql, table, rows_per_page)?)
    }

    /// Reads `cursor` batch by batch with `fetch` (timed as `read`) and runs
    /// `work` on each, in a memory context of its own, until a batch is
    /// empty; counts the batches, checks for cancel between them, and closes
    /// the cursor.
    pub fn each_batch<B: Batch>(
        &mut self,
        counts: &mut StageCounts,
        cursor: Cursor,
        fetch: impl Fn(&mut Sql, &Cursor, usize) -> Result<B, Error>,
        mut work: impl FnMut(&mut RunContext, &mut StageCounts, B) -> Result<(), Error>,
    ) -> Result<(), Error> {
        loop {
            pgrx::check_for_interrupts!();
            let more = memory::in_batch_context(|| -> Result<bool, Error> {
                let batch = counts.timed("read", || fetch(&mut self.sql, &cursor, self.batch_size))?;
                if batch.rows() == 0 {
                    return Ok(false);
                }
                counts.batches += 1;
                let rows = batch.rows();
                polars_runtime::size_for_batch(rows);
                work(self, counts, batch)?;
                self.progress.batch_done(rows);
                Ok(true)
            })?;
            if !more {
                break;
            }
        }
        self.sql.close(cursor)
    }
}

/// Counts a stage reports. For the orders stage, `rows_in` is the import's
/// raw lines and `rows_in = rows_ok + rows_superseded + rows_rejected +
/// rows_failed`; the customers and leads stages count the keys they work on.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StageCounts {
    pub rows_in: i64,
    pub rows_ok: i64,
    pub rows_superseded: i64,
    pub rows_rejected: i64,
    pub rows_failed: i64,
    pub batches: i64,
    /// Stage-specific figures for `details`.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl StageCounts {
    /// Runs `work` and adds its wall time to `details.phase_ms.<phase>`, so a
    /// run shows where its time went (reading, transforming, writing...).
    pub fn timed<R>(&mut self, phase: &str, work: impl FnOnce() -> R) -> R {
        let started = std::time::Instant::now();
        let result = work();
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let phases =
            self.extra.entry("phase_ms".to_string()).or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let serde_json::Value::Object(map) = phases {
            let total = map.get(phase).and_then(serde_json::Value::as_f64).unwrap_or(0.0) + ms;
            map.insert(phase.to_string(), serde_json::Value::from((total * 10.0).round() / 10.0));
        }
        result
    }

    /// Counts one rejected or failed line under `details.rejects_by_reason`.
    pub fn add_reject(&mut self, reason: &str) {
        let by_reason = self
            .extra
            .entry("rejects_by_reason".to_string())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let serde_json::Value::Object(map) = by_reason {
            let current = map.get(reason).and_then(serde_json::Value::as_i64).unwrap_or(0);
            map.insert(reason.to_string(), serde_json::Value::from(current + 1));
        }
    }

    pub fn add_extra(&mut self, key: &str, value: i64) {
        let entry = self.extra.entry(key.to_string()).or_insert(serde_json::Value::from(0i64));
        let current = entry.as_i64().unwrap_or(0);
        *entry = serde_json::Value::from(current + value);
    }
}
