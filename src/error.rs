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
    #[error("import {import_id} has status '{status}', not 'completed'")]
    ImportNotCompleted { import_id: String, status: String },
    #[error("no job of import {0} is dead or failed, so there is nothing to retry")]
    NothingToRetry(String),
    #[error("etl.source_timezone = '{0}' is not a time zone PostgreSQL knows")]
    UnknownTimeZone(String),
    #[error("{0} must not be NULL")]
    NullArgument(&'static str),
    #[error("{0}")]
    Stage(#[from] StageError),
}

impl CallError {
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            CallError::NullImportId | CallError::NullArgument(_) => {
                PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED
            }
            CallError::UnknownImport(_) => PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            CallError::ImportNotCompleted { .. } | CallError::NothingToRetry(_) => {
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE
            }
            CallError::UnknownTimeZone(_) => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            CallError::Stage(e) => e.sqlstate(),
        }
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            CallError::ImportNotCompleted { .. } => Some(
                "The loader may still be writing it: run the pipeline after UPDATE etl.imports SET status = 'completed'.",
            ),
            CallError::UnknownTimeZone(_) => Some("SET etl.source_timezone to a name from pg_timezone_names."),
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
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            StageError::Spi(_) | StageError::Unexpected(_) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            StageError::Transform(_) => PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            StageError::Database { sqlstate, .. } => *sqlstate,
        }
    }
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
}
