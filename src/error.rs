//! The extension's errors, one type per concern, each mapped to a SQLSTATE
//! and a message a DBA can act on.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// A call of a SQL entry point that cannot be served: nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
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
    #[error("the redrive of import {import_id} failed in the {stage} stage and changed nothing: {message}")]
    RedriveFailed { import_id: String, stage: &'static str, message: String },
    #[error("{0}")]
    Stage(#[from] StageError),
    #[error("{0}")]
    Security(#[from] SecurityError),
}

impl CallError {
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            CallError::NullImportId | CallError::NullArgument(_) => PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            CallError::UnknownImport(_) => PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            CallError::NotImportOwner(_) => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            CallError::ImportNotCompleted { .. }
            | CallError::NothingToRetry(_)
            | CallError::NotRunYet(_)
            | CallError::ExtensionNotUpdated { .. } => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            CallError::UnknownTimeZone(_) | CallError::EventTypeTooLong { .. } => {
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
            }
            // The stage's own error is in the message (and in etl.runs had
            // the transaction been kept); the call can be retried.
            CallError::RedriveFailed { .. } => PgSqlErrorCode::ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
            CallError::Stage(e) => e.sqlstate(),
            CallError::Security(e) => e.sqlstate(),
        }
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            CallError::ImportNotCompleted { .. } => Some(
                "The loader may still be writing it: run the pipeline after UPDATE etl.imports SET status = 'completed'.",
            ),
            CallError::UnknownTimeZone(_) => Some("SET etl.source_timezone to a name from pg_timezone_names."),
            CallError::NotRunYet(_) => Some("Run it with etl_run_all(import_id) (or let the worker run it) first."),
            CallError::ExtensionNotUpdated { .. } => {
                Some("Run ALTER EXTENSION etl_ext UPDATE in this database (as a superuser); nothing runs until then.")
            }
            CallError::Security(SecurityError::RunnerIsSuperuser(_) | SecurityError::NoSuchRunner(_)) => Some(
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

/// A stage (or a statement inside it) could not complete.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("SPI: {0}")]
    Spi(#[from] pgrx::spi::SpiError),
    #[error("transform: {0}")]
    Transform(#[from] polars::error::PolarsError),
    #[error("{message}")]
    Database { sqlstate: PgSqlErrorCode, message: String },
    #[error("unexpected result: {0}")]
    Unexpected(String),
}

impl StageError {
    /// Whether the database refused the data itself: a data exception
    /// (class 22), an integrity violation (class 23), a limit a value
    /// exceeds (class 54: an index row too big for a very long nickname, a
    /// value too large to build) or a user's `RAISE` (P0001). Only these may
    /// narrow a batch down to `load_error` lines; anything else (a timeout,
    /// a deadlock, out of memory) fails the stage so that it is retried, and
    /// never turns good lines into rejects.
    pub fn is_data_error(&self) -> bool {
        match self {
            StageError::Database { sqlstate, .. } => {
                [b"22", b"23", b"54"].contains(&&sqlstate_class(*sqlstate))
                    || *sqlstate == PgSqlErrorCode::ERRCODE_RAISE_EXCEPTION
            }
            _ => false,
        }
    }

    pub fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            StageError::Spi(_) | StageError::Unexpected(_) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            StageError::Transform(_) => PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            StageError::Database { sqlstate, .. } => *sqlstate,
        }
    }
}

/// The class of a SQLSTATE: its first two characters (`*b"22"` for a data
/// exception). PostgreSQL packs a SQLSTATE's five characters six bits each,
/// the first in the lowest bits (`MAKE_SQLSTATE`).
pub fn sqlstate_class(sqlstate: PgSqlErrorCode) -> [u8; 2] {
    let code = sqlstate as isize as u32;
    let char_at = |i: u32| (((code >> (6 * i)) & 0x3F) as u8) + b'0';
    [char_at(0), char_at(1)]
}

/// An event that `etl_emit_event` refuses: stored with `accepted = false`.
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
}

/// The extension refuses to act with an identity it cannot trust.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("etl.runner_role = '{0}' names a superuser; the pipeline never runs as one")]
    RunnerIsSuperuser(String),
    #[error("etl.runner_role = '{0}' is not a role of this cluster")]
    NoSuchRunner(String),
    #[error("identity lookup failed: {0}")]
    Lookup(String),
}

impl SecurityError {
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            SecurityError::RunnerIsSuperuser(_) => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            SecurityError::NoSuchRunner(_) => PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            SecurityError::Lookup(_) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        }
    }
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
    }

    #[test]
    fn only_data_caused_errors_narrow_down_to_lines() {
        let database = |sqlstate| StageError::Database { sqlstate, message: String::new() };
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
