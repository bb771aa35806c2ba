//! The extension's one error type: every kind of failure it raises (or, for
//! an application's refused event, stores), each mapped to a SQLSTATE and a
//! message a DBA can act on.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// Everything that can go wrong, by kind:
///
/// * a call of a SQL entry point that cannot be served (nothing was changed);
/// * a stage, or a statement inside it, that could not complete;
/// * an identity the extension refuses to act with;
/// * an application's event that is refused ([`Error::Refused`]: stored with
///   its reason, never raised).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // A call that cannot be served.
    #[error("import_id must not be NULL")]
    NullImportId,
    #[error("import {0} does not exist in etl.imports")]
    UnknownImport(String),
    #[error("etl_ext {installed} is installed in this database, but the library is {library}")]
    ExtensionNotUpdated { installed: String, library: &'static str },
    #[error("import {0} belongs to another role; only its owner or an operator may complete it")]
    NotImportOwner(String),
    #[error("import {import_id} has status '{status}', not 'completed'")]
    ImportNotCompleted { import_id: String, status: String },
    #[error(
        "import {0} was completed in this transaction, whose snapshot ({1}) is older than the completion: \
         a stage run now would miss the lines committed while the completion waited for them"
    )]
    CompletedAfterSnapshot(String, String),
    #[error("no job of import {0} is dead or failed, so there is nothing to retry")]
    NothingToRetry(String),
    #[error("etl.source_timezone = '{0}' is not a time zone PostgreSQL knows")]
    UnknownTimeZone(String),
    #[error("{0} must not be NULL")]
    NullArgument(&'static str),
    #[error("event_type is {bytes} bytes long; an event type has at most {max}")]
    EventTypeTooLong { bytes: usize, max: usize },
    #[error("import {0} has no successful run of the orders stage, so it has no rejected lines to redrive")]
    NotRunYet(String),
    #[error("the raw lines of import {import_id} were purged at {purged_at} (etl_purge); it cannot be run again or redriven")]
    RawLinesPurged { import_id: String, purged_at: String },
    #[error("the raw lines of import {0} were purged (etl_purge) after this transaction's snapshot was taken")]
    RawLinesPurgedSinceSnapshot(String),
    #[error("the raw lines and rejects of import {import_id} were purged at {purged_at} (etl_purge): etl_quality has no lines left to count")]
    QualityOfPurged { import_id: String, purged_at: String },
    #[error("older_than must not be negative (got {0})")]
    NegativeRetention(String),
    #[error("the redrive of import {import_id} failed in the {stage} stage and changed nothing: {message}")]
    RedriveFailed { import_id: String, stage: &'static str, message: String },
    #[error("import {import_id} is held by the quality gate: {reason}")]
    ImportHeld { import_id: String, reason: String },
    #[error("import {0} is not held by the quality gate, so there is nothing to release")]
    NotHeld(String),
    #[error("import {import_id} was already released by {released_by} at {released_at}")]
    AlreadyReleased { import_id: String, released_by: String, released_at: String },
    #[error("only members of etl_operator may {0}")]
    OperatorsOnly(&'static str),
    #[error("import {0} is not an import of yours; a loader sees only its own imports")]
    NotVisible(String),

    // An export that cannot be loaded (etl_import_export): nothing was written.
    #[error("export profile \"{0}\" does not exist in etl.export_profiles")]
    UnknownExportProfile(String),
    #[error("export profile \"{profile}\" cannot be used: {why}")]
    BadExportProfile { profile: String, why: String },
    #[error("the export lacks the header {missing} that profile \"{profile}\" needs; nothing was loaded")]
    ExportMissingHeaders { profile: String, missing: String },
    #[error("the export cannot be read: {0}; nothing was loaded")]
    ExportUnreadable(String),
    #[error("the export is not in its profile's encoding: {0}; nothing was loaded")]
    ExportBadEncoding(String),
    #[error("export profile \"{0}\" maps no shop column and names no fixed_shop, and the call gave no shop")]
    ExportNeedsShop(String),
    #[error("the export has more than 2147483647 rows, more than etl.raw_orders.line_no can number")]
    ExportTooLong,
    #[error("could not read file \"{path}\": {message}")]
    ExportFile { path: String, message: String },
    #[error("could not open file \"{0}\": no such file")]
    ExportFileMissing(String),
    #[error(
        "permission denied to read server files: etl_import_export_file needs the privileges of pg_read_server_files"
    )]
    ExportFileForbidden,

    // A stage (or a statement inside it) that could not complete.
    #[error("SPI: {0}")]
    Spi(#[from] pgrx::spi::SpiError),
    #[error("transform: {0}")]
    Transform(#[from] polars::error::PolarsError),
    #[error("{message}")]
    Database { sqlstate: PgSqlErrorCode, message: String },
    #[error("unexpected result: {0}")]
    Unexpected(String),

    // An identity the extension cannot trust.
    #[error("etl.runner_role = '{0}' names a superuser; the pipeline never runs as one")]
    RunnerIsSuperuser(String),
    #[error("etl.runner_role = '{0}' is not a role of this cluster")]
    NoSuchRunner(String),
    #[error("identity lookup failed: {0}")]
    IdentityLookup(String),

    // An application's event that is not accepted.
    #[error("{0}")]
    Refused(#[from] EventError),
}

/// The name the SQL entry points and the worker (worker.rs) use for it.
pub type CallError = Error;

impl Error {
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            Error::NullImportId | Error::NullArgument(_) => ERRCODE_NULL_VALUE_NOT_ALLOWED,
            Error::UnknownImport(_) | Error::NoSuchRunner(_) | Error::UnknownExportProfile(_) => {
                ERRCODE_UNDEFINED_OBJECT
            }
            Error::NotImportOwner(_) | Error::RunnerIsSuperuser(_) | Error::ExportFileForbidden => {
                ERRCODE_INSUFFICIENT_PRIVILEGE
            }
            Error::BadExportProfile { .. } | Error::ExportNeedsShop(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            Error::ExportMissingHeaders { .. } | Error::ExportUnreadable(_) => ERRCODE_BAD_COPY_FILE_FORMAT,
            Error::ExportBadEncoding(_) => ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
            Error::ExportTooLong => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            Error::ExportFile { .. } => ERRCODE_IO_ERROR,
            Error::ExportFileMissing(_) => ERRCODE_UNDEFINED_FILE,
            Error::CompletedAfterSnapshot(..) => ERRCODE_INVALID_TRANSACTION_STATE,
            // Retried, the transaction meets the purge and RawLinesPurged.
            Error::RawLinesPurgedSinceSnapshot(_) => ERRCODE_T_R_SERIALIZATION_FAILURE,
            Error::ImportNotCompleted { .. }
            | Error::NothingToRetry(_)
            | Error::NotRunYet(_)
            | Error::ImportHeld { .. }
            | Error::NotHeld(_)
            | Error::AlreadyReleased { .. }
            | Error::RawLinesPurged { .. }
            | Error::QualityOfPurged { .. }
            | Error::ExtensionNotUpdated { .. } => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            Error::OperatorsOnly(_) | Error::NotVisible(_) => ERRCODE_INSUFFICIENT_PRIVILEGE,
            Error::UnknownTimeZone(_)
            | Error::EventTypeTooLong { .. }
            | Error::Refused(_)
            | Error::NegativeRetention(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            // The stage's own error is in the message (and in etl.runs had
            // the transaction been kept); the call can be retried.
            Error::RedriveFailed { .. } => ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
            Error::Spi(_) | Error::Unexpected(_) | Error::IdentityLookup(_) => ERRCODE_INTERNAL_ERROR,
            Error::Transform(_) => ERRCODE_DATA_EXCEPTION,
            Error::Database { sqlstate, .. } => *sqlstate,
        }
    }

    /// Whether the database refused the data itself: a data exception
    /// (class 22), an integrity violation (class 23), a limit a value
    /// exceeds (class 54: an index row too big for a very long nickname, a
    /// value too large to build) or a user's `RAISE` (P0001). Only these may
    /// narrow a batch down to `load_error` lines; anything else (a timeout,
    /// a deadlock, out of memory) fails the stage so that it is retried, and
    /// never turns good lines into rejects.
    pub fn is_data_error(&self) -> bool {
        match self {
            Error::Database { sqlstate, .. } => {
                [SqlStateClass::DATA_EXCEPTION, SqlStateClass::INTEGRITY_VIOLATION, SqlStateClass::LIMIT_EXCEEDED]
                    .contains(&SqlStateClass::of(*sqlstate))
                    || *sqlstate == PgSqlErrorCode::ERRCODE_RAISE_EXCEPTION
            }
            _ => false,
        }
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Error::ImportNotCompleted { .. } => Some(
                "The loader may still be writing it: run the pipeline after UPDATE etl.imports SET status = 'completed'.",
            ),
            Error::CompletedAfterSnapshot(..) => Some(
                "Commit the completion, then run the stage in a new transaction (or complete it and run the stage in READ COMMITTED).",
            ),
            Error::UnknownTimeZone(_) => Some("SET etl.source_timezone to a name from pg_timezone_names."),
            Error::NotRunYet(_) => Some("Run it with etl_run_all(import_id) (or let the worker run it) first."),
            Error::UnknownExportProfile(_) => {
                Some("SELECT profile_name FROM etl.export_profiles lists the profiles; an operator adds one with INSERT.")
            }
            Error::ExportMissingHeaders { .. } => Some(
                "Check the file is the export the profile describes (its first row holds the headers), or fix the profile's columns.",
            ),
            Error::ExportBadEncoding(_) => Some("Set the profile's encoding to the file's: utf-8, gbk or gb18030."),
            Error::ExportNeedsShop(_) => Some("Pass shop => 'the shop name' (a shop of etl.shops)."),
            Error::ExportFileForbidden => Some(
                "Load the file's content with etl_import_export(pg_read_binary_file(...) or a client's bytes), or ask for pg_read_server_files.",
            ),
            Error::RawLinesPurged { .. } => Some(
                "Its orders, customers and leads are kept, and etl.purged_imports says what it had; load its file again as a new import to run it again (etl_import_export: with reload => true, or the same file returns this import).",
            ),
            Error::RawLinesPurgedSinceSnapshot(_) => Some(
                "A purge may empty a day of raw lines as a whole, which a REPEATABLE READ or SERIALIZABLE snapshot taken before it would read as no lines: retry the transaction (it then sees the purge).",
            ),
            Error::QualityOfPurged { .. } => Some(
                "Its orders, customers and leads are kept; etl.purged_imports (readers and operators) keeps its totals: raw_lines, rejected_lines.",
            ),
            Error::NegativeRetention(_) => Some("Pass how old history must be to go, e.g. etl_purge('30 days')."),
            Error::ExtensionNotUpdated { .. } => {
                Some("Run ALTER EXTENSION etl_ext UPDATE in this database (as a superuser); nothing runs until then.")
            }
            Error::ImportHeld { .. } => Some(
                "Its reject share is above etl.max_reject_ratio, and nothing of it was loaded: see etl_quality(import_id) and its raw lines; when the file is right after all (or its cause is fixed, such as a missing shop), an operator lets it go on with SELECT etl_release(import_id), which runs its orders stage again.",
            ),
            Error::NotHeld(_) => Some("etl.pipeline_status shows which imports are held (hold_status = 'held')."),
            Error::RunnerIsSuperuser(_) | Error::NoSuchRunner(_) => Some(
                "Set etl.runner_role to a role without superuser rights, such as the etl_runner role CREATE EXTENSION creates.",
            ),
            _ => None,
        }
    }

    /// Raises this error as a PostgreSQL ERROR; the caller's transaction aborts.
    pub fn raise(self) -> ! {
        let mut report = ErrorReport::new(self.sqlstate(), format!("etl_ext: {self}"), "etl_ext");
        if let Some(hint) = self.hint() {
            report = report.set_hint(hint);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("ereport(ERROR) returned")
    }
}

/// The class of a SQLSTATE: its first two characters (`*b"22"` for a data
/// exception).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlStateClass(pub [u8; 2]);

impl SqlStateClass {
    /// Class 22: a value the database cannot take (out of range, bad format...).
    pub const DATA_EXCEPTION: SqlStateClass = SqlStateClass(*b"22");
    /// Class 23: a constraint the row breaks.
    pub const INTEGRITY_VIOLATION: SqlStateClass = SqlStateClass(*b"23");
    /// Class 54: a limit a value exceeds (an index row too big...).
    pub const LIMIT_EXCEEDED: SqlStateClass = SqlStateClass(*b"54");

    /// The class of `sqlstate`. PostgreSQL packs a SQLSTATE's five
    /// characters six bits each, the first in the lowest bits (`MAKE_SQLSTATE`).
    pub fn of(sqlstate: PgSqlErrorCode) -> SqlStateClass {
        SqlStateClass(sqlstate_class(sqlstate))
    }
}

/// The class of a SQLSTATE as its two characters (see [`SqlStateClass::of`]).
pub fn sqlstate_class(sqlstate: PgSqlErrorCode) -> [u8; 2] {
    let code = sqlstate as isize as u32;
    let char_at = |i: u32| (((code >> (6 * i)) & 0x3F) as u8) + b'0';
    [char_at(0), char_at(1)]
}

/// Why an application's event (`etl_emit_event`) is refused: stored with
/// `accepted = false` and this reason (wrapped as [`Error::Refused`]).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("payload must be a JSON object")]
    NotAnObject,
    #[error("unknown event_type '{0}'")]
    UnknownType(String),
    #[error("unsupported event_version '{0}' (supported: 1.0)")]
    UnsupportedVersion(String),
    #[error("missing required field '{0}'")]
    MissingField(&'static str),
    #[error("field '{field}' is invalid: {why}")]
    InvalidField { field: &'static str, why: String },
    #[error("event_type {0} in the payload differs from the call's event_type")]
    TypeMismatch(String),
    #[error("import {0} does not exist in etl.imports")]
    UnknownImport(String),
    #[error("payload is {bytes} bytes; NOTIFY carries at most {max} (keep events small)")]
    TooLarge { bytes: usize, max: usize },
    #[error("payload cannot be read as an event: {0}")]
    Unreadable(String),
    #[error("event_type '{0}' is published by etl_ext itself (the quality gate), not by applications")]
    NotForApplications(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstate_classes_are_read_from_the_packed_code() {
        assert_eq!(sqlstate_class(PgSqlErrorCode::ERRCODE_DIVISION_BY_ZERO), *b"22");
        assert_eq!(sqlstate_class(PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION), *b"23");
        assert_eq!(sqlstate_class(PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED), *b"54");
        assert_eq!(sqlstate_class(PgSqlErrorCode::ERRCODE_QUERY_CANCELED), *b"57");
        assert_eq!(sqlstate_class(PgSqlErrorCode::ERRCODE_T_R_DEADLOCK_DETECTED), *b"40");
        assert_eq!(SqlStateClass::of(PgSqlErrorCode::ERRCODE_CHECK_VIOLATION), SqlStateClass::INTEGRITY_VIOLATION);
    }

    #[test]
    fn only_data_caused_errors_narrow_down_to_lines() {
        let database = |sqlstate| Error::Database { sqlstate, message: String::new() };
        for data in [
            PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            PgSqlErrorCode::ERRCODE_CHECK_VIOLATION,
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            PgSqlErrorCode::ERRCODE_RAISE_EXCEPTION,
        ] {
            assert!(database(data).is_data_error(), "{data:?}");
        }
        for outage in [
            PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
            PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE,
            PgSqlErrorCode::ERRCODE_T_R_DEADLOCK_DETECTED,
            PgSqlErrorCode::ERRCODE_OUT_OF_MEMORY,
            PgSqlErrorCode::ERRCODE_DISK_FULL,
            PgSqlErrorCode::ERRCODE_ADMIN_SHUTDOWN,
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        ] {
            assert!(!database(outage).is_data_error(), "{outage:?}");
        }
    }
}
