//! SQL entry points: one line each over the queue and pipeline layers.
//! Every one runs its work as the runner role (`services::identity`), so a
//! caller needs nothing but EXECUTE, and nothing runs as a superuser.
//! Errors become PostgreSQL errors with a SQLSTATE.

use pgrx::prelude::*;
use pgrx::{JsonB, Uuid};

use crate::error::Error;
use crate::exports;
use crate::pipeline::{self, Stage, StageReport};
use crate::queue;
use crate::services::identity::as_runner;

type ReportRow = (
    name!(stage, String),
    name!(status, String),
    name!(rows_in, i64),
    name!(rows_ok, i64),
    name!(rows_superseded, i64),
    name!(rows_rejected, i64),
    name!(rows_failed, i64),
    name!(duration_ms, f64),
    name!(details, JsonB),
);

fn to_row(r: &StageReport) -> ReportRow {
    (
        r.stage.name().to_string(),
        r.status.name().to_string(),
        r.counts.rows_in,
        r.counts.rows_ok,
        r.counts.rows_superseded,
        r.counts.rows_rejected,
        r.counts.rows_failed,
        r.duration_ms,
        JsonB(r.details()),
    )
}

/// The value of `result`, or the error raised with its SQLSTATE.
fn or_raise<T>(result: Result<T, Error>) -> T {
    result.unwrap_or_else(|e| e.raise())
}

/// Runs an entry point's `work` as the runner role, once the database's
/// extension is at this library's version, and raises its error if any.
fn entry<T>(work: impl FnOnce() -> Result<T, Error>) -> T {
    or_raise(as_runner(|| {
        pipeline::check_installed_version()?;
        work()
    }))
}

fn run_for_sql(import_id: Option<Uuid>, stages: &[Stage], dry_run: Option<bool>) -> TableIterator<'static, ReportRow> {
    let reports = entry(|| {
        let dry_run = dry_run.ok_or(Error::NullArgument("dry_run"))?;
        queue::chain::run_for_caller(import_id, stages, dry_run)
    });
    TableIterator::new(reports.iter().map(to_row).collect::<Vec<_>>())
}

/// Declares the SQL entry point `$sql_name(import_id, dry_run => false)`
/// that runs `$stages` and returns their reports, and `$released`, the C
/// entry point without `dry_run` that the SQL of 0.1.0 and 0.2.0 calls until
/// `ALTER EXTENSION etl_ext UPDATE` (pgrx needs the columns spelled out in
/// each signature).
macro_rules! stage_entry_point {
    ($(#[$doc:meta])* $sql_name:literal: $name:ident, released $released:ident => $stages:expr) => {
        $(#[$doc])*
        ///
        /// With `dry_run => true` the stages run and are rolled back: the
        /// reports say what would change, and nothing is kept, published or
        /// queued.
        #[pg_extern(volatile, parallel_unsafe, name = $sql_name)]
        #[search_path(pg_catalog, pg_temp)]
        fn $name(
            import_id: Option<Uuid>,
            dry_run: default!(Option<bool>, false),
        ) -> TableIterator<
            'static,
            (
                name!(stage, String),
                name!(status, String),
                name!(rows_in, i64),
                name!(rows_ok, i64),
                name!(rows_superseded, i64),
                name!(rows_rejected, i64),
                name!(rows_failed, i64),
                name!(duration_ms, f64),
                name!(details, JsonB),
            ),
        > {
            run_for_sql(import_id, $stages, dry_run)
        }

        #[pg_extern(sql = false)]
        fn $released(
            import_id: Option<Uuid>,
        ) -> TableIterator<
            'static,
            (
                name!(stage, String),
                name!(status, String),
                name!(rows_in, i64),
                name!(rows_ok, i64),
                name!(rows_superseded, i64),
                name!(rows_rejected, i64),
                name!(rows_failed, i64),
                name!(duration_ms, f64),
                name!(details, JsonB),
            ),
        > {
            run_for_sql(import_id, $stages, Some(false))
        }
    };
}

stage_entry_point!(
    /// Stage 1: cleans, validates and upserts the import's raw lines into etl.orders.
    "etl_orders": run_orders, released etl_orders => &[Stage::Orders]
);
stage_entry_point!(
    /// Stage 2: creates the import's customers and links its orders to them.
    "etl_customers": run_customers, released etl_customers => &[Stage::Customers]
);
stage_entry_point!(
    /// Stage 3: attributes the import's orders to leads and recomputes their aggregates.
    "etl_leads": run_leads, released etl_leads => &[Stage::Leads]
);
stage_entry_point!(
    /// The three stages in order, in the caller's transaction; stops at a failed stage.
    "etl_run_all": run_all, released etl_run_all => &Stage::ALL
);

/// Re-runs only the import's rejected and failed lines (after their cause
/// was fixed), with every rule of a whole run, then the customers and leads
/// of the orders they wrote. One row per former reason: how many lines were
/// retried, and how many of them are now loaded, superseded, still rejected
/// (for this or another reason) or failed to load.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn etl_redrive(
    import_id: Option<Uuid>,
) -> TableIterator<
    'static,
    (
        name!(former_reason, String),
        name!(retried, i64),
        name!(loaded, i64),
        name!(superseded, i64),
        name!(still_rejected, i64),
        name!(failed, i64),
    ),
> {
    let reports = entry(|| queue::chain::redrive(import_id));
    let tallies = pipeline::redrive_fates(&reports);
    TableIterator::new(
        tallies
            .into_iter()
            .map(|(reason, t)| (reason, t.retried, t.loaded, t.superseded, t.still_rejected, t.failed))
            .collect::<Vec<_>>(),
    )
}

type ExportRow = (name!(import_id, Uuid), name!(lines, i64), name!(reused, bool));

/// The `request` of an export call, its NULL arguments refused.
fn export_request<'a>(
    profile: Option<&'a str>,
    source: Option<&'a str>,
    shop: Option<&'a str>,
    reload: Option<bool>,
) -> Result<exports::Request<'a>, Error> {
    Ok(exports::Request {
        profile: profile.ok_or(Error::NullArgument("profile"))?,
        source,
        shop,
        reload: reload.ok_or(Error::NullArgument("reload"))?,
    })
}

/// Runs an export call's work as its caller (not as the runner, unlike
/// [`entry`]): the import is the caller's, written under its grants and
/// row-level security, as if it had written the import by hand.
fn export_entry(work: impl FnOnce() -> Result<exports::Loaded, Error>) -> TableIterator<'static, ExportRow> {
    let loaded = or_raise(pipeline::check_installed_version().and_then(|()| work()));
    TableIterator::once((loaded.import_id, loaded.lines, loaded.reused))
}

/// Loads a shop's export (the file's bytes) into a new import of the
/// caller's, as the profile says, and completes it (its pipeline is queued).
/// The same content loaded before by the caller with the same profile and
/// shop returns that import (`reused`), unless `reload`.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn etl_import_export(
    content: Option<&[u8]>,
    profile: Option<&str>,
    source: default!(Option<&str>, "NULL"),
    shop: default!(Option<&str>, "NULL"),
    reload: default!(Option<bool>, false),
) -> TableIterator<'static, (name!(import_id, Uuid), name!(lines, i64), name!(reused, bool))> {
    export_entry(|| {
        let content = content.ok_or(Error::NullArgument("content"))?;
        exports::load_bytes(content, export_request(profile, source, shop, reload)?)
    })
}

/// `etl_import_export` for a file of the server, read as it streams (a CSV)
/// by the server's process: for roles with the privileges of
/// `pg_read_server_files`, checked before the file is touched.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn etl_import_export_file(
    path: Option<&str>,
    profile: Option<&str>,
    source: default!(Option<&str>, "NULL"),
    shop: default!(Option<&str>, "NULL"),
    reload: default!(Option<bool>, false),
) -> TableIterator<'static, (name!(import_id, Uuid), name!(lines, i64), name!(reused, bool))> {
    // SAFETY: reads the current user (the caller: nothing switched) and a
    // role membership from the catalog, inside a transaction.
    let allowed = unsafe {
        pgrx::pg_sys::has_privs_of_role(
            pgrx::pg_sys::GetUserId(),
            pgrx::pg_sys::Oid::from(pgrx::pg_sys::ROLE_PG_READ_SERVER_FILES),
        )
    };
    export_entry(|| {
        if !allowed {
            return Err(Error::ExportFileForbidden);
        }
        let path = path.ok_or(Error::NullArgument("path"))?;
        exports::load_file(path, export_request(profile, source, shop, reload)?)
    })
}

/// Removes the history that is older than `older_than` and than its kind's
/// `etl.retain_*` setting (kinds whose setting is -1, the default, are
/// kept): the raw lines and rejects of finished imports, their done or dead
/// jobs, ended runs, events. One row per table: what it removed, and the
/// time before which its kind of history went (NULL: its retention is off).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn etl_purge(
    older_than: Option<pgrx::datum::Interval>,
) -> TableIterator<
    'static,
    (name!(history, String), name!(removed, i64), name!(before, Option<pgrx::datum::TimestampWithTimeZone>)),
> {
    // SAFETY: reads the current user (the caller: nothing switched yet) and
    // its catalog row.
    let by_superuser = unsafe { pgrx::pg_sys::superuser_arg(pgrx::pg_sys::GetUserId()) };
    let purged = entry(|| pipeline::retention::purge(older_than, by_superuser));
    TableIterator::new(purged.into_iter().map(|p| (p.table.to_string(), p.removed, p.cutoff)).collect::<Vec<_>>())
}

/// A new version 7 (time-ordered) UUID.
#[pg_extern(volatile, parallel_safe)]
fn etl_uuid_v7() -> Uuid {
    Uuid::from_bytes(*uuid::Uuid::now_v7().as_bytes())
}

/// Threads in this backend's Polars pool: 0 until a stage has transformed a
/// batch, then the `etl.polars_threads` value of that first use.
#[pg_extern(volatile, parallel_safe)]
fn etl_polars_pool_threads() -> i32 {
    crate::services::polars_runtime::pool_threads() as i32
}

/// Runs every queued pipeline job that is due, in the caller's transaction,
/// and returns how many imports it worked on. A cancel rolls all of it back:
/// for pg_cron, prefer the procedure `etl_run_queue`, which commits per job.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn etl_run_pending() -> i64 {
    entry(queue::runner::run_pending)
}

/// Requeues the dead or failed stage jobs of an import; returns their stages.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn etl_retry(import_id: Option<Uuid>) -> Vec<String> {
    entry(|| queue::chain::retry(import_id.ok_or(Error::NullImportId)?))
}

/// Lets an import the quality gate holds go on: records who released it
/// and when, publishes IMPORT_RELEASED and queues its orders stage again
/// (nothing of a held import was kept; the chain then runs customers and
/// leads). Operators only. Returns the event's id.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn etl_release(import_id: Option<Uuid>) -> i64 {
    // SAFETY: reads the current user (the releasing operator) before the
    // work switches to the runner.
    let caller = unsafe { pgrx::pg_sys::GetUserId() };
    entry(|| queue::gate::release(import_id.ok_or(Error::NullImportId)?, caller))
}

/// The quality of an import: per shop and reject reason, its lines and
/// rejected lines and their share, the whole import's share, and the share
/// of the same shop's earlier imports. A loader sees only its own imports
/// (and compares with its own earlier imports); readers and operators all.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::type_complexity)] // pgrx needs the columns spelled out here
fn etl_quality(
    import_id: Option<Uuid>,
) -> TableIterator<
    'static,
    (
        name!(shop_id, Option<i64>),
        name!(shop_name, Option<String>),
        name!(reason, Option<String>),
        name!(lines, i64),
        name!(rejected, i64),
        name!(reject_ratio, f64),
        name!(import_reject_ratio, f64),
        name!(previous_imports, i64),
        name!(previous_lines, i64),
        name!(previous_reject_ratio, Option<f64>),
    ),
> {
    // SAFETY: reads the current user (whose imports it may report) before
    // the work switches to the runner.
    let caller = unsafe { pgrx::pg_sys::GetUserId() };
    let rows = entry(|| queue::gate::quality(import_id.ok_or(Error::NullImportId)?, caller));
    TableIterator::new(rows.into_iter().map(|q| {
        (
            q.shop_id,
            q.shop_name,
            q.reason,
            q.lines,
            q.rejected,
            q.reject_ratio,
            q.import_reject_ratio,
            q.previous_imports,
            q.previous_lines,
            q.previous_reject_ratio,
        )
    }))
}

fn emit_event_as_runner(event_type: Option<&str>, payload: Option<&str>) -> i64 {
    entry(|| {
        let event_type = event_type.ok_or(Error::NullArgument("event_type"))?;
        let payload = payload.ok_or(Error::NullArgument("payload"))?;
        queue::chain::emit_event(event_type, payload)
    })
}

/// 0.1.0's C entry point of `etl_emit_event(text, jsonb)`: kept (with no SQL
/// of its own) so that a database still at 0.1.0 runs on this library until
/// `ALTER EXTENSION etl_ext UPDATE`, which makes `etl_emit_event` SQL over
/// `etl.emit_event` (sql/etl_ext--0.1.0--0.2.0.sql).
#[pg_extern(sql = false)]
fn etl_emit_event(event_type: Option<&str>, payload: Option<JsonB>) -> i64 {
    let payload = payload.map(|p| p.0.to_string());
    emit_event_as_runner(event_type, payload.as_deref())
}

/// Functions for the extension's own SQL (the completion trigger, the
/// procedure `etl_run_queue` and the `etl_emit_event` wrapper), in schema `etl`.
#[pg_schema]
mod etl {
    use pgrx::prelude::*;
    use pgrx::Uuid;

    use super::entry;
    use crate::queue;

    /// Called by the trigger on etl.imports when an import becomes completed:
    /// publishes DATA_IMPORT_COMPLETED and queues the pipeline (once; NULL
    /// when it was queued before). Refused for a role that neither owns the
    /// import nor is an operator.
    #[pg_extern(volatile, parallel_unsafe)]
    #[search_path(pg_catalog, pg_temp)]
    fn import_completed(import_id: Uuid) -> Option<i64> {
        // SAFETY: reads the current user (the role completing the import)
        // before the work switches to the runner.
        let caller = unsafe { pgrx::pg_sys::GetUserId() };
        entry(|| queue::chain::import_completed(import_id, caller))
    }

    /// Takes the pipeline's lock for the rest of the caller's transaction, as
    /// every stage run does: for a scale-out partition's `run_all`, which
    /// runs as an operator (who may run the stages, and so hold the lock as
    /// long as a run of theirs lasts anyway).
    #[pg_extern(volatile, parallel_unsafe)]
    #[search_path(pg_catalog, pg_temp)]
    fn lock_pipeline() {
        entry(crate::pipeline::lock_pipeline)
    }

    /// Claims the next due job and counts its attempt; the caller commits
    /// before `etl.run_job`. NULL when no job is due.
    #[pg_extern(volatile, parallel_unsafe)]
    #[search_path(pg_catalog, pg_temp)]
    fn claim_job() -> Option<i64> {
        entry(|| Ok(queue::runner::claim_runnable_job()?.map(|job| job.job_id)))
    }

    /// Runs a job claimed by `etl.claim_job`; returns its new state, NULL
    /// when it is no longer waiting for this run.
    #[pg_extern(volatile, parallel_unsafe)]
    #[search_path(pg_catalog, pg_temp)]
    fn run_job(job_id: i64) -> Option<String> {
        entry(|| Ok(queue::runner::run_job_by_id(job_id)?.map(|o| o.state.name().to_string())))
    }

    /// `etl_emit_event` with the payload as jsonb's text, so that what
    /// JSON-in-Rust cannot hold is refused rather than a panic (see
    /// `queue::chain::emit_event`).
    #[pg_extern(volatile, parallel_unsafe)]
    #[search_path(pg_catalog, pg_temp)]
    fn emit_event(event_type: Option<&str>, payload: Option<&str>) -> i64 {
        super::emit_event_as_runner(event_type, payload)
    }

    /// The stages running now, one row each, for the view `etl.progress`
    /// (none unless the library is preloaded: docs in README).
    /// A loader sees its own imports' stages and its own sessions' export
    /// loads, here and not only through the view (it may call this directly).
    #[pg_extern(volatile, parallel_restricted)]
    #[search_path(pg_catalog, pg_temp)]
    #[allow(clippy::type_complexity)] // pgrx needs the columns spelled out here
    fn progress_rows() -> TableIterator<
        'static,
        (
            name!(pid, i32),
            name!(import_id, Uuid),
            name!(stage, String),
            name!(started_at, Option<pgrx::datum::TimestampWithTimeZone>),
            name!(updated_at, Option<pgrx::datum::TimestampWithTimeZone>),
            name!(batches_done, i64),
            name!(batches_total, Option<i64>),
            name!(lines_done, i64),
            name!(lines_total, Option<i64>),
            name!(lines_per_second, Option<f64>),
            name!(eta, Option<pgrx::datum::Interval>),
        ),
    > {
        let at = |t| pgrx::datum::TimestampWithTimeZone::try_from(t).ok();
        let visible =
            super::or_raise(crate::services::progress::visible_to_caller(crate::services::progress::running_stages()));
        TableIterator::new(visible.into_iter().map(move |p| {
            (
                p.pid,
                p.import_id,
                p.stage,
                at(p.started_at),
                at(p.updated_at),
                p.batches_done,
                p.batches_total,
                p.lines_done,
                p.lines_total,
                p.lines_per_second.map(|r| (r * 10.0).round() / 10.0),
                p.eta_micros.map(pgrx::datum::Interval::from_micros),
            )
        }))
    }
}
