//! Runs stages for an import: checks the call, serialises pipeline runs,
//! writes the `etl.runs` row, isolates a failing stage in a subtransaction
//! and reports what happened. Knows the stages, nothing of events or queues.

use std::collections::BTreeMap;
use std::time::Instant;

use pgrx::Uuid;

use crate::error::Error;
use crate::services::progress::StageProgress;
use crate::services::spi::{one_snapshot_per_transaction, Sql};
use crate::services::{stage_settings, subxact};
use crate::stage::{RunContext, Scope, StageCounts};

pub use crate::orders::RedriveTally;
pub use crate::stage::Stage;
use crate::{customers, gucs, leads, orders};

pub mod retention;

/// Locks the one row of `etl.pipeline_lock` for the rest of the transaction:
/// it serialises stage runs across sessions, so that concurrent imports
/// cannot deadlock on shared customers and leads and give the same result
/// as the same imports run one after another. Only the runner role may lock
/// that row (it needs UPDATE on the table), so no other role can hold it and
/// stop the pipeline, as anyone could with an advisory lock. A partition's
/// `etl_partition.run_all` (sql/scale_out/partition.sql) takes it too.
const LOCK_PIPELINE: &str = "SELECT 1 FROM etl.pipeline_lock FOR UPDATE";

/// Outcome of one stage run, as returned to SQL and logged in `etl.runs`.
#[derive(Debug, Clone)]
pub struct StageReport {
    pub run_id: i64,
    pub import_id: Uuid,
    pub stage: Stage,
    pub status: RunStatus,
    pub counts: StageCounts,
    pub queries: u64,
    pub duration_ms: f64,
    pub error: Option<String>,
    /// A rehearsal (`dry_run => true`): nothing it reports was kept, and its
    /// `etl.runs` row was rolled back with the rest.
    pub dry_run: bool,
    pub scope: Scope,
    /// Whether what the stage wrote was kept: false when a [`Judge`] had
    /// it rolled back (the quality gate held the import). Its `etl.runs`
    /// row is kept either way, and says so (`details.kept = false`).
    pub kept: bool,
}

impl StageReport {
    pub fn succeeded(&self) -> bool {
        self.status != RunStatus::Failed
    }

    pub fn details(&self) -> serde_json::Value {
        let mut details = self.counts.extra.clone();
        if self.dry_run {
            details.insert("dry_run".into(), true.into());
        } else {
            details.insert("run_id".into(), self.run_id.into());
        }
        if !self.kept {
            details.insert("kept".into(), false.into());
        }
        if self.scope == Scope::Redrive {
            details.insert("scope".into(), "redrive".into());
        }
        details.insert("batches".into(), self.counts.batches.into());
        details.insert("queries".into(), self.queries.into());
        if let Some(error) = &self.error {
            details.insert("error".into(), error.clone().into());
        }
        serde_json::Value::Object(details)
    }
}

/// How a stage run ended; the `CHECK` constraint on `etl.runs.status` is the
/// authority (it also allows `running`, the state of a run in progress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Success,
    /// Some lines were rejected or failed to load; the others landed.
    PartialSuccess,
    /// The stage itself hit an error: its work was rolled back.
    Failed,
}

impl RunStatus {
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::PartialSuccess => "partial_success",
            RunStatus::Failed => "failed",
        }
    }

    pub fn from_name(name: &str) -> Option<RunStatus> {
        [RunStatus::Success, RunStatus::PartialSuccess, RunStatus::Failed].into_iter().find(|s| s.name() == name)
    }
}

/// Takes the pipeline lock for the rest of the transaction (reentrant).
/// Whatever runs a stage takes it before it touches any job row.
pub fn lock_pipeline() -> Result<(), Error> {
    lock_pipeline_with(&mut Sql::new())
}

fn lock_pipeline_with(sql: &mut Sql) -> Result<(), Error> {
    sql.execute(LOCK_PIPELINE, &[])?;
    Ok(())
}

/// Checks that the database's extension is at this library's version: in
/// the window between installing a new library and `ALTER EXTENSION etl_ext
/// UPDATE`, the library would run on tables and functions of another
/// version, so every call is refused, with what to do.
pub fn check_installed_version() -> Result<(), Error> {
    let installed = Sql::new().query(
        "SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'etl_ext'",
        &[],
        |rows| Ok(rows.first().get_one::<String>()?),
    )?;
    match installed {
        Some(version) if version != LIBRARY_VERSION => {
            Err(Error::ExtensionNotUpdated { installed: version, library: LIBRARY_VERSION })
        }
        _ => Ok(()),
    }
}

/// The version of this library (and of the SQL it was built with).
pub const LIBRARY_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Checks that `import_id` names a completed import whose lines this
/// transaction sees. Changes nothing.
///
/// Completing an import waits for every transaction still adding lines to
/// it (the `INSERT` policies of etl.raw_orders lock it `FOR SHARE`), so a
/// snapshot that sees the import completed sees all its lines, except the
/// snapshot of a `REPEATABLE READ` or `SERIALIZABLE` transaction that
/// completed the import itself: taken before the completion, it misses the
/// lines committed while the completion waited for them (or before, since
/// the snapshot), and a stage run in it would leave them out for good (its
/// job settled, nothing would load them). Such a run is refused; in `READ
/// COMMITTED` every statement of a stage takes a new snapshot.
pub fn check_import(import_id: Option<Uuid>) -> Result<Uuid, Error> {
    let import_id = import_id.ok_or(Error::NullImportId)?;
    let found = Sql::new().query(
        "SELECT i.status, i.xmin::text, pg_catalog.current_setting('transaction_isolation')
           FROM etl.imports i WHERE i.import_id = $1",
        &[import_id.into()],
        |rows| match rows.into_iter().next() {
            Some(row) => Ok(Some((
                row.get::<String>(1)?.unwrap_or_default(),
                row.get::<String>(2)?.unwrap_or_default(),
                row.get::<String>(3)?.unwrap_or_default(),
            ))),
            None => Ok(None),
        },
    )?;
    match found {
        None => Err(Error::UnknownImport(import_id.to_string())),
        Some((status, _, _)) if status != "completed" => {
            Err(Error::ImportNotCompleted { import_id: import_id.to_string(), status })
        }
        // READ UNCOMMITTED is READ COMMITTED in PostgreSQL: a snapshot per statement.
        Some((_, xmin, isolation))
            if matches!(isolation.as_str(), "repeatable read" | "serializable")
                && written_by_this_transaction(&xmin)? =>
        {
            Err(Error::CompletedAfterSnapshot(import_id.to_string(), isolation))
        }
        Some(_) => Ok(import_id),
    }
}

/// Whether a row version's `xmin` (as text) is this transaction or one of
/// its subtransactions: the row was written by this transaction.
fn written_by_this_transaction(xmin: &str) -> Result<bool, Error> {
    let xid: u32 = xmin.parse().map_err(|_| Error::Unexpected(format!("etl.imports.xmin is not a number: {xmin}")))?;
    // SAFETY: a lookup in this backend's own transaction state, made inside
    // a transaction (the statement above just ran).
    Ok(unsafe { pgrx::pg_sys::TransactionIdIsCurrentTransactionId(pgrx::pg_sys::TransactionId::from_inner(xid)) })
}

/// The status of an import (`pending`, `completed`, `failed`), or `None`
/// if there is no such import.
pub fn import_status(import_id: Uuid) -> Result<Option<String>, Error> {
    Sql::new().query("SELECT status FROM etl.imports WHERE import_id = $1", &[import_id.into()], |rows| {
        match rows.into_iter().next() {
            Some(row) => Ok(row.get::<String>(1)?),
            None => Ok(None),
        }
    })
}

/// Checks `etl.source_timezone` before any work, so a typo is one clear
/// error rather than a failure of every line.
pub fn check_source_timezone() -> Result<String, Error> {
    let zone = gucs::source_timezone();
    let known = subxact::run(|| Sql::new().query("SELECT now() AT TIME ZONE $1", &[zone.as_str().into()], |_| Ok(())));
    match known {
        Ok(()) => Ok(zone),
        Err(_) => Err(Error::UnknownTimeZone(zone)),
    }
}

/// What a caller does after each stage of [`run_stages_until`] (and may
/// add to its report): returns whether the next stage runs. The runner
/// knows nothing of events, queues or the quality gate; its callers do.
pub type AfterStage<'a> = dyn FnMut(&mut StageReport) -> Result<bool, Error> + 'a;

/// Runs `stages` in order for a checked import, in the caller's
/// transaction, calling `after` at the end of each stage, before the next;
/// stops after a failed stage or when `after` says so.
pub fn run_stages_until(import_id: Uuid, stages: &[Stage], after: &mut AfterStage) -> Result<Vec<StageReport>, Error> {
    run_stages_in(import_id, stages, Scope::Import, None, after)
}

/// Decides, inside a stage's subtransaction, after its work and before
/// anything it wrote is kept, whether it is kept: returns false to have it
/// rolled back (the stage's report then says `kept = false`; its counts,
/// and what the judge added to them, are those of the rolled back work).
/// It may read what the stage wrote (it runs in the same subtransaction);
/// what it writes is kept or rolled back with the stage. An error is the
/// stage's failure. The runner knows nothing of why (the quality gate).
pub type Judge<'a> = dyn FnMut(Stage, &mut StageCounts) -> Result<bool, Error> + 'a;

/// [`run_stages_until`], where `judge` decides of each stage whether its
/// writes are kept. No judge (the other functions) costs nothing: the
/// stage's subtransaction is the one every stage runs in.
pub fn run_stages_judged(
    import_id: Uuid,
    stages: &[Stage],
    judge: &mut Judge,
    after: &mut AfterStage,
) -> Result<Vec<StageReport>, Error> {
    run_stages_in(import_id, stages, Scope::Import, Some(judge), after)
}

/// Runs the three stages on the import's rejected and failed lines only,
/// then on the orders those lines wrote: the redrive after the cause was
/// fixed (a shop added, a mapping added, a user's trigger fixed).
/// A failed stage is an error: its work was rolled back, and so is the
/// caller's transaction.
pub fn redrive(import_id: Uuid) -> Result<Vec<StageReport>, Error> {
    // Taken before the check so that no run of the import can start or end
    // between it and the stages (each stage takes the same lock again: it is
    // reentrant, and they also run without this function).
    lock_pipeline()?;
    let orders_ran =
        Sql::new().query(include_str!("../../sql/queries/orders_ran.sql"), &[import_id.into()], |rows| {
            Ok(rows.first().get_one::<bool>()?.unwrap_or(false))
        })?;
    if !orders_ran {
        return Err(Error::NotRunYet(import_id.to_string()));
    }
    let reports = run_stages_in(import_id, &Stage::ALL, Scope::Redrive, None, &mut |_| Ok(true))?;
    if let Some(failed) = reports.iter().find(|r| !r.succeeded()) {
        return Err(Error::RedriveFailed {
            import_id: import_id.to_string(),
            stage: failed.stage.name(),
            message: failed.error.clone().unwrap_or_default(),
        });
    }
    Sql::new().execute("DELETE FROM etl.redrive_scope WHERE import_id = $1", &[import_id.into()])?;
    Ok(reports)
}

/// What a redrive's orders run did to the lines it retried, by their former
/// reason (read back from its `details.redrive_fates`).
pub fn redrive_fates(reports: &[StageReport]) -> BTreeMap<String, RedriveTally> {
    orders::redrive_tallies(
        reports.iter().find(|r| r.stage == Stage::Orders).and_then(|r| r.counts.extra.get("redrive_fates")),
    )
}

/// Refuses an import whose raw lines etl_purge removed (a run of its orders
/// stage would load nothing and say so as if it were true), and otherwise
/// keeps them until the transaction ends: the import's row is taken FOR
/// SHARE, which etl_purge's lock on the imports it purges conflicts with.
/// The lock comes first and the check after it, in a statement of its own:
/// a purge that held the row is waited for, and its result seen.
fn check_raw_lines_kept(import_id: Uuid) -> Result<(), Error> {
    Sql::new().execute(include_str!("../../sql/queries/raw_lines_kept.sql"), &[import_id.into()])?;
    if let Some(at) = raw_lines_purged_at(import_id)? {
        return Err(Error::RawLinesPurged { import_id: import_id.to_string(), purged_at: at.to_string() });
    }
    check_not_purged_since_snapshot(import_id)
}

/// After a read of one import's raw lines made without the import's row
/// lock (etl_quality, etl_import_export's count): whether a purge removed
/// them meanwhile, read with a new snapshot. A purge that emptied the
/// import's partition and committed while the read waited for it left the
/// read no lines; its record says so. Refuses with RawLinesPurged when this
/// transaction's snapshot sees the record, else (an older REPEATABLE READ
/// snapshot) with RawLinesPurgedSinceSnapshot (40001).
pub fn check_not_purged_after_read(import_id: Uuid) -> Result<(), Error> {
    if Sql::new().count_now(include_str!("../../sql/queries/raw_lines_purged_now.sql"), &[import_id.into()])? == 0 {
        return Ok(());
    }
    match raw_lines_purged_at(import_id)? {
        Some(at) => Err(Error::RawLinesPurged { import_id: import_id.to_string(), purged_at: at.to_string() }),
        None => Err(Error::RawLinesPurgedSinceSnapshot(import_id.to_string())),
    }
}

/// A purge may have emptied the import's partition as a whole since a
/// REPEATABLE READ or SERIALIZABLE snapshot was taken: TRUNCATE is not
/// MVCC-safe, so that snapshot would read no lines at all (a DELETE's rows
/// it would still see). Reads the record with a new snapshot; a stage run
/// calls it after [`raw_lines_purged_at`] found none (readers without the
/// row lock check after their read: [`check_not_purged_after_read`]).
fn check_not_purged_since_snapshot(import_id: Uuid) -> Result<(), Error> {
    if one_snapshot_per_transaction()
        && Sql::new().count_now(include_str!("../../sql/queries/raw_lines_purged_now.sql"), &[import_id.into()])? > 0
    {
        return Err(Error::RawLinesPurgedSinceSnapshot(import_id.to_string()));
    }
    Ok(())
}

/// When etl_purge removed the import's raw lines (None: they are kept).
pub fn raw_lines_purged_at(import_id: Uuid) -> Result<Option<pgrx::datum::TimestampWithTimeZone>, Error> {
    Sql::new().query(include_str!("../../sql/queries/raw_lines_purged.sql"), &[import_id.into()], |rows| {
        match rows.into_iter().next() {
            Some(row) => Ok(row.get::<pgrx::datum::TimestampWithTimeZone>(1)?),
            None => Ok(None),
        }
    })
}

fn run_stages_in(
    import_id: Uuid,
    stages: &[Stage],
    scope: Scope,
    mut judge: Option<&mut Judge>,
    after: &mut AfterStage,
) -> Result<Vec<StageReport>, Error> {
    if stages.contains(&Stage::Orders) {
        check_raw_lines_kept(import_id)?;
    }
    let source_timezone =
        if stages.contains(&Stage::Orders) { check_source_timezone()? } else { gucs::source_timezone() };
    let mut reports = Vec::with_capacity(stages.len());
    for &stage in stages {
        let mut report = run_stage(import_id, stage, scope, &source_timezone, judge.as_deref_mut())?;
        let goes_on = after(&mut report)? && report.succeeded();
        reports.push(report);
        if !goes_on {
            break;
        }
    }
    Ok(reports)
}

/// Runs `stages` as [`run_stages_until`] does, in a subtransaction that is then
/// rolled back: the reports say what the run would change, and no row of
/// any table keeps a trace of it (its runs and rejects included). Identity
/// values it drew (run ids, lead numbers) are skipped, as after any rolled
/// back transaction. `after` runs inside the rehearsal (it sees what the
/// stages wrote) and must write nothing that should outlast it.
pub fn rehearse_stages(import_id: Uuid, stages: &[Stage], after: &mut AfterStage) -> Result<Vec<StageReport>, Error> {
    let mut reports = subxact::run_and_roll_back(|| run_stages_until(import_id, stages, after))?;
    for report in &mut reports {
        report.dry_run = true;
    }
    Ok(reports)
}

fn run_stage(
    import_id: Uuid,
    stage: Stage,
    scope: Scope,
    source_timezone: &str,
    judge: Option<&mut Judge>,
) -> Result<StageReport, Error> {
    let started = Instant::now();
    let mut sql = Sql::new();
    lock_pipeline_with(&mut sql)?;
    let run_id = sql.query(
        "INSERT INTO etl.runs (import_id, stage, status) VALUES ($1, $2, 'running') RETURNING run_id",
        &[import_id.into(), stage.name().into()],
        |rows| rows.first().get_one::<i64>()?.ok_or_else(|| Error::Unexpected("no run_id".into())),
    )?;

    let batch_size = gucs::batch_size();
    let mut ctx = RunContext {
        import_id,
        scope,
        run_id,
        batch_size,
        source_timezone: source_timezone.to_string(),
        sql,
        progress: StageProgress::start(import_id, stage.name(), batch_size),
    };
    // The stage's one subtransaction: a failure rolls it back; so does a
    // judge that keeps nothing (no further subtransaction for it).
    let outcome = subxact::run_deciding(|| {
        let saved_settings = stage_settings::apply(&mut ctx.sql)?;
        let mut counts = match stage {
            Stage::Orders => orders::run(&mut ctx),
            Stage::Customers => customers::run(&mut ctx),
            Stage::Leads => leads::run(&mut ctx),
        }?;
        stage_settings::restore(&mut ctx.sql, saved_settings)?;
        let keep = match judge {
            Some(judge) => judge(stage, &mut counts)?,
            None => true,
        };
        Ok((counts, keep))
    });
    let (status, counts, error, kept) = match outcome {
        Ok((counts, kept)) if counts.rows_rejected + counts.rows_failed > 0 => {
            (RunStatus::PartialSuccess, counts, None, kept)
        }
        Ok((counts, kept)) => (RunStatus::Success, counts, None, kept),
        Err(e) => (RunStatus::Failed, StageCounts::default(), Some(e.to_string()), true),
    };
    let mut sql = ctx.sql;
    let report = StageReport {
        run_id,
        import_id,
        stage,
        status,
        counts,
        // The statements so far and the update of the run row below.
        queries: sql.statements() + 1,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        error,
        dry_run: false,
        scope,
        kept,
    };
    log_run(&mut sql, &report)?;
    Ok(report)
}

fn log_run(sql: &mut Sql, r: &StageReport) -> Result<(), Error> {
    sql.execute(
        include_str!("../../sql/queries/log_run.sql"),
        &[
            r.run_id.into(),
            r.status.name().into(),
            r.counts.rows_in.into(),
            r.counts.rows_ok.into(),
            r.counts.rows_superseded.into(),
            r.counts.rows_rejected.into(),
            r.counts.rows_failed.into(),
            r.counts.batches.into(),
            (r.queries as i64).into(),
            r.duration_ms.into(),
            r.error.clone().into(),
            pgrx::JsonB(r.details()).into(),
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn scale_out_partitions_take_the_same_pipeline_lock() {
        let partition_sql = include_str!("../../sql/scale_out/partition.sql");
        assert!(
            partition_sql.contains("PERFORM etl.lock_pipeline();"),
            "sql/scale_out/partition.sql must lock the pipeline with etl.lock_pipeline()"
        );
        assert!(!partition_sql.contains("advisory"), "no advisory lock: every role can take one");
    }
}
