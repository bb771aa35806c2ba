//! Every setting of the extension, registered under the reserved `etl.` prefix.
//!
//! They are real GUCs: `SHOW etl.batch_size` works, `SET` works where a
//! per-session value makes sense, and the worker's settings need a reload.

use std::ffi::CString;

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Default zone for order times that carry no UTC offset.
pub const DEFAULT_SOURCE_TIMEZONE: &std::ffi::CStr = c"Asia/Shanghai";

pub static BATCH_SIZE: GucSetting<i32> = GucSetting::<i32>::new(50_000);
pub static SOURCE_TIMEZONE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(DEFAULT_SOURCE_TIMEZONE));
pub static DATABASE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"postgres"));
pub static MAX_ATTEMPTS: GucSetting<i32> = GucSetting::<i32>::new(5);
pub static POLARS_THREADS: GucSetting<i32> = GucSetting::<i32>::new(2);
pub static POLL_INTERVAL_MS: GucSetting<i32> = GucSetting::<i32>::new(5_000);
pub static RETRY_BASE_DELAY_MS: GucSetting<i32> = GucSetting::<i32>::new(1_000);
pub static PROGRESS_NOTICES: GucSetting<bool> = GucSetting::<bool>::new(false);
/// In kB; -1 leaves the session's work_mem alone.
pub static STAGE_WORK_MEM_KB: GucSetting<i32> = GucSetting::<i32>::new(32 * 1024);
pub static ALLOW_DROP_WITH_DATA: GucSetting<bool> = GucSetting::<bool>::new(false);
/// Retention of each kind of history, in minutes; -1: kept for ever (off).
pub static RETAIN_RAW_LINES_MIN: GucSetting<i32> = GucSetting::<i32>::new(-1);
pub static RETAIN_JOBS_MIN: GucSetting<i32> = GucSetting::<i32>::new(-1);
pub static RETAIN_RUNS_MIN: GucSetting<i32> = GucSetting::<i32>::new(-1);
pub static RETAIN_EVENTS_MIN: GucSetting<i32> = GucSetting::<i32>::new(-1);
pub static RUNNER_ROLE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"etl_runner"));
/// `off`, or the highest share of rejected lines (0 to 1) with which an
/// import goes on from the orders stage to customers and leads (the quality
/// gate, `queue::gate`). A string so that `SHOW` says `off`; its check hook
/// accepts nothing else.
pub static MAX_REJECT_RATIO: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"off"));

/// Registers the settings. Called once from `_PG_init`.
pub fn init() {
    GucRegistry::define_int_guc(
        c"etl.batch_size",
        c"Raw lines (or keys) a stage reads, transforms and writes per batch.",
        c"Memory use grows with this value, not with the size of an import; statements per stage grow with the number of batches.",
        &BATCH_SIZE,
        1,
        1_000_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"etl.source_timezone",
        c"Time zone of order times that carry no UTC offset.",
        c"Any zone name PostgreSQL knows (see pg_timezone_names); PostgreSQL's rules apply to times a daylight-saving change skips or repeats.",
        &SOURCE_TIMEZONE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"etl.database",
        c"Database whose queue the background worker runs.",
        c"Only read by the background worker, which needs shared_preload_libraries = 'etl_ext'. On a reload the worker moves to the new database; a database that does not exist yet is waited for.",
        &DATABASE,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"etl.progress_notices",
        c"Reports every batch of a running stage to its caller as a NOTICE.",
        c"Batch, lines done and total, lines per second and the time left: for a psql user running a big import. The view etl.progress shows the same to every session when the library is preloaded.",
        &PROGRESS_NOTICES,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"etl.runner_role",
        c"Role the stages, the queue and the worker run as.",
        c"Must not be a superuser. Triggers on etl tables run with this role's rights. Only superusers may change it.",
        &RUNNER_ROLE,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"etl.max_attempts",
        c"Attempts of a queued stage before it is marked dead.",
        c"A failed stage is retried with exponential backoff until it has been tried this many times.",
        &MAX_ATTEMPTS,
        1,
        1_000,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"etl.polars_threads",
        c"Threads Polars may use inside one backend.",
        c"1 runs every transform on the backend's own thread. A larger value starts a pool of that size the first time a backend transforms a batch; the pool keeps its size for the life of the backend.",
        &POLARS_THREADS,
        1,
        64,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"etl.poll_interval",
        c"How often the background worker looks at the queue when nothing woke it.",
        c"The worker is woken at the commit of any transaction that queues work; this poll is the fallback.",
        &POLL_INTERVAL_MS,
        10,
        3_600_000,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"etl.retry_base_delay",
        c"Delay before the first retry of a failed stage; each further retry doubles it.",
        c"",
        &RETRY_BASE_DELAY_MS,
        0,
        86_400_000,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"etl.stage_work_mem",
        c"Highest work_mem a stage's statements run with.",
        c"A stage's statement over a whole import may hold up to four hash tables or sorts at once, each up to work_mem (hash tables: times hash_mem_multiplier), so a session's large work_mem would let one stage take gigabytes on a huge import. A stage lowers work_mem to this value while it runs (a lower work_mem is kept) and restores it afterwards. -1 (or 0) keeps the session's work_mem.",
        &STAGE_WORK_MEM_KB,
        -1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_KB,
    );
    GucRegistry::define_bool_guc(
        c"etl.allow_drop_with_data",
        c"Lets DROP EXTENSION etl_ext drop the extension while etl.orders holds rows.",
        c"DROP EXTENSION etl_ext drops every table of schema etl and its rows. Off, such a DROP is refused while etl.orders holds a row (SQLSTATE 55000); set it on in the session, after a pg_dump, to drop anyway. Only superusers may change it.",
        &ALLOW_DROP_WITH_DATA,
        GucContext::Suset,
        GucFlags::default(),
    );
    // SAFETY: the check hook is `extern "C-unwind"`, panics nowhere and only
    // reads its argument and sets GUC_check_errdetail_string, as PostgreSQL's
    // own check hooks do.
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            c"etl.max_reject_ratio",
            c"The quality gate: highest share of rejected lines (0 to 1) with which an import goes on after the orders stage; off by default.",
            c"An import whose orders stage rejects a larger share of its lines is held: its customers and leads stages wait for etl_release(import_id). 'off' holds nothing. Superusers set it (postgresql.conf, ALTER SYSTEM, or GRANT SET ON PARAMETER), so that neither the database owner nor a loader can turn it off or on for the worker.",
            &MAX_REJECT_RATIO,
            GucContext::Suset,
            GucFlags::default(),
            Some(check_max_reject_ratio),
            None,
            None,
        );
    }
    // Retention (etl_purge): superuser-only (postgresql.conf, ALTER SYSTEM,
    // or ALTER ROLE <the pg_cron job's role> SET by a superuser), so that a
    // database owner's ALTER DATABASE SET, or a loader's SET, can neither
    // shorten what is kept nor stop the purge; etl_purge's own older_than
    // can only keep more (docs/operations.md, "Retention").
    for (name, description, setting) in [
        (
            c"etl.retain_raw_lines",
            c"How long etl_purge keeps the raw lines and rejects of a finished import, after its completion; -1 keeps them for ever.",
            &RETAIN_RAW_LINES_MIN,
        ),
        (
            c"etl.retain_jobs",
            c"How long etl_purge keeps the jobs of an import whose every job is done or dead, after the last ended; -1 keeps them for ever.",
            &RETAIN_JOBS_MIN,
        ),
        (c"etl.retain_runs", c"How long etl_purge keeps a stage run after it ended; -1 keeps runs for ever.", &RETAIN_RUNS_MIN),
        (c"etl.retain_events", c"How long etl_purge keeps an event after it was stored; -1 keeps events for ever.", &RETAIN_EVENTS_MIN),
    ] {
        GucRegistry::define_int_guc(
            name,
            description,
            c"etl_purge(older_than) removes history older than the larger of this and older_than; a unit may be given ('30d', '12h'). Only superusers may change it.",
            setting,
            -1,
            i32::MAX,
            GucContext::Suset,
            GucFlags::UNIT_MIN,
        );
    }
    // SAFETY: called from _PG_init, on the backend's main thread.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"etl".as_ptr()) };
}

/// Reads a value of `etl.max_reject_ratio`: `off` (any case, blank
/// around it allowed) is None, a number from 0 to 1 is the share. Pure.
pub fn parse_reject_ratio(text: &str) -> Result<Option<f64>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(Some(ratio)),
        _ => Err(format!(
            "etl.max_reject_ratio is 'off' or a share of rejected lines from 0 to 1 (such as 0.2), not '{}'",
            text.chars().take(40).collect::<String>()
        )),
    }
}

/// The check hook of `etl.max_reject_ratio`: refuses anything
/// [`parse_reject_ratio`] does not read, at SET, ALTER SYSTEM or reload.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_max_reject_ratio(
    newval: *mut *mut std::ffi::c_char,
    _extra: *mut *mut std::ffi::c_void,
    _source: pgrx::pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: PostgreSQL passes a valid pointer to the new value, which is
    // NULL or a NUL-terminated string.
    let value = unsafe {
        if newval.is_null() || (*newval).is_null() {
            return true;
        }
        std::ffi::CStr::from_ptr(*newval).to_string_lossy().into_owned()
    };
    match parse_reject_ratio(&value) {
        Ok(_) => true,
        Err(why) => {
            if let Ok(detail) = CString::new(why) {
                // SAFETY: what GUC_check_errdetail does: a palloc'd message
                // that PostgreSQL reports with the refusal.
                unsafe { pgrx::pg_sys::GUC_check_errdetail_string = pgrx::pg_sys::pstrdup(detail.as_ptr()) };
            }
            false
        }
    }
}

/// The quality gate's threshold: None when `etl.max_reject_ratio` is off.
pub fn max_reject_ratio() -> Option<f64> {
    MAX_REJECT_RATIO.get().and_then(|s| s.into_string().ok()).and_then(|s| parse_reject_ratio(&s).ok().flatten())
}

pub fn progress_notices() -> bool {
    PROGRESS_NOTICES.get()
}

pub fn batch_size() -> usize {
    BATCH_SIZE.get().max(1) as usize
}

pub fn source_timezone() -> String {
    SOURCE_TIMEZONE
        .get()
        .and_then(|s| s.into_string().ok())
        .unwrap_or_else(|| DEFAULT_SOURCE_TIMEZONE.to_string_lossy().into_owned())
}

pub fn database() -> Option<String> {
    DATABASE.get().and_then(|s| s.into_string().ok()).filter(|s| !s.is_empty())
}

pub fn allow_drop_with_data() -> bool {
    ALLOW_DROP_WITH_DATA.get()
}

pub fn runner_role() -> String {
    RUNNER_ROLE.get().and_then(|s| s.into_string().ok()).unwrap_or_default()
}

/// The cap on a stage's work_mem in kB, if any (-1 or 0: none; at least
/// work_mem's own minimum, 64 kB).
pub fn stage_work_mem_kb() -> Option<i32> {
    Some(STAGE_WORK_MEM_KB.get()).filter(|&kb| kb > 0).map(|kb| kb.max(64))
}

pub fn max_attempts() -> i32 {
    MAX_ATTEMPTS.get()
}

pub fn polars_threads() -> usize {
    POLARS_THREADS.get().max(1) as usize
}

pub fn poll_interval_ms() -> i64 {
    i64::from(POLL_INTERVAL_MS.get())
}

pub fn retry_base_delay_ms() -> i64 {
    i64::from(RETRY_BASE_DELAY_MS.get())
}

/// The retention of each kind of history in minutes (None: off), in the
/// order raw lines, jobs, runs, events.
pub fn retention_minutes() -> [Option<i64>; 4] {
    [&RETAIN_RAW_LINES_MIN, &RETAIN_JOBS_MIN, &RETAIN_RUNS_MIN, &RETAIN_EVENTS_MIN]
        .map(|s| Some(i64::from(s.get())).filter(|&m| m >= 0))
}

#[cfg(test)]
mod tests {
    use super::parse_reject_ratio;

    #[test]
    fn the_reject_ratio_is_off_or_a_share_from_0_to_1() {
        assert_eq!(parse_reject_ratio("off"), Ok(None));
        assert_eq!(parse_reject_ratio(" OFF "), Ok(None));
        assert_eq!(parse_reject_ratio("0.2"), Ok(Some(0.2)));
        assert_eq!(parse_reject_ratio("0"), Ok(Some(0.0)));
        assert_eq!(parse_reject_ratio("1"), Ok(Some(1.0)));
        for bad in ["", "on", "-0.1", "1.5", "NaN", "inf", "20%", "0,2"] {
            assert!(parse_reject_ratio(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
